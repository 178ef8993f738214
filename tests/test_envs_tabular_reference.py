"""The tabular DP against a naive reference: recursion over every trajectory of small models."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

from catallax.exchange.envs import TabularModel, greedy_return, optimal_return, q_star


def random_model(rng: np.random.Generator, S: int = 4, A: int = 2) -> TabularModel:
    P = rng.dirichlet(np.ones(S), size=(S, A))
    P[rng.random((S, A, S)) < 0.3] = 0.0  # sparse rows, then renormalise
    P[P.sum(axis=2) == 0, 0] = 1.0
    P /= P.sum(axis=2, keepdims=True)
    return TabularModel(
        P=P,
        R=rng.normal(size=(S, A)),
        terminal=rng.random((S, A, S)) < 0.25,
        initial=rng.dirichlet(np.ones(S)),
        observation=np.arange(S),
        n_observations=S,
    )


def naive_value(
    model: TabularModel, horizon: int, gamma: float, policy: np.ndarray | None = None
) -> float:
    """Expected return by recursion over every branch (optimal if ``policy`` is None)."""

    @functools.cache
    def value(s: int, left: int) -> float:
        if left == 0:
            return 0.0
        actions = range(model.n_actions) if policy is None else [int(policy[s])]
        best = -np.inf
        for a in actions:
            total = model.R[s, a]
            for s2 in range(model.n_states):
                if model.P[s, a, s2] > 0 and not model.terminal[s, a, s2]:
                    total += gamma * model.P[s, a, s2] * value(s2, left - 1)
            best = max(best, total)
        return best

    return float(sum(model.initial[s] * value(s, horizon) for s in range(model.n_states)))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_dp_matches_naive_recursion(seed: int, gamma: float) -> None:
    rng = np.random.default_rng(seed)
    model = random_model(rng)
    for horizon in (0, 1, 4):
        expected = naive_value(model, horizon, gamma)
        assert optimal_return(model, horizon, gamma) == pytest.approx(expected, abs=1e-12)
        for choice in itertools.product(range(2), repeat=4):
            policy = np.array(choice)
            got = greedy_return(model, policy, horizon, gamma)
            assert got == pytest.approx(naive_value(model, horizon, gamma, policy), abs=1e-12)
            assert got <= optimal_return(model, horizon, gamma) + 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_infinite_horizon_is_the_limit_of_finite_horizons(seed: int) -> None:
    model = random_model(np.random.default_rng(seed))
    infinite = q_star(model, 0.8)
    assert np.allclose(q_star(model, 0.8, horizon=200), infinite, atol=1e-12)
    # Bellman optimality holds at the fixed point
    bellman = model.R + 0.8 * model.P_continue @ infinite.max(axis=1)
    assert np.allclose(bellman, infinite, atol=1e-11)
