"""The auction's inner loop, compiled: cap, filter and the top two bids in one pass.

The deep market's step reads the whole ``(traders, episodes)`` bid matrix once. numpy
needs several passes for it (cap, mask the missing bids, argmax, mask the winner, max),
and its ``argmax(axis=0)`` over a C-ordered matrix is a strided loop, ten times slower
than the memory allows. :func:`top_two` walks the matrix row by row in memory order and
keeps, per episode, the best and second-best capped bid and the winner: one read of
the matrix and no temporary of its size. It is compiled with numba (cached on disk
after the first call of a process).

The rules are those of :func:`catallax.exchange.auctions.run_auction`, the numpy
reference that the tests compare this kernel against:

* a bid is valid when it is a finite number (negative ones included: an ask to be paid
  for taking the state) and its trader may bid (cap ``>= 0``);
* a valid bid is capped: ``min(bid, cap)``;
* the highest capped bid wins; between equal capped bids the trader with the smaller
  tie rank wins (see :mod:`catallax.exchange.deep.accounts`);
* ``second`` is the best capped bid of the others (``min(top, 0)`` when nobody else bid).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["fold_rows", "top_two"]


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True, inline="always")
def _rank(key, mask):  # pragma: no cover - compiled
    """splitmix64's finaliser of ``key ^ mask``: the trader's tie rank this round."""
    z = key ^ mask
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SALT = np.uint64(0x636174616C6C6178)  # "catallax"


@numba.njit(cache=True, inline="always")
def _mix(z):  # pragma: no cover - compiled
    """One SplitMix64 step: add the golden gamma, then the finaliser."""
    return _rank(z + _GAMMA, np.uint64(0))


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _fold_rows(words, epoch, out):  # pragma: no cover - compiled
    n, m = words.shape
    for i in range(n):
        h = _mix(_SALT ^ epoch)
        for k in range(m):
            h = _mix(h ^ words[i, k])
        out[i] = h


def fold_rows(words: np.ndarray, epoch: int) -> np.ndarray:
    """``(N,)`` uint64: each row of the ``(N, M)`` uint64 ``words`` folded into the draw of
    ``epoch`` by SplitMix64 steps (the tie masks of :mod:`catallax.exchange.deep.accounts`)."""
    out = np.empty(len(words), dtype=np.uint64)
    _fold_rows(words, np.uint64(epoch), out)
    return out


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _top_two(bids, cap, key, masks, winner, top, second):  # pragma: no cover - compiled
    n, e = bids.shape
    for j in range(e):
        winner[j] = -1
        top[j] = -np.inf
        second[j] = -np.inf
    for i in range(n):
        c = cap[i]
        if c < 0.0:
            continue
        k = key[i]
        row = bids[i]
        for j in range(e):
            b = row[j]
            # NaN fails both comparisons; -inf the first, +inf the second.
            if not (b > -np.inf and b < np.inf):
                continue
            if b > c:
                b = c
            t = top[j]
            if b > t or (b == t and _rank(k, masks[j]) < _rank(key[winner[j]], masks[j])):
                second[j] = t
                top[j] = b
                winner[j] = i
            elif b > second[j]:
                second[j] = b
    for j in range(e):
        if winner[j] < 0:
            top[j] = 0.0
            second[j] = 0.0
        elif second[j] == -np.inf:
            second[j] = top[j] if top[j] < 0.0 else 0.0


def top_two(
    bids: np.ndarray,
    cap: np.ndarray,
    key: np.ndarray,
    mask: int | np.ndarray = 0,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(winner, top, second)`` per episode of a ``(N, E)`` bid matrix.

    Args:
        bids: ``(N, E)`` C-contiguous float64 bids in credits (NaN or infinite: no bid;
            negative: an ask).
        cap: ``(N,)`` float64 caps in credits; a negative cap means the trader cannot bid.
        key: ``(N,)`` uint64 tie keys.
        mask: the tie mask of each episode, ``(E,)`` uint64 (or one for all): between
            equal capped bids in episode ``j`` the smaller ``rank(key, mask[j])`` wins
            (the deep market's masks: :mod:`catallax.exchange.deep.accounts`).
        out: optional ``(winner int64, top float64, second float64)`` arrays of shape
            ``(E,)`` to fill (saves three allocations per step).

    Returns:
        ``winner`` (``-1`` where nobody bid), the winning capped bid and the second-best
        capped bid (both ``0`` where nobody bid; ``second`` is ``min(top, 0)`` for a lone
        bidder), in credits.
    """
    e = bids.shape[1]
    if out is None:
        out = (np.empty(e, np.int64), np.empty(e), np.empty(e))
    masks = np.asarray(mask, dtype=np.uint64)
    if masks.shape != (e,):
        masks = np.full(e, masks, dtype=np.uint64)
    _top_two(bids, cap, key, masks, *out)
    return out
