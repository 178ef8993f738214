"""Royalty contracts: the seller of the right to act keeps a share of what the buyer earns.

With royalty ``λ > 0`` a sale has two parts: at the sale the buyer pays ``(1 − λ)`` of
the auction price; when the episode ends, each buyer pays its seller ``λ`` times the
*value* its ownership realised (its reward plus everything it received, royalties
included), of which the seller keeps ``γ`` and the treasury the rest. Worked backwards
from the episode's end, a seller's value is ``r + γ((1 − λ)·price' + λ·value')``: the
λ-return of TD(λ), paid in money (``docs/decisions/deep-market.md`` says why memory
goods need it).

Everything here is integer units. :class:`RoyaltyBook` keeps each parallel episode's
chain of ownerships; :func:`close_chain` computes, without changing anything, the
royalty transfers of a finished chain and what each owner received. The rules:

* a royalty ``rint(λ·value)`` is a debit from the buyer, capped by what it holds then;
  the seller gets ``γ`` of what was paid (rounded) and the treasury the remainder;
* a negative value (a loss) makes the seller pay the buyer ``γ`` of ``|λ·value|``
  (rounded, capped by what the seller holds; no tax on a loss);
* a removed trader is never debited (what it would owe is unpaid); it is still paid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catallax.exchange.transfers import ISSUER, TREASURY, FlowKind, Transfers

__all__ = ["Closed", "Record", "RoyaltyBook", "close_chain"]

#: One ownership: (owner row or -1, obs, action, price units, reward units, upfront units).
Record = tuple[int, object, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Closed:
    """The settled chain of one finished episode.

    Attributes:
        transfers: the royalties (kind ROYALTY, TAX) in the order they apply.
        unpaid: units owed but not paid (payer short, or removed).
        owners, obs, actions, price, reward, receipt: one row per trader-owned step, in
            order; ``receipt`` is the total the owner received for it, in units.
    """

    transfers: Transfers
    unpaid: int
    owners: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    price: np.ndarray
    reward: np.ndarray
    receipt: np.ndarray


class RoyaltyBook:
    """Ownership chains of ``n_envs`` parallel episodes awaiting their royalties."""

    def __init__(self, n_envs: int) -> None:
        self.chains: list[list[Record]] = [[] for _ in range(n_envs)]

    def extended(self, slot: int, credit: int, record: Record) -> list[Record]:
        """The chain of ``slot`` after crediting its last ownership and adding ``record``
        (a new list; the book is unchanged)."""
        chain = list(self.chains[slot])
        if chain and credit:
            last = chain[-1]
            chain[-1] = (*last[:5], last[5] + credit)
        chain.append(record)
        return chain

    def advance(self, credits: np.ndarray, records: list[Record], ended: np.ndarray) -> None:
        """Apply one step: credit each slot's last ownership, append its new record, and
        forget the chains of the slots that ended."""
        for slot, chain in enumerate(self.chains):
            if ended[slot]:
                self.chains[slot] = []
                continue
            # In place: copying each chain every step would cost its length per step.
            credit = int(credits[slot])
            if chain and credit:
                last = chain[-1]
                chain[-1] = (*last[:5], last[5] + credit)
            chain.append(records[slot])


def close_chain(
    chain: list[Record],
    slot: int,
    *,
    royalty: float,
    discount: float,
    alive: np.ndarray,
    avail: np.ndarray,
) -> Closed:
    """Settle a finished chain (pure but for ``avail``, the payers' spendable units,
    which it decreases and increases as the royalties move)."""
    k_max = len(chain)
    value = [0] * k_max
    received = [0] * k_max
    payer, payee, amount, kinds = [], [], [], []
    unpaid = 0

    def move(src: int, dst: int, units: int, kind: FlowKind) -> None:
        # A trader that bought from itself owes itself nothing but the tax.
        if units > 0 and src != dst:
            payer.append(src)
            payee.append(dst)
            amount.append(units)
            kinds.append(kind)
            if src >= 0:
                avail[src] -= units
            if dst >= 0:
                avail[dst] += units

    def settle(buyer: int, seller: int, due: int) -> int:
        """Move one royalty; what the seller received (negative: paid)."""
        nonlocal unpaid
        if due > 0:
            pay = min(due, int(avail[buyer]))
            unpaid += due - pay
            share = round(pay * discount) if discount < 1 else pay
            move(buyer, seller if seller >= 0 else ISSUER, share, FlowKind.ROYALTY)
            move(buyer, TREASURY, pay - share, FlowKind.ROYALTY_TAX)
            return share
        if due < 0:
            owed = round(-due * discount) if discount < 1 else -due
            if seller >= 0 and not alive[seller]:
                unpaid += owed
                return 0
            pay = owed if seller < 0 else min(owed, int(avail[seller]))
            unpaid += owed - pay
            move(seller if seller >= 0 else ISSUER, buyer, pay, FlowKind.ROYALTY)
            return -pay
        return 0

    for k in range(k_max - 1, -1, -1):
        owner, _, _, _, reward, upfront = chain[k]
        royalty_in = 0
        if k + 1 < k_max:
            buyer = chain[k + 1][0]
            if buyer >= 0 and alive[buyer]:
                royalty_in = settle(buyer, owner, int(np.rint(royalty * value[k + 1])))
        received[k] = upfront + royalty_in
        value[k] = reward + received[k]
    if chain and chain[0][0] >= 0 and alive[chain[0][0]]:
        settle(chain[0][0], ISSUER, int(np.rint(royalty * value[0])))
    rows = [k for k in range(k_max) if chain[k][0] >= 0]
    obs = np.stack([np.asarray(chain[k][1]) for k in rows]) if rows else np.zeros(0)
    n = len(amount)
    transfers = Transfers(
        np.asarray(payer, dtype=np.int64),
        np.asarray(payee, dtype=np.int64),
        np.asarray(amount, dtype=np.int64),
        np.asarray(kinds, dtype=np.uint8),
        np.full(n, slot, dtype=np.int64),
    )
    return Closed(
        transfers=transfers,
        unpaid=unpaid,
        owners=np.asarray([chain[k][0] for k in rows], dtype=np.int64),
        obs=obs,
        actions=np.asarray([chain[k][2] for k in rows], dtype=np.int64),
        price=np.asarray([chain[k][3] for k in rows], dtype=np.int64),
        reward=np.asarray([chain[k][4] for k in rows], dtype=np.int64),
        receipt=np.asarray([received[k] for k in rows], dtype=np.int64),
    )
