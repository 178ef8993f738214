"""Observation encoders: turn a batch of observations into indices of active features.

Tabular and tile-coded traders share one representation: each observation activates
``n_active`` of ``n_features`` binary features, and a member's bid is a sum of table
entries at the active indices. For a ``Discrete`` space that is one-hot (one active
feature, the state); for a ``Box`` space it is tile coding (Sutton & Barto 2018, §9.5.4):
``tilings`` offset grids of ``bins`` cells per dimension, one active cell per grid.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from gymnasium import spaces

from catallax.traders.errors import ObservationError, TraderConfigError, UnsupportedSpace

__all__ = ["Encoder", "OneHot", "TileCoder", "encoder_for"]

#: Bound used for a Box dimension whose bound is infinite (CartPole's velocities),
#: in the observation's own units; override with ``TileCoder(low=..., high=...)``.
DEFAULT_BOUND = 3.0


class Encoder(Protocol):
    """Maps ``(E, ...)`` observations to ``(E, n_active)`` feature indices."""

    n_features: int
    n_active: int

    def __call__(self, obs: np.ndarray) -> np.ndarray: ...


class OneHot:
    """The identity encoding of a ``Discrete(n)`` observation: one active feature."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise TraderConfigError(f"OneHot needs n >= 1, got {n}")
        self.n_features = int(n)
        self.n_active = 1

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        idx = np.asarray(obs, dtype=np.int64).reshape(-1, 1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_features):
            raise ObservationError(f"observation outside Discrete({self.n_features})")
        return idx

    def __repr__(self) -> str:
        return f"OneHot({self.n_features})"


class TileCoder:
    """Tile coding of a ``Box`` observation with ``tilings`` offset grids.

    Args:
        low, high: per-dimension bounds; observations are clipped to them.
        bins: cells per dimension of each grid.
        tilings: number of grids, each shifted by a fraction of a cell.
        seed: seed of the random offsets.
    """

    def __init__(
        self,
        low: np.ndarray,
        high: np.ndarray,
        *,
        bins: int = 8,
        tilings: int = 8,
        seed: int = 0,
    ) -> None:
        low = np.asarray(low, dtype=np.float64).ravel()
        high = np.asarray(high, dtype=np.float64).ravel()
        if low.shape != high.shape or not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise TraderConfigError("TileCoder needs finite low and high of the same shape")
        if (high <= low).any():
            raise TraderConfigError("TileCoder needs high > low in every dimension")
        if bins < 1 or tilings < 1:
            raise TraderConfigError(
                f"TileCoder needs bins >= 1 and tilings >= 1, got {bins}, {tilings}"
            )
        self.low, self.high = low, high
        self.bins, self.tilings = int(bins), int(tilings)
        d = len(low)
        side = self.bins + 1
        if side**d * self.tilings > 50_000_000:
            raise TraderConfigError(f"{tilings} tilings of {bins}^{d} cells is too many features")
        rng = np.random.default_rng(seed)
        self._offsets = rng.uniform(0.0, 1.0, size=(self.tilings, d))
        self._strides = side ** np.arange(d, dtype=np.int64)
        self.n_features = self.tilings * side**d
        self.n_active = self.tilings

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float64).reshape(len(obs), -1)
        scaled = (np.clip(x, self.low, self.high) - self.low) / (self.high - self.low)
        cells = np.floor(scaled[:, None, :] * self.bins + self._offsets[None]).astype(np.int64)
        flat = cells @ self._strides
        side_d = (self.bins + 1) ** len(self.low)
        return flat + np.arange(self.tilings, dtype=np.int64) * side_d

    def __repr__(self) -> str:
        return f"TileCoder(dims={len(self.low)}, bins={self.bins}, tilings={self.tilings})"


def encoder_for(space: spaces.Space, *, bins: int = 8, tilings: int = 8, seed: int = 0) -> Encoder:
    """The default encoder of an observation space (``Discrete`` or ``Box``).

    Raises:
        UnsupportedSpace: for any other kind of space (a ``ValueError``).
    """
    if isinstance(space, spaces.Discrete):
        return OneHot(int(space.n))
    if isinstance(space, spaces.Box):
        low = np.where(np.isfinite(space.low), space.low, -DEFAULT_BOUND)
        high = np.where(np.isfinite(space.high), space.high, DEFAULT_BOUND)
        return TileCoder(low, high, bins=bins, tilings=tilings, seed=seed)
    raise UnsupportedSpace(f"no encoder for observation space {space}; use Discrete or Box")
