"""Sealed-bid auctions for the right to act, vectorised over parallel episodes.

An auction takes the bids of ``N`` traders in ``E`` parallel episodes (an ``(N, E)``
array) and the traders' wealth (``(N,)``) and returns, per episode, the winner, the
price it pays and what the previous owner receives. It is a pure function: it moves no
money; :mod:`catallax.exchange.deep` settles the result.

Rules shared by every kind (the paper's Algorithm 1):

* **No bid.** A bid that is NaN, infinite or negative is no bid. A trader with no
  wealth (``w <= 0``) cannot bid. A bid of exactly zero is a bid.
* **Cap.** Each bid is capped by its trader's wealth: ``b = min(bid, w)``. In parallel
  episodes the cap applies per episode (the paper's footnote 2 shares wealth across
  episodes), so a trader may win in several episodes in one step and spend more than
  its wealth; it is then removed by the market's wealth floor.
* **Winner.** The highest capped bid wins; ties go to the lowest trader index (so
  Chang et al.'s clones, which bid identically, resolve deterministically).
* **Nobody bids.** The winner is ``-1``: the world (the environment's issuer account)
  takes the state back for nothing.

Kinds (what the winner pays and what the previous owner receives):

=======================  ====================  ==================================
kind                     winner pays           previous owner receives
=======================  ====================  ==================================
``first-price``          its own capped bid    the same (Holland's bucket brigade,
                                               the paper's Algorithm 1)
``vickrey``              2nd-highest capped    the same: credit-conserving
                         bid (0 if alone)      Vickrey (Chang et al. 2020)
``vickrey-nonconserving`` 2nd-highest capped   the winner's full capped bid; the
                         bid                   difference is minted by the issuer
=======================  ====================  ==================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

__all__ = ["NO_WINNER", "AuctionKind", "AuctionResult", "run_auction"]

#: Winner index meaning "nobody bid; the world owns the state".
NO_WINNER = -1


class AuctionKind(StrEnum):
    """Which sealed-bid auction sells the right to act."""

    FIRST_PRICE = "first-price"
    VICKREY = "vickrey"
    VICKREY_NONCONSERVING = "vickrey-nonconserving"


@dataclass(frozen=True, slots=True)
class AuctionResult:
    """The outcome of one auction in each of ``E`` episodes (all arrays have shape ``(E,)``).

    Attributes:
        winner: index of the winning trader, or :data:`NO_WINNER`.
        top: the winning capped bid (0 where nobody bid), in credits.
        second: the second-highest capped bid (0 where fewer than two bid), in credits.
        price: what the winner pays, in credits (0 where nobody bid).
        proceeds: what the previous owner is owed before the discount tax, in credits.
    """

    winner: np.ndarray
    top: np.ndarray
    second: np.ndarray
    price: np.ndarray
    proceeds: np.ndarray


def run_auction(
    bids: np.ndarray,
    wealth: np.ndarray,
    kind: AuctionKind | str = AuctionKind.VICKREY,
    *,
    scratch: np.ndarray | None = None,
) -> AuctionResult:
    """Run one sealed-bid auction per episode.

    Args:
        bids: ``(N, E)`` raw bids in credits; left unchanged.
        wealth: ``(N,)`` wealth in credits; traders with ``w <= 0`` cannot bid (pass
            ``-1`` for traders that are no longer alive).
        kind: the auction rule (see the module docstring).
        scratch: an optional ``(N, E)`` float64 buffer reused between calls to avoid
            an allocation per step; its contents are overwritten.

    Returns:
        The winners, prices and proceeds of every episode.
    """
    kind = AuctionKind(kind)
    bids = np.asarray(bids, dtype=np.float64)
    if bids.ndim != 2:
        raise ValueError(f"bids must have shape (traders, episodes), got {bids.shape}")
    n, e = bids.shape
    cols = np.arange(e)
    if n == 0:
        zeros = np.zeros(e)
        return AuctionResult(np.full(e, NO_WINNER), zeros, zeros, zeros, zeros)
    if scratch is None or scratch.shape != bids.shape:
        scratch = np.empty_like(bids)
    # A trader without wealth gets a cap of -1, which makes any bid of it "no bid".
    cap = np.where(wealth > 0, wealth, -1.0)
    capped = np.minimum(bids, cap[:, None], out=scratch)
    # NaN and +inf fail `bids < inf`; negative bids are left negative and lose to any
    # valid (>= 0) bid, so they need no pass of their own.
    np.copyto(capped, -1.0, where=~(bids < np.inf))
    winner = capped.argmax(axis=0)
    top = capped[winner, cols]
    if n > 1:
        capped[winner, cols] = -np.inf
        second = capped.max(axis=0)
    else:
        second = np.full(e, -1.0)
    nobody = top < 0
    second = np.maximum(second, 0.0)
    top = np.where(nobody, 0.0, top)
    winner = np.where(nobody, NO_WINNER, winner)
    if kind is AuctionKind.FIRST_PRICE:
        price = top
        proceeds = top
    elif kind is AuctionKind.VICKREY:
        price = second
        proceeds = second
    else:
        price = second
        proceeds = top
    return AuctionResult(winner=winner, top=top, second=second, price=price, proceeds=proceeds)
