"""``solve``: one entry point that dispatches on the kind of market."""

from __future__ import annotations

from catallax.exchange.equilibrium.fisher import solve_fisher
from catallax.exchange.equilibrium.markets import Equilibrium, FisherMarket, UnitDemandMarket
from catallax.exchange.equilibrium.unit_demand import solve_unit_demand

__all__ = ["solve"]


def solve(market: object, *, tol: float = 1e-6, max_iter: int = 500) -> Equilibrium:
    """Equilibrium of ``market`` whose certificate violations are all <= ``tol``.

    Pure: takes a market value and returns an ``Equilibrium`` value. Raises
    ``NonConvergenceError`` rather than return an answer that fails its certificate.
    """
    if isinstance(market, FisherMarket):
        return solve_fisher(market, tol=tol, max_iter=max_iter)
    if isinstance(market, UnitDemandMarket):
        return solve_unit_demand(market)
    raise TypeError(f"solve: unsupported market type {type(market).__name__}")
