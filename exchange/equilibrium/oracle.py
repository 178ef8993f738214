"""Markets known only through demand oracles, cleared by tâtonnement.

A remote trader answers "what would you buy at these prices?" (``demand``) and "what is
this bundle worth to you?" (``utility``); nothing else about its valuation is known. We
search for prices by multiplicative tâtonnement, ``p_j <- p_j · exp(η_j · z_j)`` with
``z_j = (Σ_i d_ij - s_j) / s_j`` the relative excess demand, and a step ``η_j`` per good that
halves whenever that good's excess demand changes sign and grows by 10 % otherwise.

Convergence condition: demands that are single-valued and weak gross substitutes (raising
one price never lowers the demand for another good), e.g. separable strictly concave
values, or CES utilities with 0 < ρ < 1 in Fisher markets; for these tâtonnement converges
to the equilibrium (Arrow, Block and Hurwicz 1959; Cole and Fleischer 2008; Cheung, Cole and
Devanur 2013). Tolerance: the procedure stops when ``certify`` reports every violation
<= ``tol`` and no good is over-demanded by more than ``tol`` of its supply (scaling a
demand down costs a buyer only second-order utility, so the certificate alone would accept
prices that are off by about the square root of ``tol``). The allocation returned is the
demand at the final prices, scaled down where a good is over-demanded so it is feasible.
Oracles that are not gross substitutes may make prices cycle; when the best certificate
has not improved for ``patience`` rounds, when every step has collapsed, or after
``max_iter`` rounds, a ``NonConvergenceError`` carrying the best candidate and its
certificate is raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from catallax.exchange.equilibrium import _checks
from catallax.exchange.equilibrium.certificate import Certificate, allocation_violation
from catallax.exchange.equilibrium.errors import (
    MarketInputError,
    NonConvergenceError,
    OracleError,
    SolverOptionError,
)
from catallax.exchange.equilibrium.markets import Equilibrium

__all__ = ["DemandOracle", "OracleMarket", "certify_oracle", "solve_oracle"]


@runtime_checkable
class DemandOracle(Protocol):
    """What a trader must answer for its valuation to be cleared by tâtonnement."""

    def demand(self, prices: np.ndarray) -> np.ndarray:
        """The bundle (m,) it would buy at ``prices``, within its budget."""
        ...

    def utility(self, bundle: np.ndarray) -> float:
        """Its utility of ``bundle``: money value in a quasi-linear market, any units else."""
        ...


@dataclass(frozen=True, eq=False)
class OracleMarket:
    """Traders known only by their demand oracles, and the supply of m divisible goods.

    ``quasilinear=True``: utilities are money values and buyers pay out of money they would
    otherwise keep (the paper's Walrasian setting); ``budgets`` (default unlimited) cap what
    each may pay. ``quasilinear=False``: a Fisher market whose utilities have their own units;
    ``budgets`` are required and buyers are expected to spend them.
    """

    traders: Sequence[DemandOracle]
    supply: np.ndarray
    budgets: np.ndarray | None = None
    quasilinear: bool = True

    def __post_init__(self) -> None:
        traders = tuple(self.traders)
        if not traders:
            raise MarketInputError("traders", "needs at least one trader")
        for index, trader in enumerate(traders):
            if not isinstance(trader, DemandOracle):
                raise MarketInputError(
                    "traders", f"trader {index} has no demand(prices) and utility(bundle)"
                )
        supply = _checks.as_array("supply", self.supply, min_ndim=1)
        _checks.shape_is("supply", supply, (supply.shape[0],), "goods")
        _checks.positive("supply", supply)
        if self.budgets is None:
            if not self.quasilinear:
                raise MarketInputError("budgets", "a Fisher (non quasi-linear) market needs them")
            budgets = np.full(len(traders), np.inf)
        else:
            budgets = _checks.as_array("budgets", self.budgets, min_ndim=1)
            _checks.shape_is("budgets", budgets, (len(traders),), "traders")
            _checks.nonnegative("budgets", budgets)
        object.__setattr__(self, "traders", traders)
        object.__setattr__(self, "supply", supply)
        object.__setattr__(self, "budgets", budgets)


def solve_oracle(
    market: OracleMarket,
    *,
    tol: float = 1e-4,
    max_iter: int = 5000,
    patience: int = 500,
    initial_prices: np.ndarray | None = None,
) -> Equilibrium:
    """Tâtonnement to prices whose certificate violations are all <= ``tol``.

    ``iterations`` of the result counts demand rounds (one ``demand`` call per trader each).
    Raises ``NonConvergenceError`` as described in the module docstring.
    """
    if not tol > 0:
        raise SolverOptionError("tol", f"must be > 0, got {tol}")
    supply = market.supply
    m = supply.shape[0]
    prices = np.ones(m) if initial_prices is None else np.array(initial_prices, dtype=float)
    if prices.shape != (m,) or not np.all(np.isfinite(prices)) or np.any(prices <= 0):
        raise SolverOptionError("initial_prices", f"need {m} positive finite prices")
    step = np.full(m, 0.5)
    last_sign = np.zeros(m)
    best: tuple[Equilibrium, Certificate] | None = None
    stale = 0
    for iteration in range(1, max_iter + 1):
        demands = _demands(market, prices)
        eq = _feasible(prices, demands, supply, iteration)
        cert = _certificate(market, eq, demands)
        excess = (demands.sum(axis=0) - supply) / supply
        if cert.worst <= tol and np.max(excess, initial=0.0) <= tol:
            return eq
        if best is None or cert.worst < best[1].worst:
            best, stale = (eq, cert), 0
        else:
            stale += 1
        if stale >= patience or np.all(step < 1e-12):
            why = "no progress" if stale >= patience else "price steps collapsed"
            _fail(f"tâtonnement stalled ({why}) after {iteration} rounds", best, iteration)
        sign = np.sign(excess)
        flipped = sign * last_sign < 0
        step = np.where(flipped, step * 0.5, np.where(sign != 0, np.minimum(step * 1.1, 1.0), step))
        prices = prices * np.exp(np.clip(step * excess, -1.0, 1.0))
        last_sign = sign
    assert best is not None
    _fail(f"tâtonnement did not reach tol={tol:g} in {max_iter} rounds", best, max_iter)
    raise AssertionError("unreachable")


def certify_oracle(market: OracleMarket, eq: Equilibrium) -> Certificate:
    """The certificate of ``eq``, asking each trader for its demand at ``eq.prices``."""
    prices = np.asarray(eq.prices, dtype=float)
    return _certificate(market, eq, _demands(market, prices))


def _fail(message: str, best: tuple[Equilibrium, Certificate], iterations: int) -> None:
    raise NonConvergenceError(
        message + " (are the traders' valuations gross substitutes?)",
        best=best[0],
        certificate=best[1],
        iterations=iterations,
    )


def _demands(market: OracleMarket, prices: np.ndarray) -> np.ndarray:
    m = market.supply.shape[0]
    rows = []
    for index, trader in enumerate(market.traders):
        bundle = np.asarray(trader.demand(prices.copy()), dtype=float)
        if bundle.shape != (m,):
            raise OracleError(index, f"demand returned shape {bundle.shape}, expected ({m},)")
        if not np.all(np.isfinite(bundle)) or np.any(bundle < 0):
            raise OracleError(index, "demand returned a negative or non-finite quantity")
        rows.append(bundle)
    return np.stack(rows)


def _feasible(prices, demands, supply, iteration: int) -> Equilibrium:
    """Demands scaled down where a good is over-demanded."""
    total = demands.sum(axis=0)
    scale = np.where(total > supply, supply / np.where(total > 0, total, 1.0), 1.0)
    allocation = demands * scale
    return Equilibrium(
        prices=prices,
        allocation=allocation,
        spent=allocation @ prices,
        gap=float("nan"),
        iterations=iteration,
    )


def _certificate(market: OracleMarket, eq: Equilibrium, demands: np.ndarray) -> Certificate:
    """Conditions 2 and 3 relative to each trader's utility of its own demand (money in a
    quasi-linear market, its own units otherwise), with a floor at the mean of those."""
    prices, allocation = np.asarray(eq.prices, float), np.asarray(eq.allocation, float)
    got = np.array([float(t.utility(x)) for t, x in zip(market.traders, allocation, strict=True)])
    best = np.array([float(t.utility(d)) for t, d in zip(market.traders, demands, strict=True)])
    spent = allocation @ prices
    budgets = market.budgets
    if market.quasilinear:
        wanted = np.abs(best)
        scale = np.maximum(wanted, max(float(wanted.mean()), 1e-300))
        payment = np.maximum(spent - np.minimum(got, budgets), 0.0) / scale
        shortfall = np.maximum((best - demands @ prices) - (got - spent), 0.0) / scale
    else:
        money = np.where(budgets > 0, budgets, 1.0)
        payment = np.maximum(spent - budgets, 0.0) / money
        wanted = np.abs(best)
        scale = np.maximum(wanted, max(float(wanted.mean()), 1e-300))
        shortfall = np.maximum(best - got, 0.0) / scale
    return Certificate(
        allocation=allocation_violation(market.supply, prices, allocation),
        payment=np.max(payment),
        optimality=np.max(shortfall),
    )
