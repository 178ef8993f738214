"""Fisher markets (quasi-linear and linear): known answers, certificates, batches, invariances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catallax.exchange.equilibrium import (
    Equilibrium,
    FisherMarket,
    NonConvergenceError,
    certify,
    solve,
)

TOL = 1e-6


def _random_market(seed: int, n: int, m: int, *, quasilinear: bool, lognormal: bool = False):
    rng = np.random.default_rng(seed)
    values = rng.lognormal(size=(n, m)) if lognormal else rng.uniform(size=(n, m))
    budgets = rng.uniform(0.1, 1.0, size=n) * m / n
    supply = rng.uniform(0.5, 2.0, size=m)
    return FisherMarket(values, budgets, supply, quasilinear=quasilinear)


@pytest.mark.parametrize("quasilinear", [True, False])
def test_one_buyer_one_good(quasilinear: bool) -> None:
    # Linear: the buyer spends its whole budget, p = B / s. Quasi-linear: it pays at most
    # its value, so p = min(v, B / s).
    cheap = FisherMarket([[3.0]], [2.0], [4.0], quasilinear=quasilinear)
    dear = FisherMarket([[0.25]], [2.0], [4.0], quasilinear=quasilinear)
    assert solve(cheap).prices == pytest.approx([0.5], rel=1e-6)
    expected = 0.25 if quasilinear else 0.5
    eq = solve(dear)
    assert eq.prices == pytest.approx([expected], rel=1e-5)
    assert eq.allocation == pytest.approx(np.array([[4.0]]), rel=1e-5)
    assert eq.spent == pytest.approx([expected * 4.0], rel=1e-5)


def test_separate_tastes_price_equals_budget() -> None:
    # Each buyer wants only its own good: it spends its budget on it (linear Fisher).
    market = FisherMarket([[1.0, 0.0], [0.0, 5.0]], [3.0, 7.0], quasilinear=False)
    eq = solve(market)
    assert eq.prices == pytest.approx([3.0, 7.0], rel=1e-6)
    assert eq.allocation == pytest.approx(np.eye(2), abs=1e-6)


@pytest.mark.parametrize("quasilinear", [True, False])
@pytest.mark.parametrize("lognormal", [False, True])
def test_random_markets_are_certified(quasilinear: bool, lognormal: bool) -> None:
    for seed in range(3):
        market = _random_market(seed, 40, 12, quasilinear=quasilinear, lognormal=lognormal)
        eq = solve(market, tol=TOL)
        cert = certify(market, eq)
        assert cert.holds(TOL), str(cert)
        assert eq.gap < 1e-5
        assert np.all(eq.allocation >= 0)
        assert eq.spent == pytest.approx(np.sum(eq.prices * eq.allocation, axis=1), rel=1e-12)


def test_quasilinear_buyers_keep_money_and_never_overpay() -> None:
    rich = _random_market(7, 30, 5, quasilinear=True)
    market = FisherMarket(rich.valuations, rich.budgets * 20.0, rich.supply)
    eq = solve(market)
    value = np.sum(market.valuations * eq.allocation, axis=1)
    assert np.all(eq.spent <= market.budgets * (1 + 1e-9))
    assert np.all(eq.spent <= value + 1e-6 * market.budgets)
    assert np.any(eq.spent < 0.99 * market.budgets)  # money is worth keeping here


def test_linear_buyers_spend_everything() -> None:
    market = _random_market(8, 30, 5, quasilinear=False)
    eq = solve(market)
    assert eq.spent == pytest.approx(market.budgets, rel=1e-5)


def test_quasilinear_prices_scale_with_money() -> None:
    market = _random_market(9, 20, 6, quasilinear=True)
    scaled = FisherMarket(market.valuations * 1000.0, market.budgets * 1000.0, market.supply)
    assert solve(scaled).prices == pytest.approx(solve(market).prices * 1000.0, rel=1e-5)


def test_linear_prices_ignore_the_scale_of_each_buyers_values() -> None:
    market = _random_market(10, 20, 6, quasilinear=False)
    rescaled = market.valuations * np.linspace(0.01, 100.0, 20)[:, None]
    other = FisherMarket(rescaled, market.budgets, market.supply, quasilinear=False)
    assert solve(other).prices == pytest.approx(solve(market).prices, rel=1e-5)


def test_goods_nobody_values_are_free_and_unallocated() -> None:
    values = np.array([[1.0, 0.0, 2.0], [0.5, 0.0, 1.0]])
    market = FisherMarket(values, [1.0, 1.0], [1.0, 3.0, 1.0])
    eq = solve(market)
    assert eq.prices[1] == 0.0
    assert np.all(eq.allocation[:, 1] == 0.0)
    assert certify(market, eq).holds(TOL)


def test_zero_budget_buyers_get_nothing() -> None:
    market = FisherMarket([[1.0, 2.0], [3.0, 1.0], [2.0, 2.0]], [1.0, 0.0, 2.0])
    eq = solve(market)
    assert np.all(eq.allocation[1] == 0.0)
    assert certify(market, eq).holds(TOL)


@pytest.mark.parametrize("quasilinear", [True, False])
def test_batch_equals_one_by_one(quasilinear: bool) -> None:
    rng = np.random.default_rng(11)
    values = rng.lognormal(size=(6, 16, 8))
    budgets = rng.uniform(0.1, 1.0, size=(6, 16))
    supply = rng.uniform(0.5, 2.0, size=(6, 8))
    batch = FisherMarket(values, budgets, supply, quasilinear=quasilinear)
    eq = solve(batch)
    cert = certify(batch, eq)
    assert cert.allocation.shape == (6,)
    assert cert.holds(TOL)
    for k in range(6):
        single = FisherMarket(values[k], budgets[k], supply[k], quasilinear=quasilinear)
        assert eq.prices[k] == pytest.approx(solve(single).prices, rel=1e-5)


def test_certificate_catches_a_wrong_answer() -> None:
    market = _random_market(12, 20, 6, quasilinear=True)
    eq = solve(market)
    cheaper = Equilibrium(eq.prices * 0.9, eq.allocation, eq.spent)
    assert certify(market, cheaper).optimality > 1e-3
    hoarded = Equilibrium(eq.prices, eq.allocation * 1.1, eq.spent)
    assert certify(market, hoarded).allocation > 0.05
    dearer = Equilibrium(eq.prices * 3.0, eq.allocation, eq.spent)
    assert certify(market, dearer).payment > 0.1
    assert not certify(market, cheaper).holds(1e-3)
    assert "allocation" in str(certify(market, eq))


def test_markets_without_money_have_zero_prices() -> None:
    batch = FisherMarket(np.ones((2, 3, 2)), [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    eq = solve(batch)
    assert np.all(eq.prices[0] == 0.0)
    assert np.all(eq.allocation[0] == 0.0)
    assert certify(batch, eq).holds(TOL)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 7),
    m=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    quasilinear=st.booleans(),
)
def test_any_small_market_is_solved_and_permutations_commute(
    n: int, m: int, seed: int, quasilinear: bool
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(size=(n, m)) * (rng.uniform(size=(n, m)) < 0.7)
    values[:, 0] += 0.1  # every buyer values something (needed when money must be spent)
    budgets = rng.uniform(0.0, 2.0, size=n)
    supply = rng.uniform(0.5, 2.0, size=m)
    market = FisherMarket(values, budgets, supply, quasilinear=quasilinear)
    eq = solve(market)
    assert certify(market, eq).holds(TOL)
    buyers, goods = rng.permutation(n), rng.permutation(m)
    shuffled = FisherMarket(
        values[buyers][:, goods], budgets[buyers], supply[goods], quasilinear=quasilinear
    )
    assert solve(shuffled).prices == pytest.approx(eq.prices[goods], rel=1e-5, abs=1e-9)


def test_too_few_steps_raise_with_the_best_candidate() -> None:
    market = _random_market(13, 30, 6, quasilinear=True)
    with pytest.raises(NonConvergenceError) as caught:
        solve(market, max_iter=3)
    error = caught.value
    assert error.best.prices.shape == (6,)
    assert error.best.allocation.shape == (30, 6)
    assert not error.certificate.holds(1e-6)
    assert error.iterations == 3
