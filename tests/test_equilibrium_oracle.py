"""Demand-oracle markets: tâtonnement converges for gross substitutes and fails loudly else."""

from __future__ import annotations

import numpy as np
import pytest

from catallax.exchange.equilibrium import (
    CESMarket,
    MarketInputError,
    NonConvergenceError,
    OracleError,
    OracleMarket,
    certify,
    solve,
)


class LogValue:
    """Quasi-linear, separable v(x) = Σ_j a_j log(1 + x_j): gross substitutes."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = np.asarray(a, dtype=float)

    def demand(self, prices: np.ndarray) -> np.ndarray:
        return np.maximum(self.a / prices - 1.0, 0.0)

    def utility(self, bundle: np.ndarray) -> float:
        return float(np.sum(self.a * np.log1p(bundle)))


class CESBuyer:
    """A Fisher buyer with CES utility who spends its budget (closed-form demand)."""

    def __init__(self, v: np.ndarray, budget: float, rho: float) -> None:
        self.v, self.budget, self.rho = np.asarray(v, dtype=float), budget, rho

    def demand(self, prices: np.ndarray) -> np.ndarray:
        sigma = 1.0 / (1.0 - self.rho)
        weight = self.v**sigma * prices ** (1.0 - sigma)
        return self.budget * weight / weight.sum() / prices

    def utility(self, bundle: np.ndarray) -> float:
        return float(np.sum(self.v * bundle**self.rho) ** (1.0 / self.rho))


class AllOrNothing:
    """Wants both goods together (complements): not gross substitutes."""

    def demand(self, prices: np.ndarray) -> np.ndarray:
        return np.ones(2) if prices.sum() < 3.0 else np.zeros(2)

    def utility(self, bundle: np.ndarray) -> float:
        return 3.0 * float(min(1.0, bundle.min()))


class EitherOne:
    """Wants one of two goods, worth 2."""

    def demand(self, prices: np.ndarray) -> np.ndarray:
        j = int(np.argmin(prices))
        bundle = np.zeros(2)
        if prices[j] < 2.0:
            bundle[j] = 1.0
        return bundle

    def utility(self, bundle: np.ndarray) -> float:
        return 2.0 * float(min(1.0, bundle.sum()))


def _good_price(a: np.ndarray, supply: float) -> float:
    """Independent answer for a separable market: bisection on Σ_i max(a_i / p - 1, 0) = s."""
    low, high = 1e-9, float(a.max())
    for _ in range(200):
        mid = 0.5 * (low + high)
        if np.maximum(a / mid - 1.0, 0.0).sum() > supply:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def test_separable_gross_substitutes_converge_to_the_right_prices() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 3.0, size=(6, 4))
    supply = rng.uniform(0.5, 2.0, size=4)
    market = OracleMarket([LogValue(row) for row in a], supply)
    eq = solve(market, tol=1e-7)
    assert certify(market, eq).holds(1e-7)
    expected = [_good_price(a[:, j], supply[j]) for j in range(4)]
    assert eq.prices == pytest.approx(expected, rel=1e-5)


def test_ces_oracles_agree_with_the_ces_solver() -> None:
    rng = np.random.default_rng(1)
    v = rng.uniform(0.2, 1.0, size=(8, 3))
    budgets = rng.uniform(0.5, 1.0, size=8)
    traders = [CESBuyer(v[i], budgets[i], 0.5) for i in range(8)]
    market = OracleMarket(traders, np.ones(3), budgets, quasilinear=False)
    eq = solve(market, tol=1e-7)
    assert certify(market, eq).holds(1e-7)
    direct = solve(CESMarket(v, budgets, np.ones(3), rho=0.5), tol=1e-8)
    assert eq.prices == pytest.approx(direct.prices, rel=1e-4)


def test_complements_end_in_a_non_convergence_error_with_a_certificate() -> None:
    # The classic market with no Walrasian equilibrium: welfare needs the bundle buyer to
    # get both goods (3 > 2), but then the other buyer wants one at any price below 2.
    market = OracleMarket([AllOrNothing(), EitherOne()], np.ones(2))
    with pytest.raises(NonConvergenceError) as caught:
        solve(market, tol=1e-6, max_iter=3000)
    error = caught.value
    assert not error.certificate.holds(1e-6)
    assert error.best.prices.shape == (2,)
    assert error.iterations > 0
    assert "best certificate" in str(error)


def test_a_bad_oracle_answer_names_the_trader() -> None:
    class Broken:
        def demand(self, prices: np.ndarray) -> np.ndarray:
            return np.array([1.0, np.nan])

        def utility(self, bundle: np.ndarray) -> float:
            return 0.0

    market = OracleMarket([LogValue([1.0, 1.0]), Broken()], np.ones(2))
    with pytest.raises(OracleError) as caught:
        solve(market)
    assert caught.value.trader == 1


def test_bad_oracle_markets_are_refused() -> None:
    with pytest.raises(MarketInputError) as caught:
        OracleMarket([], np.ones(2))
    assert caught.value.argument == "traders"
    with pytest.raises(MarketInputError) as caught:
        OracleMarket([object()], np.ones(2))
    assert caught.value.argument == "traders"
    with pytest.raises(MarketInputError) as caught:
        OracleMarket([LogValue([1.0])], np.zeros(1))
    assert caught.value.argument == "supply"
    with pytest.raises(MarketInputError) as caught:
        OracleMarket([LogValue([1.0])], np.ones(1), quasilinear=False)
    assert caught.value.argument == "budgets"
