"""Everything in catallax that talks: the command line, and (in later issues) gRPC
servers and clients, message signing and MQTT publishing.

``catallax.node`` may import ``catallax.exchange`` and ``catallax.traders``; they never
import it.
"""

__all__: list[str] = []
