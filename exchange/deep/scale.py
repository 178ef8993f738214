"""The scale of money follows the scale of the task: allowance and floor in units of it.

A market's allowance (what a new trader is endowed with) and its wealth floor (below
which a trader leaves) must fit the values it trades: a trader must be able to afford a
bid near the value of the right to act (the cap is ``balance // E``) and to pay the
costs its ownership entails, or the auction degenerates (on CartPole-v1, where values
reach ``1 / (1 − γ) = 100`` credits, an allowance of 10 capped every bid, and the greedy
policy ended worse than random). A fixed table of settings per environment would not
generalise, so the scale is found while training, from what the environment pays:

``S`` is the smallest power of two at least as large as 1 credit, every reward's size
and every finished episode's discounted return's size seen so far. It only grows, and
only in doublings, so it changes a few times per run. The market's allowance and floor
are its configured ones times ``S`` (:meth:`DeepMarket.rescale`). When ``S`` grows,
traders poorer than the new floor go bankrupt at the next settlement (their balances
stay frozen, as always) and the loop enumerates new traders with the larger allowance:
the paper's bankruptcy and enumeration of new entrants, nothing else. Bids are not
used: they are the traders' own (optimistic) estimates, not evidence of the task.

On tasks whose rewards and returns stay within 1 credit (Chain, FrozenLake, the T-maze)
``S`` stays 1 and the market is exactly the configured one.

The tracker also keeps the **value level** ``V``: the smallest power of two at least 1
credit and every finished episode's discounted return (its best, not its size: a cost
is no evidence that anything is worth much). The training loop tells the populations
that want it (``raise_optimism(level)``, as adaptive bidders do) whenever ``V`` grows,
so that their optimism fits what the task has shown it can pay, measured from rewards
alone: bids are not evidence, since prices are bids.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ScaleTracker"]


class ScaleTracker:
    """Follows the size of rewards and discounted returns over ``n_envs`` parallel slots.

    Args:
        n_envs: parallel episode slots.
        discount: γ of the returns (the market's discount).
    """

    def __init__(self, n_envs: int, discount: float) -> None:
        self.discount = float(discount)
        self.scale = 1.0
        self.level = 1.0
        self._largest = 1.0
        self._ret = np.zeros(n_envs)
        self._weight = np.ones(n_envs)

    def observe(self, rewards: np.ndarray, ended: np.ndarray) -> bool:
        """Take one step's rewards (credits) and episode ends; whether ``scale`` grew
        (``level`` may grow too; the caller compares it with what it last told)."""
        rewards = np.asarray(rewards, dtype=np.float64)
        self._ret += self._weight * rewards
        self._weight *= self.discount
        largest = float(np.abs(rewards).max(initial=0.0))
        if ended.any():
            done = self._ret[ended]
            largest = max(largest, float(np.abs(done).max()))
            best = float(done.max())
            if best > self.level and math.isfinite(best):
                self.level = 2.0 ** math.ceil(math.log2(best))
            self._ret[ended] = 0.0
            self._weight[ended] = 1.0
        if largest <= self._largest or not math.isfinite(largest):
            return False
        self._largest = largest
        scale = 2.0 ** math.ceil(math.log2(largest))
        if scale <= self.scale:
            return False
        self.scale = scale
        return True
