"""Exact tabular tools: models read from environments, Q*, optimal and policy returns."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

from catallax.exchange.envs import (
    ChainEnv,
    InvalidArgument,
    InvalidModel,
    MessageRegister,
    NotConverged,
    TabularModel,
    TMazeEnv,
    best_memoryless_return,
    episode_horizon,
    greedy_return,
    optimal_return,
    q_star,
    transition_model,
)


def model_of(env_id: str, **kwargs: object) -> TabularModel:
    return transition_model(gym.make(env_id, **kwargs))


@pytest.mark.parametrize(
    "env_id, horizon, expected",
    [
        ("catallax/Bandit-v0", 1, 0.8),
        ("catallax/Chain-v0", 20, 0.8),
        ("catallax/Duality-v0", 10, 5.0),
        ("catallax/TMaze-v0", 9, 1.0),
    ],
)
def test_optimal_returns(env_id: str, horizon: int, expected: float) -> None:
    assert optimal_return(model_of(env_id), horizon) == pytest.approx(expected, abs=1e-12)


def test_optimal_return_needs_enough_steps() -> None:
    chain = model_of("catallax/Chain-v0")
    assert optimal_return(chain, 4) == 0.0  # the goal is five steps away
    assert optimal_return(chain, 5) == pytest.approx(0.8)
    duality = model_of("catallax/Duality-v0")
    assert optimal_return(duality, 3) == pytest.approx(1.5)


def test_frozenlake_success_probability() -> None:
    model = model_of("FrozenLake-v1")  # 4x4, slippery, time limit 100
    best = optimal_return(model, 100)
    assert best == pytest.approx(0.74, abs=0.01)
    greedy = q_star(model, 0.999).argmax(axis=1)
    stationary = greedy_return(model, greedy, 100)
    assert stationary == pytest.approx(0.74, abs=0.01)
    assert stationary <= best + 1e-12  # a stationary policy cannot beat the time-aware optimum
    always_left = np.zeros(model.n_states, dtype=np.int64)
    assert greedy_return(model, always_left, 100) < 0.1


def test_frozenlake_model_matches_table() -> None:
    env = gym.make("FrozenLake-v1")
    model = transition_model(env)
    assert model.P.shape == (16, 4, 16) and model.R.shape == (16, 4)
    for s, a in itertools.product(range(16), range(4)):
        for prob, s2, _reward, done in env.unwrapped.P[s][a]:
            assert model.P[s, a, s2] >= prob - 1e-12
            assert model.terminal[s, a, s2] == done
        assert model.R[s, a] == pytest.approx(sum(p * r for p, _, r, _ in env.unwrapped.P[s][a]))
    assert model.initial[0] == 1.0
    assert model.observation.tolist() == list(range(16))


def test_chain_q_star() -> None:
    Q = q_star(model_of("catallax/Chain-v0"), 0.99)
    for s in range(5):
        assert Q[s, 1] == pytest.approx(0.8 * 0.99 ** (4 - s), rel=1e-10)
        assert Q[s, 0] == pytest.approx(0.99 * Q[max(s - 1, 0), 1], rel=1e-10)
    assert Q[5].tolist() == [0.0, 0.0]  # the goal is absorbing and pays nothing more


def test_q_star_finite_horizon_matches_duality_counts() -> None:
    Q = q_star(model_of("catallax/Duality-v0"), 1.0, horizon=2)
    # from state 0: a1 pays 0.5 then the best of state 1 (0.5); a0 pays 0 then -1
    assert Q[0].tolist() == pytest.approx([-1.0, 1.0])
    assert Q[2].tolist() == pytest.approx([-2.0, -2.0])


def test_greedy_return_is_exact_for_duality_policies() -> None:
    model = model_of("catallax/Duality-v0")
    alternate = np.array([1, 0, 0])
    stay = np.array([1, 1, 0])
    fall = np.array([0, 0, 0])
    assert greedy_return(model, alternate, 10) == pytest.approx(5.0)
    assert greedy_return(model, stay, 10) == pytest.approx(0.5 + 9 * 0.3)
    assert greedy_return(model, fall, 10) == pytest.approx(-9.0)
    assert greedy_return(model, alternate, 3, gamma=0.5) == pytest.approx(0.5 + 0.25 + 0.125)


def test_best_memoryless_policy_on_tmaze_is_chance() -> None:
    model = model_of("catallax/TMaze-v0")
    values = []
    for choice in itertools.product(range(3), repeat=4):  # every map observation -> action
        policy = np.array(choice)[model.observation]
        values.append(greedy_return(model, policy, 9))
    assert max(values) == 0.5
    best, policy = best_memoryless_return(model, 9)
    assert best == 0.5
    assert greedy_return(model, policy[model.observation], 9) == 0.5


def test_tmaze_model_matches_long_corridor() -> None:
    model = transition_model(TMazeEnv(length=6))
    assert model.n_states == 16 and model.n_observations == 4
    assert optimal_return(model, 12) == 1.0
    assert optimal_return(model, 7) == 0.0  # seven forward steps then a turn need eight


@pytest.mark.parametrize(
    "env_id, kwargs, expected",
    [
        ("catallax/Bandit-v0", {}, 1),
        ("catallax/Chain-v0", {}, 20),
        ("catallax/Duality-v0", {}, 10),
        ("catallax/TMaze-v0", {}, 9),
        ("catallax/TMaze-v0", {"length": 7}, 13),
        ("catallax/TMaze-v0", {"max_episode_steps": 4}, 4),
        ("FrozenLake-v1", {}, 100),
    ],
)
def test_episode_horizon(env_id: str, kwargs: dict, expected: int) -> None:
    env = gym.make(env_id, **kwargs)
    assert episode_horizon(env) == expected
    assert episode_horizon(MessageRegister(env, 2)) == expected


def test_episode_horizon_of_unlimited_and_hand_wrapped_envs() -> None:
    assert episode_horizon(ChainEnv()) is None
    assert episode_horizon(gym.wrappers.TimeLimit(ChainEnv(), 7)) == 7


# --- bad input ------------------------------------------------------------------------


def test_env_without_table_is_refused() -> None:
    with pytest.raises(InvalidModel, match="no tabular model"):
        transition_model(gym.make("CartPole-v1"))


def test_bad_table_is_refused() -> None:
    env = ChainEnv()
    env.P[0][1] = [(0.5, 1, 0.0, False)]
    with pytest.raises(InvalidModel, match="probability distribution"):
        transition_model(env)
    env = ChainEnv()
    env.P[0][1] = [(0.5, 1, 0.0, False), (0.5, 1, 0.0, True)]
    with pytest.raises(InvalidModel, match="both as ending and not"):
        transition_model(env)
    env = ChainEnv()
    env.P[0][1] = [(1.0, 9, 0.0, False)]
    with pytest.raises(InvalidModel, match="outside"):
        transition_model(env)


def test_model_arrays_are_read_only() -> None:
    model = model_of("catallax/Chain-v0")
    with pytest.raises(ValueError, match="read-only"):
        model.R[0, 0] = 1.0


@pytest.mark.parametrize("gamma", [1.0, -0.1, 1.5, float("nan")])
def test_q_star_rejects_gamma_without_horizon(gamma: float) -> None:
    with pytest.raises(InvalidArgument, match="gamma"):
        q_star(model_of("catallax/Chain-v0"), gamma)


def test_q_star_reports_non_convergence() -> None:
    with pytest.raises(NotConverged, match="in 3 sweeps"):
        q_star(model_of("catallax/Chain-v0"), 0.99, max_iter=3)


@pytest.mark.parametrize(
    "policy, match",
    [
        (np.zeros(5, dtype=np.int64), "policy must be 6"),
        (np.full(6, 0.5), "policy must be 6"),
        (np.full(6, 2), r"\[0, 2\)"),
        (np.full(6, -1), r"\[0, 2\)"),
    ],
)
def test_greedy_return_rejects_bad_policy(policy: np.ndarray, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        greedy_return(model_of("catallax/Chain-v0"), policy, 20)


@pytest.mark.parametrize("horizon", [-1, 2.5, None, True])
def test_bad_horizon(horizon: object) -> None:
    with pytest.raises(InvalidArgument, match="horizon"):
        optimal_return(model_of("catallax/Chain-v0"), horizon)


def test_too_many_memoryless_policies() -> None:
    with pytest.raises(InvalidArgument, match="max_policies"):
        best_memoryless_return(model_of("FrozenLake-v1"), 100)
