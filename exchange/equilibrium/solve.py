"""``solve``: one entry point that dispatches on the kind of market."""

from __future__ import annotations

from catallax.exchange.equilibrium.ces import solve_ces
from catallax.exchange.equilibrium.errors import UnsupportedMarket
from catallax.exchange.equilibrium.fisher import solve_fisher
from catallax.exchange.equilibrium.markets import (
    CESMarket,
    Equilibrium,
    FisherMarket,
    LeontiefMarket,
    UnitDemandMarket,
)
from catallax.exchange.equilibrium.oracle import OracleMarket, solve_oracle
from catallax.exchange.equilibrium.unit_demand import solve_unit_demand

__all__ = ["solve"]


def solve(market: object, *, tol: float = 1e-6, max_iter: int | None = None) -> Equilibrium:
    """Equilibrium of ``market`` whose certificate violations are all <= ``tol``.

    Dispatches on the market's type: ``FisherMarket`` -> ``solve_fisher`` (Newton steps),
    ``CESMarket`` and ``LeontiefMarket`` -> ``solve_ces`` (interior-point Newton steps),
    ``UnitDemandMarket`` -> ``solve_unit_demand`` (exact; ``tol`` unused), ``OracleMarket``
    -> ``solve_oracle`` (tâtonnement rounds). ``max_iter=None`` keeps each solver's default.
    Pure: takes a market value and returns an ``Equilibrium`` value. Raises
    ``NonConvergenceError`` rather than return an answer that fails its certificate.
    """
    limit = {} if max_iter is None else {"max_iter": max_iter}
    if isinstance(market, FisherMarket):
        return solve_fisher(market, tol=tol, **limit)
    if isinstance(market, CESMarket | LeontiefMarket):
        return solve_ces(market, tol=tol, **limit)
    if isinstance(market, UnitDemandMarket):
        return solve_unit_demand(market)
    if isinstance(market, OracleMarket):
        return solve_oracle(market, tol=tol, **limit)
    raise UnsupportedMarket(f"solve: unsupported market type {type(market).__name__}")
