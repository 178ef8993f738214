"""The wide market's CAPITALISM step (Algorithm 2): the paper's accounting, property
rights, rewards, depreciation, conservation on random markets, and refusal of bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catallax.exchange.errors import ActionError, GoodsError, MarketConfigError, RewardError
from catallax.exchange.wide import Orders, WideMarket, WideOutcome


class Scripted:
    """Test population: fixed orders; production converts good 0 into good 1 one for one."""

    def __init__(self, trader, values, budgets, *, convert=0.0, size=None):
        self._size = size
        self.trader = np.asarray(trader)
        self.values = np.asarray(values, dtype=float)
        self.budgets = np.asarray(budgets, dtype=float)
        self.convert = convert
        self.learned: list[WideOutcome] = []
        self.seen: list[np.ndarray] = []

    @property
    def size(self):
        return self._size or int(self.trader.max()) + 1

    def orders(self, obs, holdings):
        self.seen.append(holdings.copy())
        e = obs.shape[0]
        return Orders(
            self.trader,
            np.broadcast_to(self.values, (e, *self.values.shape)).copy(),
            np.broadcast_to(self.budgets, (e, len(self.budgets))).copy(),
        )

    def produce(self, bundles):
        out = bundles.copy()
        if not self.convert:
            return out
        moved = self.convert * bundles[..., 0]
        out[..., 0] -= moved
        out[..., 1] += moved
        return out

    def learn(self, outcome):
        self.learned.append(outcome)


def test_one_step_charges_buyers_pays_sellers_and_transforms_only_own_goods():
    # Trader 0 bids for good 0 (limit 3, budget 2); trader 1 holds 1 unit of good 0.
    pop = Scripted([0], [[3.0, 0.0]], [2.0], convert=1.0, size=2)
    m = WideMarket(pop, n_goods=2, allowance=5.0)
    m.endow(np.array([[[0.0, 0.0], [1.0, 0.0]]]), traders=True)
    d = m.act()
    assert m.wealth.tolist() == [5.0, 5.0]  # the forward pass moves no money
    assert d.prices[0, 0] == pytest.approx(2.0)
    np.testing.assert_allclose(d.clearing.bundles[0], [[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(d.produced[0], [[0.0, 1.0], [0.0, 0.0]])
    report = m.settle(d, rewards=np.array([[0.5, 0.0]]), inflow=np.array([[0.0, 4.0]]))
    np.testing.assert_allclose(m.wealth, [5.0 - 2.0 + 0.5, 5.0 + 2.0])
    assert m.issuer == pytest.approx(-10.0 - 0.5)
    assert report.traded == pytest.approx(2.0) and report.rewards == pytest.approx(0.5)
    np.testing.assert_allclose(m.holdings[0], [[0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(m.state(), [[0.0, 5.0]])  # the state is the sum of holdings
    assert m.total() == 0
    (out,) = pop.learned
    np.testing.assert_allclose(out.rewards, [[0.5, 0.0]])


def test_the_world_sells_its_goods_to_the_issuer_and_keeps_what_nobody_wants():
    pop = Scripted([0], [[2.0, 0.0]], [1.0])
    m = WideMarket(pop, n_goods=2, allowance=3.0)
    m.endow(np.array([[4.0, 1.0]]))
    d = m.act()
    m.settle(d)
    assert d.prices[0].tolist() == pytest.approx([0.25, 0.0])
    np.testing.assert_allclose(m.holdings[0, 0], [4.0, 0.0])
    np.testing.assert_allclose(m.world, [[0.0, 1.0]])
    assert m.issuer == pytest.approx(-3.0 + 1.0)
    assert m.total() == 0


def test_consumers_remove_goods_and_depreciation_shrinks_holdings():
    pop = Scripted([0], [[0.0, 0.0]], [0.0])
    m = WideMarket(pop, n_goods=2, depreciation=0.5)
    m.endow(np.array([[[2.0, 4.0]]]), traders=True)
    d = m.act()
    m.settle(d, rewards=np.array([[3.0]]), removed=np.array([[[0.0, 4.0]]]))
    np.testing.assert_allclose(m.holdings, [[[1.0, 0.0]]])
    assert m.wealth.tolist() == [4.0]
    with pytest.raises(GoodsError, match="removed must be"):
        m.settle(m.act(), removed=np.array([[[0.0, 9.0]]]))


def test_parallel_episodes_share_wealth_and_keep_separate_goods():
    pop = Scripted([0], [[1.0]], [10.0])
    m = WideMarket(pop, n_goods=1, n_envs=2, allowance=4.0)
    m.endow(np.array([[1.0], [3.0]]))
    d = m.act()
    m.settle(d)
    # Budget per episode is 4 / 2 = 2; limit 1 binds in episode 0 (1 unit), and in
    # episode 1 the budget of 2 buys all 3 units at price 2/3.
    np.testing.assert_allclose(d.prices, [[1.0], [2 / 3]])
    np.testing.assert_allclose(m.holdings[:, 0, 0], [1.0, 3.0])
    assert m.wealth[0] == pytest.approx(4.0 - 1.0 - 2.0)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 5),
    e=st.integers(1, 3),
    g=st.integers(1, 4),
    steps=st.integers(1, 6),
    multi=st.booleans(),
    depreciation=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_conservation_on_random_markets(seed, n, e, g, steps, multi, depreciation):
    rng = np.random.default_rng(seed)

    class Random:
        size = n

        def orders(self, obs, holdings):
            k = 2 * n
            values = rng.uniform(0, 3, (e, k, g)) * (rng.random((e, k, g)) < 0.6)
            if not multi:
                keep = rng.integers(g, size=(e, k, 1)) == np.arange(g)
                values *= keep
            return Orders(np.arange(k) % n, values, rng.uniform(0, 4, (e, k)))

        def produce(self, bundles):
            out = bundles * rng.uniform(0.5, 1.5, bundles.shape)  # own goods only
            return out

    m = WideMarket(Random(), n_goods=g, n_envs=e, allowance=3.0, depreciation=depreciation)
    m.endow(rng.uniform(0, 2, (e, g)))
    for _ in range(steps):
        before = m.balance.copy()
        d = m.act()
        assert np.array_equal(m.balance, before)
        np.testing.assert_allclose(
            d.clearing.bundles.sum(1) + d.clearing.world, d.obs, rtol=1e-9, atol=1e-12
        )
        rewards = rng.uniform(0, 1, (e, n))
        removed = d.produced * rng.uniform(0, 1, d.produced.shape)
        m.settle(d, rewards, removed, inflow=rng.uniform(0, 1, (e, g)))
        assert m.total() == 0 and isinstance(m.total(), int)  # integer units, exactly
        assert m.balance.dtype == np.int64 and m.clearing_units == 0
        assert np.all(m.balance >= 0)  # budgets capped by the balance: nobody goes below 0
        assert np.all(m.holdings >= 0) and np.all(m.world >= 0)


def test_non_finite_reward_raises_naming_trader_and_slot_and_changes_nothing():
    pop = Scripted([0], [[1.0]], [1.0])
    m = WideMarket(pop, n_goods=1, n_envs=2)
    m.endow(np.ones((2, 1)))
    d = m.act()
    with pytest.raises(RewardError, match="trader 0 at step 0 in episode slot 1") as info:
        m.settle(d, rewards=np.array([[0.0], [np.inf]]))
    assert info.value.slot == 1
    assert m.wealth.tolist() == [1.0] and m.steps == 0 and not pop.learned
    assert m.balance.tolist() == [10**6] and m.issuer_units == -(10**6)


def test_a_population_that_produces_the_wrong_shape_or_negative_goods_is_refused():
    class Bad(Scripted):
        def produce(self, bundles):
            return bundles - 1.0

    m = WideMarket(Bad([0], [[0.0]], [0.0]), n_goods=1)
    with pytest.raises(ActionError, match="negative or non-finite"):
        m.act()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(n_goods=0), "n_goods"),
        (dict(n_goods=1, n_envs=0), "n_envs"),
        (dict(n_goods=1, allowance=-1.0), "allowance"),
        (dict(n_goods=1, depreciation=1.5), "depreciation"),
        (dict(n_goods=1, tol=0.0), "tol"),
    ],
)
def test_invalid_parameters_raise_market_config_error(kwargs, match):
    with pytest.raises(MarketConfigError, match=match):
        WideMarket(Scripted([0], [[0.0]], [0.0]), **kwargs)


def test_non_traders_are_refused():
    with pytest.raises(MarketConfigError, match="needs size, orders"):
        WideMarket([object()], n_goods=1)


def test_bankrupt_traders_are_replaced_by_newcomers_with_the_same_program():
    # Trader 0 buys good 0 from trader 1 and pays nearly all its wealth for it.
    pop = Scripted([0], [[10.0]], [10.0], size=2)
    m = WideMarket(pop, n_goods=1, allowance=1.0, floor=0.5, replace_bankrupt=True)
    m.endow(np.array([[[0.0], [1.0]]]), traders=True)
    report = m.settle(m.act())
    # Trader 0 spent its whole budget (1 credit): below the floor, it leaves and a
    # newcomer with a fresh allowance takes its place and its goods.
    assert report.deaths == 1 and m.deaths == 1
    # It left nothing behind; the issuer brings the account back to the allowance.
    assert report.left_behind == 0.0 and report.allowances == 1.0
    assert m.wealth.tolist() == [1.0, 2.0] and m.balance.tolist() == [10**6, 2 * 10**6]
    assert m.holdings[0, 0, 0] == pytest.approx(1.0)
    assert m.issuer == -3.0 and m.treasury == 0.0 and m.total() == 0
    # Without replacement the trader stays, broke, and can only sell.
    m2 = WideMarket(Scripted([0], [[10.0]], [10.0], size=2), n_goods=1, floor=0.5)
    m2.endow(np.array([[[0.0], [1.0]]]), traders=True)
    assert m2.settle(m2.act()).deaths == 0 and m2.wealth[0] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("goods", "traders"),
    [(np.ones((1, 2)), False), (-np.ones((1, 1)), False), (np.full((1, 1, 1), np.nan), True)],
)
def test_endowments_of_the_wrong_shape_or_sign_are_refused(goods, traders):
    m = WideMarket(Scripted([0], [[0.0]], [0.0]), n_goods=1)
    with pytest.raises(GoodsError, match="goods must be finite"):
        m.endow(goods, traders=traders)
    assert m.state().tolist() == [[0.0]]
