"""``catallax/Chain-v0``: a line of states walked left or right (Chang et al. 2020, ICML).

States ``0 .. n_states-1`` (default 6) lie on a line; the observation is the state.
The episode starts in state 0. Action ``0`` (LEFT) moves one state left (state 0 stays
put), action ``1`` (RIGHT) one state right. Reaching the last state pays
``goal_reward`` (default 0.8 reward units) and terminates; every other step pays 0.
The registered id cuts episodes at 20 steps (``max_episode_steps=20``, Gymnasium's
``TimeLimit``). The optimal return is 0.8; with discount ``gamma``,
``Q*(s, RIGHT) = 0.8 * gamma ** (n_states - 2 - s)``.
"""

from __future__ import annotations

import math

import numpy as np

from ._table_env import Table, TableEnv
from .errors import InvalidArgument

__all__ = ["LEFT", "RIGHT", "ChainEnv"]

LEFT = 0
RIGHT = 1


class ChainEnv(TableEnv):
    """A chain of ``n_states`` states; RIGHT from the next-to-last state pays and ends.

    Args:
        n_states: the number of states, at least 2; the last one is the goal.
        goal_reward: the reward for reaching the goal (finite).
        render_mode: ``None`` or ``"ansi"``.

    The goal state is absorbing in the table (any action stays, pays 0, terminates), as
    FrozenLake's holes and goal are; an episode never continues from it.
    """

    def __init__(
        self, *, n_states: int = 6, goal_reward: float = 0.8, render_mode: str | None = None
    ) -> None:
        if isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 2:
            raise InvalidArgument(f"n_states must be an int >= 2, got {n_states!r}")
        if not math.isfinite(goal_reward):
            raise InvalidArgument(f"goal_reward must be finite, got {goal_reward!r}")
        goal = n_states - 1
        P: Table = {}
        for s in range(goal):
            right = s + 1
            P[s] = {
                LEFT: [(1.0, max(s - 1, 0), 0.0, False)],
                RIGHT: [(1.0, right, float(goal_reward) if right == goal else 0.0, right == goal)],
            }
        P[goal] = {a: [(1.0, goal, 0.0, True)] for a in (LEFT, RIGHT)}
        initial = np.zeros(n_states)
        initial[0] = 1.0
        self.n_states = n_states
        self.goal_reward = float(goal_reward)
        super().__init__(P, initial, n_actions=2, render_mode=render_mode)

    def _describe(self, state: int | None) -> str:
        if state is None:
            return "not started"
        cells = ["@" if i == state else "." for i in range(self.n_states)]
        return "".join(cells) + "|"
