"""The exchange node: deep-market tasks served to remote traders over gRPC.

- :mod:`~catallax.node.exchange.config`: the TOML configuration.
- :mod:`~catallax.node.exchange.task`: one task's round loop, registration, sessions.
- :mod:`~catallax.node.exchange.bidding`: sessions, the open round, the checks of
  each ``Bids`` as it arrives.
- :mod:`~catallax.node.exchange.journal`: a task's values committed to the ledger, each
  round with its evidence, off the event loop.
- :mod:`~catallax.node.exchange.remote`: remote identities as the market's population.
- :mod:`~catallax.node.exchange.restore`: what the ledger says on (re)start.
- :mod:`~catallax.node.exchange.servicer`: the ``Exchange`` service and its statuses.
- :mod:`~catallax.node.exchange.server`: :class:`ExchangeNode` and :func:`serve`.
"""

from catallax.node.exchange.config import ConfigError, ExchangeConfig, TaskConfig, load_config
from catallax.node.exchange.server import ExchangeNode, serve

__all__ = ["ConfigError", "ExchangeConfig", "ExchangeNode", "TaskConfig", "load_config", "serve"]
