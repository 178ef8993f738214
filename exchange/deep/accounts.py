"""Traders as accounts: ids, rows, balances, liveness and the tie keys.

A trader is identified by an **account id** (a string; on the network, its public key)
and occupies one **row** of the market's arrays for as long as the market exists. Rows
are append-only: a removed trader keeps its row (and its frozen balance) so that every
id, handle and history stays valid; it simply never bids again.

**Tie rule.** Between equal capped bids, the trader with the smaller *tie rank* wins:
``rank = splitmix64(tie_key(id) XOR round_mask(round))``, where ``tie_key`` is the first
eight bytes of ``SHA-256("catallax/v1/tie" NUL id)``, ``round_mask`` the first eight
bytes of ``SHA-256("catallax/v1/tie-round" NUL round)`` (the round as 8 big-endian
bytes), both big-endian unsigned integers, and ``splitmix64`` the finaliser of
Steele, Lea and Flood's SplitMix64 generator (a bijection of 64-bit integers that mixes
every bit into every other). Each round therefore draws a fresh, uniform-looking order
of all traders: joining early buys nothing, no row order matters, and a key that wins
one round's ties is no likelier to win the next. (A plain XOR with the mask would be
fair between two traders but not among many: the order would follow the keys' binary
trie.) It is deterministic, so anyone holding the bids can recompute every winner; it
is not a cryptographic commitment: round masks are predictable.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from catallax.exchange.auctions import tie_rank
from catallax.exchange.errors import DuplicateTrader, UnknownTrader

__all__ = ["Accounts", "round_mask", "tie_key", "tie_rank"]

_ID = re.compile(r"[\x21-\x7e]{1,200}")  # what the ledger accepts: printable ASCII
_TIE_PREFIX = b"catallax/v1/tie\x00"
_ROUND_PREFIX = b"catallax/v1/tie-round\x00"


def tie_key(account_id: str) -> int:
    """The tie key of an account id (smaller wins a tie); see the module docstring."""
    digest = hashlib.sha256(_TIE_PREFIX + account_id.encode()).digest()
    return int.from_bytes(digest[:8], "big")


def round_mask(round: int) -> int:
    """The tie mask of a round (see the module docstring)."""
    digest = hashlib.sha256(_ROUND_PREFIX + int(round).to_bytes(8, "big")).digest()
    return int.from_bytes(digest[:8], "big")


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
