"""Itemised money flows: who pays whom, how much, why, and in which episode slot.

A market computes every change of wealth as a :class:`Transfers` value before anything
changes: the exchange commits it to the ledger, then the market applies it. Amounts
are positive ``int64`` units (see :mod:`catallax.exchange.money`). Accounts are
integer handles: a trader's row in the market (``>= 0``), or one of the special
accounts below (negative), which the market names (``DeepMarket.account_id``).

Every :class:`FlowKind` is a transfer kind the ledger accepts (same name, lower case).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = [
    "CLEARING",
    "CONSUMER",
    "ISSUER",
    "NO_SLOT",
    "TREASURY",
    "FlowKind",
    "Transfers",
    "consumer",
    "special_slots",
]

#: The issuer account: the environment, original owner of the world; pays allowances
#: and rewards, collects costs and what buyers pay the world. It may go below zero.
ISSUER = -1
#: The exchange's treasury: collects rent and the discount tax.
TREASURY = -2
#: The wide market's clearing house: buyers pay it, it pays sellers; it holds nothing
#: between rounds.
CLEARING = -3
#: Handle of consumer 0; consumer ``k`` is ``CONSUMER - k`` (see :func:`consumer`).
CONSUMER = -4
#: Slot of a flow that belongs to no episode (an allowance, an endowment).
NO_SLOT = -1


def consumer(k: int) -> int:
    """The account handle of consumer ``k``."""
    return CONSUMER - k


def special_slots(n_consumers: int) -> int:
    """How many special accounts a market with ``n_consumers`` has: the length of the
    arrays that hold their changes, handle ``h`` at index ``-1 - h``."""
    return -CONSUMER - 1 + n_consumers


class FlowKind(IntEnum):
    """Why money moved; ``kind.ledger`` is the ledger's transfer kind of that name."""

    ALLOWANCE = 1
    """Issuer to trader, when the trader enters (or an endowment)."""
    BID = 2
    """The new owner pays the previous owner (the seller's ``γ`` share of the price)."""
    TAX = 3
    """The ``1 − γ`` share of a payment to a seller, to the treasury."""
    MINT = 4
    """Issuer to seller: what a non-conserving Vickrey auction creates (bid − price)."""
    REWARD = 5
    """Issuer (or consumer) to owner: a positive reward for its action."""
    COST = 6
    """Owner to issuer: a negative reward (the owner pays to be rid of a bad state)."""
    RENT = 7
    """Owner to treasury: the anti-holdout rent."""
    ROYALTY = 8
    """Buyer to seller at the episode end: ``γ`` of ``λ`` times the buyer's realised
    value (seller to buyer when that value is negative)."""
    TRADE = 9
    """A payment for goods in a wide-market clearing."""
    ROYALTY_TAX = 10
    """The ``1 − γ`` share of a royalty, to the treasury (settled at the episode end,
    with the royalty, rounds after the purchase it belongs to)."""
    ASK = 11
    """Seller to buyer where the price is negative (an ask): the previous owner pays
    ``γ`` of ``|price|`` to be rid of a state worth less than nothing (the world pays
    at an episode's first sale); a consequence of the seller's own purchase."""

    @property
    def ledger(self) -> str:
        """The ledger's transfer kind for this flow."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Transfers:
    """Transfers as columns (all of length ``K``), in the order they apply.

    Attributes:
        payer, payee: account handles (``int64``).
        amount: positive ``int64`` units.
        kind: ``uint8`` :class:`FlowKind` codes.
        slot: ``int64`` episode slot, or :data:`NO_SLOT`.
    """

    payer: np.ndarray
    payee: np.ndarray
    amount: np.ndarray
    kind: np.ndarray
    slot: np.ndarray

    @classmethod
    def empty(cls) -> Transfers:
        """No transfers."""
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, np.zeros(0, dtype=np.uint8), z)

    @classmethod
    def of(
        cls,
        payer: np.ndarray | int,
        payee: np.ndarray | int,
        amount: np.ndarray,
        kind: FlowKind,
        slot: np.ndarray | int = NO_SLOT,
    ) -> Transfers:
        """Transfers of one kind; scalars broadcast over ``amount``; zero amounts are dropped."""
        amount = np.asarray(amount, dtype=np.int64).ravel()
        keep = amount != 0
        if not keep.all():
            amount = amount[keep]
        k = len(amount)
        cols = []
        for col in (payer, payee, slot):
            if isinstance(col, int | np.integer):
                cols.append(np.full(k, col, dtype=np.int64))
            else:
                col = np.asarray(col, dtype=np.int64).ravel()
                cols.append(col if len(col) == k else col[keep])
        return cls(cols[0], cols[1], amount, np.full(k, int(kind), dtype=np.uint8), cols[2])

    @classmethod
    def concat(cls, parts: Sequence[Transfers]) -> Transfers:
        """All transfers of ``parts``, in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(
            *(np.concatenate(cols) for cols in zip(*(p.columns() for p in parts), strict=True))
        )

    def columns(self) -> tuple[np.ndarray, ...]:
        """``(payer, payee, amount, kind, slot)``."""
        return self.payer, self.payee, self.amount, self.kind, self.slot

    def __len__(self) -> int:
        return len(self.amount)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transfers):
            return NotImplemented
        return all(
            np.array_equal(a, b) for a, b in zip(self.columns(), other.columns(), strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def net(self, rows: int) -> np.ndarray:
        """``(rows,)`` int64: what each trader row gains (negative: loses) in all."""
        out = np.zeros(rows, dtype=np.int64)
        if len(self):
            t = self.payee >= 0
            np.add.at(out, self.payee[t], self.amount[t])
            t = self.payer >= 0
            np.subtract.at(out, self.payer[t], self.amount[t])
        return out

    def effect(
        self, balance: np.ndarray, n_special: int, *, traders: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """The trader balances after these transfers and each special account's change.

        ``balance`` (int64, one entry per trader row) is left unchanged; the second
        array holds the change of the special account with handle ``-1 - k`` at ``k``
        (``n_special`` entries). With ``traders=False`` only the second is computed.
        """
        after = balance.copy()
        special = np.zeros(n_special, dtype=np.int64)
        if len(self.amount):
            for col, sign in ((self.payee, np.add), (self.payer, np.subtract)):
                trader = col >= 0
                if traders:
                    if trader.all():
                        sign.at(after, col, self.amount)
                        continue
                    sign.at(after, col[trader], self.amount[trader])
                if not trader.all():
                    sign.at(special, -1 - col[~trader], self.amount[~trader])
        return after, special

    def special(self, handle: int) -> int:
        """Net units a special account (issuer, treasury, a consumer) gains in all."""
        return int(
            self.amount[self.payee == handle].sum() - self.amount[self.payer == handle].sum()
        )

    def total(self, kind: FlowKind) -> int:
        """Units moved by transfers of ``kind``."""
        return int(self.amount[self.kind == int(kind)].sum())

    def rows(self) -> list[tuple[int, int, int, FlowKind, int]]:
        """The transfers as Python tuples ``(payer, payee, amount, kind, slot)``."""
        return [
            (int(a), int(b), int(c), FlowKind(int(d)), int(e))
            for a, b, c, d, e in zip(*self.columns(), strict=True)
        ]
