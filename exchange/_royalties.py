"""Royalty contracts: the seller of the right to act keeps a share of what the buyer earns.

With royalty ``λ > 0`` a sale has two parts. At the sale the buyer pays ``(1 − λ)`` of
the auction price. When the episode ends, each buyer pays its seller ``λ`` times the
*value* its ownership realised (its reward plus everything it received, royalties
included); as with every payment to a seller, the seller keeps ``γ`` of it and the
treasury takes the rest. Working backwards from the end of the episode, the value a
seller realises is then ``r + γ((1 − λ)·price' + λ·value')``: the λ-return of TD(λ),
paid in money. With ``λ = 0`` this is the paper's Algorithm 1; with ``λ = 1`` every
owner is paid the whole discounted future of its episode (a Monte Carlo return).

Why it matters: TD(0) prices cannot pay for information. In a POMDP with a memory
register the trader who writes the cue is paid by the next owner's bid, and that bid
is the same whatever the cue was (the next observation does not show it), so writing
the cue earns nothing more than not writing it. A royalty pays the writer out of the
outcome its write produced, which is what makes memory goods valuable.

:class:`RoyaltyBook` keeps each parallel episode's chain of ownerships until the episode
ends and then computes the royalties and the realised values; the market moves the
money. Royalties owed by a bankrupt buyer are not paid; royalties may be negative
(a seller shares its buyer's losses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Closed", "RoyaltyBook"]


@dataclass(frozen=True, slots=True)
class Closed:
    """The settled chain of one finished episode.

    Attributes:
        payers, payees, amounts: royalty transfers (payee ``-1`` is the world/issuer);
            the payee receives ``γ·amount`` and the treasury the rest.
        owners, obs, actions, price, reward, receipt: one row per trader-owned step,
            in order, with ``receipt`` the total the owner received for it.
    """

    payers: np.ndarray
    payees: np.ndarray
    amounts: np.ndarray
    owners: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    price: np.ndarray
    reward: np.ndarray
    receipt: np.ndarray


class RoyaltyBook:
    """Ownership chains of ``n_envs`` parallel episodes awaiting their royalties."""

    def __init__(self, n_envs: int, royalty: float, discount: float) -> None:
        self.royalty = royalty
        self.discount = discount
        # One record per step: [owner, obs, action, price paid, reward, upfront receipt].
        self._chains: list[list[list]] = [[] for _ in range(n_envs)]

    def credit(self, slots: np.ndarray, upfront: np.ndarray) -> None:
        """Record the up-front receipt of the current owner of each episode in ``slots``."""
        for e in np.flatnonzero(slots):
            if self._chains[e]:
                self._chains[e][-1][5] += float(upfront[e])

    def open(
        self,
        owners: np.ndarray,
        obs: np.ndarray,
        actions: np.ndarray,
        price: np.ndarray,
        reward: np.ndarray,
    ) -> None:
        """Start the ownership of this step in every episode (``owner -1``: the world)."""
        for e, chain in enumerate(self._chains):
            chain.append(
                [int(owners[e]), obs[e], int(actions[e]), float(price[e]), float(reward[e]), 0.0]
            )

    def close(self, slot: int, alive: np.ndarray) -> Closed:
        """Settle the finished episode in ``slot`` and forget its chain."""
        chain, self._chains[slot] = self._chains[slot], []
        lam, gamma = self.royalty, self.discount
        k_max = len(chain)
        value = np.zeros(k_max)
        received = np.zeros(k_max)
        payers, payees, amounts = [], [], []
        for k in range(k_max - 1, -1, -1):
            owner, _, _, _, reward, upfront = chain[k]
            royalty_in = 0.0
            if k + 1 < k_max:
                buyer = chain[k + 1][0]
                if buyer >= 0 and alive[buyer]:
                    due = lam * value[k + 1]
                    payers.append(buyer)
                    payees.append(owner)
                    amounts.append(due)
                    royalty_in = gamma * due
            received[k] = upfront + royalty_in
            value[k] = reward + received[k]
        if chain and chain[0][0] >= 0 and alive[chain[0][0]]:
            payers.append(chain[0][0])
            payees.append(-1)
            amounts.append(lam * value[0])
        rows = [k for k in range(k_max) if chain[k][0] >= 0]
        obs = np.stack([chain[k][1] for k in rows]) if rows else np.zeros(0)
        return Closed(
            payers=np.asarray(payers, dtype=np.int64),
            payees=np.asarray(payees, dtype=np.int64),
            amounts=np.asarray(amounts, dtype=np.float64),
            owners=np.asarray([chain[k][0] for k in rows], dtype=np.int64),
            obs=obs,
            actions=np.asarray([chain[k][2] for k in rows], dtype=np.int64),
            price=np.asarray([chain[k][3] for k in rows], dtype=np.float64),
            reward=np.asarray([chain[k][4] for k in rows], dtype=np.float64),
            receipt=received[rows],
        )
