"""Replaying the log to what the writer acts on: balances and the transfer-id index.

The writer checks overdrafts against the stored balances and idempotency against the
stored transfer ids; neither table is signed. :class:`Replay` recomputes both from the
entries (openings, transfers in order, the balance rules) and compares them with the
stored tables: every stored ``(entry index, transfer id)`` row must be a transfer of
the log at that index, every transfer of the log must have its row, and every stored
account must be what the log opens with the balance the log gives. The id table is
streamed by index beside the log, so memory stays flat. A difference raises
:class:`TamperedState` naming the account or the transfer id; an entry that cannot be
replayed raises :class:`TamperedEntry` naming it.

Used when a ledger is opened for writing (and by a verifying reader) and by
:func:`~catallax.exchange.ledger.integrity.audit_log`, which adds the evidence check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from catallax.exchange.crypto import key_fingerprint
from catallax.exchange.ledger.encoding import decode_entry, encode_entry
from catallax.exchange.ledger.errors import (
    CorruptLedger,
    LedgerError,
    TamperedEntry,
    TamperedState,
)
from catallax.exchange.ledger.keycheck import is_valid_public_key
from catallax.exchange.ledger.model import Account, Opening, Transfer
from catallax.exchange.ledger.rules import apply_transfer, check_assets
from catallax.exchange.ledger.store import AccountState, LedgerStore

__all__ = ["Replay"]

Row = tuple[int, bytes, bytes]
#: Called for every transfer before it is applied, with its payer's and payee's
#: accounts (audit: the evidence).
TransferCheck = Callable[[Transfer, Account, Account], None]


def _describe(account: Account) -> str:
    key = "no key" if account.public_key is None else f"key {key_fingerprint(account.public_key)}"
    return f"a {account.kind} of {account.asset!r} with {key}"


class Replay:
    """Replays entries ``0 .. size - 1`` fed in order; :meth:`finish` compares the tables.

    ``check`` is called for every transfer before it is applied; ``canonical`` also
    requires every entry to re-encode to its stored bytes.
    """

    def __init__(
        self, store: LedgerStore, *, check: TransferCheck | None = None, canonical: bool = False
    ) -> None:
        self.size = 0
        self.states: dict[str, AccountState] = {}
        self.transfers = 0
        self.evidence = 0
        self._store = store
        self._check = check
        self._canonical = canonical
        self._ids: Iterator[tuple[int, str]] | None = None
        self._row: tuple[int, str] | None = None

    def follow(self, chunks: Iterable[list[Row]]) -> Iterator[list[Row]]:
        """Pass ``chunks`` through, replaying each one once the consumer asks for the next
        (so a chunk is replayed only after the consumer has checked its hashes)."""
        for chunk in chunks:
            yield chunk
            self.feed(chunk)

    def feed(self, rows: Iterable[Row]) -> None:
        """Replay ``rows`` (index, entry bytes, nodes), the next ones of the log."""
        if self._ids is None:
            self._ids = iter(self._store.transfer_ids())
            self._row = next(self._ids, None)
        for index, data, _ in rows:
            if index >= self.size:
                return
            self._entry(index, data)

    def _entry(self, index: int, data: bytes) -> None:
        if type(data) is not bytes:
            raise TamperedEntry(f"entry {index}: data: not a blob", index=index)
        try:
            entry = decode_entry(data)
            if self._canonical and encode_entry(entry) != data:
                raise CorruptLedger("not in canonical encoding")
            if isinstance(entry, Opening):
                self._open(entry.account)
                return
            if not isinstance(entry, Transfer):
                raise CorruptLedger(f"unknown entry type {type(entry).__name__}")
            payer, payee = self.states.get(entry.payer), self.states.get(entry.payee)
            if payer is None or payee is None:
                raise CorruptLedger("payer or payee was not opened before this transfer")
            if self._check is not None:
                check_assets(entry, payer.account, payee.account)
                self._check(entry, payer.account, payee.account)
            self.evidence += entry.evidence is not None
            self.states[entry.payer], self.states[entry.payee] = apply_transfer(entry, payer, payee)
            self.transfers += 1
        except LedgerError as exc:
            raise TamperedEntry(f"entry {index}: {exc}", index=index) from exc
        self._match_id(index, entry.id)

    def _open(self, account: Account) -> None:
        if account.id in self.states:
            raise CorruptLedger(f"account {account.id!r} opened twice")
        if account.public_key is not None and not is_valid_public_key(account.public_key):
            raise CorruptLedger(
                f"account {account.id!r}: public key: not an Ed25519 public key "
                "(no curve point of more than small order)"
            )
        self.states[account.id] = AccountState(account, 0)

    def _next_row(self) -> None:
        self._row = None if self._ids is None else next(self._ids, None)

    def _extra(self, row: tuple[int, str]) -> None:
        index, tid = row
        where = "beyond the log" if index >= self.size else "not that transfer"
        raise TamperedState(
            f"transfer id {tid!r}: the id table points at entry {index}, which is {where}",
            index=min(index, self.size),
        )

    def _match_id(self, index: int, tid: str) -> None:
        while self._row is not None and self._row[0] < index:
            self._extra(self._row)
        if self._row is None or self._row[0] != index:
            raise TamperedState(
                f"entry {index}: transfer id {tid!r} is missing from the id table", index=index
            )
        if self._row[1] != tid:
            raise TamperedState(
                f"entry {index}: the id table names {self._row[1]!r} here, "
                f"but the entry is transfer {tid!r}",
                index=index,
            )
        self._next_row()

    def finish(self) -> dict[str, AccountState]:
        """Compare the stored tables with the replay; the replayed accounts by id."""
        if self._ids is None:
            self.feed([])
        if self._row is not None:
            self._extra(self._row)
        stored = {s.account.id: s for s in self._store.accounts()}
        for account_id in sorted(set(stored) | set(self.states)):
            got, want = stored.get(account_id), self.states.get(account_id)
            if got == want:
                continue
            what = f"account {account_id!r}"
            if want is None:
                raise TamperedState(f"{what}: in the accounts table but never opened in the log")
            if got is None:
                raise TamperedState(
                    f"{what}: opened in the log but missing from the accounts table"
                )
            if got.account != want.account:
                raise TamperedState(
                    f"{what}: stored as {_describe(got.account)}, "
                    f"the log opens {_describe(want.account)}"
                )
            raise TamperedState(
                f"{what}: balance stored as {got.balance}, the log gives {want.balance}"
            )
        return self.states
