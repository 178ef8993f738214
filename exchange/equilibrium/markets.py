"""Market values (what ``solve`` takes) and the ``Equilibrium`` it returns.

Every market is an immutable value: arrays are validated once, copied to read-only float64,
and may carry leading batch axes (``valuations`` of shape ``(..., n_buyers, n_goods)``) so that
many small markets are solved together. Units: ``valuations`` are money per unit of good,
``budgets`` are money, ``supply`` is units of good; prices come back in money per unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from catallax.exchange.equilibrium import _checks
from catallax.exchange.equilibrium.errors import MarketInputError

__all__ = ["Equilibrium", "FisherMarket", "UnitDemandMarket"]


@dataclass(frozen=True, eq=False)
class FisherMarket:
    """A Fisher market with linear valuations: buyers with budgets, goods in fixed supply.

    ``quasilinear=True`` (the default ``Equ`` for divisible goods): buyer i's utility is
    ``v_i·x_i - p·x_i`` with ``p·x_i <= B_i``; it buys only goods of maximal bang-per-buck
    ``v_ij / p_j`` when that ratio is at least 1 and keeps the rest of its money. This is the
    first-price pacing equilibrium (Conitzer, Kroer et al.) and the quasi-linear
    Eisenberg-Gale program of Cole et al. (EC 2017). ``quasilinear=False`` is the classic
    linear Fisher market: money has no value to buyers, who spend their whole budget on
    goods of maximal bang-per-buck.

    Shapes: ``valuations (..., n, m)`` money per unit of good j to buyer i, ``budgets (..., n)``
    money, ``supply (..., m)`` or ``(m,)`` units (default one unit of each good). Leading axes
    are a batch of independent markets.
    """

    valuations: np.ndarray
    budgets: np.ndarray
    supply: np.ndarray | None = None
    quasilinear: bool = True

    def __post_init__(self) -> None:
        valuations = _checks.as_array("valuations", self.valuations, min_ndim=2)
        _checks.nonnegative("valuations", valuations)
        batch, (n, m) = valuations.shape[:-2], valuations.shape[-2:]
        if n == 0 or m == 0:
            raise MarketInputError("valuations", f"needs buyers and goods, got shape {(n, m)}")
        budgets = _checks.as_array("budgets", self.budgets, min_ndim=1)
        _checks.shape_is("budgets", budgets, (*batch, n), "batch..., buyers")
        _checks.nonnegative("budgets", budgets)
        supply = _checks.broadcast_supply(self.supply, batch, m)
        if not self.quasilinear:
            idle = (budgets > 0) & ~np.any(valuations > 0, axis=-1)
            if np.any(idle):
                where = tuple(int(i) for i in np.argwhere(idle)[0])
                raise MarketInputError(
                    "valuations",
                    f"buyer {where} has a budget but values no good, so it cannot spend it "
                    "in a linear Fisher market (use quasilinear=True)",
                )
        object.__setattr__(self, "valuations", valuations)
        object.__setattr__(self, "budgets", budgets)
        object.__setattr__(self, "supply", supply)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes of independent markets (``()`` for a single market)."""
        return self.valuations.shape[:-2]

    @property
    def n_buyers(self) -> int:
        """Number of buyers in each market."""
        return self.valuations.shape[-2]

    @property
    def n_goods(self) -> int:
        """Number of goods in each market."""
        return self.valuations.shape[-1]


@dataclass(frozen=True, eq=False)
class UnitDemandMarket:
    """Indivisible goods, each buyer wanting at most one item (an assignment market).

    ``valuations (..., n, m)`` money value of one item of good j to buyer i; ``budgets
    (..., n)`` caps what a buyer can bid (the paper's ``min(α_b, w[α])``), so the value used
    is ``min(v_ij, B_i)``; ``None`` means no cap. ``supply (..., m)`` or ``(m,)`` is the whole
    number of items of each good (default 1). Leading axes are a batch of markets.
    """

    valuations: np.ndarray
    budgets: np.ndarray | None = None
    supply: np.ndarray | None = None

    def __post_init__(self) -> None:
        valuations = _checks.as_array("valuations", self.valuations, min_ndim=2)
        _checks.nonnegative("valuations", valuations)
        batch, (n, m) = valuations.shape[:-2], valuations.shape[-2:]
        if n == 0 or m == 0:
            raise MarketInputError("valuations", f"needs buyers and goods, got shape {(n, m)}")
        if self.budgets is None:
            budgets = np.full((*batch, n), np.inf)
            budgets.setflags(write=False)
        else:
            budgets = _checks.as_array("budgets", self.budgets, min_ndim=1)
            _checks.shape_is("budgets", budgets, (*batch, n), "batch..., buyers")
            _checks.nonnegative("budgets", budgets)
        supply = _checks.broadcast_supply(self.supply, batch, m)
        if np.any(supply != np.round(supply)):
            raise MarketInputError("supply", "must be whole numbers of items for unit demand")
        object.__setattr__(self, "valuations", valuations)
        object.__setattr__(self, "budgets", budgets)
        object.__setattr__(self, "supply", supply)

    @property
    def bids(self) -> np.ndarray:
        """Values capped by budget, ``min(v_ij, B_i)``: what each buyer can offer."""
        return np.minimum(self.valuations, self.budgets[..., None])

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes of independent markets (``()`` for a single market)."""
        return self.valuations.shape[:-2]


@dataclass(frozen=True, eq=False)
class Equilibrium:
    """Prices and allocations returned by ``solve``.

    ``prices (..., m)`` money per unit, ``allocation (..., n, m)`` units of each good held by
    each buyer, ``spent (..., n)`` money each buyer pays (``p·x_i``). ``gap`` is the relative
    duality gap of the convex program the solver used (NaN when the method has none) and
    ``iterations`` the number of solver iterations (Newton steps, price updates, ...).
    Check any equilibrium, however obtained, with ``certify``.
    """

    prices: np.ndarray
    allocation: np.ndarray
    spent: np.ndarray
    gap: np.ndarray | float = field(default=float("nan"))
    iterations: int = 0
