"""Traders as accounts: ids, rows, balances, liveness and the tie keys.

A trader is identified by an **account id** (a string; on the network, its public key)
and occupies one **row** of the market's arrays for as long as the market exists. Rows
are append-only: a removed trader keeps its row (and its frozen balance) so that every
id, handle and history stays valid; it simply never bids again.

**Tie rule.** Between equal capped bids on an observation, the trader with the smaller
*tie rank* wins: ``rank = splitmix64(tie_key(id) XOR state_mask(obs, epoch))``, where
``tie_key`` is the first eight bytes of ``SHA-256("catallax/v1/tie" NUL id)`` (a
big-endian unsigned integer), ``epoch`` the number of episodes the market has finished
(over all its slots), and ``state_mask`` folds the observation into the epoch's draw:
``h = mix(SALT XOR epoch)``, then ``h = mix(h XOR w)`` for each 64-bit word ``w`` of the
observation in row-major order (integers and booleans as int64, floats as float64 bits,
-0.0 as 0.0), with ``SALT = 0x636174616c6c6178`` and ``mix`` SplitMix64's step (add
``0x9E3779B97F4A7C15``, then the finaliser). ``splitmix64`` is the finaliser of Steele,
Lea and Flood's SplitMix64 generator (a bijection of 64-bit integers that mixes every
bit into every other). So each state has its own uniform-looking order of all traders,
drawn anew each time an episode ends: joining early buys nothing, no row order matters,
and a key that wins one state's ties is no likelier to win another's or the next
epoch's. (A plain XOR with the mask would be fair between two traders but not among
many: the order would follow the keys' binary trie.) It is deterministic, so anyone
holding the bids, the observations and the count of finished episodes can recompute
every winner; it is not a cryptographic commitment: masks are predictable.

Why by state and epoch, not a fresh draw every step: between episode ends a tie on the
same state is then settled the same way in every slot and at every step, as distinct
bids would be. A fresh draw per step (or per slot) made tied bidders of different
actions act at random: an exploration nobody bid for, and with royalties, whose values
are the episode's own, it lowered the values of the states it dithered in. Float bids
of several identities rarely tie exactly, bids rounded to units (as the network sends
them) often do. Measured on Chain (three adaptive identities, four slots, royalty 0.9,
bids rounded to units, 200 seeds of 1,600 steps): a draw per step left 10 runs
unsolved, a draw per slot and episode 13, a draw per state and epoch none (float bids:
1 with a draw per step).
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from catallax.exchange.auctions import tie_rank
from catallax.exchange.deep.kernel import fold_rows
from catallax.exchange.errors import DuplicateTrader, MarketInputError, UnknownTrader

__all__ = ["Accounts", "state_masks", "tie_key", "tie_rank"]

_ID = re.compile(r"[\x21-\x7e]{1,200}")  # what the ledger accepts: printable ASCII
_TIE_PREFIX = b"catallax/v1/tie\x00"


def tie_key(account_id: str) -> int:
    """The tie key of an account id (smaller wins a tie); see the module docstring."""
    digest = hashlib.sha256(_TIE_PREFIX + account_id.encode()).digest()
    return int.from_bytes(digest[:8], "big")


def state_masks(obs: np.ndarray, epoch: int) -> np.ndarray:
    """``(E,)`` uint64 tie masks of ``E`` observations (``(E, ...)``, numbers) in the
    tie epoch ``epoch`` (see the module docstring).

    Raises:
        MarketInputError: observations that are not integers, booleans or floats.
    """
    a = np.asarray(obs)
    rows = a.reshape(len(a), -1)
    if a.dtype == np.int64:  # Discrete observations: no copy
        words = rows.view(np.uint64)
    elif a.dtype.kind in "biu":
        words = rows.astype(np.int64).view(np.uint64)
    elif a.dtype.kind == "f":
        words = (rows.astype(np.float64) + 0.0).view(np.uint64)  # + 0.0: -0.0 -> 0.0
    else:
        raise MarketInputError(f"observations must be numbers to break ties, got {a.dtype}")
    return fold_rows(np.ascontiguousarray(words), int(epoch))


class Accounts:
    """The trader table: one row per trader ever admitted.

    Attributes:
        balance: ``(rows,)`` int64 wealth in units.
        alive: ``(rows,)`` bool; False once removed.
        population, member: ``(rows,)`` int64: which population the trader belongs to and
            its member id there.
        key: ``(rows,)`` uint64 tie keys.
    """

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.balance = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.population = np.zeros(0, dtype=np.int64)
        self.member = np.zeros(0, dtype=np.int64)
        self.key = np.zeros(0, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.ids)

    def check_new(self, ids: list[str]) -> None:
        """Raise :class:`DuplicateTrader` (or ``UnknownTrader`` for a malformed id) unless
        every id is well formed, new, and given once."""
        seen: set[str] = set()
        for account_id in ids:
            if not isinstance(account_id, str) or not _ID.fullmatch(account_id):
                raise UnknownTrader(
                    f"account id {account_id!r}: expected printable ASCII without spaces "
                    "(1 to 200 characters)"
                )
            if account_id in self.index or account_id in seen:
                raise DuplicateTrader(f"account {account_id!r} is already a trader here")
            seen.add(account_id)

    def add(self, ids: list[str], population: np.ndarray, member: np.ndarray) -> np.ndarray:
        """Append rows for new traders (balance 0, alive); returns their rows."""
        start = len(self.ids)
        rows = np.arange(start, start + len(ids), dtype=np.int64)
        self.ids.extend(ids)
        self.index.update(zip(ids, rows.tolist(), strict=True))
        k = len(ids)
        self.balance = np.concatenate([self.balance, np.zeros(k, dtype=np.int64)])
        self.alive = np.concatenate([self.alive, np.ones(k, dtype=bool)])
        self.population = np.concatenate([self.population, np.asarray(population, np.int64)])
        self.member = np.concatenate([self.member, np.asarray(member, np.int64)])
        keys = np.array([tie_key(i) for i in ids], dtype=np.uint64)
        self.key = np.concatenate([self.key, keys])
        return rows

    def row(self, account_id: str, *, alive: bool = True) -> int:
        """The row of an account id; :class:`UnknownTrader` if unknown (or removed, with
        ``alive``)."""
        row = self.index.get(account_id)
        if row is None:
            raise UnknownTrader(f"no trader {account_id!r} in this market")
        if alive and not self.alive[row]:
            raise UnknownTrader(f"trader {account_id!r} has been removed from this market")
        return row

    def check_rows(self, rows: np.ndarray, *, alive: bool = True) -> None:
        """Raise :class:`UnknownTrader` unless every row exists (and is alive)."""
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self.ids)):
            raise UnknownTrader(f"trader rows must lie in [0, {len(self.ids)})")
        if alive and len(rows) and not self.alive[rows].all():
            gone = int(rows[~self.alive[rows]][0])
            raise UnknownTrader(f"trader {self.ids[gone]!r} has been removed from this market")
