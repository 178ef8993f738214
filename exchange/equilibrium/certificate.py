"""The certificate: the paper's three equilibrium conditions, measured.

``certify(market, eq)`` checks any equilibrium, however it was computed, and returns the
largest violation of each condition (one number per market of a batch):

1. ``allocation`` -- the full quantity is allocated. Over-allocation (and any negative
   holding) counts in units of the good's supply, ``max_j (Σ_i x_ij - s_j)⁺ / s_j``.
   Unallocated supply counts by its value at the equilibrium prices relative to the value
   of all supply, ``Σ_j p_j (s_j - Σ_i x_ij)⁺ / Σ_j p_j s_j``: goods whose price is zero
   may stay unallocated (free disposal), which is what happens to goods nobody values in
   quasi-linear markets and to goods in excess supply in Leontief markets.
2. ``payment`` -- no agent pays more than it values (and never more than its budget):
   ``(p·x_i - min(value_i(x_i), B_i))⁺`` in quasi-linear markets, ``(p·x_i - B_i)⁺`` in
   markets where money has no value to buyers (linear Fisher, Leontief, CES); relative to
   the buyer's budget.
3. ``optimality`` -- each agent gets a utility-maximising bundle at p within its budget:
   ``best_i - utility_i(x_i)``, relative to ``max(B_i, best_i)`` in quasi-linear markets
   (utilities are money; a buyer whose best surplus is many times its budget is measured
   against that surplus) and to ``best_i`` where utilities are not money.

Unit demand (indivisible goods) adds to condition 1 that each buyer holds whole items and at
most one, and measures conditions 2 and 3 with the capped bids ``min(v_ij, B_i)`` relative
to the buyer's largest bid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catallax.exchange.equilibrium.errors import EquilibriumShapeError, UnsupportedMarket
from catallax.exchange.equilibrium.markets import (
    CESMarket,
    Equilibrium,
    FisherMarket,
    LeontiefMarket,
    UnitDemandMarket,
)

__all__ = ["Certificate", "certify"]


@dataclass(frozen=True)
class Certificate:
    """Largest relative violation of each equilibrium condition (arrays over the batch)."""

    allocation: np.ndarray
    payment: np.ndarray
    optimality: np.ndarray

    @property
    def worst(self) -> float:
        """The largest violation of any condition in any market of the batch."""
        return float(max(np.max(self.allocation), np.max(self.payment), np.max(self.optimality)))

    def holds(self, tol: float = 1e-6) -> bool:
        """True when every condition holds to within ``tol`` in every market."""
        return self.worst <= tol

    def __str__(self) -> str:
        return (
            f"allocation {np.max(self.allocation):.1e}, payment {np.max(self.payment):.1e}, "
            f"optimality {np.max(self.optimality):.1e}"
        )


def certify(market: object, eq: Equilibrium) -> Certificate:
    """Measure how far ``eq`` is from an equilibrium of ``market`` (see the module docstring).

    Raises :class:`EquilibriumShapeError` (a ``ValueError``) naming ``eq`` when its arrays
    do not have the market's shapes, and :class:`UnsupportedMarket` (a ``TypeError``) for
    an object that is not a market.
    """
    if isinstance(market, FisherMarket | UnitDemandMarket | CESMarket | LeontiefMarket):
        _check_shapes(market, eq)
    if isinstance(market, FisherMarket):
        return _certify_fisher(market, eq)
    if isinstance(market, UnitDemandMarket):
        return _certify_unit_demand(market, eq)
    if isinstance(market, CESMarket | LeontiefMarket):
        return _certify_homothetic(market, eq)
    from catallax.exchange.equilibrium import oracle  # oracle builds on this module

    if isinstance(market, oracle.OracleMarket):
        return oracle.certify_oracle(market, eq)
    raise UnsupportedMarket(f"certify: no certificate for {type(market).__name__}")


def _check_shapes(market, eq: Equilibrium) -> None:
    weights = market.requirements if isinstance(market, LeontiefMarket) else market.valuations
    for name, want in (
        ("prices", weights.shape[:-2] + weights.shape[-1:]),
        ("allocation", weights.shape),
    ):
        got = np.shape(getattr(eq, name))
        if got != want:
            raise EquilibriumShapeError(f"eq: {name} has shape {got}, the market needs {want}")


def allocation_violation(
    supply: np.ndarray, prices: np.ndarray, allocation: np.ndarray
) -> np.ndarray:
    """Condition 1 for divisible goods (see the module docstring); one value per market."""
    held = allocation.sum(axis=-2)
    over = np.max(np.maximum(held - supply, 0.0) / supply, axis=-1)
    negative = np.max(np.maximum(-allocation, 0.0) / supply[..., None, :], axis=(-2, -1))
    over = np.maximum(over, negative)
    worth = np.sum(prices * supply, axis=-1)
    unsold = np.sum(prices * np.maximum(supply - held, 0.0), axis=-1)
    return np.maximum(over, _ratio(unsold, worth))


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top / bottom`` with 0/0 = 0 and x/0 = inf for x > 0."""
    top, bottom = np.asarray(top, dtype=float), np.asarray(bottom, dtype=float)
    safe = np.where(bottom > 0, bottom, 1.0)
    return np.where(bottom > 0, top / safe, np.where(top > 0, np.inf, 0.0))


def bang_per_buck(valuations: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """Best ``v_ij / p_j`` of each buyer; a valued good at price zero gives ``inf``."""
    p = prices[..., None, :]
    ratio = np.where(p > 0, valuations / np.where(p > 0, p, 1.0), np.inf)
    ratio = np.where(valuations > 0, ratio, 0.0)
    return ratio.max(axis=-1)


def _certify_fisher(market: FisherMarket, eq: Equilibrium) -> Certificate:
    v, budgets, supply = market.valuations, market.budgets, market.supply
    prices, x = np.asarray(eq.prices, float), np.asarray(eq.allocation, float)
    spent = np.sum(prices[..., None, :] * x, axis=-1)
    value = np.sum(v * x, axis=-1)
    best_ratio = bang_per_buck(v, prices)
    scale = np.where(budgets > 0, budgets, np.mean(budgets, axis=-1, keepdims=True))
    scale = np.where(scale > 0, scale, 1.0)
    if market.quasilinear:
        paid_too_much = np.maximum(spent - np.minimum(value, budgets), 0.0) / scale
        with np.errstate(invalid="ignore"):
            best = np.where(budgets > 0, budgets * np.maximum(best_ratio - 1.0, 0.0), 0.0)
        shortfall = np.maximum(best - (value - spent), 0.0) / np.maximum(scale, best)
    else:
        paid_too_much = np.maximum(spent - budgets, 0.0) / scale
        with np.errstate(invalid="ignore"):
            best = np.where(budgets > 0, budgets * best_ratio, 0.0)
        shortfall = _ratio(np.maximum(best - value, 0.0), best)
    return Certificate(
        allocation=allocation_violation(supply, prices, x),
        payment=np.max(paid_too_much, axis=-1),
        optimality=np.max(shortfall, axis=-1),
    )


def _certify_unit_demand(market: UnitDemandMarket, eq: Equilibrium) -> Certificate:
    """Unit demand: money is the buyers' utility; scale = each buyer's largest bid."""
    bids, supply = market.bids, market.supply
    prices, x = np.asarray(eq.prices, float), np.asarray(eq.allocation, float)
    whole = np.max(np.abs(x - np.round(x)), axis=(-2, -1))
    too_many = np.max(np.maximum(x.sum(axis=-1) - 1.0, 0.0), axis=-1)
    scale = bids.max(axis=-1)
    scale = np.where(scale > 0, scale, 1.0)
    spent = np.sum(prices[..., None, :] * x, axis=-1)
    value = np.sum(bids * x, axis=-1)
    affordable = prices[..., None, :] <= market.budgets[..., None]
    best = np.max(np.where(affordable, bids - prices[..., None, :], 0.0), axis=-1, initial=0.0)
    return Certificate(
        allocation=np.maximum(allocation_violation(supply, prices, x), np.maximum(whole, too_many)),
        payment=np.max(np.maximum(spent - value, 0.0) / scale, axis=-1),
        optimality=np.max(np.maximum(best - (value - spent), 0.0) / scale, axis=-1),
    )


def _certify_homothetic(market: CESMarket | LeontiefMarket, eq: Equilibrium) -> Certificate:
    """CES and Leontief: utilities are not money; best_i = B_i / c_i(p) (indirect utility),
    and the shortfall ``1 - u_i(x_i) / best_i`` is computed in logs."""
    budgets, supply = market.budgets, market.supply
    prices, x = np.asarray(eq.prices, float), np.asarray(eq.allocation, float)
    spent = np.sum(prices[..., None, :] * x, axis=-1)
    p = prices[..., None, :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if isinstance(market, LeontiefMarket):
            a = market.requirements
            got = np.min(np.where(a > 0, x / np.where(a > 0, a, 1.0), np.inf), axis=-1)
            log_got = np.log(got)
            log_cost = np.log(np.sum(a * p, axis=-1))
        else:  # in logs: (.)^(1/ρ) overflows as ρ -> 0
            v, rho = market.valuations, market.rho
            sigma = 1.0 / (1.0 - rho)
            valued = v > 0
            log_terms = np.where(
                valued, np.log(np.where(valued, v, 1.0)) + rho * np.log(x), -np.inf
            )
            log_got = _log_sum_exp(log_terms) / rho
            if rho < 0:  # a valued good held in zero quantity makes the utility zero
                log_got = np.where(np.any(valued & (x <= 0), axis=-1), -np.inf, log_got)
            log_index = np.where(
                valued, sigma * np.log(np.where(valued, v, 1.0)) + (1 - sigma) * np.log(p), -np.inf
            )
            log_cost = _log_sum_exp(log_index) / (1.0 - sigma)
        log_best = np.log(budgets) - log_cost
        shortfall = np.where(budgets > 0, -np.expm1(np.minimum(log_got - log_best, 0.0)), 0.0)
        shortfall = np.where(np.isnan(shortfall), 1.0, shortfall)
    scale = np.where(budgets > 0, budgets, 1.0)
    return Certificate(
        allocation=allocation_violation(supply, prices, x),
        payment=np.max(np.maximum(spent - budgets, 0.0) / scale, axis=-1),
        optimality=np.max(shortfall, axis=-1),
    )


def _log_sum_exp(z: np.ndarray) -> np.ndarray:
    """``log Σ_j exp(z_j)`` over the last axis, ``-inf`` for an empty sum."""
    top = np.max(z, axis=-1, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    return safe[..., 0] + np.log(np.sum(np.exp(z - safe), axis=-1))
