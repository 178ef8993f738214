"""A settlement is a value: computing it (twice) changes nothing; only applying moves money.

On random small markets (1-3 populations, 1-5 episodes, every auction kind, rent,
discount, floor, royalty, with and without consumers that may pay negative amounts),
at every step: the settlement computed twice is equal and the market's whole observable
state is untouched; applying it gives exactly ``settlement.balances``, which is what its
transfers give when replayed one by one in order, with no trader ever below zero on the
way; applying it again is ``StaleValue``; a journal sees the value before anything
changes, and a journal that raises changes nothing.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catallax.exchange.auctions import AuctionKind
from catallax.exchange.deep import DeepMarket, Settlement
from catallax.exchange.errors import StaleValue
from catallax.exchange.protocols import Outcomes
from catallax.exchange.transfers import CLEARING, CONSUMER, ISSUER, TREASURY, FlowKind
from catallax.traders import Population

STATES = 3
N_ACTIONS = 2
BID_CHOICES = [np.nan, np.inf, -np.inf, -1.0, -0.0, 0.0, 1e-7, 0.2, 0.5, 1.5, 40.0]
REWARD_CHOICES = [-50.0, -2.0, -0.5, -1e-6, 0.0, 1e-6, 0.3, 1.0, 7.5]


class Table(Population):
    """Member k bids ``table[k, obs]`` and takes ``action_of[k]``; records what it is told."""

    def __init__(self, table, action_of, grow_bids):
        self.table = np.asarray(table, dtype=float)
        self.action_of = np.asarray(action_of, dtype=np.int64)
        self.grow_bids = np.asarray(grow_bids, dtype=float)
        self.learned: list[Outcomes] = []
        self.retired: list[int] = []

    @property
    def size(self):
        return len(self.table)

    def bids(self, obs):
        return self.table[:, np.asarray(obs, dtype=np.int64)]

    def actions(self, obs, members):
        return self.action_of[np.asarray(members, dtype=np.int64)]

    def learn(self, outcomes):
        self.learned.append(outcomes)

    def retire(self, members):
        self.retired.extend(np.asarray(members).tolist())

    def grow(self, count):
        self.table = np.vstack([self.table, np.tile(self.grow_bids, (count, 1))])
        self.action_of = np.concatenate([self.action_of, np.ones(count, dtype=np.int64)])
        return count


class Deaf(Table):
    """A population that does not learn (the market must not teach it)."""

    learn = None  # type: ignore[assignment]

    def __getattribute__(self, name):
        if name == "learn":
            raise AttributeError(name)
        return super().__getattribute__(name)


class Buyer:
    """A consumer paying ``coef[obs]`` credits for each state reached (may be negative).

    Pure: ``pay`` changes nothing, so computing a settlement twice may call it twice."""

    def __init__(self, coef):
        self.coef = np.asarray(coef, dtype=float)

    def pay(self, obs):
        return self.coef[np.asarray(obs, dtype=np.int64)]


class Boom(Exception):
    """What the failing journal raises."""


class Watcher:
    """A journal that checks it sees the market as it was before the value applies."""

    def __init__(self, market, before):
        self.market, self.before = market, before
        self.seen = []

    def __call__(self, market, value):
        assert market is self.market
        assert same(snapshot(market), self.before), "the journal saw a changed market"
        self.seen.append(value)


# -- observable state ---------------------------------------------------------------------


def same(a, b) -> bool:
    """Deep equality over dicts, sequences, arrays (dtype, shape, NaN-aware) and scalars."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, Outcomes) and isinstance(b, Outcomes):
        return same(outcome_cols(a), outcome_cols(b))
    return type(a) is type(b) and a == b


def outcome_cols(o: Outcomes) -> tuple:
    return tuple(
        None if getattr(o, f) is None else np.asarray(getattr(o, f))
        for f in ("members", "obs", "actions", "price", "reward", "receipt", "ended", "provisional")
    )


def snapshot(m: DeepMarket) -> dict:
    """Everything observable about the market and the populations it drives (copies)."""
    acc = m.accounts
    own = m.owners
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
            "populations": [
                (
                    p.table,
                    p.action_of,
                    [outcome_cols(o) for o in p.learned] if not isinstance(p, Deaf) else None,
                    p.retired,
                )
                for p in m.populations
            ],
        }
    )


def decision_state(d) -> tuple:
    return copy.deepcopy(
        (d.obs, d.winner, d.actions, d.price, d.proceeds, d.top, d.second, d.version)
    )


def replay(m_before: dict, s: Settlement, n_consumers: int):
    """Apply ``s.transfers`` one by one to the balances of ``m_before``; check every
    intermediate state; return the trader balances and each special account's change."""
    bal = m_before["balance"].astype(np.int64).copy()
    special = np.zeros(-CONSUMER + n_consumers - 1, dtype=np.int64)
    treasury = m_before["treasury"]
    alive = m_before["alive"]
    t = s.transfers
    assert t.payer.dtype == t.payee.dtype == t.amount.dtype == t.slot.dtype == np.int64
    assert t.kind.dtype == np.uint8
    for i, (payer, payee, amount, kind, slot) in enumerate(t.rows()):
        assert amount > 0, f"transfer {i} moves {amount} units"
        assert payer != payee, f"transfer {i} pays itself"
        assert kind in set(FlowKind) - {FlowKind.ALLOWANCE, FlowKind.TRADE}
        assert -1 <= slot < len(s.ended)
        for handle in (payer, payee):
            assert handle >= 0 or -1 - handle < len(special), f"transfer {i}: handle {handle}"
            assert handle < len(bal), f"transfer {i}: no row {handle}"
        if payer >= 0:
            assert alive[payer], f"transfer {i} debits removed trader {payer}"
            bal[payer] -= amount
            assert bal[payer] >= 0, f"transfer {i} ({kind.name}) leaves row {payer} negative"
        else:
            special[-1 - payer] -= amount
        if payee >= 0:
            bal[payee] += amount
        else:
            special[-1 - payee] += amount
        assert treasury + special[-1 - TREASURY] >= 0, f"transfer {i}: the treasury went negative"
    return bal, special


# -- the property -------------------------------------------------------------------------


def make_market(rng, params) -> DeepMarket:
    pops = []
    for p in range(params["n_pops"]):
        n = int(rng.integers(1, 4))
        cls = Deaf if (p == 1 and params["deaf"]) else Table
        pops.append(
            cls(
                rng.choice(BID_CHOICES, size=(n, STATES)),
                rng.integers(0, N_ACTIONS, size=n),
                rng.choice(BID_CHOICES, size=STATES),
            )
        )
    consumers = [
        Buyer(rng.choice([-1.5, -0.25, 0.0, 0.1, 2.0], size=STATES))
        for _ in range(params["consumers"])
    ]
    return DeepMarket(
        pops,
        n_actions=N_ACTIONS,
        n_envs=params["e"],
        auction=params["kind"],
        allowance=float(rng.choice([0.0, 0.3, 1.0, 2.5])),
        rent=params["rent"],
        discount=params["discount"],
        floor=params["floor"],
        royalty=params["royalty"],
        consumers=consumers,
        seed=int(rng.integers(2**31)),
    )


def forward(m: DeepMarket, rng, obs):
    """A decision: pulled from the populations, or random bids and actions handed in."""
    if rng.random() < 0.5:
        return m.act(obs)
    bids = rng.choice(BID_CHOICES, size=(m.size, len(obs)))
    actions = rng.integers(0, N_ACTIONS, size=(m.size, len(obs)))
    return m.decide(obs, bids, actions)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(list(AuctionKind)),
    n_pops=st.integers(1, 3),
    deaf=st.booleans(),
    e=st.integers(1, 5),
    rent=st.sampled_from([0.0, 0.05, 0.5]),
    discount=st.sampled_from([1.0, 0.9, 0.5]),
    floor=st.sampled_from([-1.0, 0.0, 0.3, 1.0]),
    royalty=st.sampled_from([0.0, 0.5]),
    consumers=st.integers(0, 2),
    steps=st.integers(1, 12),
)
def test_settlement_is_a_value_and_only_apply_moves_money(seed, steps, **params):
    rng = np.random.default_rng(seed)
    m = make_market(rng, params)
    n_consumers = params["consumers"]
    assert m.total() == 0
    for _ in range(steps):
        e = m.n_envs
        obs = rng.integers(0, STATES, size=e)
        d = forward(m, rng, obs)
        rewards = np.where(
            rng.random(e) < 0.7, rng.choice(REWARD_CHOICES, size=e), rng.normal(0, 3, size=e)
        )
        terminated, truncated = rng.random(e) < 0.3, rng.random(e) < 0.1
        next_obs = rng.integers(0, STATES, size=e)
        args = (d, rewards.copy(), terminated.copy(), truncated.copy(), next_obs.copy())

        # Computing the settlement, twice, changes nothing (not even the decision).
        before, d_before = snapshot(m), decision_state(d)
        s = m.settlement(*args)
        assert same(snapshot(m), before), "computing a settlement changed the market"
        s2 = m.settlement(*args)
        assert same(snapshot(m), before), "computing it again changed the market"
        assert s == s2 and s2 == s
        assert same(decision_state(d), d_before), "the settlement changed the decision"
        assert s.version == m.version and s.step == m.steps

        # The transfers replayed one by one give the settlement's balances and deltas.
        bal, special = replay(before, s, n_consumers)
        assert same(bal, s.balances), "the transfers in order do not give settlement.balances"
        assert same(special, s.special), "the transfers do not give settlement.special"
        assert special[-1 - TREASURY] >= 0 and special[-1 - CLEARING] == 0

        # A journal that raises changes nothing; the value applies once it stops.
        if rng.random() < 0.5:

            def failing(market, value):
                raise Boom("the ledger is down")

            m.journal = failing
            with pytest.raises(Boom):
                m.apply(s)
            assert same(snapshot(m), before), "a failing journal left the market changed"

        # The journal sees the value before anything changes.
        journal = Watcher(m, before)
        m.journal = journal
        m.apply(s)
        assert len(journal.seen) == 1 and journal.seen[0] is s

        # Only applying moves money: exactly settlement.balances.
        assert same(m.balance, s.balances)
        assert same(m.balance, bal)
        assert m.issuer_units == before["issuer"] + int(special[-1 - ISSUER])
        assert m.treasury_units == before["treasury"] + int(special[-1 - TREASURY])
        for k in range(n_consumers):
            assert m.consumer_units[k] == before["consumers"][k] + special[-1 - CONSUMER + k]
        assert m.total() == 0
        assert m.treasury_units >= 0
        assert (m.balance >= 0).all()
        assert m.version == before["version"] + 1 and m.steps == before["steps"] + 1
        assert not m.alive[s.deaths].any()
        assert same(m.owner, s.owners.owner)
        # Each learning population was taught exactly the settlement's outcomes.
        for p, pop in enumerate(m.populations):
            if isinstance(pop, Deaf):
                assert all(q != p for q, _ in s.outcomes)
                continue
            taught = [o for q, o in s.outcomes if q == p]
            new = pop.learned[len(before["populations"][p][2]) :]
            assert len(new) == len(taught) and all(
                same(outcome_cols(x), outcome_cols(y)) for x, y in zip(new, taught, strict=True)
            )

        # Applying the same value again is stale, changes nothing, and is not journalled.
        after = snapshot(m)
        for value in (s, s2):
            with pytest.raises(StaleValue):
                m.apply(value)
        assert same(snapshot(m), after)
        assert len(journal.seen) == 1
        m.journal = None

        # Sometimes the economy grows between steps (an admission moves the version on).
        if rng.random() < 0.2:
            m.grow(int(rng.integers(1, 3)))
            assert m.total() == 0
