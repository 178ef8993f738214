"""The market learns: exact greedy returns after short CAPITALISM runs.

Budgets are small and the assertions are about what was learned (exact values of the
greedy policy from the environments' transition tables), not about time.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import catallax.exchange.envs as envs
from catallax.exchange import DeepMarket, greedy_policy, train
from catallax.traders import AdaptiveBidders


def exact_greedy(market: DeepMarket, env: gym.Env, memory: int = 0) -> float:
    """Exact expected return of the market's greedy policy (a POMDP policy sees obs).

    Where no trader bids (Duality's absorbing state, which nobody wants to own) the
    world's random draw stands in for the action.
    """
    model = envs.transition_model(env)
    if memory:
        model = envs.with_message_register(model, memory)
    actions, _ = greedy_policy(market, np.arange(model.n_observations))
    return envs.greedy_return(model, actions[model.observation], envs.episode_horizon(env))


def market_for(make, *, n_envs=1, royalty=0.0, seed=0, **family) -> DeepMarket:
    env = make()
    pop = AdaptiveBidders.for_env(env.observation_space, env.action_space, seed=seed, **family)
    return DeepMarket(
        pop,
        n_actions=int(env.action_space.n),
        n_envs=n_envs,
        allowance=10.0 * n_envs,
        discount=0.99,
        floor=0.01 * n_envs,
        royalty=royalty,
        seed=seed,
    )


@pytest.mark.parametrize(
    ("env_id", "episodes"),
    [("catallax/Bandit-v0", 50), ("catallax/Chain-v0", 300), ("catallax/Duality-v0", 300)],
)
@pytest.mark.parametrize("auction", ["vickrey", "first-price"])
def test_market_reaches_the_optimum(env_id, episodes, auction):
    def make():
        return gym.make(env_id)

    # Royalties (λ = 0.9): on these deterministic tasks with time limits, TD(0) prices
    # (λ = 0) take far longer (Chain ~90-400 episodes, Duality stays at 3.2 after 400;
    # see docs/decisions/learning.md).
    m = market_for(make, royalty=0.9)
    m.auction = m.auction.__class__(auction)
    train(m, make, episodes=episodes, seed=0)
    env = make()
    optimum = envs.optimal_return(envs.transition_model(env), envs.episode_horizon(env))
    assert exact_greedy(m, env) == pytest.approx(optimum)
    assert abs(m.total()) < 1e-9 * (1 + np.abs(m.wealth).sum())


@pytest.mark.parametrize("seed", [0, 1])
def test_tmaze_needs_the_message_register_and_royalties_to_use_it(seed):
    plain = lambda: gym.make("catallax/TMaze-v0")  # noqa: E731
    memory = lambda: envs.MessageRegister(plain(), n_messages=2)  # noqa: E731

    without = market_for(plain, n_envs=8, royalty=0.9, seed=seed)
    train(without, plain, episodes=1500, seed=seed)
    # No memoryless policy can beat chance: the junction looks the same for both cues.
    assert exact_greedy(without, plain()) <= 0.5 + 1e-12

    # Writers of memory learn from settled royalties only: a quote prices the corridor,
    # which looks the same whatever was written. One pseudo-visit of optimism (prior 1),
    # as the learning benchmark and the network test use.
    with_memory = market_for(memory, n_envs=8, royalty=0.9, seed=seed, quotes=False, prior=1.0)
    train(with_memory, memory, episodes=1500, seed=seed)
    assert exact_greedy(with_memory, plain(), memory=2) == pytest.approx(1.0)


def test_costs_are_learnt_cliffwalking_reaches_its_optimum_with_the_defaults():
    """Rewards are costs (-1 a step, -100 at the cliff), there is no time limit, and every
    state has a negative price: the market must pay to be rid of what it holds. Before
    asks were bids, the world owned every state and acted at random (exact value
    -65,375); the default market now walks the 13-step path along the cliff."""
    make = lambda: gym.make("CliffWalking-v1")  # noqa: E731
    env = make()
    pop = AdaptiveBidders.for_env(env.observation_space, env.action_space, seed=0)
    m = DeepMarket(pop, n_actions=4, n_envs=1, allowance=10.0, discount=0.99, floor=1.0)
    log = train(m, make, episodes=1500, seed=0)
    assert m.scale == 1024  # returns of about -1,000 while it learnt: money grew to fit
    assert log.deaths > 0 and log.births == log.deaths  # bankrupt traders were replaced
    model = envs.transition_model(env)
    actions, owned = greedy_policy(m, np.arange(model.n_states))
    assert owned.all()
    assert envs.greedy_return(model, actions, 1000) == -13.0
    assert m.total() == 0
