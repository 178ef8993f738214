"""The in-memory ledger store: lists and dicts, for tests and in-process markets.

Atomic by construction (a batch is checked first, then applied without a failure
point); not durable: it lives as long as the object.
"""

from __future__ import annotations

from collections.abc import Iterator

from catallax.exchange.ledger.errors import LedgerStateError
from catallax.exchange.ledger.store import (
    AccountState,
    Batch,
    LedgerStore,
    StoreHeader,
    TreeState,
    check_batch_keys,
)

__all__ = ["MemoryStore"]


class MemoryStore(LedgerStore):
    """A ledger store held in memory."""

    def __init__(self) -> None:
        self._header: StoreHeader | None = None
        self._state = TreeState(0, b"", "")
        self._entries: list[bytes] = []
        self._nodes: list[bytes] = []  # per entry: the nodes its append completed
        self._ids: dict[str, int] = {}
        self._accounts: dict[str, AccountState] = {}
        self._archive: dict[int, str] = {}
        self._closed = False

    def _open(self) -> None:
        if self._closed:
            raise LedgerStateError("store: closed")

    def header(self) -> StoreHeader | None:
        self._open()
        return self._header

    def initialize(self, header: StoreHeader, state: TreeState) -> None:
        self._open()
        if self._header is not None:
            raise LedgerStateError("store: already initialised")
        self._header, self._state = header, state

    def state(self) -> TreeState:
        self._open()
        return self._state

    def account(self, account_id: str) -> AccountState | None:
        self._open()
        return self._accounts.get(account_id)

    def accounts(self) -> list[AccountState]:
        self._open()
        return [self._accounts[k] for k in sorted(self._accounts)]

    def transfer_index(self, transfer_id: str) -> int | None:
        self._open()
        return self._ids.get(transfer_id)

    def transfer_indices(self, transfer_ids: list[str]) -> dict[str, int]:
        self._open()
        return {t: self._ids[t] for t in transfer_ids if t in self._ids}

    def entries(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes, bytes]]:
        self._open()
        stop = len(self._entries) if stop is None else min(stop, len(self._entries))
        for i in range(max(start, 0), stop):
            yield i, self._entries[i], self._nodes[i]

    def transfer_ids(self) -> Iterator[tuple[int, str]]:
        self._open()
        return iter(sorted((index, tid) for tid, index in self._ids.items()))

    def checkpoints(self) -> list[str]:
        self._open()
        return [note for _, note in sorted(self._archive.items())]

    def commit(self, batch: Batch) -> None:
        self._open()
        if self._header is None:
            raise LedgerStateError("store: not initialised")
        if batch.start != len(self._entries):
            raise LedgerStateError(
                f"store: batch starts at {batch.start} but the log has {len(self._entries)} entries"
            )
        repeated = [tid for tid, _ in batch.transfer_ids if tid in self._ids]
        if repeated or len({tid for tid, _ in batch.transfer_ids}) != len(batch.transfer_ids):
            raise LedgerStateError(f"store: transfer id already stored: {repeated[:1]}")
        if any(size in self._archive for size, _ in batch.archive):
            raise LedgerStateError("store: a checkpoint of this size is already archived")
        check_batch_keys(batch)
        self._entries.extend(batch.entries)
        self._nodes.extend(batch.nodes)
        self._ids.update(batch.transfer_ids)
        for state in batch.accounts:
            self._accounts[state.account.id] = state
        self._archive.update(batch.archive)
        self._state = batch.state

    def close(self) -> None:
        self._closed = True
