"""``catallax/Bandit-v0``: a four-armed deterministic bandit (Chang et al. 2020, ICML).

One state, so the observation is always ``0``. Action ``k`` pulls arm ``k`` and pays
``payouts[k]`` (default 0.2, 0.4, 0.6, 0.8 reward units); every episode is that one pull
(``terminated=True``). The optimal return is ``max(payouts)``, 0.8 by default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._table_env import Table, TableEnv
from .errors import InvalidArgument

__all__ = ["BanditEnv"]

DEFAULT_PAYOUTS = (0.2, 0.4, 0.6, 0.8)


class BanditEnv(TableEnv):
    """A one-step bandit: observation ``0``; action ``k`` pays ``payouts[k]`` and ends it.

    Args:
        payouts: the deterministic reward of each arm; at least one, all finite.
        render_mode: ``None`` or ``"ansi"``.

    Attributes:
        max_steps: 1; every episode is one pull (it terminates before any truncation).
    """

    max_steps = 1

    def __init__(
        self, *, payouts: Sequence[float] = DEFAULT_PAYOUTS, render_mode: str | None = None
    ) -> None:
        payouts = tuple(float(p) for p in payouts)
        if not payouts or not all(math.isfinite(p) for p in payouts):
            raise InvalidArgument(f"payouts must be a non-empty list of finite floats: {payouts}")
        self.payouts = payouts
        P: Table = {0: {k: [(1.0, 0, pay, True)] for k, pay in enumerate(payouts)}}
        super().__init__(P, np.array([1.0]), n_actions=len(payouts), render_mode=render_mode)

    def _describe(self, state: int | None) -> str:
        last = "none" if self.lastaction is None else str(self.lastaction)
        return f"bandit with {len(self.payouts)} arms, last pull: {last}"
