"""The storage interface of the ledger, and the values that cross it.

A store keeps bytes and numbers; the :class:`~catallax.exchange.ledger.Ledger` decides
what they are. Every backend MUST:

- apply :meth:`LedgerStore.commit` atomically and durably: after it returns, the whole
  batch survives a crash; if it raises or the process dies in it, none of it is there;
- refuse a batch whose ``start`` is not its current size, or that repeats a stored
  transfer id (:class:`LedgerStateError`, nothing applied), so that two writers can
  never interleave;
- keep entries append-only, return them in index order, and never change the header
  once written;
- never write anything while reading or opening; a damaged store raises
  :class:`CorruptStore` and stays as it was;
- return values of their declared types only (a stored value of another type is
  :class:`CorruptStore` naming the field, never a silent conversion);
- keep every account's asset and give it back as it was opened; a store of an older
  layout that keeps accounts of credits only says so (``holds_goods`` False) and
  refuses a batch holding an account of another asset, writing nothing;
- inside :meth:`LedgerStore.snapshot`, answer every read from one consistent state,
  whatever other connections commit meanwhile.

The in-memory and the SQLite backends run the same test suite.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from catallax.exchange.ledger.errors import InvalidTransfer, LedgerStateError
from catallax.exchange.ledger.keycheck import is_valid_public_key
from catallax.exchange.ledger.model import CREDITS, Account

__all__ = ["AccountState", "Batch", "LedgerStore", "StoreHeader", "TreeState", "check_batch_keys"]


@dataclass(frozen=True, slots=True)
class StoreHeader:
    """Written once when the ledger is created: its ``origin``, the exchange's key and
    the ``checkpoint_interval`` at whose every multiple a checkpoint is archived (None
    in files of schema 1, which made no such promise)."""

    origin: str
    public_key: bytes
    checkpoint_interval: int | None = None


@dataclass(frozen=True, slots=True)
class AccountState:
    """An account and its balance in units of the account's asset."""

    account: Account
    balance: int


@dataclass(frozen=True, slots=True)
class TreeState:
    """The tree after the last commit: its size, frontier bytes and signed checkpoint note."""

    size: int
    frontier: bytes
    checkpoint: str


@dataclass(frozen=True, slots=True)
class Batch:
    """Everything one round changes, applied by :meth:`LedgerStore.commit` at once.

    ``entries`` are canonical entry bytes for indices ``start, start + 1, ...``;
    ``nodes`` holds, per entry, the tree nodes its append completed (the leaf hash, then
    one parent per level it closed; 32 bytes each, concatenated); ``transfer_ids`` map
    new transfer ids to their index; ``accounts`` are the new or changed accounts with
    their balances after the round; ``state`` is the tree after the round; ``archive``
    holds the ``(size, note)`` checkpoints to keep in the history (one per multiple of
    the checkpoint interval the round reached).
    """

    start: int
    entries: list[bytes]
    nodes: list[bytes]
    transfer_ids: list[tuple[str, int]]
    accounts: list[AccountState]
    state: TreeState
    archive: tuple[tuple[int, str], ...] = ()


class LedgerStore(ABC):
    """Where a ledger lives. Small contract: read by key or range, commit a batch.

    ``holds_goods`` says whether the store keeps an account's asset (stores of an older
    layout keep accounts of credits only, and refuse a batch holding another asset);
    ``layout`` names the store's layout in messages.
    """

    holds_goods: bool = True
    layout: str = "in memory"

    @abstractmethod
    def header(self) -> StoreHeader | None:
        """The header, or None for a store that was never initialised."""

    @abstractmethod
    def initialize(self, header: StoreHeader, state: TreeState) -> None:
        """Write the header and the empty tree's state (once, on a new store)."""

    @abstractmethod
    def state(self) -> TreeState:
        """The tree state of the last commit."""

    @abstractmethod
    def account(self, account_id: str) -> AccountState | None:
        """One account with its balance, or None if it was never opened."""

    @abstractmethod
    def accounts(self) -> list[AccountState]:
        """All accounts with their balances, sorted by id."""

    @abstractmethod
    def transfer_index(self, transfer_id: str) -> int | None:
        """The entry index of the transfer with this id, or None."""

    @abstractmethod
    def transfer_indices(self, transfer_ids: list[str]) -> dict[str, int]:
        """The entry indices of those of ``transfer_ids`` that are stored (one lookup)."""

    @abstractmethod
    def entries(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes, bytes]]:
        """``(index, entry bytes, completed nodes)`` with ``start <= index < stop``, in order."""

    @abstractmethod
    def transfer_ids(self) -> Iterator[tuple[int, str]]:
        """Every stored ``(entry index, transfer id)`` pair, by index (then id)."""

    @abstractmethod
    def checkpoints(self) -> list[str]:
        """The archived checkpoint notes, oldest first (the latest is in :meth:`state`)."""

    @abstractmethod
    def commit(self, batch: Batch) -> None:
        """Apply a batch atomically and durably (see the module's MUST list)."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release files and connections; the store is unusable afterwards."""

    def check(self) -> None:  # noqa: B027 - optional hook, nothing to check by default
        """Check the storage itself (not the hashes); :class:`CorruptStore` if damaged."""

    def snapshot(self) -> AbstractContextManager[None]:
        """A context in which every read sees one consistent state of the store.

        Re-entrant; no commit may happen inside it. Backends that other processes can
        write (SQLite) hold one read transaction for its duration.
        """
        return nullcontext()

    def entry_batches(self, size: int) -> Iterator[list[tuple[int, bytes, bytes]]]:
        """All entries as :meth:`entries` gives them, in lists of ``size`` (the last shorter).

        Backends may override this with a faster bulk read; verification uses it.
        """
        batch: list[tuple[int, bytes, bytes]] = []
        for row in self.entries():
            batch.append(row)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def entry(self, index: int) -> bytes:
        """The bytes of entry ``index`` (IndexError if absent)."""
        for _, data, _ in self.entries(index, index + 1):
            return data
        raise IndexError(f"entry {index} is not stored")

    def entry_nodes(self, index: int) -> bytes:
        """The nodes completed by the append of entry ``index`` (IndexError if absent)."""
        for _, _, nodes in self.entries(index, index + 1):
            return nodes
        raise IndexError(f"entry {index} is not stored")


def check_batch_keys(batch: Batch, *, goods: bool = True) -> None:
    """Refuse a batch that registers a public key which is no usable Ed25519 point, or
    (``goods`` False: a store that keeps accounts of credits only) an account of
    another asset (:class:`InvalidTransfer`, :class:`LedgerStateError`), naming the
    account, before anything is written.

    ``cryptography`` loads any 32 bytes as a key, so the model checks only the length;
    the check is memoised per key, so a commit pays for it once per account.
    """
    for state in batch.accounts:
        if not goods and state.account.asset != CREDITS:
            raise LedgerStateError(
                f"account {state.account.id!r}: holds {state.account.asset!r}, but this "
                "store keeps accounts of credits only (an older layout); nothing written"
            )
        key = state.account.public_key
        if key is not None and not is_valid_public_key(key):
            raise InvalidTransfer(
                f"account {state.account.id!r}: public key: not an Ed25519 public key "
                "(32 bytes encoding a curve point of more than small order)"
            )
