"""Equilibrium solvers: the paper's ``Equ`` (goods, valuations, budgets) -> (prices, allocations).

Build a market value, ``solve`` it, and check any answer with ``certify``, which measures the
paper's three conditions (full allocation, no overpayment, utility-maximising bundles).
"""

from catallax.exchange.equilibrium.certificate import Certificate, certify
from catallax.exchange.equilibrium.ces import solve_ces
from catallax.exchange.equilibrium.errors import (
    EquilibriumError,
    EquilibriumShapeError,
    MarketInputError,
    NonConvergenceError,
    OracleError,
    SolverOptionError,
    UnsupportedMarket,
)
from catallax.exchange.equilibrium.fisher import solve_fisher
from catallax.exchange.equilibrium.markets import (
    CESMarket,
    Equilibrium,
    FisherMarket,
    LeontiefMarket,
    UnitDemandMarket,
)
from catallax.exchange.equilibrium.oracle import (
    DemandOracle,
    OracleMarket,
    certify_oracle,
    solve_oracle,
)
from catallax.exchange.equilibrium.solve import solve
from catallax.exchange.equilibrium.unit_demand import max_weight_assignment, solve_unit_demand

__all__ = [
    # markets and results
    "Equilibrium",
    "FisherMarket",
    "CESMarket",
    "LeontiefMarket",
    "UnitDemandMarket",
    "OracleMarket",
    "DemandOracle",
    # solving and checking
    "Certificate",
    "certify",
    "solve",
    "solve_fisher",
    "solve_ces",
    "solve_unit_demand",
    "max_weight_assignment",
    "solve_oracle",
    "certify_oracle",
    # errors
    "EquilibriumError",
    "EquilibriumShapeError",
    "MarketInputError",
    "NonConvergenceError",
    "OracleError",
    "SolverOptionError",
    "UnsupportedMarket",
]
