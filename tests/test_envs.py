"""The reference environments: dynamics step by step, registration, checker, seeding, errors."""

from __future__ import annotations

import importlib
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import catallax.exchange.envs as envs
from catallax.exchange.envs import (
    BanditEnv,
    ChainEnv,
    DualityEnv,
    InvalidAction,
    InvalidArgument,
    ResetNeeded,
    TMazeEnv,
)
from catallax.exchange.envs.tmaze import CORRIDOR, CUE_DOWN, CUE_UP, DOWN, FORWARD, JUNCTION, UP

TABULAR_IDS = [
    "catallax/Bandit-v0",
    "catallax/Chain-v0",
    "catallax/Duality-v0",
    "catallax/TMaze-v0",
]


def test_exported_names() -> None:
    assert set(envs.__all__) == {
        "ENV_IDS",
        "Economy",
        "ProductionEnv",
        "default_economy",
        "random_economy",
        "BanditEnv",
        "ChainEnv",
        "DualityEnv",
        "TMazeEnv",
        "MessageRegister",
        "decode_action",
        "decode_observation",
        "encode_action",
        "encode_observation",
        "with_message_register",
        "TabularModel",
        "best_memoryless_return",
        "episode_horizon",
        "greedy_return",
        "optimal_return",
        "policy_return",
        "q_star",
        "transition_model",
        "EnvError",
        "InvalidAction",
        "InvalidArgument",
        "InvalidModel",
        "NotConverged",
        "ResetNeeded",
        "UnsupportedSpace",
    }
    for name in envs.__all__:
        assert getattr(envs, name) is not None


# --- dynamics, step by step -------------------------------------------------------------


@pytest.mark.parametrize("arm, pay", [(0, 0.2), (1, 0.4), (2, 0.6), (3, 0.8)])
def test_bandit_pays_each_arm_once(arm: int, pay: float) -> None:
    env = BanditEnv()
    assert env.reset(seed=0)[0] == 0
    obs, reward, terminated, truncated, _ = env.step(arm)
    assert (obs, reward, terminated, truncated) == (0, pay, True, False)
    with pytest.raises(ResetNeeded):
        env.step(arm)


def test_chain_walk() -> None:
    env = gym.make("catallax/Chain-v0")
    assert env.reset(seed=0)[0] == 0
    assert env.step(0)[:4] == (0, 0.0, False, False)  # left at 0 stays
    for s in range(1, 5):
        assert env.step(1)[:4] == (s, 0.0, False, False)
    assert env.step(0)[:4] == (3, 0.0, False, False)
    assert env.step(1)[:4] == (4, 0.0, False, False)
    assert env.step(1)[:4] == (5, 0.8, True, False)


def test_chain_truncates_at_20_steps() -> None:
    env = gym.make("catallax/Chain-v0")
    env.reset(seed=0)
    outcomes = [env.step(0) for _ in range(20)]
    assert [o[3] for o in outcomes] == [False] * 19 + [True]
    assert not any(o[2] for o in outcomes)
    assert sum(o[1] for o in outcomes) == 0.0


def test_duality_transitions_and_limit() -> None:
    env = DualityEnv()
    env.reset(seed=0)
    assert env.step(1)[:4] == (1, 0.5, False, False)
    assert env.step(1)[:4] == (1, 0.3, False, False)
    assert env.step(0)[:4] == (0, 0.5, False, False)
    assert env.step(0)[:4] == (2, 0.0, False, False)
    assert env.step(0)[:4] == (2, -1.0, False, False)
    assert env.step(1)[:4] == (2, -1.0, False, False)
    made = gym.make("catallax/Duality-v0")
    made.reset(seed=0)
    rewards, truncated = [], False
    while not truncated:
        _, reward, terminated, truncated, _ = made.step(1 if len(rewards) % 2 == 0 else 0)
        assert not terminated
        rewards.append(reward)
    assert rewards == [0.5] * 10


def _tmaze_reset_with_cue(env: TMazeEnv, cue_obs: int) -> None:
    for seed in range(100):
        if env.reset(seed=seed)[0] == cue_obs:
            return
    raise AssertionError(f"no seed below 100 shows cue {cue_obs}")


@pytest.mark.parametrize("cue, turn", [(CUE_UP, UP), (CUE_DOWN, DOWN)])
def test_tmaze_walk_and_turn(cue: int, turn: int) -> None:
    env = TMazeEnv(length=3)
    _tmaze_reset_with_cue(env, cue)
    assert env.step(UP)[:4] == (cue, 0.0, False, False)  # turning at the start does nothing
    for _ in range(3):
        assert env.step(FORWARD)[:4] == (CORRIDOR, 0.0, False, False)
    assert env.step(DOWN if turn == UP else UP)[:4] == (CORRIDOR, 0.0, False, False)
    assert env.step(FORWARD)[:4] == (JUNCTION, 0.0, False, False)
    assert env.step(FORWARD)[:4] == (JUNCTION, 0.0, False, False)  # the junction holds
    assert env.step(turn)[:4] == (JUNCTION, 1.0, True, False)


def test_tmaze_wrong_turn_pays_nothing() -> None:
    env = TMazeEnv(length=1)
    _tmaze_reset_with_cue(env, CUE_UP)
    env.step(FORWARD)
    env.step(FORWARD)
    assert env.step(DOWN)[1:4] == (0.0, True, False)


@pytest.mark.parametrize("length", [1, 3, 5])
def test_tmaze_truncates_after_length_plus_6(length: int) -> None:
    env = gym.make("catallax/TMaze-v0", length=length)
    env.reset(seed=0)
    truncations = [env.step(FORWARD)[3] for _ in range(length + 6)]
    assert truncations == [False] * (length + 5) + [True]


def test_tmaze_cue_is_uniform_and_hidden_later() -> None:
    env = TMazeEnv()
    cues = [env.reset(seed=seed)[0] for seed in range(400)]
    assert set(cues) == {CUE_UP, CUE_DOWN}
    assert 150 < cues.count(CUE_UP) < 250
    assert env.observation_map.tolist() == [0, 1, 2, 2, 2, 2, 2, 2, 3, 3]


def test_step_before_reset_is_refused() -> None:
    with pytest.raises(ResetNeeded):
        ChainEnv().step(1)


# --- registration, checker, seeding ---------------------------------------------------


@pytest.mark.parametrize("env_id", TABULAR_IDS)
def test_check_env_passes_without_warnings(env_id: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id).unwrapped)


def test_registration_is_idempotent_and_lazy() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(envs)
        importlib.reload(envs)
    assert set(envs.ENV_IDS) <= set(gym.registry)
    spec = gym.spec("catallax/Production-v0")
    assert spec.entry_point == "catallax.exchange.envs.production:ProductionEnv"
    assert gym.spec("catallax/Chain-v0").max_episode_steps == 20
    assert gym.spec("catallax/Duality-v0").max_episode_steps == 10


def test_make_with_module_prefix() -> None:
    env = gym.make("catallax.exchange.envs:catallax/Chain-v0")
    assert isinstance(env.unwrapped, ChainEnv)
    assert env.spec is not None and env.spec.max_episode_steps == 20


@pytest.mark.parametrize("env_id", ["catallax/TMaze-v0", "FrozenLake-v1"])
def test_seeding_reproduces_episodes(env_id: str) -> None:
    def rollout(seed: int) -> list[tuple]:
        env = gym.make(env_id)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        trace = [obs]
        for _ in range(30):
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            trace.append((obs, reward))
            if terminated or truncated:
                obs, _ = env.reset()
                trace.append(obs)
        return trace

    assert rollout(7) == rollout(7)
    assert len({str(rollout(seed)) for seed in range(6)}) > 1


def test_ansi_render_describes_state() -> None:
    env = ChainEnv(render_mode="ansi")
    env.reset(seed=0)
    env.step(1)
    assert env.render() == ".@....|\n"
    assert ChainEnv().render() is None


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("env", [BanditEnv(), ChainEnv(), DualityEnv(), TMazeEnv()])
@pytest.mark.parametrize("action", [-1, 4, 1.5, "1", np.array([0, 1])])
def test_invalid_action_is_named(env: gym.Env, action: object) -> None:
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="not in Discrete"):
        env.step(action)


@pytest.mark.parametrize("length", [0, -2, 1.5, True, "3"])
def test_tmaze_length_must_be_positive_int(length: object) -> None:
    with pytest.raises(ValueError, match="length"):
        TMazeEnv(length=length)


def test_other_bad_arguments() -> None:
    with pytest.raises(InvalidArgument, match="n_states"):
        ChainEnv(n_states=1)
    with pytest.raises(InvalidArgument, match="payouts"):
        BanditEnv(payouts=[])
    with pytest.raises(InvalidArgument, match="payouts"):
        BanditEnv(payouts=[0.1, float("nan")])
    with pytest.raises(InvalidArgument, match="render_mode"):
        DualityEnv(render_mode="human")


def test_policy_return_of_a_stochastic_policy_and_bad_policies():
    model = envs.transition_model(gym.make("catallax/Chain-v0"))
    right = np.zeros((6, 2))
    right[:, 1] = 1.0
    assert envs.policy_return(model, right, 20) == pytest.approx(0.8)  # via greedy_return
    coin = np.full((6, 2), 0.5)
    value = envs.policy_return(model, coin, 20)
    assert 0.0 < value < 0.8
    # Five steps right in a row within 20 steps, by dynamic programming on its own.
    p = np.zeros(6)
    p[0] = 1.0
    reached = 0.0
    for _ in range(20):
        nxt = np.zeros(6)
        for s in range(5):
            nxt[max(s - 1, 0)] += 0.5 * p[s]
            nxt[s + 1] += 0.5 * p[s]
        reached += nxt[5]
        nxt[5] = 0.0
        p = nxt
    assert value == pytest.approx(0.8 * reached)
    with pytest.raises(envs.InvalidArgument, match="probabilities"):
        envs.policy_return(model, np.ones((6, 2)), 20)
