"""The wire: protobuf messages to library values and back, signed envelopes, and
persistent sequence numbers.

- :mod:`catallax.node.wire.convert`: ``x_to_proto`` / ``x_from_proto`` pairs.
- :mod:`catallax.node.wire.envelope`: :func:`seal` and :func:`open_envelope`.
- :mod:`catallax.node.wire.sequence`: :class:`SequenceBook` (replay and staleness,
  persisted in SQLite) and :class:`Sequencer` (a sender's growing numbers).

Errors are the :class:`~catallax.node.errors.WireError` family of ``catallax.node.errors``.
"""

from catallax.node.wire.envelope import (
    Envelope,
    as_evidence,
    message_class,
    open_envelope,
    receive,
    seal,
)
from catallax.node.wire.sequence import (
    DEFAULT_WINDOW_MS,
    MAX_SEQUENCE,
    MemoryBook,
    SequenceBook,
    Sequencer,
    now_ms,
    scoped,
)

__all__ = [
    # envelopes
    "Envelope",
    "as_evidence",
    "message_class",
    "open_envelope",
    "receive",
    "seal",
    # sequence numbers
    "DEFAULT_WINDOW_MS",
    "MAX_SEQUENCE",
    "MemoryBook",
    "SequenceBook",
    "Sequencer",
    "now_ms",
    "scoped",
]
