"""The wide market (paper, Algorithm 2): goods, orders, equilibrium clearing, integer
settlements, the production-economy loop and equation (1).

Modules: :mod:`.values` (the values handed around), :mod:`.clearing` (``Equ``),
:mod:`.settlement` (one step of CAPITALISM as a value), :mod:`.market` (``WideMarket``),
:mod:`.loop` (``run_economy``), :mod:`.prices` (prices by backpropagation),
:mod:`.tatonnement` (clearing by demand queries).
"""

from __future__ import annotations

from catallax.exchange.wide.clearing import clear, posted_clearing
from catallax.exchange.wide.loop import EconomyLog, run_economy
from catallax.exchange.wide.market import WideLearner, WideMarket, WideTraders
from catallax.exchange.wide.prices import (
    CobbDouglas,
    GraphNode,
    MarketGraph,
    backprop_prices,
    flows,
)
from catallax.exchange.wide.tatonnement import Tatonnement, demand_certificate
from catallax.exchange.wide.values import (
    Clearing,
    Orders,
    WideDecision,
    WideOutcome,
    WideReport,
    WideSettlement,
)

__all__ = [
    # the market and what its traders implement
    "WideMarket",
    "WideTraders",
    "WideLearner",
    # values
    "Orders",
    "Clearing",
    "WideDecision",
    "WideOutcome",
    "WideSettlement",
    "WideReport",
    # the Equ step
    "clear",
    "posted_clearing",
    # clearing by demand queries
    "Tatonnement",
    "demand_certificate",
    # the production-economy loop
    "EconomyLog",
    "run_economy",
    # equation (1): prices by backpropagation
    "CobbDouglas",
    "GraphNode",
    "MarketGraph",
    "backprop_prices",
    "flows",
]
