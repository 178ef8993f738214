"""Validation of market arrays: every failure names the constructor argument."""

from __future__ import annotations

import numpy as np

from catallax.exchange.equilibrium.errors import MarketInputError


def as_array(name: str, value: object, *, min_ndim: int) -> np.ndarray:
    """Return ``value`` as a read-only float64 array with at least ``min_ndim`` axes."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise MarketInputError(name, f"not an array of numbers ({error})") from None
    if array.ndim < min_ndim:
        raise MarketInputError(name, f"needs at least {min_ndim} axes, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise MarketInputError(name, "contains NaN or infinite entries")
    array.setflags(write=False)
    return array


def nonnegative(name: str, array: np.ndarray) -> None:
    """Refuse negative entries."""
    if np.any(array < 0):
        raise MarketInputError(name, f"must be >= 0, found {array.min():g}")


def positive(name: str, array: np.ndarray) -> None:
    """Refuse zero or negative entries."""
    if np.any(array <= 0):
        raise MarketInputError(name, f"must be > 0 everywhere, found {array.min():g}")


def shape_is(name: str, array: np.ndarray, expected: tuple[int, ...], meaning: str) -> None:
    """Refuse an array whose shape is not ``expected`` (``meaning`` spells the axes out)."""
    if array.shape != expected:
        raise MarketInputError(name, f"expected shape {expected} ({meaning}), got {array.shape}")


def broadcast_supply(supply: object, batch: tuple[int, ...], n_goods: int) -> np.ndarray:
    """Supply defaults to one unit of each good and may be shared by every market of a batch."""
    if supply is None:
        array = np.ones((*batch, n_goods))
        array.setflags(write=False)
        return array
    array = as_array("supply", supply, min_ndim=1)
    if array.shape == (n_goods,) and batch:
        array = np.broadcast_to(array, (*batch, n_goods))
    shape_is("supply", array, (*batch, n_goods), "batch..., goods")
    positive("supply", array)
    return array
