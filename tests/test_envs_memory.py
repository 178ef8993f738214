"""Memory goods: the message-register wrapper, its encodings, and its exact product model."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from catallax.exchange.envs import (
    InvalidAction,
    InvalidArgument,
    MessageRegister,
    TMazeEnv,
    UnsupportedSpace,
    best_memoryless_return,
    decode_action,
    decode_observation,
    encode_action,
    encode_observation,
    greedy_return,
    optimal_return,
    transition_model,
    with_message_register,
)
from catallax.exchange.envs.tmaze import CORRIDOR, CUE_DOWN, CUE_UP, DOWN, FORWARD, JUNCTION, UP

M = 2


def cue_writer(obs: int) -> int:
    """A memory policy for the T-maze: write the cue at the start, read it at the junction."""
    inner, register = decode_observation(obs, M)
    if inner == CUE_UP:
        return encode_action(FORWARD, 1, M)  # write message 0
    if inner == CUE_DOWN:
        return encode_action(FORWARD, 2, M)  # write message 1
    if inner == CORRIDOR:
        return encode_action(FORWARD, 0, M)
    return encode_action(UP if register == 0 else DOWN, 0, M)


def test_encodings_round_trip() -> None:
    for n in (1, 2, 5):
        for obs in range(4):
            for register in range(n):
                code = encode_observation(obs, register, n)
                assert code == obs * n + register
                assert decode_observation(code, n) == (obs, register)
            for write in range(n + 1):
                code = encode_action(obs, write, n)
                assert code == obs * (n + 1) + write
                assert decode_action(code, n) == (obs, write)


def test_memory_policy_solves_tmaze_exactly() -> None:
    model = with_message_register(transition_model(TMazeEnv()), M)
    assert model.n_states == 20 and model.n_actions == 9 and model.n_observations == 8
    policy = np.array([cue_writer(int(o)) for o in model.observation])
    assert greedy_return(model, policy, 9) == 1.0
    assert optimal_return(model, 9) == 1.0


def test_one_message_register_does_not_help() -> None:
    model = with_message_register(transition_model(TMazeEnv(length=1)), 1)
    best, _ = best_memoryless_return(model, 7)
    assert best == 0.5


@pytest.mark.parametrize("seed", range(6))
def test_memory_policy_solves_tmaze_in_rollouts(seed: int) -> None:
    env = MessageRegister(gym.make("catallax/TMaze-v0"), M)
    obs, info = env.reset(seed=seed)
    assert info["register"] == 0
    total, done, steps = 0.0, False, 0
    while not done:
        obs, reward, terminated, truncated, info = env.step(cue_writer(obs))
        total, done, steps = total + reward, terminated or truncated, steps + 1
    assert (total, terminated, steps) == (1.0, True, 5)
    assert decode_observation(obs, M)[0] == JUNCTION


def test_register_is_carried_and_overwritten() -> None:
    env = MessageRegister(gym.make("catallax/Chain-v0"), 3)
    assert env.observation_space == gym.spaces.Discrete(18)
    assert env.action_space == gym.spaces.Discrete(8)
    obs, _ = env.reset(seed=0)
    assert obs == 0
    obs, *_ = env.step(encode_action(1, 3, 3))  # right, write message 2
    assert decode_observation(obs, 3) == (1, 2)
    obs, *_ = env.step(encode_action(1, 0, 3))  # right, keep
    assert decode_observation(obs, 3) == (2, 2)
    obs, *_ = env.step(encode_action(0, 1, 3))  # left, write message 0
    assert decode_observation(obs, 3) == (1, 0)
    obs, _ = env.reset()
    assert decode_observation(obs, 3) == (0, 0)


def test_box_observations_get_one_hot_register() -> None:
    env = MessageRegister(gym.make("CartPole-v1"), 3)
    assert env.observation_space.shape == (7,)
    assert env.action_space == gym.spaces.Discrete(8)
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs[4:].tolist() == [1.0, 0.0, 0.0]
    obs, *_ = env.step(encode_action(1, 3, 3))
    assert obs[4:].tolist() == [0.0, 0.0, 1.0]
    assert env.observation_space.contains(obs)


def test_wrapped_env_passes_checker() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*different from the unwrapped.*")
        warnings.filterwarnings("ignore", message=".*alternative render modes.*")
        check_env(MessageRegister(TMazeEnv(), 2), skip_render_check=True)
    with warnings.catch_warnings():
        # CartPole's own Box is unbounded in two coordinates; the checker warns about that
        warnings.filterwarnings("ignore", message=".*infinity.*|.*different from the unwrapped.*")
        check_env(MessageRegister(gym.make("CartPole-v1").unwrapped, 2), skip_render_check=True)


def test_wrapper_seeding_is_reproducible() -> None:
    def trace(seed: int) -> list:
        env = MessageRegister(gym.make("FrozenLake-v1"), 2)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        out = [obs]
        for _ in range(40):
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            out.append((obs, reward))
            if terminated or truncated:
                out.append(env.reset()[0])
        return out

    assert trace(11) == trace(11)
    assert trace(11) != trace(12)


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_bad_n_messages(n: object) -> None:
    with pytest.raises(InvalidArgument, match="n_messages"):
        MessageRegister(TMazeEnv(), n)
    with pytest.raises(InvalidArgument, match="n_messages"):
        with_message_register(transition_model(TMazeEnv()), n)


def test_bad_action_is_refused_before_anything_changes() -> None:
    env = MessageRegister(TMazeEnv(), 2)
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="Discrete"):
        env.step(9)
    assert env.register == 0 and env.unwrapped.elapsed_steps == 0


def test_bad_write_or_register() -> None:
    with pytest.raises(InvalidArgument, match="write"):
        encode_action(0, 3, 2)
    with pytest.raises(InvalidArgument, match="register"):
        encode_observation(0, 2, 2)


def test_unsupported_spaces() -> None:
    with pytest.raises(UnsupportedSpace, match="action space"):
        MessageRegister(gym.make("Pendulum-v1"))
    with pytest.raises(UnsupportedSpace, match="observation space"):
        MessageRegister(gym.make("Blackjack-v1"))  # Tuple observations


def test_wrapped_spec_recreates_the_wrapper() -> None:
    env = MessageRegister(gym.make("catallax/TMaze-v0"), 3)
    remade = env.spec.make()
    assert isinstance(remade, MessageRegister) and remade.n_messages == 3
    assert remade.observation_space == gym.spaces.Discrete(12)
