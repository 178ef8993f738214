"""An open round: entries staged and checked one by one, then committed at once.

Each :meth:`Round.add` validates the entry against the ledger plus what the round has
already staged (accounts, balances, transfer ids) and either stages it whole or raises
without staging anything. :meth:`Round.commit` checks what only the whole round can
show (every item of a production report used is recorded, :class:`BadEvidence`
otherwise, nothing written), then hands the round to the store as one atomic batch with
the new tree state and its signed checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256
from typing import TYPE_CHECKING

from catallax.exchange.ledger.checkpoint import Checkpoint, sign_checkpoint
from catallax.exchange.ledger.encoding import encode_entry
from catallax.exchange.ledger.errors import (
    AccountConflict,
    BadEvidence,
    IdempotencyConflict,
    LedgerStateError,
    NotAnEntry,
    UnknownAccount,
)
from catallax.exchange.ledger.hashing import LEAF_PREFIX
from catallax.exchange.ledger.model import CREDITS, Account, Entry, Opening, Transfer
from catallax.exchange.ledger.rules import (
    Verified,
    apply_transfer,
    check_assets,
    check_evidence,
    unrecorded,
)
from catallax.exchange.ledger.store import AccountState, Batch, TreeState

if TYPE_CHECKING:
    from catallax.exchange.ledger.ledger import Ledger

__all__ = ["Receipt", "Round"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a committed round did: entries ``first .. size - 1`` and the signed head.

    ``duplicates`` lists the transfer ids (and account ids) that were already recorded
    with the same content and so were skipped; ``checkpoint`` is the signed note of the
    tree after the round.
    """

    first: int
    size: int
    duplicates: tuple[str, ...]
    checkpoint: str

    @property
    def indices(self) -> range:
        """The indices of the entries this round appended."""
        return range(self.first, self.size)


class Round:
    """Entries staged for one atomic commit; get one from :meth:`Ledger.begin_round`.

    Use as a context manager to commit on success and discard on an exception.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._store = ledger._store
        self._tree = ledger._tree.copy()
        self.start = self._tree.size
        self._entries: list[bytes] = []
        self._nodes: list[bytes] = []
        self._ids: dict[str, bytes] = {}
        self._new_ids: list[tuple[str, int]] = []
        self._accounts: dict[str, AccountState] = {}
        self._verified = Verified()
        self._duplicates: list[str] = []
        self._known_ids: dict[str, int] | None = None
        self.open = True

    def __enter__(self) -> Round:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.open:
            return
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def __len__(self) -> int:
        return len(self._entries)

    def _check_open(self) -> None:
        if not self.open:
            raise LedgerStateError("round: already committed or discarded")

    def _state(self, account_id: str, role: str) -> AccountState:
        state = self._accounts.get(account_id) or self._ledger._accounts.get(account_id)
        if state is None:
            raise UnknownAccount(f"{role}: no account {account_id!r} on this ledger")
        return state

    def _stage(self, data: bytes) -> int:
        index = self.start + len(self._entries)
        self._entries.append(data)
        self._nodes.append(b"".join(self._tree.append(sha256(LEAF_PREFIX + data).digest())))
        return index

    def add(self, entry: Entry) -> int | None:
        """Stage an entry; its future index, or None if it is already recorded as is.

        Raises a :class:`~catallax.exchange.ledger.errors.TransferError` subclass, with
        nothing staged, if the entry is refused.
        """
        self._check_open()
        if isinstance(entry, Transfer):
            return self._add_transfer(entry)
        if isinstance(entry, Opening):
            return self._add_opening(entry.account)
        raise NotAnEntry(f"entry: expected a Transfer or an Opening, got {type(entry).__name__}")

    def add_all(self, entries: list[Entry]) -> None:
        """Stage several entries, looking their transfer ids up in one query.

        Stops at the first refused entry (raising); the ones before it stay staged.
        """
        self._check_open()
        ids = [e.id for e in entries if isinstance(e, Transfer)]
        self._known_ids = self._store.transfer_indices(ids) if ids else {}
        try:
            for entry in entries:
                self.add(entry)
        finally:
            self._known_ids = None

    def open_account(self, account: Account) -> int | None:
        """Stage the opening of ``account`` (a no-op if it is open with the same content)."""
        self._check_open()
        return self._add_opening(account)

    def _add_opening(self, account: Account) -> int | None:
        known = self._accounts.get(account.id) or self._ledger._accounts.get(account.id)
        if known is not None:
            if known.account != account:
                raise AccountConflict(
                    f"account {account.id!r}: already open as {known.account.kind} of "
                    f"{known.account.asset!r}, with another kind, key or asset"
                )
            self._duplicates.append(account.id)
            return None
        if account.asset != CREDITS and not self._store.holds_goods:
            raise LedgerStateError(
                f"account {account.id!r}: this ledger's store keeps accounts of credits "
                f"only ({self._store.layout}); an account of {account.asset!r} needs a "
                "ledger created by this version"
            )
        self._accounts[account.id] = AccountState(account, 0)
        return self._stage(encode_entry(Opening(account)))

    def _add_transfer(self, transfer: Transfer) -> int | None:
        data = encode_entry(transfer)
        known = self._ids.get(transfer.id)
        if known is None:
            if self._known_ids is None:
                index = self._store.transfer_index(transfer.id)
            else:
                index = self._known_ids.get(transfer.id)
            known = None if index is None else self._store.entry(index)
        if known is not None:
            if known != data:
                raise IdempotencyConflict(
                    f"transfer {transfer.id!r}: id already used for a different transfer"
                )
            self._duplicates.append(transfer.id)
            return None
        payer = self._state(transfer.payer, "payer")
        payee = self._state(transfer.payee, "payee")
        check_assets(transfer, payer.account, payee.account)
        check_evidence(
            transfer,
            payer.account,
            self._verified,
            origin=self._ledger.origin,
            exchange_key=self._ledger.public_key,
            payee=payee.account,
        )
        payer, payee = apply_transfer(transfer, payer, payee)
        self._accounts[transfer.payer] = payer
        self._accounts[transfer.payee] = payee
        self._ids[transfer.id] = data
        index = self._stage(data)
        self._new_ids.append((transfer.id, index))
        self._verified.record(transfer)
        return index

    def discard(self) -> None:
        """Drop everything staged; the ledger is unchanged."""
        self.open = False
        self._ledger._round_closed(self)

    def commit(self) -> Receipt:
        """Write the round atomically and durably; return its :class:`Receipt`."""
        self._check_open()
        ledger = self._ledger
        try:
            missing = unrecorded(self._verified)
            if missing:
                raise BadEvidence(
                    f"production report: its items {', '.join(map(repr, missing[:5]))} are "
                    "not in this round (a report's productions are recorded together)"
                )
            if not self._entries:
                return Receipt(self.start, self.start, tuple(self._duplicates), ledger.checkpoint)
            size = self._tree.size
            head = Checkpoint(ledger.origin, size, self._tree.root())
            note = sign_checkpoint(head, ledger._key, public_key=ledger.public_key)
            batch = Batch(
                start=self.start,
                entries=self._entries,
                nodes=self._nodes,
                transfer_ids=self._new_ids,
                accounts=list(self._accounts.values()),
                state=TreeState(size, self._tree.frontier_bytes(), note),
                archive=ledger._archive(self.start, self._nodes, note),
            )
            # The store's contract: returned means durable whole, raised means absent
            # (a SQLite COMMIT that reports an error after landing returns normally).
            self._store.commit(batch)
            ledger._advance(self._tree, note, self._accounts)
            return Receipt(self.start, size, tuple(self._duplicates), note)
        finally:
            self.open = False
            ledger._round_closed(self)
