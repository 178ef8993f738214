"""Bad input to the deep market: each a specific error under ``ExchangeError``, and nothing
changed (balances, accounts, owners, royalty book, version, the world's generator, the
populations, and no value journalled)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from catallax.exchange.deep import DeepMarket
from catallax.exchange.errors import (
    ActionError,
    BidError,
    DuplicateTrader,
    ExchangeError,
    MarketInputError,
    RewardError,
    StaleValue,
    UnknownTrader,
)
from catallax.exchange.protocols import Outcomes
from catallax.traders import Population

E = 3
N_ACTIONS = 2
OBS = np.array([0, 1, 2])  # one observation per episode


class Table(Population):
    """Member k bids ``table[k, obs]`` and takes ``action_of[k]``, unless told otherwise."""

    def __init__(self, table, action_of):
        self.table = np.asarray(table, dtype=float)
        self.action_of = np.asarray(action_of, dtype=np.int64)
        self.learned: list[Outcomes] = []
        self.retired: list[int] = []
        self.bad_bids = None  # a callable obs -> what bids() returns instead
        self.bad_actions = None  # a callable (obs, members) -> what actions() returns

    @property
    def size(self):
        return len(self.table)

    def bids(self, obs):
        if self.bad_bids is not None:
            return self.bad_bids(obs)
        return self.table[:, np.asarray(obs, dtype=np.int64)]

    def actions(self, obs, members):
        if self.bad_actions is not None:
            return self.bad_actions(obs, members)
        return self.action_of[np.asarray(members, dtype=np.int64)]

    def learn(self, outcomes):
        self.learned.append(outcomes)

    def retire(self, members):
        self.retired.extend(np.asarray(members).tolist())

    def add_members(self, count):
        """Hold ``count`` more members (not yet traders of the market)."""
        self.table = np.vstack([self.table, np.full((count, self.table.shape[1]), 0.4)])
        self.action_of = np.concatenate([self.action_of, np.zeros(count, dtype=np.int64)])


class Buyer:
    def __init__(self, pays):
        self.pays = pays

    def pay(self, obs):
        return self.pays(obs)


def make_market(consumers=()) -> DeepMarket:
    """Two populations over three states, royalties on, after a few settled steps (so
    owners, receipts and royalty chains are not trivial), with a recording journal."""
    pops = [
        Table([[0.5, 0.2, np.nan], [0.3, 0.6, 0.1]], [0, 1]),
        Table([[np.nan, 0.4, 0.7], [0.1, np.inf, 0.2], [0.2, 0.2, -1.0]], [1, 0, 1]),
    ]
    m = DeepMarket(
        pops,
        n_actions=N_ACTIONS,
        n_envs=E,
        auction="vickrey",
        allowance=2.0,
        rent=0.01,
        discount=0.9,
        floor=0.05,
        royalty=0.5,
        consumers=list(consumers),
        seed=11,
    )
    rng = np.random.default_rng(3)
    for step in range(4):
        obs = rng.integers(0, 3, size=E)
        d = m.act(obs)
        ended = np.array([False, step == 2, False])
        m.settle(d, rng.normal(0, 1, E), ended, np.zeros(E, bool), next_obs=obs)
    # The fixture's state: row 1 (p0.m1) went below the floor and was removed; the others
    # live, own episodes, and royalty chains are open.
    if not consumers:
        assert m.alive.tolist() == [True, False, True, True, True] and m.deaths == 1
    assert (m.owner >= 0).all() and any(m.book.chains)
    m.journal = Journal()
    return m


class Journal:
    def __init__(self):
        self.values = []

    def __call__(self, market, value):
        self.values.append(value)


# -- the state ----------------------------------------------------------------------------


def same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Outcomes) and isinstance(b, Outcomes):
        return all(same(getattr(a, f), getattr(b, f)) for f in Outcomes.__dataclass_fields__)
    return type(a) is type(b) and a == b


def snapshot(m: DeepMarket) -> dict:
    acc, own = m.accounts, m.owners
    return copy.deepcopy(
        {
            "balance": acc.balance,
            "alive": acc.alive,
            "ids": acc.ids,
            "index": acc.index,
            "population": acc.population,
            "member": acc.member,
            "key": acc.key,
            "issuer": m.issuer_units,
            "treasury": m.treasury_units,
            "consumers": m.consumer_units,
            "owner": m.owner,
            "owners": (own.owner, own.obs, own.action, own.price, own.reward),
            "version": m.version,
            "steps": m.steps,
            "births": m.births,
            "deaths": m.deaths,
            "members": m._members,
            "rng": m._rng.bit_generator.state,
            "chains": None if m.book is None else m.book.chains,
            "journal": len(m.journal.values) if isinstance(m.journal, Journal) else None,
            "populations": [
                (p.size, p.table, p.action_of, list(p.learned), list(p.retired))
                for p in m.populations
            ],
        }
    )


def refuses(m: DeepMarket, error: type[ExchangeError], call, *args, **kwargs):
    """``call(*args)`` raises exactly ``error`` (an ExchangeError) and changes nothing."""
    before = snapshot(m)
    with pytest.raises(error) as info:
        call(*args, **kwargs)
    assert type(info.value) is error, f"expected {error.__name__}, got {info.value!r}"
    assert isinstance(info.value, ExchangeError)
    assert same(snapshot(m), before), f"{error.__name__} was raised but the market changed"
    return info.value


def good_bids(m: DeepMarket) -> np.ndarray:
    return m.bids(OBS).copy()


def good_actions(m: DeepMarket) -> np.ndarray:
    return np.zeros((m.size, E), dtype=np.int64)


def flags(*v):
    return np.array(v, dtype=bool)


NO_END = flags(False, False, False)


@pytest.mark.parametrize(
    "error",
    [
        ActionError,
        BidError,
        DuplicateTrader,
        MarketInputError,
        RewardError,
        StaleValue,
        UnknownTrader,
    ],
)
def test_every_error_here_is_an_exchange_error(error):
    assert issubclass(error, ExchangeError)


# -- decide -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda b: b[:-1], id="a row short"),
        pytest.param(lambda b: np.hstack([b, b[:, :1]]), id="an episode too many"),
        pytest.param(lambda b: b.T, id="transposed"),
        pytest.param(lambda b: b.ravel(), id="1-D"),
        pytest.param(lambda b: b[:, 0], id="one column as 1-D"),
        pytest.param(lambda b: b[None], id="3-D"),
        pytest.param(lambda b: np.float64(0.5), id="a scalar"),
        pytest.param(lambda b: np.ones(b.shape, dtype=np.int64), id="int64"),
        pytest.param(lambda b: np.ones(b.shape, dtype=np.int32), id="int32"),
        pytest.param(lambda b: np.ones(b.shape, dtype=bool), id="bool"),
        pytest.param(lambda b: b.astype(object), id="object"),
    ],
)
def test_decide_refuses_a_malformed_bid_matrix(bad):
    m = make_market()
    refuses(m, BidError, m.decide, OBS, bad(good_bids(m)), good_actions(m))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda a: a[:-1], id="a row short"),
        pytest.param(lambda a: np.hstack([a, a[:, :1]]), id="an episode too many"),
        pytest.param(lambda a: a.ravel(), id="1-D"),
        pytest.param(lambda a: a[:, 0], id="one column"),
        pytest.param(lambda a: a.astype(np.float64), id="float64"),
        pytest.param(lambda a: a.astype(np.float32), id="float32"),
        pytest.param(lambda a: a.astype(bool), id="bool"),
    ],
)
def test_decide_refuses_a_malformed_action_matrix(bad):
    m = make_market()
    refuses(m, ActionError, m.decide, OBS, good_bids(m), bad(good_actions(m)))


@pytest.mark.parametrize("action", [-1, N_ACTIONS, 10**6, np.iinfo(np.int64).min])
def test_decide_refuses_a_winners_action_outside_the_action_space(action):
    m = make_market()
    bids = np.full((m.size, E), np.nan)
    bids[2, 2] = 0.2  # row 2 wins episode 2 alone; the world acts in the others
    bids[1, :] = 5.0  # the removed row 1 bids high, and is ignored
    actions = good_actions(m)
    actions[2, 2] = action
    err = refuses(m, ActionError, m.decide, OBS, bids, actions)
    assert str(action) in str(err)
    # A loser's action is never looked at; the same matrix with the action elsewhere works.
    actions[2, 2], actions[1, 2], actions[0, 2] = 1, action, action
    d = m.decide(OBS, bids, actions)
    assert d.winner.tolist() == [-1, -1, 2] and d.actions[2] == 1


def test_decide_refuses_an_unsigned_action_beyond_int64():
    m = make_market()
    bids = np.full((m.size, E), 0.1)
    actions = np.full((m.size, E), 2**63, dtype=np.uint64)
    refuses(m, ActionError, m.decide, OBS, bids, actions)


# -- act ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pop", [0, 1])
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda size, obs: np.ones((size + 1, len(obs))), id="a row too many"),
        pytest.param(lambda size, obs: np.ones((size, len(obs) - 1)), id="an episode short"),
        pytest.param(lambda size, obs: np.ones((len(obs) + 1, size)), id="wide"),
        pytest.param(lambda size, obs: np.ones(size * len(obs)), id="1-D"),
        pytest.param(lambda size, obs: None, id="None"),
    ],
)
def test_act_refuses_a_population_returning_bids_of_the_wrong_shape(pop, bad):
    m = make_market()
    p = m.populations[pop]
    p.bad_bids = lambda obs: bad(p.size, obs)
    refuses(m, BidError, m.act, OBS)


@pytest.mark.parametrize("pop", [0, 1])
def test_act_refuses_a_population_returning_non_numeric_bids(pop):
    m = make_market()
    p = m.populations[pop]
    p.bad_bids = lambda obs: np.full((p.size, len(obs)), "a lot")
    refuses(m, BidError, m.act, OBS)


def everyone_bids(m: DeepMarket) -> None:
    for p in m.populations:
        p.table = np.full(p.table.shape, 0.3)


@pytest.mark.parametrize("pop", [0, 1])
@pytest.mark.parametrize("action", [-1, N_ACTIONS, 99])
def test_act_refuses_a_population_choosing_an_action_outside_the_action_space(pop, action):
    m = make_market()
    everyone_bids(m)
    # Only population `pop` bids, so it is asked for an action.
    m.populations[1 - pop].table[:] = np.nan
    m.populations[pop].bad_actions = lambda obs, members: np.full(len(members), action)
    err = refuses(m, ActionError, m.act, OBS)
    assert str(action) in str(err)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda members: np.zeros(len(members) + 1, np.int64), id="one too many"),
        pytest.param(lambda members: np.zeros((len(members), 1), np.int64), id="2-D"),
        pytest.param(lambda members: np.zeros(len(members)), id="floats"),
    ],
)
def test_act_refuses_a_population_returning_malformed_actions(bad):
    m = make_market()
    everyone_bids(m)
    for p in m.populations:
        p.bad_actions = lambda obs, members: bad(members)
    refuses(m, ActionError, m.act, OBS)


# -- settlement ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e300])
@pytest.mark.parametrize("slot", [0, 2])
def test_settlement_refuses_a_non_finite_reward_naming_the_step_and_slot(value, slot):
    m = make_market()
    d = m.act(OBS)
    rewards = np.ones(E)
    rewards[slot] = value
    if slot == 2:
        rewards[0] = 0.5
    err = refuses(m, RewardError, m.settlement, d, rewards, NO_END, NO_END)
    assert err.step == m.steps == 4 and err.slot == slot
    assert "step 4" in str(err) and f"slot {slot}" in str(err)
    # settle is apply(settlement): refused the same way.
    err = refuses(m, RewardError, m.settle, d, rewards, NO_END, NO_END)
    assert (err.step, err.slot) == (4, slot)


def test_settlement_refuses_a_consumer_paying_a_non_finite_amount():
    m = make_market(consumers=[Buyer(lambda obs: np.zeros(E))])
    m.consumers[0].pays = lambda obs: np.array([0.1, 0.2, np.inf])
    d = m.act(OBS)
    err = refuses(m, RewardError, m.settlement, d, np.zeros(E), NO_END, NO_END, OBS)
    assert (err.step, err.slot) == (m.steps, 2)


@pytest.mark.parametrize(
    "rewards",
    [
        pytest.param(np.zeros(E - 1), id="short"),
        pytest.param(np.zeros(E + 1), id="long"),
        pytest.param(np.zeros((E, 1)), id="column"),
        pytest.param(np.zeros((1, E)), id="row"),
        pytest.param(np.float64(0.0), id="scalar"),
        pytest.param(None, id="None"),
    ],
)
def test_settlement_refuses_rewards_of_the_wrong_shape(rewards):
    m = make_market()
    d = m.act(OBS)
    refuses(m, MarketInputError, m.settlement, d, rewards, NO_END, NO_END)


def test_settlement_refuses_non_numeric_rewards():
    m = make_market()
    d = m.act(OBS)
    refuses(m, MarketInputError, m.settlement, d, np.array(["1", "2", "x"]), NO_END, NO_END)


@pytest.mark.parametrize(
    ("terminated", "truncated"),
    [
        pytest.param(np.zeros(E - 1, bool), NO_END, id="terminated short"),
        pytest.param(NO_END, np.zeros(E + 1, bool), id="truncated long"),
        pytest.param(np.ones(1, bool), NO_END, id="terminated of one broadcast"),
        pytest.param(NO_END, np.ones((1, E), bool), id="truncated as a row"),
        pytest.param(True, NO_END, id="terminated scalar"),
    ],
)
def test_settlement_refuses_episode_ends_of_the_wrong_shape(terminated, truncated):
    m = make_market()
    d = m.act(OBS)
    refuses(m, MarketInputError, m.settlement, d, np.zeros(E), terminated, truncated)


def test_settlement_with_consumers_needs_next_obs_and_well_shaped_payments():
    m = make_market(consumers=[Buyer(lambda obs: np.zeros(E))])
    d = m.act(OBS)
    refuses(m, MarketInputError, m.settlement, d, np.zeros(E), NO_END, NO_END)
    m.consumers[0].pays = lambda obs: np.zeros(E + 1)
    refuses(m, MarketInputError, m.settlement, d, np.zeros(E), NO_END, NO_END, OBS)


@pytest.mark.parametrize("change", ["admit", "remove", "endow", "settle", "grow-and-admit"])
def test_settlement_refuses_a_decision_made_before_the_market_changed(change):
    m = make_market()
    d = m.act(OBS)
    s = m.settlement(d, np.zeros(E), NO_END, NO_END)
    if change == "admit":
        m.populations[0].add_members(1)
        m.admit("newcomer", 0)
    elif change == "remove":
        m.remove(m.account_id(0))
    elif change == "endow":
        m.endow(np.array([2]), np.array([0.5]))
    elif change == "settle":
        m.apply(s)
    else:
        m.populations[1].add_members(2)
        m.apply(m.admission(1, [3, 4]))
    refuses(m, StaleValue, m.settlement, d, np.zeros(E), NO_END, NO_END)
    refuses(m, StaleValue, m.settle, d, np.zeros(E), NO_END, NO_END)
    refuses(m, StaleValue, m.apply, s)


def test_an_admission_computed_before_a_step_is_stale():
    m = make_market()
    m.populations[0].add_members(1)
    a = m.admission(0, [2], ["late"])
    d = m.decide(OBS, np.full((m.size, E), 0.1), good_actions(m))
    m.settle(d, np.zeros(E), NO_END, NO_END)
    refuses(m, StaleValue, m.apply, a)


# -- accounts -----------------------------------------------------------------------------


def test_admit_refuses_an_id_already_admitted():
    m = make_market()
    m.populations[0].add_members(2)
    m.populations[1].add_members(1)
    refuses(m, DuplicateTrader, m.admit, "p0.m0", 0)  # an initial trader's id
    m.admit("alice", 0)
    refuses(m, DuplicateTrader, m.admit, "alice", 0)
    refuses(m, DuplicateTrader, m.admit, "alice", 1)
    m.remove("alice")
    refuses(m, DuplicateTrader, m.admit, "alice", 0)  # removed ids are never reused


def test_admit_refuses_the_same_member_twice():
    m = make_market()
    refuses(m, DuplicateTrader, m.admit, "again", 0, member=1)  # an initial member
    m.populations[1].add_members(1)
    m.admit("bob", 1, member=3)
    refuses(m, DuplicateTrader, m.admit, "bob2", 1, member=3)
    m.remove("bob")
    refuses(m, DuplicateTrader, m.admit, "bob3", 1, member=3)


@pytest.mark.parametrize("bad_id", ["with space", " lead", "tab\tid", "", "é", "x" * 201, 7, None])
def test_admit_refuses_a_malformed_id(bad_id):
    m = make_market()
    m.populations[0].add_members(1)
    refuses(m, UnknownTrader, m.admit, bad_id, 0)
    refuses(m, UnknownTrader, m.admission, 0, [2], [bad_id])


@pytest.mark.parametrize("population", [-1, 2, 99])
def test_admit_refuses_an_unknown_population(population):
    m = make_market()
    refuses(m, UnknownTrader, m.admit, "carol", population)
    refuses(m, UnknownTrader, m.admission, population, [0], ["carol"])


@pytest.mark.parametrize("member", [-1, 2, 100])
def test_admit_refuses_a_member_the_population_does_not_hold(member):
    m = make_market()
    refuses(m, UnknownTrader, m.admit, "dave", 0, member=member)
    refuses(m, UnknownTrader, m.admit, "dave", 0)  # its members are all traders already


@pytest.mark.parametrize("member", [-1, 2, 100])
def test_admission_refuses_a_member_the_population_does_not_hold(member):
    """The value form refuses what ``admit`` refuses (else the next ``act`` fails)."""
    m = make_market()
    refuses(m, UnknownTrader, m.admission, 0, [member], ["dave"])


def test_admission_refuses_a_member_already_a_trader():
    m = make_market()
    m.populations[0].add_members(1)
    refuses(m, DuplicateTrader, m.admission, 0, [1], ["erin"])  # member 1 is p0.m1
    refuses(m, DuplicateTrader, m.admission, 0, [2, 2], ["erin", "frank"])


def test_admission_refuses_duplicate_ids_and_a_wrong_number_of_ids():
    m = make_market()
    m.populations[0].add_members(2)
    refuses(m, DuplicateTrader, m.admission, 0, [2, 3], ["gina", "gina"])
    refuses(m, DuplicateTrader, m.admission, 0, [2], ["p1.m0"])
    refuses(m, MarketInputError, m.admission, 0, [2, 3], ["gina"])


def test_remove_refuses_an_unknown_or_removed_id():
    m = make_market()
    refuses(m, UnknownTrader, m.remove, "nobody")
    refuses(m, UnknownTrader, m.remove, "with space")
    m.remove("p1.m2")
    refuses(m, UnknownTrader, m.remove, "p1.m2")
    refuses(m, UnknownTrader, m.remove, "p0.m1")  # removed at the floor
    refuses(m, UnknownTrader, m.row, "p1.m2")
    refuses(m, UnknownTrader, m.row, "nobody")


def test_endow_refuses_a_removed_trader():
    m = make_market()
    row = m.row("p1.m1")
    m.remove("p1.m1")
    refuses(m, UnknownTrader, m.endow, np.array([row]), np.array([1.0]))
    refuses(m, UnknownTrader, m.endow, np.array([1]), np.array([1.0]))  # removed at the floor
    refuses(m, UnknownTrader, m.endow, np.array([0, row]), np.array([1.0, 1.0]))
    refuses(m, UnknownTrader, m.endowment, np.array([row]), np.array([1.0]))
    refuses(m, UnknownTrader, m.endow, np.array([m.size]), np.array([1.0]))
    refuses(m, UnknownTrader, m.endow, np.array([-1]), np.array([1.0]))


@pytest.mark.parametrize("handle", [5, 100, -3, -5, -99])
def test_unknown_handles_and_rows(handle):
    m = make_market()
    refuses(m, UnknownTrader, m.account_id, handle)
    if handle >= 0:
        refuses(m, UnknownTrader, m.member, handle)


@pytest.mark.parametrize("populations", [1, 2])
def test_act_works_while_a_population_holds_members_not_yet_admitted(populations):
    """``admit`` says: grow the population first, then admit. In between, the market's
    traders are the rows it has, and the forward pass must work (not a bid error)."""
    if populations == 1:
        m = DeepMarket(Table([[0.5, 0.2, 0.1], [0.3, 0.6, 0.1]], [0, 1]), n_actions=2, n_envs=E)
    else:
        m = make_market()
    m.act(OBS)  # the market has seen its populations' sizes
    m.populations[0].add_members(1)  # population 0 now holds a member the market lacks
    d = m.act(OBS)
    assert d.winner.shape == (E,)
    m.admit("late", 0)
    assert m.act(OBS).winner.shape == (E,)


def test_the_market_still_works_after_every_refusal():
    """The refusals above leave a market that settles and conserves money."""
    m = make_market()
    m.populations[0].bad_bids = lambda obs: np.ones(2)
    refuses(m, BidError, m.act, OBS)
    m.populations[0].bad_bids = None
    d = m.act(OBS)
    refuses(m, RewardError, m.settlement, d, np.array([np.nan, 0, 0]), NO_END, NO_END)
    refuses(m, DuplicateTrader, m.admit, "p0.m0", 0, member=0)
    m.settle(d, np.ones(E), flags(True, False, False), NO_END)
    assert m.total() == 0 and m.steps == 5
