"""The wide market's settlement as a value: computing it changes nothing, applying it moves
integer money through the clearing house, conservation is exact, no trader goes below
zero, the journal sees the value first, stale values and bad input are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catallax.exchange.errors import GoodsError, MarketInputError, RewardError, StaleValue
from catallax.exchange.money import UNITS_PER_CREDIT, to_units
from catallax.exchange.transfers import CLEARING, ISSUER, NO_SLOT, TREASURY, FlowKind
from catallax.exchange.wide import Orders, WideMarket, WideSettlement

U = UNITS_PER_CREDIT


class Random:
    """Random orders over random goods, random own-goods production; records learning."""

    def __init__(self, rng, n, e, g, *, multi):
        self.rng, self.size, self.e, self.g, self.multi = rng, n, e, g, multi
        self.learned = []

    def orders(self, obs, holdings):
        rng, n, e, g = self.rng, self.size, self.e, self.g
        k = 2 * n
        values = rng.uniform(0, 3, (e, k, g)) * (rng.random((e, k, g)) < 0.6)
        if not self.multi:
            values *= rng.integers(g, size=(e, k, 1)) == np.arange(g)
        return Orders(np.arange(k) % n, values, rng.uniform(0, 4, (e, k)))

    def produce(self, bundles):
        return bundles * self.rng.uniform(0.5, 1.5, bundles.shape)

    def learn(self, outcome):
        self.learned.append(outcome)


class Fixed:
    """Fixed orders, production leaves goods as they are."""

    def __init__(self, trader, values, budgets, size):
        self.trader, self.size = np.asarray(trader), size
        self.values, self.budgets = np.asarray(values, float), np.asarray(budgets, float)
        self.learned = []

    def orders(self, obs, holdings):
        e = obs.shape[0]
        return Orders(
            self.trader,
            np.broadcast_to(self.values, (e, *self.values.shape)).copy(),
            np.broadcast_to(self.budgets, (e, len(self.budgets))).copy(),
        )

    def produce(self, bundles):
        return bundles.copy()

    def learn(self, outcome):
        self.learned.append(outcome)


def snapshot(m):
    return (
        m.balance.copy(),
        m.issuer_units,
        m.treasury_units,
        m.clearing_units,
        m.holdings.copy(),
        m.world.copy(),
        m.steps,
        m.version,
        m.deaths,
    )


def assert_unchanged(m, before):
    after = snapshot(m)
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(a, b)


def replay(balance, settlement):
    """Apply the transfers one by one: no trader and not the clearing house ever dips
    below zero on the way, and the end is the settlement's balances."""
    accounts = {i: int(b) for i, b in enumerate(balance)}
    accounts.update({ISSUER: 0, TREASURY: 0, CLEARING: 0})
    t = settlement.transfers
    assert t.amount.dtype == np.int64 and np.all(t.amount > 0)
    for payer, payee, amount, _kind, _slot in t.rows():
        accounts[payer] -= amount
        accounts[payee] += amount
        assert accounts[payer] >= 0 or payer == ISSUER, (payer, accounts[payer])
    assert accounts[CLEARING] == 0
    assert [accounts[i] for i in range(len(balance))] == settlement.balance.tolist()
    return accounts[ISSUER]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    sizes=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    e=st.integers(1, 3),
    g=st.integers(1, 3),
    steps=st.integers(1, 20),
    multi=st.booleans(),
    depreciation=st.sampled_from([0.0, 0.3, 1.0]),
    replace=st.booleans(),
    costs=st.booleans(),
)
def test_settlements_are_values_and_only_apply_moves_money_conserved_exactly(
    seed, sizes, e, g, steps, multi, depreciation, replace, costs
):
    rng = np.random.default_rng(seed)
    pops = [Random(rng, s, e, g, multi=multi) for s in sizes]
    n = sum(sizes)
    m = WideMarket(
        pops,
        n_goods=g,
        n_envs=e,
        allowance=3.0,
        depreciation=depreciation,
        floor=float(rng.uniform(0, 2)),
        replace_bankrupt=replace,
    )
    m.endow(rng.uniform(0, 2, (e, g)))
    m.endow(rng.uniform(0, 1, (e, n, g)), traders=True)
    for _ in range(steps):
        d = m.act()
        rewards = rng.uniform(-2 if costs else 0, 1, (e, n))
        removed = d.produced * rng.uniform(0, 1, d.produced.shape)
        inflow = rng.uniform(0, 1, (e, g))
        before, learned = snapshot(m), [len(p.learned) for p in pops]
        first = m.settlement(d, rewards, removed, inflow)
        second = m.settlement(d, rewards, removed, inflow)
        assert first == second and first is not second
        assert_unchanged(m, before)
        assert [len(p.learned) for p in pops] == learned  # only apply teaches
        # The itemised transfers lead from the old balances to the new ones, never
        # through a negative trader or clearing-house balance.
        issuer_gain = replay(m.balance, first)
        assert issuer_gain == first.transfers.special(ISSUER)
        assert first.transfers.special(TREASURY) == 0
        trade = first.transfers.kind == FlowKind.TRADE
        assert np.all(first.transfers.slot[trade] >= 0)
        # The issuer's trade per slot is the world's proceeds, rounded, plus the residue.
        issuer_trade = np.zeros(e, dtype=np.int64)
        for payer, payee, amount, kind, slot in first.transfers.rows():
            if kind is FlowKind.TRADE and ISSUER in (payer, payee):
                issuer_trade[slot] += amount if payee == ISSUER else -amount
        np.testing.assert_array_equal(issuer_trade, to_units(d.clearing.world_net) + first.residue)
        if not multi:  # closed-form clearing: half a unit per trader, plus the cap's unit
            assert np.all(np.abs(first.residue) <= 1.5 * n + 1)
        issuer = m.issuer_units
        report = m.apply(first)
        assert report == first.report
        assert m.balance.tolist() == first.balance.tolist()
        assert m.issuer_units == issuer + issuer_gain
        np.testing.assert_array_equal(m.holdings, first.holdings)
        np.testing.assert_array_equal(m.world, first.world)
        assert m.total() == 0 and isinstance(m.total(), int) and m.clearing_units == 0
        assert np.all(m.balance >= 0) and m.balance.dtype == np.int64
        assert np.all(m.holdings >= 0) and np.all(m.world >= 0)
        for p, pop in enumerate(pops):
            assert pop.learned[-1] == first.outcomes[p]
            np.testing.assert_array_equal(pop.learned[-1].rewards, rewards[:, m.rows(p)])
        with pytest.raises(StaleValue):
            m.apply(second)  # the same step cannot be applied twice


def test_rounding_the_residue_of_the_clearing_house_goes_to_the_issuer():
    # Three sellers hold one unit each; one buyer spends 1 credit: price 1/3 credit, so
    # each seller is owed 333333.33 units. Sellers get 333333, the issuer the last unit.
    pop = Fixed([0], [[2.0]], [1.0], size=4)
    m = WideMarket(pop, n_goods=1, allowance=2.0)
    m.endow(np.array([[[0.0], [1.0], [1.0], [1.0]]]), traders=True)
    s = m.settlement(m.act())
    assert s.transfers.rows() == [
        (0, CLEARING, U, FlowKind.TRADE, 0),
        (CLEARING, 1, 333_333, FlowKind.TRADE, 0),
        (CLEARING, 2, 333_333, FlowKind.TRADE, 0),
        (CLEARING, 3, 333_333, FlowKind.TRADE, 0),
        (CLEARING, ISSUER, 1, FlowKind.TRADE, 0),
    ]
    assert s.residue.tolist() == [1]
    assert s.report.traded == 1.0 and s.report.world_sales == 1e-6
    m.apply(s)
    assert m.balance.tolist() == [U, 2 * U + 333_333, 2 * U + 333_333, 2 * U + 333_333]
    assert m.issuer_units == -8 * U + 1 and m.total() == 0


def test_the_issuer_pays_in_when_rounding_leaves_the_clearing_house_short():
    # Three sellers of one unit each; the buyer spends 1.8 units of money: price 0.6
    # units per good, so each seller is owed 0.6 units and gets 1; the buyer pays 2.
    # The issuer pays the missing unit in before the sellers are paid.
    pop = Fixed([0], [[1.0]], [1.8e-6], size=4)
    m = WideMarket(pop, n_goods=1, allowance=1.0)
    m.endow(np.array([[[0.0], [1.0], [1.0], [1.0]]]), traders=True)
    s = m.settlement(m.act())
    assert s.transfers.rows() == [
        (0, CLEARING, 2, FlowKind.TRADE, 0),
        (ISSUER, CLEARING, 1, FlowKind.TRADE, 0),
        (CLEARING, 1, 1, FlowKind.TRADE, 0),
        (CLEARING, 2, 1, FlowKind.TRADE, 0),
        (CLEARING, 3, 1, FlowKind.TRADE, 0),
    ]
    assert s.residue.tolist() == [-1] and s.report.world_sales == -1e-6
    m.apply(s)
    assert m.total() == 0 and m.clearing_units == 0 and m.issuer_units == -4 * U - 1


def test_budgets_are_capped_by_the_integer_balance_shared_over_episodes():
    # 1 credit over 3 episodes: 333333 units per episode; one unit stays.
    pop = Fixed([0], [[100.0]], [100.0], size=1)
    m = WideMarket(pop, n_goods=1, n_envs=3, allowance=1.0)
    m.endow(np.ones((3, 1)))
    d = m.act()
    np.testing.assert_allclose(d.clearing.budgets, np.full((3, 1), 0.333333), rtol=1e-12)
    s = m.settlement(d)
    assert s.transfers.rows()[:3] == [(0, CLEARING, 333_333, FlowKind.TRADE, e) for e in range(3)]
    m.apply(s)
    assert m.balance.tolist() == [1]
    # A trader with less than one unit per episode cannot spend at all.
    d = m.act()
    assert np.all(d.clearing.budgets == 0)


def test_rewards_and_costs_are_itemised_and_costs_capped_by_what_the_trader_holds():
    pop = Fixed([0], [[0.0]], [0.0], size=2)
    m = WideMarket(pop, n_goods=1, n_envs=2, allowance=1.0)
    d = m.act()
    rewards = np.array([[0.25, -0.5], [-3.0, -1.0]])
    s = m.settlement(d, rewards)
    assert s.transfers.rows() == [
        (ISSUER, 0, 250_000, FlowKind.REWARD, 0),
        (1, ISSUER, 500_000, FlowKind.COST, 0),
        (0, ISSUER, 1_250_000, FlowKind.COST, 1),  # all it holds: 1 + 0.25
        (1, ISSUER, 500_000, FlowKind.COST, 1),  # what is left of 1 - 0.5
    ]
    assert s.report.rewards == pytest.approx(0.25 - 1.25 - 1.0)
    assert s.report.uncollected == pytest.approx(3.0 - 1.25 + 0.5)
    m.apply(s)
    assert m.balance.tolist() == [0, 0] and m.total() == 0
    # Learners still see the rewards as reported.
    np.testing.assert_array_equal(pop.learned[0].rewards, rewards)


def test_a_bankrupt_traders_account_is_taken_over_and_topped_up_to_the_allowance():
    # Trader 0 pays 0.7 for trader 1's unit: 0.3 left, below the floor 0.5.
    pop = Fixed([0], [[10.0]], [0.7], size=2)
    m = WideMarket(pop, n_goods=1, allowance=1.0, floor=0.5, replace_bankrupt=True)
    m.endow(np.array([[[0.0], [1.0]]]), traders=True)
    s = m.settlement(m.act())
    assert s.transfers.rows()[-1] == (ISSUER, 0, 700_000, FlowKind.ALLOWANCE, NO_SLOT)
    assert s.replaced.tolist() == [True, False]
    assert s.report.deaths == 1 and s.report.left_behind == pytest.approx(0.3)
    assert s.report.allowances == pytest.approx(0.7)
    m.apply(s)
    # Same row, same goods; nothing is written off, nothing goes to the treasury.
    assert m.balance.tolist() == [U, U + 700_000] and m.treasury_units == 0
    assert m.holdings[0, 0, 0] == 1.0 and m.deaths == 1 and m.total() == 0


def test_the_journal_sees_the_value_before_anything_changes():
    seen = []
    pop = Fixed([0], [[2.0]], [1.0], size=2)

    def journal(value):
        assert isinstance(value, WideSettlement)
        seen.append((value, m.balance.copy(), m.steps, len(pop.learned), m.world.copy()))

    m = WideMarket(pop, n_goods=1, allowance=2.0, journal=journal)
    m.endow(np.array([[3.0]]))
    s = m.settlement(m.act(), inflow=np.array([[1.0]]))
    assert not seen  # computing a settlement journals nothing
    m.apply(s)
    ((value, balance, steps, learned, world),) = seen
    assert value is s
    assert balance.tolist() == [2 * U, 2 * U] and steps == 0 and learned == 0
    assert world.tolist() == [[3.0]]
    assert m.balance.tolist() == s.balance.tolist() == [U, 2 * U] and m.steps == 1


def test_a_raising_journal_leaves_the_market_unchanged():
    class Refused(Exception):
        pass

    calls = []

    def journal(value):
        calls.append(value)
        if len(calls) == 1:
            raise Refused("ledger unavailable")

    pop = Fixed([0], [[2.0]], [1.0], size=2)
    m = WideMarket(pop, n_goods=1, allowance=2.0, journal=journal)
    m.endow(np.array([[[0.0], [1.0]]]), traders=True)
    s = m.settlement(m.act(), rewards=np.array([[0.5, 0.0]]))
    before = snapshot(m)
    with pytest.raises(Refused):
        m.apply(s)
    assert_unchanged(m, before)
    assert not pop.learned
    m.apply(s)  # still the current state: it applies once the journal accepts it
    assert m.steps == 1 and len(calls) == 2 and len(pop.learned) == 1


def test_stale_values_are_refused():
    pop = Fixed([0], [[2.0]], [1.0], size=1)
    m = WideMarket(pop, n_goods=1)
    m.endow(np.array([[1.0]]))
    d = m.act()
    a, b = m.settlement(d), m.settlement(d)
    m.apply(a)
    before = snapshot(m)
    for value in (a, b):  # applied already; computed for the state before
        with pytest.raises(StaleValue, match="computed at state 1"):
            m.apply(value)
    with pytest.raises(StaleValue, match="decision computed at state 1"):
        m.settlement(d)  # a decision of the previous step
    assert_unchanged(m, before)
    # Goods entering the economy change the state too.
    s = m.settlement(m.act())
    m.endow(np.array([[1.0]]))
    with pytest.raises(StaleValue):
        m.apply(s)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(rewards=np.zeros((1, 2))), MarketInputError, "rewards must have shape"),
        (dict(rewards=np.array([[0.0], [np.nan]])), RewardError, "episode slot 1"),
        (dict(removed=np.zeros((2, 1))), GoodsError, "removed must have shape"),
        (dict(removed=-np.ones((2, 1, 1))), GoodsError, "removed must be >= 0"),
        (dict(removed=np.full((2, 1, 1), 9.0)), GoodsError, "at most what each trader"),
        (dict(removed=np.full((2, 1, 1), np.nan)), GoodsError, "removed must be"),
        (dict(inflow=np.ones((1, 1))), GoodsError, "inflow must be"),
        (dict(inflow=-np.ones((2, 1))), GoodsError, "inflow must be"),
    ],
)
def test_bad_input_raises_the_specific_error_and_changes_nothing(kwargs, error, match):
    pop = Fixed([0], [[1.0]], [1.0], size=1)
    m = WideMarket(pop, n_goods=1, n_envs=2)
    m.endow(np.ones((2, 1, 1)), traders=True)
    d = m.act()
    before = snapshot(m)
    with pytest.raises(error, match=match):
        m.settlement(d, **kwargs)
    with pytest.raises(error, match=match):
        m.settle(d, **kwargs)
    assert_unchanged(m, before)
    assert not pop.learned
    m.settle(d)  # the decision is still good


def test_money_views_in_credits_and_read_only_state():
    m = WideMarket(Fixed([0], [[0.0]], [0.0], size=2), n_goods=1, allowance=1.5)
    assert m.balance.tolist() == [1_500_000, 1_500_000] and m.balance.dtype == np.int64
    assert m.wealth.tolist() == [1.5, 1.5] and m.issuer == -3.0 and m.treasury == 0.0
    with pytest.raises(ValueError, match="read-only"):
        m.balance[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        m.holdings[0, 0, 0] = 1.0
    view = m.wealth
    view[0] = 99.0  # a copy
    assert m.balance[0] == 1_500_000 and m.total() == 0
