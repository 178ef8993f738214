"""The wide market's Equ step: the closed-form one-good clearing against the Fisher solver
and its certificate, the general path, the paper's accounting, budget caps, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catallax.exchange.equilibrium import Equilibrium, FisherMarket, certify, solve
from catallax.exchange.errors import BidError, GoodsError, MarketInputError
from catallax.exchange.wide import Orders, clear, posted_clearing


def single_good_orders(rng, e, k, g):
    good = rng.integers(g, size=(e, k))
    values = np.zeros((e, k, g))
    np.put_along_axis(values, good[..., None], rng.uniform(0.1, 3, (e, k, 1)), axis=2)
    values *= rng.random((e, k, 1)) < 0.8
    budgets = rng.uniform(0, 2, (e, k)) * (rng.random((e, k)) < 0.8)
    return values, budgets


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), e=st.integers(1, 4), k=st.integers(1, 9), g=st.integers(1, 4))
def test_posted_clearing_is_a_certified_fisher_equilibrium(seed, e, k, g):
    rng = np.random.default_rng(seed)
    values, budgets = single_good_orders(rng, e, k, g)
    supply = rng.uniform(0.5, 5, (e, g))
    prices, bought = posted_clearing(values, budgets, supply)
    market = FisherMarket(values, budgets, supply)
    spent = np.sum(prices[:, None, :] * bought, axis=-1)
    cert = certify(market, Equilibrium(prices, bought, spent))
    assert cert.holds(1e-9), str(cert)
    # Every good some order values (with money) is sold out; the rest is not sold.
    wanted = np.any((values > 0) & (budgets[..., None] > 0), axis=1)
    np.testing.assert_allclose(bought.sum(axis=1)[wanted], supply[wanted], rtol=1e-12)
    assert np.all(bought.sum(axis=1)[~wanted] == 0)


def test_posted_clearing_prices_match_the_general_solver():
    rng = np.random.default_rng(3)
    values, budgets = single_good_orders(rng, 6, 8, 3)
    supply = rng.uniform(0.5, 5, (6, 3))
    prices, _ = posted_clearing(values, budgets, supply)
    reference = solve(FisherMarket(values, budgets, supply), tol=1e-6)
    np.testing.assert_allclose(prices, reference.prices, rtol=1e-3, atol=1e-6)


def test_a_limit_binds_and_the_marginal_order_takes_the_rest():
    # Two orders for one unit: limit 2 with budget 1, limit 1 with budget 5.
    values = np.array([[[2.0], [1.0]]])
    prices, bought = posted_clearing(values, np.array([[1.0, 5.0]]), np.array([[1.0]]))
    # Price 1 (the second limit): the first spends its whole budget, 1 unit; second gets 0.
    assert prices.tolist() == [[1.0]]
    np.testing.assert_allclose(bought[0, :, 0], [1.0, 0.0])
    # With a smaller first budget the second order takes what is left at its limit.
    prices, bought = posted_clearing(values, np.array([[0.25, 5.0]]), np.array([[1.0]]))
    assert prices.tolist() == [[1.0]]
    np.testing.assert_allclose(bought[0, :, 0], [0.25, 0.75])
    # Interior price: budgets too small to reach the limits.
    prices, bought = posted_clearing(values, np.array([[0.2, 0.3]]), np.array([[1.0]]))
    np.testing.assert_allclose(prices, [[0.5]])
    np.testing.assert_allclose(bought[0, :, 0], [0.4, 0.6])


def test_sellers_are_paid_buyers_charged_and_money_balances():
    # Trader 0 holds 2 units of good 0 and values nothing; trader 1 bids for it.
    holdings = np.array([[[2.0, 0.0], [0.0, 1.0]]])
    world = np.array([[0.0, 3.0]])
    orders = Orders(np.array([1]), np.array([[[5.0, 0.0]]]), np.array([[4.0]]))
    c = clear(holdings, world, orders, wealth=np.array([10.0, 10.0]))
    assert c.prices[0, 0] == pytest.approx(2.0)  # 4 credits for 2 units
    np.testing.assert_allclose(c.bundles[0], [[0.0, 0.0], [2.0, 1.0]])
    np.testing.assert_allclose(c.world, world)  # nobody wanted good 1: it stays put
    np.testing.assert_allclose(c.paid[0], [4.0, 0.0])
    np.testing.assert_allclose(c.charged[0], [0.0, 4.0])
    assert c.charged.sum() - c.paid.sum() == pytest.approx(c.world_net.sum())


def test_budgets_are_capped_by_wealth_shared_over_episodes():
    holdings = np.zeros((2, 1, 1))
    world = np.ones((2, 1))
    orders = Orders(np.array([0, 0]), np.full((2, 2, 1), 9.0), np.full((2, 2), 3.0))
    c = clear(holdings, world, orders, wealth=np.array([4.0]))
    # Wealth 4 over 2 episodes: 2 per episode, split over two orders of 3 -> 1 each.
    np.testing.assert_allclose(c.budgets, np.ones((2, 2)))
    np.testing.assert_allclose(c.charged, [[2.0], [2.0]])
    assert c.world_net.sum() == pytest.approx(4.0)


def test_orders_valuing_several_goods_use_the_solver_and_conserve_goods():
    rng = np.random.default_rng(0)
    e, n, g = 3, 4, 3
    holdings = rng.uniform(0, 2, (e, n, g))
    world = rng.uniform(0, 1, (e, g))
    values = rng.uniform(0, 3, (e, n, g))
    orders = Orders(np.arange(n), values, rng.uniform(0.5, 2, (e, n)))
    c = clear(holdings, world, orders, wealth=np.full(n, 100.0))
    np.testing.assert_allclose(c.bundles.sum(1) + c.world, holdings.sum(1) + world, rtol=1e-12)
    market = FisherMarket(values, c.budgets, holdings.sum(1) + world)
    # Supply left unsold returns to its holders at price zero, so the bundles are certified.
    spent = np.sum(c.prices[:, None, :] * c.bundles, axis=-1)
    assert certify(market, Equilibrium(c.prices, c.bundles, spent)).holds(1e-5)
    assert (c.charged.sum() - c.paid.sum()) == pytest.approx(c.world_net.sum(), abs=1e-9)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (dict(world=np.zeros((1, 3))), GoodsError, "world must have shape"),
        (dict(holdings=-np.ones((1, 1, 2))), GoodsError, "holdings must be finite"),
        (dict(values=np.full((1, 1, 2), -1.0)), BidError, "orders.values must be finite"),
        (dict(budgets=np.full((1, 1), np.nan)), BidError, "orders.budgets must be finite"),
        (dict(trader=np.array([5])), BidError, "orders.trader must index"),
        (dict(budgets=np.zeros((2, 1))), BidError, "orders must have values"),
        (dict(wealth=np.ones(3)), MarketInputError, "wealth and cap must be"),
        (dict(wealth=None), MarketInputError, "wealth or their caps"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(change, error, match):
    args = dict(
        holdings=np.ones((1, 1, 2)),
        world=np.zeros((1, 2)),
        values=np.ones((1, 1, 2)),
        budgets=np.ones((1, 1)),
        trader=np.array([0]),
        wealth=np.ones(1),
    )
    args.update(change)
    orders = Orders(args["trader"], args["values"], args["budgets"])
    with pytest.raises(error, match=match):
        clear(args["holdings"], args["world"], orders, wealth=args["wealth"])


def test_explicit_caps_bound_each_traders_spending_per_episode():
    holdings = np.zeros((2, 2, 1))
    world = np.ones((2, 1))
    orders = Orders(np.array([0, 1]), np.full((2, 2, 1), 9.0), np.full((2, 2), 3.0))
    c = clear(holdings, world, orders, cap=np.array([0.5, 1.5]))
    np.testing.assert_allclose(c.budgets, [[0.5, 1.5], [0.5, 1.5]])
    np.testing.assert_allclose(c.charged, [[0.5, 1.5], [0.5, 1.5]])
