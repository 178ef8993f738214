"""Equilibrium solvers: the paper's ``Equ`` (goods, valuations, budgets) -> (prices, allocations).

Build a market value, ``solve`` it, and check any answer with ``certify``, which measures the
paper's three conditions (full allocation, no overpayment, utility-maximising bundles).
"""

from catallax.exchange.equilibrium.certificate import Certificate, certify
from catallax.exchange.equilibrium.errors import (
    EquilibriumError,
    MarketInputError,
    NonConvergenceError,
)
from catallax.exchange.equilibrium.fisher import solve_fisher
from catallax.exchange.equilibrium.markets import Equilibrium, FisherMarket
from catallax.exchange.equilibrium.solve import solve

__all__ = [
    # markets and results
    "Equilibrium",
    "FisherMarket",
    # solving and checking
    "Certificate",
    "certify",
    "solve",
    "solve_fisher",
    # errors
    "EquilibriumError",
    "MarketInputError",
    "NonConvergenceError",
]
