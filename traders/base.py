"""The two shapes of a trader: one agent (:class:`Trader`) and many (:class:`Population`).

Both satisfy the protocols the market consumes (:mod:`catallax.exchange.protocols`):
a :class:`Trader` is any object with ``bid(obs)`` and ``act(obs)`` for one observation
and the market wraps it as a population of one; a :class:`Population` answers for all
its members and all parallel episodes in one call, which is what makes a market of
thousands of traders fast.

A family that the command line can build for any environment also offers the
classmethod ``for_env(observation_space, action_space, *, seed, **options)``; that is
the contract a plugin registered under the ``catallax.traders`` entry-point group
fulfils (see :mod:`catallax.traders.registry`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from catallax.exchange.protocols import Outcomes

__all__ = ["Population", "Trader"]


class Trader(ABC):
    """One agent α: a bid function α_b(ω) and an action α̂(ω) (paper, Definition 2.1).

    Subclasses implement :meth:`bid` and :meth:`act`; :meth:`learn` is optional. A bid
    that is NaN or infinite means "no bid"; a negative one is an ask (to be paid for
    taking a state worth less than nothing).
    """

    @abstractmethod
    def bid(self, obs: Any) -> float:
        """How much this trader offers for the right to act on ``obs``, in credits."""

    @abstractmethod
    def act(self, obs: Any) -> int:
        """The action this trader takes when it owns ``obs``."""

    def learn(self, outcomes: Outcomes) -> None:  # noqa: B027  (optional hook)
        """Called with this trader's finished ownerships; does nothing by default."""


class Population(ABC):
    """Many traders of one family held as arrays (see :class:`catallax.exchange.protocols.Bidders`).

    Subclasses implement :attr:`size`, :meth:`bids` and :meth:`actions`; families that
    learn also implement ``learn(outcomes)``, and families that enumerate an infinite
    class of programs implement ``grow(count)``.
    """

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of members; member ids are ``0 .. size-1``."""

    @abstractmethod
    def bids(self, obs: np.ndarray) -> np.ndarray:
        """Bids of all members for a batch of ``E`` observations: ``(size, E)`` credits."""

    @abstractmethod
    def actions(self, obs: np.ndarray, members: np.ndarray) -> np.ndarray:
        """Action of ``members[k]`` on ``obs[k]`` for each ``k``: ``(K,)`` ints."""

    def set_exploring(self, exploring: bool) -> None:  # noqa: B027  (optional hook)
        """Turn exploration off for greedy evaluation (on again for training)."""

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for reports; families add their own fields."""
        return {"family": type(self).__name__, "size": self.size}
