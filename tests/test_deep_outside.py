"""Bids and actions handed in from outside (``decide``) are the pulled path (``act``),
bit for bit.

An exchange that collects signed bids calls ``DeepMarket.decide`` with the bid matrix
and every trader's action for every episode; an in-process market calls ``act``. For
every reference environment two identical markets run side by side for 1,000 steps of
the training loop (:func:`catallax.exchange.deep.train`'s step sequence, with births):
one pulls, the other is handed what its populations would say. Decisions, settlements,
balances, owners, versions and every ``Outcomes`` taught must be identical.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np
import pytest

import catallax.exchange.envs as envs
from catallax.exchange.auctions import AuctionKind
from catallax.exchange.deep import Decision, DeepMarket, vector_env
from catallax.exchange.protocols import Outcomes
from catallax.traders import AdaptiveBidders

STEPS = 1_000
N_ENVS = 8


@dataclass(frozen=True)
class Case:
    env_id: str
    memory: int = 0
    royalty: float = 0.0
    populations: int = 1
    births_per_episode: float = 0.0
    noise: float = 0.0
    rent: float = 0.0


CASES = {
    "bandit": Case("catallax/Bandit-v0", populations=2, births_per_episode=0.01),
    "chain": Case("catallax/Chain-v0", births_per_episode=0.05),
    "duality": Case("catallax/Duality-v0", populations=2, births_per_episode=0.05, rent=0.01),
    "tmaze": Case("catallax/TMaze-v0", noise=0.05),
    "tmaze-register": Case("catallax/TMaze-v0", memory=2, royalty=0.9, births_per_episode=0.05),
    "frozenlake": Case("FrozenLake-v1", populations=2, noise=0.02, births_per_episode=0.02),
    "cartpole": Case("CartPole-v1", births_per_episode=0.02),
}


def make_factory(case: Case):
    def make() -> gym.Env:
        env = gym.make(case.env_id)
        return envs.MessageRegister(env, n_messages=case.memory) if case.memory else env

    return make


def record_learning(pop, log: list):
    """Wrap the instance's ``learn`` so that every Outcomes taught is recorded (a copy)."""
    inner = pop.learn

    def learn(outcomes: Outcomes) -> None:
        log.append(
            Outcomes(
                *(
                    None
                    if getattr(outcomes, f.name) is None
                    else np.array(getattr(outcomes, f.name))
                    for f in fields(Outcomes)
                )
            )
        )
        inner(outcomes)

    pop.learn = learn


def build(case: Case, make, auction: str, seed: int) -> tuple[DeepMarket, list[list[Outcomes]]]:
    """The market as ``catallax train`` builds it (allowance 10, floor 1 per slot, γ 0.99)."""
    probe = make()
    obs_space, act_space = probe.observation_space, probe.action_space
    probe.close()
    populations, logs = [], []
    for i in range(case.populations):
        extra = {"quotes": False} if case.memory else {}
        pop = AdaptiveBidders.for_env(
            obs_space, act_space, seed=seed + i, noise=case.noise, **extra
        )
        log: list[Outcomes] = []
        record_learning(pop, log)
        populations.append(pop)
        logs.append(log)
    market = DeepMarket(
        populations,
        n_actions=int(act_space.n),
        n_envs=N_ENVS,
        auction=auction,
        allowance=10.0 * N_ENVS,
        rent=case.rent,
        discount=0.99,
        floor=1.0 * N_ENVS,
        royalty=case.royalty,
        seed=seed,
    )
    return market, logs


def outside_actions(market: DeepMarket, obs: np.ndarray) -> np.ndarray:
    """``(size, E)``: the action each trader row would take in each episode, asked of its
    population exactly as ``act`` asks (one observation per member)."""
    acc = market.accounts
    e = len(obs)
    out = np.empty((market.size, e), dtype=np.int64)
    for p, pop in enumerate(market.populations):
        rows = np.flatnonzero(acc.population == p)
        if not len(rows):
            continue
        members = acc.member[rows]
        episode = np.repeat(np.arange(e), len(rows))  # episode-major pairs
        got = np.asarray(pop.actions(obs[episode], np.tile(members, e)))
        assert got.shape == (e * len(rows),) and np.issubdtype(got.dtype, np.integer)
        out[rows] = got.reshape(e, len(rows)).T
    return out


def same_bits(a, b) -> bool:
    """Equal dtype, shape and bytes (so NaN and -0.0 count too)."""
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


DECISION_FIELDS = ("obs", "winner", "actions", "price", "proceeds", "top", "second")


def assert_same_decision(a: Decision, b: Decision, step: int) -> None:
    assert a == b, f"step {step}: decisions differ"
    assert a.version == b.version
    for f in DECISION_FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert np.array_equal(x, y), f"step {step}: decision.{f} differs"
        assert same_bits(x, y), f"step {step}: decision.{f} differs in its bits"


def assert_same_outcomes(a: list[Outcomes], b: list[Outcomes], where: str) -> None:
    assert len(a) == len(b), f"{where}: taught {len(a)} vs {len(b)} times"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        for f in fields(Outcomes):
            assert same_bits(getattr(x, f.name), getattr(y, f.name)), (
                f"{where}: lesson {i}, Outcomes.{f.name} differs"
            )


def assert_same_markets(a: DeepMarket, b: DeepMarket, step: int) -> None:
    assert a.version == b.version, f"step {step}: versions differ"
    assert a.steps == b.steps and a.size == b.size
    assert same_bits(a.balance, b.balance), f"step {step}: balances differ"
    assert a.issuer_units == b.issuer_units and a.treasury_units == b.treasury_units
    assert same_bits(a.consumer_units, b.consumer_units)
    assert same_bits(a.owner, b.owner), f"step {step}: owners differ"
    assert a.owners == b.owners
    assert same_bits(a.alive, b.alive)
    assert a.births == b.births and a.deaths == b.deaths
    assert a.accounts.ids == b.accounts.ids
    assert a._rng.bit_generator.state == b._rng.bit_generator.state
    assert a.total() == 0 and b.total() == 0


@pytest.mark.parametrize("auction", [k.value for k in AuctionKind])
@pytest.mark.parametrize("name", list(CASES))
def test_decide_with_bids_from_outside_is_act_bit_for_bit(name, auction):
    case = CASES[name]
    make = make_factory(case)
    seed = 7
    a, logs_a = build(case, make, auction, seed)
    b, logs_b = build(case, make, auction, seed)
    envs_a, envs_b = vector_env(make, N_ENVS), vector_env(make, N_ENVS)
    initial_size = a.size
    started = time.perf_counter()
    try:
        obs_a, _ = envs_a.reset(seed=seed)
        obs_b, _ = envs_b.reset(seed=seed)
        owed_a = owed_b = 0.0
        ended_total = 0
        checked = [0] * len(logs_a)
        won_total = 0
        for step in range(STEPS):
            assert same_bits(obs_a, obs_b), f"step {step}: observations differ"
            da = a.act(obs_a)
            bids = b.bids(obs_b).copy()
            actions = outside_actions(b, obs_b)
            db = b.decide(obs_b, bids, actions)
            assert_same_decision(da, db, step)
            won_total += int((da.winner >= 0).sum())

            obs_a, rew_a, term_a, trunc_a, _ = envs_a.step(da.actions)
            obs_b, rew_b, term_b, trunc_b, _ = envs_b.step(db.actions)
            assert same_bits(rew_a, rew_b) and same_bits(term_a, term_b)
            assert same_bits(trunc_a, trunc_b)

            sa = a.settlement(da, rew_a, term_a, trunc_a, next_obs=None)
            sb = b.settlement(db, rew_b, term_b, trunc_b, next_obs=None)
            assert sa == sb, f"step {step}: settlements differ"
            assert same_bits(sa.balances, sb.balances) and same_bits(sa.special, sb.special)
            a.apply(sa)
            b.apply(sb)
            assert_same_markets(a, b, step)
            for p, (la, lb) in enumerate(zip(logs_a, logs_b, strict=True)):
                assert len(la) == len(lb), f"step {step}: population {p} taught differently"
                assert_same_outcomes(la[checked[p] :], lb[checked[p] :], f"step {step}, pop {p}")
                checked[p] = len(la)

            # The loop's growth: births per finished episode and one per death.
            ended = np.logical_or(term_a, trunc_a)
            ended_total += int(ended.sum())
            owed_a += case.births_per_episode * int(ended.sum()) + len(sa.deaths)
            owed_b += case.births_per_episode * int(ended.sum()) + len(sb.deaths)
            if owed_a >= 1:
                assert a.grow(int(owed_a)) == b.grow(int(owed_b))
                owed_a -= int(owed_a)
                owed_b -= int(owed_b)
                assert_same_markets(a, b, step)
    finally:
        envs_a.close()
        envs_b.close()
    seconds = time.perf_counter() - started

    assert a.steps == STEPS
    assert ended_total > 0 and won_total > 0, "the run never traded: the test proves nothing"
    # Every learner was taught, the same lessons, and learnt the same.
    for la, lb in zip(logs_a, logs_b, strict=True):
        assert la, "a population was never taught"
        assert_same_outcomes(la, lb, "whole run")
    for pa, pb in zip(a.populations, b.populations, strict=True):
        assert same_bits(pa.theta, pb.theta) and same_bits(pa.visits, pb.visits)
    if case.births_per_episode:
        assert a.size > initial_size, "the economy never grew: births were not exercised"
    assert seconds < 30, f"{name} took {seconds:.1f} s"
