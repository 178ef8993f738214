"""Wide-market tasks of an exchange node: signed orders, certified equilibrium clearing,
the environment's production, one ledger round per clearing.

Modules: :mod:`.orders` (the checks of a signed ``Orders`` and the ledger's reader of it
as a mandate), :mod:`.rounds` (the certified clearing in integer units, the check of the
environment's production, the round's ledger transfers; pure), :mod:`.task`
(:class:`WideTask`, the round loop). The decisions are in
``docs/decisions/wide-network.md``.
"""

from catallax.node.exchange.wide.orders import OrderBook, check_orders, read_orders
from catallax.node.exchange.wide.rounds import (
    RoundClearing,
    check_production,
    clear_round,
    settlement_entries,
)
from catallax.node.exchange.wide.task import WideTask

__all__ = [
    "WideTask",
    # orders
    "OrderBook",
    "check_orders",
    "read_orders",
    # one round
    "RoundClearing",
    "clear_round",
    "check_production",
    "settlement_entries",
]
