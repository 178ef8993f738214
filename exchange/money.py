"""Money as integers: units, the rounding rule, and splits.

The market and the ledger share one unit: 1 credit = :data:`UNITS_PER_CREDIT` units,
held as ``int64``. Prices and rewards are computed in float credits (a bid is a
valuation, and valuations are real numbers), and every amount that moves becomes an
integer of units before it moves, by one rule:

* **Conversion** rounds to the nearest unit, ties to even (``numpy.rint``).
* **Splits** (the seller's ``γ`` share of a payment and the tax, a royalty and its tax)
  round the named share the same way and give the remainder to the other party, so
  the parts always add up to the whole: ``share + rest == amount`` exactly.
* **Debits** never exceed what the payer can pay; where a computed debit would, the
  market caps it (see the deep market's settlement) and says so in the value it returns.

So money is conserved exactly, step after step: the sum of all balances is an integer
sum of integer transfers, zero at every commit, with no drift however long a run is.
"""

from __future__ import annotations

import numpy as np

from catallax.exchange.errors import MoneyError

__all__ = ["MAX_CREDITS", "MAX_UNITS", "UNITS_PER_CREDIT", "split", "to_credits", "to_units"]

#: 1 credit = 10**6 units; balances and transfers are integers of units.
UNITS_PER_CREDIT = 1_000_000
#: The largest amount or absolute balance: what a signed 64-bit integer holds.
MAX_UNITS = 2**63 - 1
#: Credits beyond this do not convert: a float64 holds every integer of units below 2**53.
MAX_CREDITS = 2**53 / UNITS_PER_CREDIT


def to_units(credits: np.ndarray | float) -> np.ndarray:
    """Credits (float) as ``int64`` units, rounded to the nearest unit (ties to even).

    Raises:
        MoneyError: an amount is NaN, infinite, or beyond ±2**53 units (where float64
            stops holding every integer).
    """
    x = np.asarray(credits, dtype=np.float64)
    if not (np.abs(x) < MAX_CREDITS).all():
        bad = x[~(np.abs(x) < MAX_CREDITS)].ravel()[0]
        raise MoneyError(f"amount {bad!r} credits is not a finite amount below 2**53 units")
    return np.rint(x * UNITS_PER_CREDIT).astype(np.int64)


def to_credits(units: np.ndarray | int) -> np.ndarray:
    """``int64`` units as float credits (exact below 2**53 units)."""
    return np.asarray(units, dtype=np.float64) / UNITS_PER_CREDIT


def split(amount: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """``(part, rest)`` of integer ``amount``: ``part = rint(share * amount)``, the rest
    to the other party; ``part + rest == amount`` exactly. ``share`` lies in ``[0, 1]``."""
    amount = np.asarray(amount, dtype=np.int64)
    if share == 1.0:
        return amount.copy(), np.zeros_like(amount)
    part = np.rint(amount * share).astype(np.int64)
    return part, amount - part
