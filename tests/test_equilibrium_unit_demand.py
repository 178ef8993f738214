"""Unit demand: optimal assignment, minimal Walrasian prices equal VCG payments."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from catallax.exchange.equilibrium import (
    Equilibrium,
    MarketInputError,
    UnitDemandMarket,
    certify,
    max_weight_assignment,
    solve,
)


def _welfare(values: np.ndarray) -> float:
    """Optimal welfare by scipy, buyers free to stay out (values >= 0)."""
    if values.size == 0:
        return 0.0
    rows, cols = linear_sum_assignment(values, maximize=True)
    return float(values[rows, cols].sum())


def _vcg_payments(values: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """VCG payment of each item's buyer: externality on the others."""
    total = _welfare(values)
    payments = np.zeros(values.shape[1])
    for item, buyer in enumerate(owner):
        if buyer < 0:
            continue
        without = _welfare(np.delete(values, buyer, axis=0))
        payments[item] = without - (total - values[buyer, item])
    return payments


def test_single_item_goes_to_the_highest_bidder_at_the_second_price() -> None:
    eq = solve(UnitDemandMarket([[3.0], [7.0], [5.0]]))
    assert eq.allocation[:, 0].tolist() == [0.0, 1.0, 0.0]
    assert eq.prices[0] == pytest.approx(5.0)
    assert eq.spent.tolist() == pytest.approx([0.0, 5.0, 0.0])


def test_budgets_cap_bids() -> None:
    eq = solve(UnitDemandMarket([[3.0], [7.0], [5.0]], budgets=[10.0, 4.0, 10.0]))
    assert eq.allocation[:, 0].tolist() == [0.0, 0.0, 1.0]
    assert eq.prices[0] == pytest.approx(4.0)


@pytest.mark.parametrize("shape", [(6, 6), (8, 5), (5, 9), (12, 12)])
def test_random_markets_match_scipy_and_vcg(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for _ in range(5):
        values = np.round(rng.uniform(0, 10, size=shape), 1)
        values[rng.uniform(size=shape) < 0.2] = 0.0
        market = UnitDemandMarket(values)
        eq = solve(market)
        assert certify(market, eq).holds(1e-12)
        owner = max_weight_assignment(values)
        assert values[owner[owner >= 0], np.nonzero(owner >= 0)[0]].sum() == pytest.approx(
            _welfare(values)
        )
        vcg = _vcg_payments(values, owner)
        assert eq.prices == pytest.approx(vcg, abs=1e-9)


def test_minimal_prices_are_minimal() -> None:
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 10, size=(7, 7))
    market = UnitDemandMarket(values)
    eq = solve(market)
    for j in range(7):
        lower = eq.prices.copy()
        lower[j] -= 1e-3
        if lower[j] < 0:
            continue
        cheaper = Equilibrium(lower, eq.allocation, np.sum(lower * eq.allocation, axis=1))
        assert not certify(market, cheaper).holds(1e-6)


def test_copies_share_a_price() -> None:
    values = np.array([[9.0, 1.0], [8.0, 2.0], [7.0, 0.0], [6.0, 5.0]])
    market = UnitDemandMarket(values, supply=[2, 1])
    eq = solve(market)
    assert eq.allocation.sum(axis=0).tolist() == [2.0, 1.0]
    assert eq.prices[0] == pytest.approx(7.0)  # the best losing bid for the first good
    assert certify(market, eq).holds(1e-12)


def test_batch_is_solved_market_by_market() -> None:
    rng = np.random.default_rng(5)
    values = rng.uniform(0, 1, size=(10, 4, 3))
    batch = UnitDemandMarket(values)
    eq = solve(batch)
    assert eq.prices.shape == (10, 3)
    assert certify(batch, eq).holds(1e-12)
    for k in range(10):
        assert eq.prices[k] == pytest.approx(solve(UnitDemandMarket(values[k])).prices)


def test_certificate_rejects_fractions_and_double_holdings() -> None:
    market = UnitDemandMarket([[3.0, 2.0], [1.0, 4.0]])
    eq = solve(market)
    halves = Equilibrium(eq.prices, eq.allocation * 0.5, eq.spent * 0.5)
    assert certify(market, halves).allocation >= 0.5
    both = Equilibrium(eq.prices, np.array([[1.0, 1.0], [0.0, 0.0]]), eq.spent)
    assert certify(market, both).allocation >= 1.0


def test_fractional_supply_is_refused() -> None:
    with pytest.raises(MarketInputError) as caught:
        UnitDemandMarket([[1.0, 2.0]], supply=[1.0, 1.5])
    assert caught.value.argument == "supply"
