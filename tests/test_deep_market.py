"""The deep market's CAPITALISM step: who pays whom, episode ends, rent, growth, death,
conservation on random markets, and refusal of bad parameters and rewards."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catallax.exchange import (
    ActionError,
    AuctionKind,
    DeepMarket,
    MarketConfigError,
    MarketInputError,
    MoneyError,
    Outcomes,
    RewardError,
    StaleValue,
    UnknownTrader,
    as_bidders,
)
from catallax.traders import Population, Trader


class Table(Population):
    """Test population: member k bids bid_table[k, obs] and takes action_of[k]."""

    def __init__(self, bid_table, action_of, grow_bids=None):
        self.table = np.asarray(bid_table, dtype=float)
        self.action_of = np.asarray(action_of, dtype=np.int64)
        self.grow_bids = grow_bids
        self.learned: list[Outcomes] = []
        self.retired: list[int] = []

    @property
    def size(self):
        return len(self.table)

    def bids(self, obs):
        return self.table[:, np.asarray(obs, dtype=np.int64)]

    def actions(self, obs, members):
        return self.action_of[members]

    def learn(self, outcomes):
        self.learned.append(outcomes)

    def retire(self, members):
        self.retired.extend(np.asarray(members).tolist())

    def grow(self, count):
        if self.grow_bids is None:
            return 0
        rows = np.tile(self.grow_bids, (count, 1))
        self.table = np.vstack([self.table, rows])
        self.action_of = np.concatenate([self.action_of, np.zeros(count, dtype=np.int64)])
        return count


def flags(*values):
    return np.array(values, dtype=bool)


def test_first_owner_pays_the_world_and_last_owner_keeps_the_final_reward():
    pop = Table([[0.5]], [0])
    m = DeepMarket(pop, n_actions=1, auction="first-price", allowance=2.0)
    d = m.act(np.array([0]))
    assert d.winner.tolist() == [0] and d.price.tolist() == [0.5]
    report = m.settle(d, np.array([0.8]), flags(True), flags(False))
    assert m.wealth.tolist() == pytest.approx([2.0 - 0.5 + 0.8])
    assert m.issuer == pytest.approx(-2.0 + 0.5 - 0.8)
    assert report.to_world == pytest.approx(0.5)
    assert m.owner.tolist() == [-1]  # nobody buys a terminal state
    # The finished ownership was reported with no receipt.
    (out,) = pop.learned
    assert out.members.tolist() == [0] and out.receipt.tolist() == [0.0]
    assert out.value.tolist() == [0.8] and out.ended.tolist() == [True]


def test_next_owner_pays_previous_owner_less_discount_tax():
    # State 0: trader 0 bids 0.3; state 1: trader 1 bids 0.6.
    pop = Table([[0.3, np.nan], [np.nan, 0.6]], [0, 0])
    m = DeepMarket(pop, n_actions=1, auction="first-price", discount=0.5, allowance=1.0)
    d = m.act(np.array([0]))
    m.settle(d, np.array([0.1]), flags(False), flags(False))
    d = m.act(np.array([1]))
    r = m.settle(d, np.array([0.0]), flags(False), flags(False))
    assert m.wealth.tolist() == pytest.approx([1.0 - 0.3 + 0.1 + 0.3, 1.0 - 0.6])
    # Taxes: half of the world's 0.3 at step one, half of trader 0's 0.6 at step two.
    assert r.tax == pytest.approx(0.3) and m.treasury == pytest.approx(0.15 + 0.3)
    (first, *_) = pop.learned
    assert first.members.tolist() == [0]
    assert first.price.tolist() == [0.3] and first.value.tolist() == pytest.approx([0.4])
    assert m.total() == pytest.approx(0.0, abs=1e-12)


def test_a_negative_price_is_paid_by_the_seller_within_what_it_holds():
    """An ask: the world pays the first buyer to take a state worth less than nothing;
    the next seller pays γ of the next ask (no tax), capped by its balance; the buyers
    learn negative prices and the sellers negative receipts."""
    # State 0: trader 0 asks 2 credits; state 1: trader 1 asks 3.
    pop = Table([[-2.0, np.nan], [np.nan, -3.0]], [0, 0])
    m = DeepMarket(pop, n_actions=1, auction="first-price", discount=0.5, allowance=1.0)
    d = m.act(np.array([0]))
    assert d.winner.tolist() == [0] and d.price.tolist() == [-2.0]
    r = m.settle(d, np.array([-0.5]), flags(False), flags(False))
    # The world pays 0.5 × 2 = 1 (no tax); the owner pays the cost 0.5.
    assert m.wealth.tolist() == pytest.approx([1.0 + 1.0 - 0.5, 1.0])
    assert r.from_world == pytest.approx(1.0) and r.tax == 0.0 and r.costs == 0.5
    d = m.act(np.array([1]))
    r = m.settle(d, np.array([0.0]), flags(False), flags(False))
    # Trader 0 owes 0.5 × 3 = 1.5 but holds 1.5: all of it moves to trader 1.
    assert m.wealth.tolist() == pytest.approx([0.0, 2.5]) and r.unpaid == 0.0
    (first,) = pop.learned
    assert first.price.tolist() == [-1.0] and first.value.tolist() == pytest.approx([-2.0])
    assert m.total() == 0
    # A seller short of money pays what it holds; the rest is unpaid.
    pop = Table([[-2.0, np.nan], [np.nan, -9.0]], [0, 0])
    m = DeepMarket(pop, n_actions=1, auction="first-price", allowance=1.0)
    m.settle(m.act(np.array([0])), np.array([0.0]), flags(False), flags(False))
    r = m.settle(m.act(np.array([1])), np.array([0.0]), flags(False), flags(False))
    assert m.wealth.tolist() == pytest.approx([0.0, 4.0]) and r.unpaid == pytest.approx(6.0)
    assert (m.balance >= 0).all() and m.total() == 0


def test_nonconserving_vickrey_mints_the_difference():
    pop = Table([[0.2, np.nan], [0.7, np.nan], [np.nan, 0.9], [np.nan, 0.4]], [0, 0, 0, 0])
    m = DeepMarket(pop, n_actions=1, auction="vickrey-nonconserving", allowance=1.0)
    m.settle(m.act(np.array([0])), np.zeros(1), flags(False), flags(False))
    r = m.settle(m.act(np.array([1])), np.zeros(1), flags(False), flags(False))
    # Trader 2 wins paying 0.4; trader 1 (previous owner) receives the full 0.9.
    assert r.minted == pytest.approx(0.5)
    assert m.wealth[1] == pytest.approx(1.0 - 0.2 + 0.9)
    assert m.wealth[2] == pytest.approx(1.0 - 0.4)
    assert m.total() == pytest.approx(0.0, abs=1e-12)


def test_rent_is_levied_per_episode_owned():
    pop = Table([[0.0]], [0])
    m = DeepMarket(pop, n_actions=1, n_envs=2, rent=0.1, allowance=10.0, auction="first-price")
    r = m.settle(m.act(np.array([0, 0])), np.zeros(2), flags(False, False), flags(False, False))
    assert m.wealth[0] == pytest.approx(10.0 * 0.9**2)
    assert r.rent == pytest.approx(10.0 - 8.1)


def test_bids_are_capped_by_wealth_shared_over_parallel_episodes():
    pop = Table([[1.0], [0.4]], [0, 0])
    m = DeepMarket(pop, n_actions=1, n_envs=4, allowance=2.0, auction="first-price")
    d = m.act(np.zeros(4, dtype=int))
    # Trader 0 has 2 credits over 4 episodes: its bid of 1.0 is capped at 0.5.
    assert d.top.tolist() == [0.5] * 4 and d.winner.tolist() == [0] * 4


def test_nobody_bids_the_world_acts_at_random_and_keeps_the_reward():
    pop = Table([[np.nan]], [0])
    m = DeepMarket(pop, n_actions=3, n_envs=64, seed=1)
    d = m.act(np.zeros(64, dtype=int))
    assert (d.winner == -1).all()
    assert set(d.actions.tolist()) == {0, 1, 2}
    before = m.wealth.copy()
    r = m.settle(d, np.ones(64), np.zeros(64, bool), np.zeros(64, bool))
    assert r.rewards == 0.0 and (m.wealth == before).all()


def test_consumers_pay_the_owner_for_the_state_reached():
    class LikesThree:
        def pay(self, obs):
            return np.where(np.asarray(obs) == 3, 0.25, 0.0)

    pop = Table([[0.1]], [0])
    m = DeepMarket(pop, n_actions=1, consumers=[LikesThree()], auction="first-price")
    m.settle(m.act(np.array([0])), np.array([99.0]), flags(False), flags(False), np.array([3]))
    assert m.wealth[0] == pytest.approx(1.0 - 0.1 + 0.25)  # the env's 99 is ignored
    assert m.consumer_balances.tolist() == pytest.approx([-0.25])
    assert m.total() == pytest.approx(0.0, abs=1e-12)


def test_bankrupt_traders_leave_and_the_economy_grows_back():
    pop = Table([[0.9], [0.1]], [0, 0], grow_bids=[0.2])
    m = DeepMarket(pop, n_actions=1, auction="first-price", allowance=1.0, floor=0.5)
    r = m.settle(m.act(np.array([0])), np.array([0.0]), flags(True), flags(False))
    assert r.deaths == 1 and pop.retired == [0]
    assert m.alive.tolist() == [False, True]
    # It paid the world 0.9; its balance (0.1 credit) stays in its account, frozen: no
    # flow writes it off.
    assert m.balance.tolist() == [100_000, 1_000_000]
    assert m.grow(2) == 2 and m.size == 4 and m.n_alive == 3
    assert m.births == 4 and m.deaths == 1
    # The dead trader bids no more.
    assert m.act(np.array([0])).winner.tolist() == [2]
    assert m.total() == 0


def test_lone_trader_is_a_population_of_one():
    class Greedy(Trader):
        def bid(self, obs):
            return 0.4 if obs == 1 else float("nan")

        def act(self, obs):
            return 1

    m = DeepMarket([Greedy(), Table([[0.3, 0.3]], [0])], n_actions=2, auction="vickrey")
    d = m.act(np.array([0, 1]))
    assert d.winner.tolist() == [1, 0] and d.actions.tolist() == [0, 1]
    assert d.price.tolist() == [0.0, 0.3]
    with pytest.raises(TypeError, match="not a trader"):
        as_bidders(object())


def test_actions_outside_the_action_space_are_refused():
    m = DeepMarket(Table([[0.3]], [5]), n_actions=2)
    with pytest.raises(ActionError, match="action 5"):
        m.act(np.array([0]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_reward_raises_naming_the_step_and_changes_nothing(bad):
    m = DeepMarket(Table([[0.3]], [0]), n_actions=1, n_envs=2)
    m.settle(m.act(np.array([0, 0])), np.zeros(2), flags(False, False), flags(False, False))
    state = (m.wealth.copy(), m.issuer, m.treasury, m.owner.copy(), m.steps)
    d = m.act(np.array([0, 0]))
    with pytest.raises(RewardError, match="step 1 in episode slot 1") as info:
        m.settle(d, np.array([0.0, bad]), flags(False, False), flags(False, False))
    assert info.value.step == 1 and info.value.slot == 1
    assert isinstance(info.value, ValueError)
    after = (m.wealth, m.issuer, m.treasury, m.owner, m.steps)
    assert (after[0] == state[0]).all() and after[1:3] == state[1:3]
    assert (after[3] == state[3]).all() and after[4] == state[4]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rent": 1.0}, "rent"),
        ({"rent": -0.01}, "rent"),
        ({"rent": np.nan}, "rent"),
        ({"allowance": -1.0}, "allowance"),
        ({"allowance": np.inf}, "allowance"),
        ({"discount": 0.0}, "discount"),
        ({"discount": 1.5}, "discount"),
        ({"n_envs": 0}, "n_envs"),
        ({"n_actions": 0}, "n_actions"),
        ({"auction": "dutch"}, "auction"),
        ({"floor": np.nan}, "floor"),
        ({"royalty": 1.5}, "royalty"),
        ({"royalty": -0.5}, "royalty"),
    ],
)
def test_invalid_parameters_raise_value_error(kwargs, match):
    args = {"n_actions": 1, **kwargs}
    with pytest.raises(MarketConfigError, match=match) as info:
        DeepMarket(Table([[0.1]], [0]), **args)
    assert isinstance(info.value, ValueError)


def test_no_population_is_refused_but_an_empty_one_starts_a_market_for_the_world():
    with pytest.raises(ValueError, match="at least one population"):
        DeepMarket([], n_actions=1)
    # An exchange's market starts empty and admits traders as they join.
    m = DeepMarket(Table(np.zeros((0, 2)), []), n_actions=3, n_envs=2, seed=0)
    assert m.size == 0 and m.total() == 0
    d = m.decide(np.array([0, 1]), np.zeros((0, 2)), np.zeros((0, 2), dtype=np.int64))
    assert (d.winner == -1).all() and ((d.actions >= 0) & (d.actions < 3)).all()
    report = m.settle(d, np.array([1.0, 2.0]), np.array([False, True]), np.array([False, False]))
    assert report.rewards == 0 and m.total() == 0


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    kind=st.sampled_from(list(AuctionKind)),
    n=st.integers(1, 7),
    e=st.integers(1, 4),
    rent=st.sampled_from([0.0, 0.05, 0.5]),
    discount=st.sampled_from([1.0, 0.9, 0.5]),
    floor=st.sampled_from([-1.0, 0.0, 0.3]),
    royalty=st.sampled_from([0.0, 0.5, 1.0]),
    steps=st.integers(1, 25),
    consumers=st.booleans(),
)
def test_conservation_on_random_markets(
    seed, kind, n, e, rent, discount, floor, royalty, steps, consumers
):
    """Σw' = Σw + rewards + minted + from_world − costs − to_world − rent − tax (units) at
    every step; all balances sum to exactly zero; no trader balance is ever negative."""
    rng = np.random.default_rng(seed)
    states = 3
    table = rng.choice([np.nan, np.inf, -1.0, -0.4, 0.0, 0.2, 0.5, 1.5], size=(n, states))
    pop = Table(table, rng.integers(0, 2, size=n), grow_bids=rng.uniform(0, 1, states))

    class Buyer:
        def pay(self, obs):
            return (np.asarray(obs, dtype=float) - 1.0) * 0.1

    m = DeepMarket(
        pop,
        n_actions=2,
        n_envs=e,
        auction=kind,
        allowance=float(rng.uniform(0, 2)),
        rent=rent,
        discount=discount,
        floor=floor,
        royalty=royalty,
        consumers=[Buyer()] if consumers else [],
        seed=seed,
    )
    for _ in range(steps):
        before = int(m.balance.sum())
        obs = rng.integers(0, states, size=e)
        d = m.act(obs)
        rewards = rng.normal(0, 1, size=e)
        s = m.settlement(
            d, rewards, rng.random(e) < 0.2, rng.random(e) < 0.1, rng.integers(0, 3, e)
        )
        t = s.transfers
        assert (t.amount > 0).all()
        into_traders = t.amount[(t.payee >= 0) & (t.payer < 0)].sum()
        out_of_traders = t.amount[(t.payer >= 0) & (t.payee < 0)].sum()
        m.apply(s)
        assert int(m.balance.sum()) == before + into_traders - out_of_traders
        r = s.report
        flows = r.rewards + r.minted + r.from_world - r.costs - r.to_world - r.rent - r.tax
        units = round(flows * 1e6)
        royalty_units = round(r.royalties * 1e6)
        if royalty == 0:
            assert int(m.balance.sum()) - before == units
        else:
            assert abs(int(m.balance.sum()) - before - units) <= royalty_units
        assert m.total() == 0
        assert (m.balance >= 0).all()
        assert (m.balance[m.alive] >= round(floor * 1e6)).all()
        if rng.random() < 0.3:
            before = int(m.balance.sum())
            born = m.grow(int(rng.integers(0, 3)))
            assert int(m.balance.sum()) == before + born * m.allowance_units
            assert m.total() == 0


def test_endow_moves_credits_from_the_issuer_and_refuses_bad_amounts():
    m = DeepMarket(Table([[0.1], [0.2]], [0, 0]), n_actions=1, allowance=1.0)
    m.endow(np.array([1, 1]), np.array([2.0, 0.5]))
    assert m.wealth.tolist() == [1.0, 3.5] and m.total() == 0
    cases = (
        ([0], [-1.0], MoneyError),
        ([0], [np.nan], MoneyError),
        ([5], [1.0], UnknownTrader),
        ([0, 1], [1.0], MarketInputError),
    )
    for traders, amounts, error in cases:
        with pytest.raises(error):
            m.endow(np.array(traders), np.array(amounts))
    assert m.wealth.tolist() == [1.0, 3.5]


def test_with_royalties_sellers_get_a_quote_at_the_sale_and_the_settlement_at_the_end():
    # Trader 0 owns state 0 (bid 0.3), trader 1 buys state 1 (bid 0.6) and ends the episode.
    pop = Table([[0.3, np.nan], [np.nan, 0.6]], [0, 0])
    m = DeepMarket(pop, n_actions=1, auction="first-price", discount=0.5, royalty=0.5)
    m.settle(m.act(np.array([0])), np.array([0.1]), flags(False), flags(False))
    m.settle(m.act(np.array([1])), np.array([0.2]), flags(True), flags(False))
    rows = [
        (int(m_), bool(q), float(r))
        for o in pop.learned
        for m_, q, r in zip(o.members, ~o.settled, o.receipt, strict=True)
    ]
    # At the sale: up-front γ(1-λ)·0.6 = 0.15, plus the expected royalty γλ·0.6 = 0.15.
    # At the end: trader 1 realised 0.2, so trader 0's royalty is γλ·0.2 = 0.05.
    assert rows == [(0, True, pytest.approx(0.3)), (0, False, pytest.approx(0.2)), (1, False, 0.0)]
    assert m.total() == pytest.approx(0.0, abs=1e-12)


def test_new_episodes_forgets_owners_and_royalty_chains_and_moves_no_money():
    """After an outside reset (a lost environment) nobody owns a slot, the royalty
    chains of the cut episodes are dropped uncharged, no balance changes, and a decision
    made before is stale; the next step's winner pays nobody for the fresh state."""
    pop = Table([[3.0, 3.0], [2.0, 2.0]], [0, 0])
    m = DeepMarket(pop, n_actions=1, n_envs=2, discount=0.9, royalty=0.5, allowance=10.0)
    d = m.act(np.array([0, 1]))
    m.settle(d, np.zeros(2), np.zeros(2, bool), np.zeros(2, bool))
    assert (m.owner >= 0).all() and all(m.book.chains)
    before, total, stale = m.accounts.balance.copy(), m.total(), m.act(np.array([0, 1]))
    m.new_episodes()
    assert (m.owner == -1).all() and not any(m.book.chains)
    np.testing.assert_array_equal(m.accounts.balance, before)
    assert m.total() == total == 0
    with pytest.raises(StaleValue):
        m.settle(stale, np.zeros(2), np.zeros(2, bool), np.zeros(2, bool))
    d = m.act(np.array([0, 1]))
    s = m.settlement(d, np.zeros(2), np.zeros(2, bool), np.zeros(2, bool))
    # Only the buyers pay (to the issuer or treasury): no trader is paid for a sale.
    got = s.balances - m.accounts.balance
    assert (got <= 0).all() and got.sum() < 0


def test_salvage_the_world_buys_a_cut_state_back_at_its_price():
    """Where a time limit cuts an episode the caller may give the market's price of the
    state: the issuer pays the last owner γ of it, or an owner of a state of negative
    price pays the world, within what it holds; only truncated slots count."""
    pop = Table([[0.5, np.nan], [np.nan, 0.0]], [0, 0])
    m = DeepMarket(pop, n_actions=1, n_envs=2, auction="first-price", discount=0.5,
                   allowance=2.0)  # fmt: skip
    d = m.act(np.array([0, 0]))
    # Slot 0 is cut (truncated), slot 1 terminates: its salvage is ignored.
    s = m.settlement(d, np.zeros(2), flags(False, True), flags(True, True),
                     salvage=np.array([3.0, 9.0]))  # fmt: skip
    m.apply(s)
    assert s.report.from_world == pytest.approx(1.5)  # γ × 3 for slot 0 only
    assert m.wealth.tolist() == pytest.approx([2.0 - 0.5 - 0.5 + 1.5, 2.0])
    (out,) = pop.learned
    assert out.receipt.tolist() == pytest.approx([1.5, 0.0]) and out.ended.all()
    # A negative price: the owner pays γ × |price| to the world, capped by its balance.
    d = m.act(np.array([0, 1]))
    s = m.settlement(d, np.zeros(2), flags(False, False), flags(True, False),
                     salvage=np.array([-100.0, np.nan]))  # fmt: skip
    held = int(m.balance[0]) - int(np.rint(0.5 * 1e6))  # after buying slot 0 again
    m.apply(s)
    assert s.unpaid == 50_000_000 - held and m.balance[0] == 0
    assert m.total() == 0
