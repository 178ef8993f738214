"""CES and Leontief Fisher markets: known answers, limits, batches, certificates."""

from __future__ import annotations

import numpy as np
import pytest

from catallax.exchange.equilibrium import (
    CESMarket,
    Equilibrium,
    LeontiefMarket,
    MarketInputError,
    certify,
    solve,
)

TOL = 1e-6


def test_leontief_single_buyer_pays_only_for_the_scarce_good() -> None:
    # One unit of utility needs 1 of good 0 and 2 of good 1; 10 of each exist, so good 1
    # limits the buyer to 5 units and good 0 is in excess supply (price zero).
    market = LeontiefMarket([[1.0, 2.0]], [6.0], [10.0, 10.0])
    eq = solve(market, tol=TOL)
    assert eq.prices[0] == pytest.approx(0.0, abs=1e-5)
    assert eq.prices[1] == pytest.approx(0.6, rel=1e-5)
    assert eq.allocation[0, 1] == pytest.approx(10.0, rel=1e-5)
    assert certify(market, eq).holds(TOL)


def test_leontief_random_markets_are_certified() -> None:
    rng = np.random.default_rng(1)
    for _ in range(3):
        a = rng.uniform(size=(30, 8))
        a[rng.uniform(size=a.shape) < 0.3] = 0.0
        a[:, 0] += 0.1  # everyone needs good 0
        market = LeontiefMarket(a, rng.uniform(0.1, 1.0, size=30), rng.uniform(1, 3, size=8))
        eq = solve(market, tol=TOL)
        assert certify(market, eq).holds(TOL)
        assert eq.spent == pytest.approx(market.budgets, rel=1e-5)


@pytest.mark.parametrize("rho", [0.9, 0.5, -0.5, -3.0])
def test_ces_random_markets_are_certified(rho: float) -> None:
    rng = np.random.default_rng(2)
    market = CESMarket(
        rng.uniform(0.1, 1.0, size=(40, 10)),
        rng.uniform(0.1, 1.0, size=40),
        rng.uniform(0.5, 2.0, size=10),
        rho=rho,
    )
    eq = solve(market, tol=TOL)
    assert certify(market, eq).holds(TOL)
    assert eq.spent == pytest.approx(market.budgets, rel=1e-5)


def test_ces_near_zero_rho_spends_like_cobb_douglas() -> None:
    # As ρ -> 0 each buyer spends the share v_ij / Σ_k v_ik of its budget on good j.
    rng = np.random.default_rng(3)
    v = rng.uniform(0.1, 1.0, size=(20, 5))
    budgets = rng.uniform(0.5, 1.0, size=20)
    supply = rng.uniform(0.5, 2.0, size=5)
    eq = solve(CESMarket(v, budgets, supply, rho=1e-4), tol=TOL)
    expected = (budgets[:, None] * v / v.sum(axis=1, keepdims=True)).sum(axis=0) / supply
    assert eq.prices == pytest.approx(expected, rel=1e-3)


def test_batch_equals_one_by_one() -> None:
    rng = np.random.default_rng(4)
    v = rng.uniform(0.1, 1.0, size=(5, 12, 4))
    budgets = rng.uniform(0.1, 1.0, size=(5, 12))
    eq = solve(CESMarket(v, budgets, rho=-1.0))
    for k in range(5):
        single = solve(CESMarket(v[k], budgets[k], rho=-1.0))
        assert eq.prices[k] == pytest.approx(single.prices, rel=1e-5)


def test_certificate_catches_a_wrong_answer() -> None:
    rng = np.random.default_rng(5)
    market = CESMarket(rng.uniform(0.1, 1, size=(10, 4)), rng.uniform(0.1, 1, size=10), rho=0.5)
    eq = solve(market)
    tilted = eq.prices * np.array([1.2, 1.0, 1.0, 1.0])
    wrong = Equilibrium(tilted, eq.allocation, np.sum(tilted * eq.allocation, axis=1))
    cert = certify(market, wrong)
    assert cert.payment > 1e-3 or cert.optimality > 1e-3


@pytest.mark.parametrize("rho", [1.0, 0.0, 2.0, float("nan"), float("-inf")])
def test_bad_rho(rho: float) -> None:
    with pytest.raises(MarketInputError) as caught:
        CESMarket([[1.0, 2.0]], [1.0], rho=rho)
    assert caught.value.argument == "rho"


def test_leontief_buyer_needing_nothing_is_refused() -> None:
    with pytest.raises(MarketInputError) as caught:
        LeontiefMarket([[0.0, 0.0], [1.0, 1.0]], [1.0, 1.0])
    assert caught.value.argument == "requirements"
