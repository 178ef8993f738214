"""Memory goods for POMDPs: a message register that the acting agent may write.

After Kwee, Hutter & Schmidhuber (2001) and the paper's message space ``str``, the state
and the action are extended with a register holding one of ``n_messages`` messages
(message ``0`` at reset). Each step the actor, besides its action, either keeps the
register or writes a message into it; the observation returned by that step and by
later steps carries the register, so a market can pass information forward in time,
as informational goods.

Encodings, with ``M = n_messages``:

- Discrete observations: ``obs' = obs * M + register``, in ``Discrete(n_obs * M)``.
- 1-D Box observations: the register is appended as a one-hot vector of length ``M``
  (same dtype; bounds 0 and 1 on the new entries).
- Actions (the inner action space must be Discrete):
  ``action' = action * (M + 1) + write``, in ``Discrete(n_actions * (M + 1))``, where
  ``write = 0`` keeps the register and ``write = k`` (``1 <= k <= M``) writes message
  ``k - 1``.

:func:`with_message_register` builds the exact product model (hidden state
``s * M + register``) of a tabular model, so that policies using memory can be
evaluated exactly with :mod:`catallax.exchange.envs.tabular`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .errors import InvalidAction, InvalidArgument, UnsupportedSpace
from .tabular import TabularModel

__all__ = [
    "MessageRegister",
    "decode_action",
    "decode_observation",
    "encode_action",
    "encode_observation",
    "with_message_register",
]


def encode_observation(obs: int, register: int, n_messages: int) -> int:
    """The extended Discrete observation id of inner observation ``obs`` and a register."""
    _check_message(register, n_messages, "register")
    return int(obs) * n_messages + int(register)


def decode_observation(code: int, n_messages: int) -> tuple[int, int]:
    """Split an extended Discrete observation id into (inner observation, register)."""
    _check_n_messages(n_messages)
    obs, register = divmod(int(code), n_messages)
    return obs, register


def encode_action(action: int, write: int, n_messages: int) -> int:
    """The extended action of inner ``action`` and ``write`` (0 keep, k writes k - 1)."""
    _check_n_messages(n_messages)
    if not 0 <= write <= n_messages:
        raise InvalidArgument(f"write must lie in [0, {n_messages}], got {write!r}")
    return int(action) * (n_messages + 1) + int(write)


def decode_action(code: int, n_messages: int) -> tuple[int, int]:
    """Split an extended action into (inner action, write); write 0 keeps the register."""
    _check_n_messages(n_messages)
    action, write = divmod(int(code), n_messages + 1)
    return action, write


class MessageRegister(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Extend ``env`` with a register of ``n_messages`` messages (see the module doc).

    Args:
        env: an environment with a Discrete action space and a Discrete or 1-D Box
            observation space (``Discrete(n, start)`` offsets are removed from
            observations and added back to actions).
        n_messages: the number of messages the register can hold, >= 1.

    Attributes:
        register: the message currently held (0 after reset).

    ``info["register"]`` reports the register after each reset and step.

    Raises:
        InvalidArgument: ``n_messages`` is not an int >= 1.
        UnsupportedSpace: the action space is not Discrete, or the observation space is
            neither Discrete nor a 1-D Box.
    """

    def __init__(self, env: gym.Env, n_messages: int = 2) -> None:
        _check_n_messages(n_messages)
        gym.utils.RecordConstructorArgs.__init__(self, n_messages=n_messages)
        gym.Wrapper.__init__(self, env)
        self.n_messages = n_messages
        inner_actions, inner_obs = env.action_space, env.observation_space
        if not isinstance(inner_actions, spaces.Discrete):
            raise UnsupportedSpace(f"the action space must be Discrete, got {inner_actions}")
        self.action_space = spaces.Discrete(int(inner_actions.n) * (n_messages + 1))
        if isinstance(inner_obs, spaces.Discrete):
            self.observation_space = spaces.Discrete(int(inner_obs.n) * n_messages)
        elif isinstance(inner_obs, spaces.Box) and len(inner_obs.shape) == 1:
            self.observation_space = spaces.Box(
                low=np.concatenate([inner_obs.low, np.zeros(n_messages, inner_obs.dtype)]),
                high=np.concatenate([inner_obs.high, np.ones(n_messages, inner_obs.dtype)]),
                dtype=inner_obs.dtype,
            )
        else:
            raise UnsupportedSpace(
                f"the observation space must be Discrete or a 1-D Box, got {inner_obs} "
                "(flatten it first, e.g. with gymnasium.wrappers.FlattenObservation)"
            )
        self.register = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset the inner environment and clear the register to message 0."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.register = 0
        return self._extend(obs), {**info, "register": self.register}

    def step(self, action: int) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Apply the inner action and the write; the returned observation shows the write."""
        if not self.action_space.contains(action):
            raise InvalidAction(f"action {action!r} is not in {self.action_space}")
        inner_action, write = decode_action(action, self.n_messages)
        obs, reward, terminated, truncated, info = self.env.step(
            inner_action + int(self.env.action_space.start)
        )
        if write:
            self.register = write - 1
        return self._extend(obs), reward, terminated, truncated, {**info, "register": self.register}

    def _extend(self, obs: Any) -> Any:
        inner = self.env.observation_space
        if isinstance(inner, spaces.Discrete):
            return encode_observation(int(obs) - int(inner.start), self.register, self.n_messages)
        one_hot = np.zeros(self.n_messages, dtype=inner.dtype)
        one_hot[self.register] = 1
        return np.concatenate([np.asarray(obs, dtype=inner.dtype), one_hot])


def with_message_register(model: TabularModel, n_messages: int = 2) -> TabularModel:
    """The exact model of ``MessageRegister(env, n_messages)`` given the model of ``env``.

    Hidden state ``s * M + register``, observation ``observation[s] * M + register``,
    action ``a * (M + 1) + write``; the register starts at message 0.
    """
    _check_n_messages(n_messages)
    M = n_messages
    S, A = model.n_states, model.n_actions
    P = np.zeros((S, M, A, M + 1, S, M))
    terminal = np.zeros((S, M, A, M + 1, S, M), dtype=bool)
    for m in range(M):
        for w in range(M + 1):
            m_next = m if w == 0 else w - 1
            P[:, m, :, w, :, m_next] = model.P
            terminal[:, m, :, w, :, :] = model.terminal[:, :, :, None]
    R = np.broadcast_to(model.R[:, None, :, None], (S, M, A, M + 1))
    initial = np.zeros((S, M))
    initial[:, 0] = model.initial
    return TabularModel(
        P=P.reshape(S * M, A * (M + 1), S * M),
        R=R.reshape(S * M, A * (M + 1)).copy(),
        terminal=terminal.reshape(S * M, A * (M + 1), S * M),
        initial=initial.reshape(S * M),
        observation=(model.observation[:, None] * M + np.arange(M)).reshape(S * M),
        n_observations=model.n_observations * M,
    )


def _check_n_messages(n_messages: int) -> None:
    if isinstance(n_messages, bool) or not isinstance(n_messages, int) or n_messages < 1:
        raise InvalidArgument(f"n_messages must be an int >= 1, got {n_messages!r}")


def _check_message(message: int, n_messages: int, name: str) -> None:
    _check_n_messages(n_messages)
    if not 0 <= message < n_messages:
        raise InvalidArgument(f"{name} must lie in [0, {n_messages}), got {message!r}")
