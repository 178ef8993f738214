"""Traders are accounts: admitted and removed at any step, and a tie rule that favours
nobody (not the first to join, not a row, not a lucky key)."""

from __future__ import annotations

import hashlib

import gymnasium as gym
import numpy as np
import pytest

import catallax.exchange.envs as envs
from catallax.exchange import DuplicateTrader, UnknownTrader
from catallax.exchange.deep import DeepMarket, greedy_policy, tie_key, train
from catallax.exchange.deep.accounts import round_mask, tie_rank
from catallax.traders import AdaptiveBidders, Population


class Flat(Population):
    """Every member bids ``bid`` in every episode and takes action 0."""

    def __init__(self, size: int, bid: float = 0.5) -> None:
        self.n = size
        self.bid = bid
        self.retired: list[int] = []

    @property
    def size(self) -> int:
        return self.n

    def bids(self, obs):
        return np.full((self.n, len(obs)), self.bid)

    def actions(self, obs, members):
        return np.zeros(len(members), dtype=np.int64)

    def retire(self, members):
        self.retired.extend(np.asarray(members).tolist())


def test_tie_keys_and_round_masks_are_the_documented_hashes():
    digest = hashlib.sha256(b"catallax/v1/tie\x00alice").digest()
    assert tie_key("alice") == int.from_bytes(digest[:8], "big")
    digest = hashlib.sha256(b"catallax/v1/tie-round\x00" + (7).to_bytes(8, "big")).digest()
    assert round_mask(7) == int.from_bytes(digest[:8], "big")


def _winners(ids: list[str], steps: int) -> list[str]:
    """Winner (by id) of each step of a market of equal bidders admitted in ``ids`` order."""
    # Allowances far above what 400 prices of 0.5 cost: nobody's cap ever binds.
    m = DeepMarket(Flat(len(ids)), n_actions=1, allowance=1000.0, account_id=lambda p, k: ids[k])
    out = []
    for _ in range(steps):
        d = m.act(np.zeros(1, dtype=np.int64))
        out.append(m.account_id(int(d.winner[0])))
        mask = round_mask(m.steps)
        expected = min(ids, key=lambda i: int(tie_rank(tie_key(i), mask)))
        assert out[-1] == expected
        m.settle(d, np.zeros(1), np.ones(1, bool), np.zeros(1, bool))
    return out


def test_ties_follow_the_rule_and_not_the_order_of_joining():
    ids = [f"trader-{k}" for k in range(5)]
    forward = _winners(ids, 200)
    backward = _winners(ids[::-1], 200)
    assert forward == backward  # who joined first does not matter
    counts = {i: forward.count(i) for i in ids}
    # Each round is a fresh draw: every trader wins some ties, none wins them all.
    assert all(10 <= c <= 90 for c in counts.values()), counts


def test_a_small_key_buys_nothing_over_many_rounds():
    # Two traders: whatever their keys, each wins about half of the ties.
    for a, b in [("a", "b"), ("zz", "000"), ("x" * 50, "y")]:
        wins = _winners([a, b], 400).count(a)
        assert 140 <= wins <= 260, (a, b, wins)


def test_traders_join_and_leave_while_chain_trains():
    make = lambda: gym.make("catallax/Chain-v0")  # noqa: E731
    env = make()
    # No pseudo-visit of optimism (prior 0): Chain is then learnt within these episodes.
    pop = AdaptiveBidders.for_env(env.observation_space, env.action_space, seed=0, prior=0.0)
    m = DeepMarket(pop, n_actions=2, n_envs=1, allowance=10.0, floor=0.01, discount=0.99, seed=0)
    first = [m.account_id(r) for r in range(m.size)]
    train(m, make, episodes=40, seed=0)
    # New identities join: the population grows two members and they are admitted by id.
    assert pop.grow(2) == 2
    issuer = m.issuer_units
    alice = m.admit("alice")
    bob = m.admit("bob")
    assert m.row("alice") == alice and m.account_id(bob) == "bob"
    assert m.balance[alice] == m.balance[bob] == m.allowance_units
    assert m.issuer_units == issuer - 2 * m.allowance_units
    # An original trader retires; its balance stays in its account, frozen.
    gone = first[0]
    kept = int(m.balance[m.row(gone)])
    m.remove(gone)
    with pytest.raises(UnknownTrader):
        m.row(gone)
    won_by: set[int] = set()
    for _ in range(4):
        log = train(m, make, episodes=20, seed=1)
        assert len(log.returns) == 20
    # Track winners in a final stretch directly.
    for s in range(50):
        d = m.act(np.array([s % 5]))
        won_by.update(d.winner[d.winner >= 0].tolist())
    assert first.index(gone) == 0 and 0 not in won_by  # the removed trader never wins
    assert int(m.balance[0]) == kept
    assert m.total() == 0
    # The newcomers trade: their balances moved away from the allowance.
    assert int(m.balance[alice]) != m.allowance_units or int(m.balance[bob]) != m.allowance_units
    # And the market still acts optimally.
    model, horizon = envs.transition_model(env), envs.episode_horizon(env)
    actions, _ = greedy_policy(m, np.arange(model.n_observations))
    greedy = envs.greedy_return(model, actions[model.observation], horizon)
    assert greedy == pytest.approx(envs.optimal_return(model, horizon))


def test_admitting_twice_and_removing_the_unknown_are_refused_and_change_nothing():
    m = DeepMarket(Flat(2), n_actions=1, allowance=1.0, account_id=lambda p, k: f"t{k}")
    state = (m.balance.tolist(), m.version, m.size)
    with pytest.raises(DuplicateTrader):
        m.admit("t0", member=1)  # the id is taken
    with pytest.raises(DuplicateTrader):
        m.admit("new", member=0)  # member 0 already trades as t0
    with pytest.raises(UnknownTrader):
        m.admit("new", member=5)  # the population has no member 5
    with pytest.raises(UnknownTrader):
        m.remove("nobody")
    assert (m.balance.tolist(), m.version, m.size) == state
    m.remove("t1")
    with pytest.raises(UnknownTrader):
        m.remove("t1")
