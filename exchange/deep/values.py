"""The deep market's values: a decision, a settlement, an admission, and their reports.

A step travels one way as data: bids in, a :class:`Decision` out (the forward pass),
then, once the environment has stepped, a :class:`Settlement` that itemises every flow
of money and everything the learners will be told. Nothing changes until the market
applies the value (``DeepMarket.apply``); an exchange commits the value's transfers to
its ledger first. Values are immutable and compare by content.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from catallax.exchange.money import UNITS_PER_CREDIT
from catallax.exchange.protocols import Outcomes
from catallax.exchange.transfers import ISSUER, FlowKind, Transfers

__all__ = ["Admission", "Decision", "Owners", "Settlement", "StepReport"]

_BID, _ROYALTY, _ASK = int(FlowKind.BID), int(FlowKind.ROYALTY), int(FlowKind.ASK)


@dataclass(frozen=True, slots=True, eq=False)
class Decision:
    """The forward pass in every episode: who won, at what price, and the action.

    Arrays have a leading axis over the ``E`` episodes. ``winner`` holds trader rows
    (``DeepMarket.account_id`` names them), or ``-1`` where the world acts. Prices are
    in credits. ``version`` is the market state the decision was made in.
    """

    obs: np.ndarray
    winner: np.ndarray
    actions: np.ndarray
    price: np.ndarray
    proceeds: np.ndarray
    top: np.ndarray
    second: np.ndarray
    version: int = 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.version == other.version and all(
            np.array_equal(getattr(self, f), getattr(other, f))
            for f in ("obs", "winner", "actions", "price", "proceeds", "top", "second")
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, eq=False)
class Owners:
    """Who owns each episode after a step, and what its ownership cost and earned.

    Attributes:
        owner: ``(E,)`` trader rows, ``-1`` for the world (and after an episode end).
        obs: ``(E, ...)`` the observation each owner bought.
        action: ``(E,)`` the action it took.
        price: ``(E,)`` credits it paid (the auction price as moved, 0 for the world).
        reward: ``(E,)`` credits its action earned (costs negative), as moved.
    """

    owner: np.ndarray
    obs: np.ndarray | None
    action: np.ndarray
    price: np.ndarray
    reward: np.ndarray

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Owners):
            return NotImplemented
        return all(
            _same(getattr(self, f), getattr(other, f))
            for f in ("owner", "obs", "action", "price", "reward")
        )

    __hash__ = None  # type: ignore[assignment]


class StepReport:
    """Every flow of one settled step, summed over episodes, in credits.

    The sums are computed from the step's transfers when first read.

    Attributes:
        rewards: rewards paid to owning traders (by the issuer or the consumers).
        costs: negative rewards paid by owners to the issuer (or the consumers).
        unpaid: costs and royalties owed but beyond what the payer held (not moved).
        minted: what the issuer created for non-conserving Vickrey sellers.
        royalties: royalties moved at episode ends (to sellers and the world).
        to_world: what buyers paid the world as the original owner (to the issuer).
        from_world: what the world paid buyers to take states of negative price (asks,
            from the issuer).
        rent: rent levied on owners (to the treasury).
        tax: the ``1 − γ`` share of payments to sellers, royalties included (to the
            treasury).
        deaths: traders removed at the wealth floor in this step.
        ended: ``(E,)`` episodes that ended in this step.
    """

    __slots__ = ("_sums", "_transfers", "deaths", "ended", "unpaid")

    def __init__(
        self, transfers: Transfers, *, deaths: int, unpaid: int, ended: np.ndarray
    ) -> None:
        self._transfers = transfers
        self._sums: np.ndarray | None = None
        self.deaths = deaths
        self.unpaid = unpaid / UNITS_PER_CREDIT
        self.ended = ended

    def _sum(self, kind: FlowKind) -> float:
        if self._sums is None:
            t = self._transfers
            self._sums = np.bincount(t.kind, weights=t.amount, minlength=16) / UNITS_PER_CREDIT
        return float(self._sums[kind])

    rewards = property(lambda self: self._sum(FlowKind.REWARD))
    costs = property(lambda self: self._sum(FlowKind.COST))
    minted = property(lambda self: self._sum(FlowKind.MINT))
    royalties = property(lambda self: self._sum(FlowKind.ROYALTY))
    rent = property(lambda self: self._sum(FlowKind.RENT))
    tax = property(lambda self: self._sum(FlowKind.TAX) + self._sum(FlowKind.ROYALTY_TAX))

    @property
    def to_world(self) -> float:
        t = self._transfers
        world = (t.payee == ISSUER) & ((t.kind == _BID) | (t.kind == _ROYALTY))
        return float(t.amount[world].sum()) / UNITS_PER_CREDIT

    @property
    def from_world(self) -> float:
        t = self._transfers
        world = (t.payer == ISSUER) & ((t.kind == _BID) | (t.kind == _ASK))
        return float(t.amount[world].sum()) / UNITS_PER_CREDIT

    def __repr__(self) -> str:
        fields = ("rewards", "costs", "unpaid", "minted", "royalties", "to_world", "from_world",
                  "rent", "tax")  # fmt: skip
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in fields)
        return f"StepReport({inner}, deaths={self.deaths})"


@dataclass(frozen=True, slots=True, eq=False)
class Settlement:
    """One step of CAPITALISM as a value: every transfer, and what changes when applied.

    Attributes:
        version: the market state this settlement was computed for; it applies only
            there (``StaleValue`` otherwise).
        step: the market step it settles (the ledger's round).
        transfers: every flow of money, itemised, in the order it applies.
        owners: the owners and their ownerships after the step.
        deaths: rows removed at the wealth floor.
        outcomes: ``(population index, Outcomes)`` the learning populations are taught.
        royalty: the royalty book's change (``None`` without royalties): the receipt to
            credit to each slot's last ownership, the new records, and the ended slots.
        unpaid: units owed but beyond what the payer held (costs and royalties).
        ended: ``(E,)`` episodes that ended.
        balances: ``(size,)`` int64 trader balances once the transfers are applied.
        special: int64 change of each special account (handle ``-1 - k`` at ``k``).
    """

    version: int
    step: int
    transfers: Transfers
    owners: Owners
    deaths: np.ndarray
    outcomes: tuple[tuple[int, Outcomes], ...]
    royalty: tuple | None
    unpaid: int
    ended: np.ndarray
    balances: np.ndarray = field(repr=False)
    special: np.ndarray = field(repr=False)

    @property
    def report(self) -> StepReport:
        """The step's flows summed by kind, in credits."""
        return StepReport(
            self.transfers, deaths=len(self.deaths), unpaid=self.unpaid, ended=self.ended
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settlement):
            return NotImplemented
        return (
            self.version == other.version
            and self.step == other.step
            and self.transfers == other.transfers
            and self.owners == other.owners
            and np.array_equal(self.deaths, other.deaths)
            and len(self.outcomes) == len(other.outcomes)
            and all(
                p == q and _same_outcomes(a, b)
                for (p, a), (q, b) in zip(self.outcomes, other.outcomes, strict=True)
            )
            and _same(self.royalty, other.royalty)
            and self.unpaid == other.unpaid
            and np.array_equal(self.ended, other.ended)
            and np.array_equal(self.balances, other.balances)
            and np.array_equal(self.special, other.special)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, eq=False)
class Admission:
    """New traders and the money they bring, as a value (``DeepMarket.admission``).

    Attributes:
        version: the market state it was computed for.
        ids: account ids of the new traders (empty for a pure endowment).
        population, member: their population indices and member ids.
        transfers: allowances and endowments, issuer to trader (kind ALLOWANCE); rows of
            new traders are the ones the market will give them (``first_row`` on).
        first_row: the row the first new trader gets.
    """

    version: int
    ids: tuple[str, ...]
    population: np.ndarray
    member: np.ndarray
    transfers: Transfers
    first_row: int

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Admission):
            return NotImplemented
        return (
            self.version == other.version
            and self.ids == other.ids
            and np.array_equal(self.population, other.population)
            and np.array_equal(self.member, other.member)
            and self.transfers == other.transfers
            and self.first_row == other.first_row
        )

    __hash__ = None  # type: ignore[assignment]


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _same_outcomes(a: Outcomes, b: Outcomes) -> bool:
    return all(
        _same(getattr(a, f), getattr(b, f))
        for f in ("members", "obs", "actions", "price", "reward", "receipt", "ended", "provisional")
    )
