"""The trader runner: remote traders of the SDK trading on exchange nodes.

- :mod:`catallax.node.trader.session`: :class:`TraderSession`, one identity on one task
  of one exchange (dial out, register, trade, learn, reconnect).
- :mod:`catallax.node.trader.runner`: :func:`run_traders`, one key on many tasks of
  many exchanges in one process (one identity; each exchange keeps its own ledger of it).
"""

from catallax.node.trader.runner import Join, make_sessions, parse_joins, run_traders
from catallax.node.trader.session import SessionFailed, SessionStats, TraderSession

__all__ = [
    "Join",
    "SessionFailed",
    "SessionStats",
    "TraderSession",
    "make_sessions",
    "parse_joins",
    "run_traders",
]
