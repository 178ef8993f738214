"""``catallax/Duality-v0``: two states that pay for alternating (Chang et al. 2020, ICML).

States: ``0`` and ``1``, and the absorbing state ``2``; the observation is the state and
the episode starts in state 0. Transitions and rewards (reward units per step):

========  ========  ======  ======
state     action    next    reward
========  ========  ======  ======
0         0         2       0.0
0         1         1       0.5
1         0         0       0.5
1         1         1       0.3
2         any       2       -1.0
========  ========  ======  ======

The episode never terminates; the registered id cuts it at 10 steps
(``max_episode_steps=10``). The optimal return is 5.0 (alternate 0, 1, 0, ... for 0.5
per step); staying in state 1 earns only 0.3 per step and action 0 in state 0 falls
into the absorbing state that costs 1 per step.
"""

from __future__ import annotations

import numpy as np

from ._table_env import Table, TableEnv

__all__ = ["DualityEnv"]


class DualityEnv(TableEnv):
    """The duality MDP of Chang et al. 2020 (see the module doc for the table).

    Args:
        render_mode: ``None`` or ``"ansi"``.
    """

    def __init__(self, *, render_mode: str | None = None) -> None:
        P: Table = {
            0: {0: [(1.0, 2, 0.0, False)], 1: [(1.0, 1, 0.5, False)]},
            1: {0: [(1.0, 0, 0.5, False)], 1: [(1.0, 1, 0.3, False)]},
            2: {0: [(1.0, 2, -1.0, False)], 1: [(1.0, 2, -1.0, False)]},
        }
        super().__init__(P, np.array([1.0, 0.0, 0.0]), n_actions=2, render_mode=render_mode)
