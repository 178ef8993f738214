"""The base class of the tabular reference environments: dynamics read from a table.

A subclass builds its exact model in the format of Gymnasium's toy-text FrozenLake and
hands it to :class:`TableEnv`, which does the rest: seeding, sampling a transition,
checking the action, and refusing to step outside an episode.

``P[s][a]`` is a list of ``(probability, next_state, reward, terminated)`` tuples over
hidden states ``s``; ``initial_state_distrib[s]`` is the probability of starting in ``s``;
``observation_map[s]`` is the observation id the agent sees in ``s`` (the identity for a
fully observed environment). Rewards are in the environment's own unit (a float per step).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .errors import InvalidAction, InvalidArgument, ResetNeeded

Transition = tuple[float, int, float, bool]
Table = dict[int, dict[int, list[Transition]]]


class TableEnv(gym.Env[int, int]):
    """A Gymnasium environment whose dynamics are the table ``P`` (see the module doc).

    ``info`` holds ``"prob"``: the probability of the transition (or start) just drawn.
    ``elapsed_steps`` counts the steps of the current episode; ``max_steps``, when a
    subclass sets it, is the environment's own time limit (truncation at that step).
    """

    max_steps: int | None = None

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012

    def __init__(
        self,
        P: Table,
        initial_state_distrib: np.ndarray,
        *,
        n_actions: int,
        observation_map: np.ndarray | None = None,
        n_observations: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidArgument(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        n_states = len(P)
        self.P = P
        self.initial_state_distrib = np.asarray(initial_state_distrib, dtype=np.float64)
        self.observation_map = (
            np.arange(n_states) if observation_map is None else np.asarray(observation_map)
        )
        self.observation_space = spaces.Discrete(
            n_states if n_observations is None else n_observations
        )
        self.action_space = spaces.Discrete(n_actions)
        self.render_mode = render_mode
        self.s: int | None = None  # hidden state; None before the first reset
        self.lastaction: int | None = None
        self._in_episode = False
        self.elapsed_steps = 0  # steps taken in the current episode

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Start an episode from a state drawn from ``initial_state_distrib``."""
        super().reset(seed=seed)
        p = self.initial_state_distrib
        self.s = int(self.np_random.choice(len(p), p=p))
        self.lastaction = None
        self._in_episode = True
        self.elapsed_steps = 0
        return self._observe(self.s), {"prob": float(p[self.s])}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        """Apply ``action``; return (observation, reward, terminated, truncated, info)."""
        if not self.action_space.contains(action):
            raise InvalidAction(f"action {action!r} is not in {self.action_space}")
        if not self._in_episode or self.s is None:
            raise ResetNeeded("call reset() before step(), and again after an episode ends")
        self.elapsed_steps += 1
        transitions = self.P[self.s][int(action)]
        if len(transitions) == 1:
            prob, next_state, reward, terminated = transitions[0]
        else:
            k = self.np_random.choice(len(transitions), p=[t[0] for t in transitions])
            prob, next_state, reward, terminated = transitions[k]
        self.s = int(next_state)
        self.lastaction = int(action)
        obs = self._observe(self.s)
        truncated = not terminated and self._truncated()
        self._in_episode = not (terminated or truncated)
        return obs, float(reward), bool(terminated), truncated, {"prob": float(prob)}

    def render(self) -> str | None:
        """In ``"ansi"`` mode, a one-line description of the hidden state; else None."""
        if self.render_mode != "ansi":
            return None
        return self._describe(self.s) + "\n"

    def _observe(self, state: int) -> int:
        return int(self.observation_map[state])

    def _truncated(self) -> bool:
        """Whether the episode is cut after the step just taken."""
        return self.max_steps is not None and self.elapsed_steps >= self.max_steps

    def _describe(self, state: int | None) -> str:
        return "not started" if state is None else f"state {state}"
