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

__all__ = ["CESMarket", "Equilibrium", "FisherMarket", "LeontiefMarket", "UnitDemandMarket"]


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


def _fisher_arrays(weights: object, name: str, budgets: object, supply: object):
    """Validated (weights, budgets, supply) of a Fisher market whose buyers spend it all."""
    weights = _checks.as_array(name, weights, min_ndim=2)
    _checks.nonnegative(name, weights)
    batch, (n, m) = weights.shape[:-2], weights.shape[-2:]
    if n == 0 or m == 0:
        raise MarketInputError(name, f"needs buyers and goods, got shape {(n, m)}")
    budgets = _checks.as_array("budgets", budgets, min_ndim=1)
    _checks.shape_is("budgets", budgets, (*batch, n), "batch..., buyers")
    _checks.nonnegative("budgets", budgets)
    idle = (budgets > 0) & ~np.any(weights > 0, axis=-1)
    if np.any(idle):
        where = tuple(int(i) for i in np.argwhere(idle)[0])
        raise MarketInputError(name, f"buyer {where} has a budget but no good in its utility")
    return weights, budgets, _checks.broadcast_supply(supply, batch, m)


@dataclass(frozen=True, eq=False)
class CESMarket:
    """Fisher market with CES utilities ``u_i(x) = (Σ_j v_ij x_ij^ρ)^(1/ρ)``; buyers spend
    their whole budget. ``0 < ρ < 1``: substitutes; ``ρ < 0``: complements (``ρ -> -∞`` is
    Leontief, ``ρ -> 0`` Cobb-Douglas, ``ρ -> 1`` linear). Same shapes as ``FisherMarket``.
    """

    valuations: np.ndarray
    budgets: np.ndarray
    supply: np.ndarray | None = None
    rho: float = 0.5

    def __post_init__(self) -> None:
        if not (np.isfinite(self.rho) and self.rho < 1 and self.rho != 0):
            raise MarketInputError("rho", f"must be finite, < 1 and != 0, got {self.rho}")
        arrays = _fisher_arrays(self.valuations, "valuations", self.budgets, self.supply)
        for name, array in zip(("valuations", "budgets", "supply"), arrays, strict=True):
            object.__setattr__(self, name, array)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes of independent markets (``()`` for a single market)."""
        return self.valuations.shape[:-2]


@dataclass(frozen=True, eq=False)
class LeontiefMarket:
    """Fisher market with Leontief utilities ``u_i(x) = min_j x_ij / a_ij`` over the goods
    with ``a_ij > 0`` (perfect complements); buyers spend their whole budget.
    ``requirements (..., n, m)``: units of good j per unit of buyer i's utility."""

    requirements: np.ndarray
    budgets: np.ndarray
    supply: np.ndarray | None = None

    def __post_init__(self) -> None:
        arrays = _fisher_arrays(self.requirements, "requirements", self.budgets, self.supply)
        for name, array in zip(("requirements", "budgets", "supply"), arrays, strict=True):
            object.__setattr__(self, name, array)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes of independent markets (``()`` for a single market)."""
        return self.requirements.shape[:-2]


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
