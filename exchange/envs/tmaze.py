"""``catallax/TMaze-v0``: a T-maze whose rewarding end is cued only at the start (a POMDP).

The agent starts at the foot of a T and sees a cue, up or down, drawn uniformly by the
environment's RNG. It then walks a corridor of ``length`` cells, whose observation is
the same for both cues, to the junction, where it must turn the way the cue said.

Observation ids:

====  ==========  ==========================================
id    name        seen
====  ==========  ==========================================
0     CUE_UP      at the start, when the up end pays
1     CUE_DOWN    at the start, when the down end pays
2     CORRIDOR    in any corridor cell (either cue)
3     JUNCTION    at the junction (either cue)
====  ==========  ==========================================

Actions: ``0`` FORWARD moves one cell along (at the junction it stays); ``1`` UP and
``2`` DOWN do nothing at the start or in the corridor (reward 0) and, at the junction,
end the episode (``terminated``) with reward 1.0 if they match the cue, else 0.0.
The environment itself truncates the episode after ``length + 6`` steps (so the limit
follows ``length``; the registered id adds no ``TimeLimit``).

The optimal return is 1.0. A memoryless policy sees the same JUNCTION for both cues, so
it earns at most 0.5 in expectation; remembering the cue (for instance with
:class:`~catallax.exchange.envs.memory.MessageRegister`) is needed to do better.

Hidden states: ``2 * position + cue`` with ``cue`` 0 (up) or 1 (down) and ``position`` 0
(the start), ``1 .. length`` (corridor cells), ``length + 1`` (the junction). ``P`` and
``initial_state_distrib`` are over hidden states; ``observation_map`` maps each hidden
state to its observation id.
"""

from __future__ import annotations

import numpy as np

from ._table_env import Table, TableEnv
from .errors import InvalidArgument

__all__ = [
    "CORRIDOR",
    "CUE_DOWN",
    "CUE_UP",
    "DOWN",
    "FORWARD",
    "JUNCTION",
    "UP",
    "TMazeEnv",
]

# observation ids
CUE_UP = 0
CUE_DOWN = 1
CORRIDOR = 2
JUNCTION = 3
# actions
FORWARD = 0
UP = 1
DOWN = 2


class TMazeEnv(TableEnv):
    """The cued T-maze (see the module doc for observation ids, actions and rewards).

    Args:
        length: the number of corridor cells between the start and the junction, >= 1.
        render_mode: ``None`` or ``"ansi"``.

    Attributes:
        max_steps: ``length + 6``, the step at which the episode is truncated.
    """

    def __init__(self, *, length: int = 3, render_mode: str | None = None) -> None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise InvalidArgument(f"length must be an int >= 1, got {length!r}")
        self.length = length
        self.max_steps = length + 6
        junction = length + 1
        P: Table = {}
        observation_map = np.empty(2 * (junction + 1), dtype=np.int64)
        for position in range(junction + 1):
            for cue in (0, 1):
                s = 2 * position + cue
                if position == 0:
                    observation_map[s] = CUE_UP if cue == 0 else CUE_DOWN
                else:
                    observation_map[s] = JUNCTION if position == junction else CORRIDOR
                if position < junction:
                    P[s] = {
                        FORWARD: [(1.0, s + 2, 0.0, False)],
                        UP: [(1.0, s, 0.0, False)],
                        DOWN: [(1.0, s, 0.0, False)],
                    }
                else:
                    P[s] = {
                        FORWARD: [(1.0, s, 0.0, False)],
                        UP: [(1.0, s, 1.0 if cue == 0 else 0.0, True)],
                        DOWN: [(1.0, s, 1.0 if cue == 1 else 0.0, True)],
                    }
        initial = np.zeros(len(P))
        initial[0] = initial[1] = 0.5
        super().__init__(
            P,
            initial,
            n_actions=3,
            observation_map=observation_map,
            n_observations=4,
            render_mode=render_mode,
        )

    def _describe(self, state: int | None) -> str:
        if state is None:
            return "not started"
        position, cue = divmod(state, 2)
        cells = ["@" if i == position else "." for i in range(self.length + 2)]
        return "".join(cells) + f" cue={'up' if cue == 0 else 'down'} step={self.elapsed_steps}"
