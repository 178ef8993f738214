"""The values the wide market computes and hands around: orders, a clearing, a decision,
an outcome, a settlement and its report.

They are frozen; two values are equal when their fields are (arrays compared exactly),
so computing a settlement twice can be checked to give the same value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from catallax.exchange.transfers import Transfers

__all__ = [
    "Clearing",
    "Orders",
    "WideDecision",
    "WideOutcome",
    "WideReport",
    "WideSettlement",
]


def _same(a: object, b: object) -> bool:
    """Exact equality of fields: arrays element by element (dtype and shape included)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class _Value:
    """Field-wise equality for frozen dataclasses holding arrays."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            _same(getattr(self, f.name), getattr(other, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, eq=False)
class Orders(_Value):
    """The orders of a group of traders for one clearing in each of ``E`` episodes.

    Each order is one buyer of a quasi-linear Fisher market: it buys the bundle ``x``
    maximising ``v·x − p·x`` subject to ``p·x <= β``.

    Attributes:
        trader: ``(K,)`` index of the trader placing each order.
        values: ``(E, K, G)`` per-unit values ``v``, credits per unit (>= 0).
        budgets: ``(E, K)`` budgets ``β``, credits (>= 0; 0 means the order is idle).
    """

    trader: np.ndarray
    values: np.ndarray
    budgets: np.ndarray

    @property
    def size(self) -> int:
        """Number of orders ``K``."""
        return len(self.trader)


@dataclass(frozen=True, slots=True, eq=False)
class Clearing(_Value):
    """The outcome of one clearing in each of ``E`` episodes (float credits).

    Attributes:
        prices: ``(E, G)`` credits per unit.
        bundles: ``(E, N, G)`` each trader's new bundle ``ω'[α]``.
        world: ``(E, G)`` what the world (issuer) holds after the clearing.
        charged: ``(E, N)`` credits each trader pays, ``p·ω'[α]``.
        paid: ``(E, N)`` credits each trader receives, ``p·ω[α]``.
        world_net: ``(E,)`` credits the issuer receives net, ``p·(ω_world − ω'_world)``.
        budgets: ``(E, K)`` the order budgets after the budget cap.
        allocation: ``(E, K, G)`` what each order bought (the equilibrium's allocation,
            which its certificate checks), or ``None`` for a clearing made by hand.
    """

    prices: np.ndarray
    bundles: np.ndarray
    world: np.ndarray
    charged: np.ndarray
    paid: np.ndarray
    world_net: np.ndarray
    budgets: np.ndarray
    allocation: np.ndarray | None = None


@dataclass(frozen=True, slots=True, eq=False)
class WideDecision(_Value):
    """The forward pass: the clearing and every trader's action, per episode.

    Attributes:
        obs: ``(E, G)`` the state of the world the traders saw (the clearing's supply).
        clearing: prices and bundles of ``Equ``.
        produced: ``(E, N, G)`` every trader's bundle after its action.
        version: the market state this decision was computed for (see
            :attr:`WideSettlement.version`).
    """

    obs: np.ndarray
    clearing: Clearing
    produced: np.ndarray
    version: int = 0

    @property
    def prices(self) -> np.ndarray:
        """``(E, G)`` clearing prices."""
        return self.clearing.prices


@dataclass(frozen=True, slots=True, eq=False)
class WideOutcome(_Value):
    """What one population's members saw in a settled step (arrays over ``E`` episodes).

    Attributes:
        prices: ``(E, G)`` clearing prices, credits per unit.
        supply: ``(E, G)`` units offered in the clearing.
        bought: ``(E, size, G)`` the members' bundles after the clearing.
        produced: ``(E, size, G)`` their bundles after their actions.
        rewards: ``(E, size)`` credits each member was due for its transformation, as
            the caller reported them (before rounding to units and before a cost is
            capped by what the member holds).
        removed: ``(E, size, G)`` goods taken from each member with its reward.
    """

    prices: np.ndarray
    supply: np.ndarray
    bought: np.ndarray
    produced: np.ndarray
    rewards: np.ndarray
    removed: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class WideReport(_Value):
    """The money of one settled step, in credits (sums over episodes), read off its
    transfers.

    Attributes:
        traded: credits buyers paid into the clearing house (each trader's net payment
            per episode, where it is a payment).
        world_sales: credits the clearing house passed to the issuer: the world's
            proceeds plus the rounding residue (negative if the issuer paid in).
        rewards: credits of rewards paid less costs collected.
        spent: ``(E, N)`` credits each trader paid the clearing house net (negative:
            received).
        deaths: traders replaced at the floor (``replace_bankrupt``).
        left_behind: credits the replaced traders held; they stay in the account, which
            the newcomer takes over (nothing is written off).
        uncollected: credits of costs (negative rewards) not collected because the
            trader did not hold them.
        allowances: credits the issuer paid to bring newcomers' accounts to the allowance.
    """

    traded: float
    world_sales: float
    rewards: float
    spent: np.ndarray
    deaths: int = 0
    left_behind: float = 0.0
    uncollected: float = 0.0
    allowances: float = 0.0


@dataclass(frozen=True, slots=True, eq=False)
class WideSettlement(_Value):
    """One step of CAPITALISM as a value: computed by ``WideMarket.settlement`` without
    changing anything, applied by ``WideMarket.apply``.

    Attributes:
        version: the market state it was computed for; ``apply`` refuses any other.
        step: the market's step counter at that state (the episode-step of the round).
        transfers: every flow of money, in the order it applies (int64 units).
        balance: ``(N,)`` int64 units every trader holds after the transfers.
        residue: ``(E,)`` int64 units of rounding the issuer absorbed per episode slot:
            what it received from the clearing house less the world's proceeds rounded.
        holdings: ``(E, N, G)`` the traders' goods after the step.
        world: ``(E, G)`` the world's goods after the step (inflow included).
        replaced: ``(N,)`` bool, the traders replaced by newcomers.
        outcomes: one :class:`WideOutcome` per population, in order.
        report: the step's money in credits.
    """

    version: int
    step: int
    transfers: Transfers
    balance: np.ndarray
    residue: np.ndarray
    holdings: np.ndarray
    world: np.ndarray
    replaced: np.ndarray
    outcomes: tuple[WideOutcome, ...]
    report: WideReport
