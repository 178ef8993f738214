"""Enumerated fixed programs: the paper's pure market, where only wealth learns.

The program class ``𝒜`` is every triple ``(cell, action, bid)``: "when the observation
falls in ``cell``, bid ``bid`` credits for the right to act, and take ``action``". A
cell is a ``Discrete`` state, or a grid cell of a ``Box`` observation. The class is
countably infinite, so it is enumerated in rounds of ever finer bids (the paper,
after Definition 2.1: "𝒜 must be countably enumerated and added to the economy
one-by-one in the training loop with each agent being endowed with some allowance"):

round ``L = 0, 1, 2, …`` adds the bids ``scale · (2j + 1) / 2^(L+1)`` for
``j = 0 … 2^L − 1`` (½, then ¼ and ¾, then ⅛ … ⅞ of ``scale``), each for every cell
and action. Nothing about a program changes after it is made; the market's wealth
dynamics do all the learning: programs that bid more than the right to act is worth
lose money and die at the wealth floor, and among those that survive the highest bid
wins, so the winning bids approach the values from below as rounds refine the grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from catallax.traders.base import Population
from catallax.traders.errors import TraderConfigError, UnsupportedSpace
from catallax.traders.features import Encoder, OneHot, encoder_for

__all__ = ["EnumeratedPrograms", "tabular"]


class EnumeratedPrograms(Population):
    """Fixed ``(cell, action, bid)`` programs, enumerated in rounds of finer bids.

    Args:
        encoder: maps an observation to its cell (an encoder with one active feature).
        n_actions: size of the action space.
        scale: the largest bid of the enumeration, in credits.
        initial: number of programs made at construction.
    """

    def __init__(
        self, encoder: Encoder, n_actions: int, *, scale: float = 1.0, initial: int | None = None
    ) -> None:
        if encoder.n_active != 1:
            raise TraderConfigError("enumerated programs need an encoder with one active feature")
        if n_actions < 1:
            raise TraderConfigError(f"n_actions must be >= 1, got {n_actions}")
        if not (np.isfinite(scale) and scale > 0):
            raise TraderConfigError(f"scale must be a positive number of credits, got {scale}")
        self.encoder = encoder
        self.n_actions = int(n_actions)
        self.scale = float(scale)
        self.cell = np.zeros(0, dtype=np.int64)
        self.action = np.zeros(0, dtype=np.int64)
        self.price = np.zeros(0)
        self._next = 0
        per_round = encoder.n_features * self.n_actions
        self.grow(3 * per_round if initial is None else initial)

    @classmethod
    def for_env(
        cls,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        seed: int = 0,
        **options: Any,
    ) -> EnumeratedPrograms:
        """Build for a Gymnasium environment; ``Box`` observations use a grid of ``bins``."""
        if not isinstance(action_space, spaces.Discrete):
            raise UnsupportedSpace(f"enumerated programs need Discrete actions, got {action_space}")
        bins = options.pop("bins", 6)
        encoder = encoder_for(observation_space, bins=bins, tilings=1, seed=seed)
        return cls(encoder, int(action_space.n), **options)

    def program(self, number: int) -> tuple[int, int, float]:
        """The ``number``-th program of the enumeration as ``(cell, action, bid)``."""
        per_bid = self.encoder.n_features * self.n_actions
        k, rest = divmod(number, per_bid)
        level = int(np.floor(np.log2(k + 1)))
        j = k + 1 - 2**level
        bid = self.scale * (2 * j + 1) / 2 ** (level + 1)
        cell, action = divmod(rest, self.n_actions)
        return cell, action, bid

    def grow(self, count: int) -> int:
        """Add the next ``count`` programs of the enumeration."""
        count = max(int(count), 0)
        if count == 0:
            return 0
        made = [self.program(n) for n in range(self._next, self._next + count)]
        self._next += count
        cells, acts, bids = zip(*made, strict=True)
        self.cell = np.concatenate([self.cell, np.asarray(cells, dtype=np.int64)])
        self.action = np.concatenate([self.action, np.asarray(acts, dtype=np.int64)])
        self.price = np.concatenate([self.price, np.asarray(bids, dtype=np.float64)])
        return count

    @property
    def size(self) -> int:
        return len(self.cell)

    def bids(self, obs: np.ndarray) -> np.ndarray:
        here = self.encoder(obs)[:, 0]
        return np.where(self.cell[:, None] == here[None, :], self.price[:, None], np.nan)

    def actions(self, obs: np.ndarray, members: np.ndarray) -> np.ndarray:
        return self.action[np.asarray(members, dtype=np.int64)]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "cells": self.encoder.n_features, "scale": self.scale}


def tabular(n_states: int, n_actions: int, **options: Any) -> EnumeratedPrograms:
    """Enumerated programs over a ``Discrete(n_states)`` observation."""
    return EnumeratedPrograms(OneHot(n_states), n_actions, **options)
