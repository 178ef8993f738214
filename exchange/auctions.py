"""Sealed-bid auctions for the right to act, vectorised over parallel episodes.

An auction takes the bids of ``N`` traders in ``E`` parallel episodes (an ``(N, E)``
array) and the traders' caps (``(N,)``) and returns, per episode, the winner, the
price it pays and what the previous owner receives. It is a pure function: it moves no
money; :mod:`catallax.exchange.deep` settles the result. :func:`run_auction` is the
numpy reference; the deep market runs the same rules in one compiled pass
(:mod:`catallax.exchange.deep.kernel`), and the tests hold the two equal.

Rules shared by every kind (the paper's Algorithm 1):

* **No bid.** A bid that is NaN or infinite is no bid. A trader whose cap is negative
  (removed, or without money) cannot bid. Every finite bid is a bid, zero and negative
  ones included.
* **Negative prices.** A negative bid asks to be paid for taking the state: a state
  worth less than nothing (its costs exceed what it will earn) has a negative price,
  and its owner pays the buyer to be rid of it (the deep market's settlement moves
  that payment from the seller, within what it holds).
* **Cap.** Each bid is capped: ``b = min(bid, cap)`` (a cap bounds what a buyer pays,
  so it never binds a negative bid). The deep market's cap is the
  trader's balance shared over its ``E`` parallel episodes (the paper's footnote 2),
  ``balance // E`` units, so that winning in every episode of a step never costs more
  than the trader holds.
* **Winner.** The highest capped bid wins; between equal capped bids the smaller tie
  rank ``splitmix64(key XOR mask)`` wins (the deep market passes each account's tie key
  and a mask per episode from its observation, drawn anew whenever an episode ends,
  see :mod:`catallax.exchange.deep.accounts`).
* **Second.** The best capped bid of the others; where nobody else bid, the lesser of
  0 and the winner's bid (a lone buyer pays nothing; a lone asker is paid its ask).
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

from catallax.exchange.errors import BidError

__all__ = ["NO_WINNER", "AuctionKind", "AuctionResult", "run_auction", "tie_rank"]

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
        second: the second-highest capped bid, in credits (where fewer than two bid,
            ``min(top, 0)``).
        price: what the winner pays, in credits (0 where nobody bid; negative: what it
            is paid).
        proceeds: what the previous owner is owed before the discount tax, in credits
            (negative: what it owes the winner).
    """

    winner: np.ndarray
    top: np.ndarray
    second: np.ndarray
    price: np.ndarray
    proceeds: np.ndarray


def run_auction(
    bids: np.ndarray,
    caps: np.ndarray,
    kind: AuctionKind | str = AuctionKind.VICKREY,
    *,
    keys: np.ndarray | None = None,
    mask: int | np.ndarray = 0,
) -> AuctionResult:
    """Run one sealed-bid auction per episode.

    Args:
        bids: ``(N, E)`` raw bids in credits; left unchanged.
        caps: ``(N,)`` caps in credits (the deep market's is ``balance // E``);
            traders with a cap ``< 0`` cannot bid (the deep market passes ``-1`` for
            removed traders and those without money). A cap of 0 admits a bid of 0.
        kind: the auction rule (see the module docstring).
        keys: ``(N,)`` uint64 tie keys (default: the trader index).
        mask: the tie mask, one for every episode or ``(E,)`` (the deep market's: of
            each episode's observation); between equal capped bids the smaller rank
            ``splitmix64(key ^ mask)`` wins (see :mod:`catallax.exchange.deep.accounts`);
            without keys, the lowest index.

    Returns:
        The winners, prices and proceeds of every episode.

    Raises:
        BidError: ``bids`` is not a 2-D matrix with one row per cap.
    """
    kind = AuctionKind(kind)
    bids = np.asarray(bids, dtype=np.float64)
    caps = np.asarray(caps, dtype=np.float64)
    if bids.ndim != 2 or caps.shape != (bids.shape[0],):
        raise BidError(
            f"bids must have shape (traders, episodes) with one cap per trader, got "
            f"{bids.shape} and {caps.shape}"
        )
    n, e = bids.shape
    cols = np.arange(e)
    if n == 0:
        zeros = np.zeros(e)
        return AuctionResult(np.full(e, NO_WINNER), zeros, zeros, zeros, zeros)
    if keys is None:
        rank = np.broadcast_to(np.arange(n, dtype=np.uint64)[:, None], (n, e))
    else:
        masks = np.broadcast_to(np.asarray(mask, dtype=np.uint64), (e,))
        rank = tie_rank(np.asarray(keys, dtype=np.uint64)[:, None], masks[None, :])
    valid = np.isfinite(bids) & (caps >= 0)[:, None]
    capped = np.where(valid, np.minimum(bids, caps[:, None]), -np.inf)
    top = capped.max(axis=0)
    # Among the traders at the top, the smallest rank.
    at_top = (capped == top) & valid
    ranked = np.where(at_top, rank, np.iinfo(np.uint64).max)
    winner = ranked.argmin(axis=0)
    if n > 1:
        capped[winner, cols] = -np.inf
        second = capped.max(axis=0)
    else:
        second = np.full(e, -np.inf)
    nobody = ~valid[winner, cols]
    top = np.where(nobody, 0.0, top)
    second = np.where(np.isfinite(second), second, np.minimum(top, 0.0))
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


def tie_rank(keys: int | np.ndarray, mask: int | np.ndarray) -> np.ndarray:
    """The tie rank of ``keys`` (an int or uint64 array) under ``mask`` (one, or an array
    that broadcasts with ``keys``): splitmix64's finaliser of ``keys ^ mask`` (see
    :mod:`catallax.exchange.deep.accounts`)."""
    with np.errstate(over="ignore"):
        z = np.asarray(keys, dtype=np.uint64) ^ np.asarray(mask, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))
