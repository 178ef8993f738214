"""What the deep market consumes from traders, as small ``typing.Protocol`` classes.

The market never imports a trader family. It needs, from each group of traders,
three things (:class:`Bidders`): how many there are, their bids for a batch of
observations, and the action of a member that won. Families that learn their own bids
also take :class:`Outcomes` (:class:`Learner`), and families that enumerate an
infinite program class grow on request (:class:`Enumerable`).

A single agent with ``bid(obs) -> float`` and ``act(obs) -> int`` (:class:`OneBidder`)
is a population of one: :func:`as_bidders` wraps it, so the market treats both alike.

Observation batches have a leading axis over the ``E`` parallel episodes: ``(E,)`` ints
for ``Discrete`` observations, ``(E, d)`` floats for ``Box`` observations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from catallax.exchange.errors import NotATrader

__all__ = [
    "Bidders",
    "Consumer",
    "Enumerable",
    "Learner",
    "Mortal",
    "OneBidder",
    "Outcomes",
    "as_bidders",
]


@runtime_checkable
class Bidders(Protocol):
    """A population of traders as the deep market sees it."""

    @property
    def size(self) -> int:
        """Number of members (alive or not); member ids are ``0 .. size-1``."""
        ...

    def bids(self, obs: np.ndarray) -> np.ndarray:
        """Bids of every member in every episode, shape ``(size, E)``, in credits.

        NaN or infinite entries mean "no bid"; a negative one is an ask, to be paid
        for taking a state worth less than nothing (see :mod:`catallax.exchange.auctions`).
        """
        ...

    def actions(self, obs: np.ndarray, members: np.ndarray) -> np.ndarray:
        """Actions of ``members[k]`` for observation ``obs[k]``; returns ``(K,)`` ints."""
        ...


@runtime_checkable
class Learner(Protocol):
    """A population that learns its bids from what its members earned."""

    def learn(self, outcomes: Outcomes) -> None:
        """Update from the finished ownerships of members of this population."""
        ...


@runtime_checkable
class Enumerable(Protocol):
    """A population that enumerates a (possibly infinite) class of programs."""

    def grow(self, count: int) -> int:
        """Add up to ``count`` new members; return how many were added (0 when exhausted)."""
        ...


@runtime_checkable
class Mortal(Protocol):
    """A population that wants to know when members go bankrupt and leave the market."""

    def retire(self, members: np.ndarray) -> None:
        """``members`` (local ids) were removed by the wealth floor; they never bid again."""
        ...


@runtime_checkable
class OneBidder(Protocol):
    """One agent: any object with ``bid`` and ``act`` for a single observation."""

    def bid(self, obs: Any) -> float: ...

    def act(self, obs: Any) -> int: ...


@runtime_checkable
class Consumer(Protocol):
    """A buyer of states that replaces the reward function (paper, Definition 2.1).

    ``pay(obs)`` is what the consumer pays the owner whose action reached ``obs``, one
    amount per episode, in credits. Consumers are issuer accounts: they may go negative.
    """

    def pay(self, obs: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Finished ownerships of members of one population (all arrays have length ``K``).

    An ownership starts when a member wins an auction and ends when the next owner buys
    the state or the episode ends. ``value = reward + receipt`` is what the right to act
    turned out to be worth; ``value - price`` is the member's profit.

    Attributes:
        members: member ids (local to the population).
        obs: the observation each member bid on.
        actions: the action each member took.
        price: what it paid, in credits.
        reward: the reward its action collected, in credits.
        receipt: what the next owner paid it after the discount tax (0 at episode end).
        ended: True where the episode ended during the ownership.
        provisional: True where the receipt is a quote made at the sale (royalties still
            to settle); ``None`` means every row is settled.
    """

    members: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    price: np.ndarray
    reward: np.ndarray
    receipt: np.ndarray
    ended: np.ndarray
    provisional: np.ndarray | None = None

    @property
    def value(self) -> np.ndarray:
        """What each ownership was worth: reward plus receipt, in credits."""
        return self.reward + self.receipt

    @property
    def settled(self) -> np.ndarray:
        """True where the receipt is final (not a quote)."""
        if self.provisional is None:
            return np.ones(len(self.members), dtype=bool)
        return ~np.asarray(self.provisional, dtype=bool)

    def __len__(self) -> int:
        return len(self.members)


class _Lone:
    """Adapter making a :class:`OneBidder` a population of one."""

    def __init__(self, agent: OneBidder) -> None:
        self.agent = agent

    @property
    def size(self) -> int:
        return 1

    def bids(self, obs: np.ndarray) -> np.ndarray:
        return np.array([[float(self.agent.bid(o)) for o in obs]], dtype=np.float64)

    def actions(self, obs: np.ndarray, members: np.ndarray) -> np.ndarray:
        return np.array([int(self.agent.act(o)) for o in obs], dtype=np.int64)

    def learn(self, outcomes: Outcomes) -> None:
        learn = getattr(self.agent, "learn", None)
        if learn is not None:
            learn(outcomes)

    def __repr__(self) -> str:
        return f"Lone({self.agent!r})"


def as_bidders(obj: Bidders | OneBidder) -> Bidders:
    """Return ``obj`` as a population: populations pass through, lone agents are wrapped.

    Raises:
        NotATrader: when ``obj`` offers neither interface (also a ``TypeError``).
    """
    if isinstance(obj, Bidders):
        return obj
    if isinstance(obj, OneBidder):
        return _Lone(obj)
    raise NotATrader(
        f"{type(obj).__name__} is not a trader: it needs bid(obs) and act(obs), "
        "or size, bids(obs) and actions(obs, members)"
    )
