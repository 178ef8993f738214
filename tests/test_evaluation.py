"""Greedy evaluation: a fixed set of episodes, every one played out (or capped), and an
unbiased mean, checked against the exact value from the transition table.

CliffWalking-v1 has no time limit and long episodes: a policy that acts at random in
most states falls off the cliff (-100, back to the start) many times before it reaches
the goal, so long episodes are the costly ones, and an evaluation that kept the first
episodes to finish would report too much.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import catallax.exchange.envs as envs
from catallax.exchange.deep import EVALUATION_CAP, DeepMarket, evaluation, stream_seeds
from catallax.traders import Population

CLIFF = "CliffWalking-v1"
RIGHT, DOWN, UP = 1, 2, 0


class Route(Population):
    """Member ``k`` bids 1 credit for ``action[k]`` in the states of ``states[k]`` and
    nothing elsewhere (where nobody bids the world acts uniformly at random)."""

    def __init__(self, routes: list[tuple[list[int], int]], n_states: int = 48) -> None:
        self.table = np.full((len(routes), n_states), np.nan)
        self.action_of = np.array([a for _, a in routes], dtype=np.int64)
        for k, (states, _) in enumerate(routes):
            self.table[k, states] = 1.0

    @property
    def size(self) -> int:
        return len(self.table)

    def bids(self, obs):
        return self.table[:, np.asarray(obs, dtype=np.int64)]

    def actions(self, obs, members):
        return self.action_of[members]


def test_the_mean_of_every_episode_started_matches_the_exact_value():
    # Along row 2 go right, at its end go down to the goal; elsewhere the world's dice.
    row2 = list(range(24, 35))
    pop = Route([(row2, RIGHT), ([35], DOWN)])
    market = DeepMarket(pop, n_actions=4, n_envs=1, allowance=10.0, seed=0)
    make = lambda: gym.make(CLIFF)  # noqa: E731
    result = evaluation(market, make, episodes=3000, n_envs=32, seed=0)
    assert result.cap == EVALUATION_CAP and len(result.returns) == 3000
    pi = np.full((48, 4), 0.25)
    pi[row2] = np.eye(4)[RIGHT]
    pi[35] = np.eye(4)[DOWN]
    exact = envs.policy_return(envs.transition_model(make()), pi, EVALUATION_CAP)
    assert exact < -100  # the random start walks off the cliff more often than not
    assert abs(result.mean - exact) <= 4 * result.standard_error, (result.mean, exact)
    # The old rule (start 128 episodes, keep the first 100 to finish) drops the longest,
    # which are the costliest: the same returns, kept that way, read far too high.
    assert (result.lengths >= 13).all() and result.capped == 0
    first = np.argsort(result.lengths[:128], kind="stable")[:100]
    assert result.returns[:128][first].mean() > exact + 4 * result.standard_error


def test_an_episode_that_never_ends_is_cut_at_the_cap_and_counted():
    # UP everywhere: the top row is a wall, so the walk never reaches the goal.
    pop = Route([(list(range(48)), UP)])
    market = DeepMarket(pop, n_actions=4, n_envs=1, allowance=10.0, seed=0)
    result = evaluation(market, lambda: gym.make(CLIFF), episodes=3, seed=0, cap=50)
    assert result.returns.tolist() == [-50.0, -50.0, -50.0]
    assert result.capped == 3 and result.cap == 50
    # An environment's own limit is the cap when it has one.
    limited = evaluation(market, lambda: gym.make(CLIFF, max_episode_steps=20), episodes=2)
    assert limited.cap == 20 and limited.capped == 0
    assert limited.returns.tolist() == [-20.0, -20.0]


def test_episode_seeds_are_independent_of_the_slots_and_distinct_across_runs():
    pop = Route([(list(range(24, 35)), RIGHT), ([35], DOWN)])
    market = DeepMarket(pop, n_actions=4, n_envs=1, allowance=10.0, seed=0)
    make = lambda: gym.make("FrozenLake-v1")  # noqa: E731
    pop16 = Route([(list(range(16)), DOWN)], n_states=16)
    lake = DeepMarket(pop16, n_actions=4, n_envs=1, allowance=10.0, seed=0)
    a = evaluation(lake, make, episodes=40, n_envs=8, seed=7)
    b = evaluation(lake, make, episodes=40, n_envs=3, seed=7)
    assert a.seeds == b.seeds == stream_seeds(7, 40)
    np.testing.assert_array_equal(a.returns, b.returns)  # episode k is the same game
    c = evaluation(lake, make, episodes=40, n_envs=8, seed=8)
    assert not set(a.seeds) & set(c.seeds)
    assert len(set(a.seeds)) == 40
    del market


def test_bad_evaluation_arguments_are_refused():
    pop = Route([([0], UP)])
    market = DeepMarket(pop, n_actions=4, n_envs=1, allowance=10.0)
    with pytest.raises(ValueError, match="episodes"):
        evaluation(market, lambda: gym.make(CLIFF), episodes=0)
    with pytest.raises(ValueError, match="cap"):
        evaluation(market, lambda: gym.make(CLIFF), episodes=1, cap=0)
