"""The wire: protobuf messages to library values and back, signed envelopes, and
persistent sequence numbers.

- :mod:`catallax.node.wire.convert`: ``x_to_proto`` / ``x_from_proto`` pairs.
- :mod:`catallax.node.wire.envelope`: :func:`seal` and :func:`open_envelope`.
- :mod:`catallax.node.wire.sequence`: :class:`SequenceBook` (replay and staleness,
  persisted in SQLite) and :class:`Sequencer` (a sender's growing numbers).

Errors are the :class:`~catallax.node.errors.WireError` family of ``catallax.node.errors``.
"""
