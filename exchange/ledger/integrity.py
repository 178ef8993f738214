"""Checking a stored ledger from its bytes: verification and audit.

:func:`verify_log` recomputes every leaf hash from the stored entry bytes, rebuilds the
tree and compares every stored node with it, and checks every stored checkpoint (its
signature by the exchange's key and its root against the rebuilt tree). It streams the
log, so memory stays flat, and batches its reads.

:func:`audit_log` also decodes every entry, replays the rules (accounts opened once,
known payer and payee, evidence signatures, no overdraft, unique transfer ids) and
checks that the stored balances are what the transfers give.

Both raise a :class:`~catallax.exchange.ledger.errors.CorruptLedger` subclass naming
the first bad entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from catallax.exchange.ledger.checkpoint import Checkpoint, open_checkpoint
from catallax.exchange.ledger.encoding import decode_entry, encode_entry
from catallax.exchange.ledger.errors import (
    BadCheckpoint,
    CheckpointError,
    CorruptLedger,
    LedgerError,
    TamperedEntry,
)
from catallax.exchange.ledger.model import AccountKind, Opening, Transfer
from catallax.exchange.ledger.rebuild import CHUNK, check_chunks
from catallax.exchange.ledger.rules import Verified, apply_transfer, check_evidence
from catallax.exchange.ledger.store import AccountState, LedgerStore, StoreHeader
from catallax.exchange.ledger.tree import CompactTree

__all__ = ["AuditReport", "VerifyReport", "audit_log", "check_head", "verify_log"]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """A verified log: its ``size``, its ``root`` and how many checkpoints were checked."""

    size: int
    root: bytes
    checkpoints: int


@dataclass(frozen=True, slots=True)
class AuditReport:
    """An audited log: what :func:`verify_log` found plus what the replay covered."""

    size: int
    root: bytes
    checkpoints: int
    accounts: int
    transfers: int
    evidence: int
    balances: dict[str, int]


def _open_note(note: str, header: StoreHeader, what: str) -> Checkpoint:
    try:
        checkpoint = open_checkpoint(note, header.public_key)
    except CheckpointError as exc:
        raise BadCheckpoint(f"{what}: {exc}") from exc
    if checkpoint.origin != header.origin:
        raise BadCheckpoint(f"{what}: origin {checkpoint.origin!r} is not {header.origin!r}")
    return checkpoint


def check_head(store: LedgerStore, header: StoreHeader) -> Checkpoint:
    """The cheap check made on every open: the latest checkpoint against the frontier."""
    state = store.state()
    head = _open_note(state.checkpoint, header, "latest checkpoint")
    try:
        tree = CompactTree.from_frontier_bytes(state.size, state.frontier)
    except LedgerError as exc:
        raise TamperedEntry(f"tree state: {exc}") from exc
    if head.size != state.size or head.root != tree.root():
        raise BadCheckpoint(
            f"latest checkpoint (size {head.size}) does not match the stored tree "
            f"(size {state.size})"
        )
    return head


def verify_log(store: LedgerStore, header: StoreHeader) -> VerifyReport:
    """Recompute every hash and the tree; check every checkpoint. Raises on the first fault."""
    head = check_head(store, header)
    size = head.size
    wanted: dict[int, bytes] = {}
    notes = store.checkpoints()
    for note in notes:
        cp = _open_note(note, header, "archived checkpoint")
        if cp.size > size:
            raise BadCheckpoint(f"archived checkpoint of size {cp.size} is beyond the log ({size})")
        wanted[cp.size] = cp.root
    wanted[size] = head.root
    check_chunks(store.entry_batches(CHUNK), size, wanted)
    return VerifyReport(size, head.root, len(notes) + 1)


def _decoded(store: LedgerStore, batch: int = 4096):
    """``(index, bytes, entry, {transfer id: stored index})`` for every entry, in order;
    the transfer ids of each batch of entries are looked up in one query."""
    rows = []
    for row in store.entries():
        rows.append(row)
        if len(rows) == batch:
            yield from _decode_batch(store, rows)
            rows = []
    if rows:
        yield from _decode_batch(store, rows)


def _decode_batch(store: LedgerStore, rows: list):
    decoded = []
    for index, data, _ in rows:
        try:
            entry = decode_entry(data)
        except LedgerError as exc:
            raise TamperedEntry(f"entry {index}: {exc}", index=index) from exc
        if encode_entry(entry) != data:
            raise TamperedEntry(f"entry {index}: not in canonical encoding", index=index)
        decoded.append((index, data, entry))
    ids = [e.id for _, _, e in decoded if isinstance(e, Transfer)]
    indexed = store.transfer_indices(ids) if ids else {}
    for index, data, entry in decoded:
        yield index, data, entry, indexed


def audit_log(store: LedgerStore, header: StoreHeader) -> AuditReport:
    """:func:`verify_log`, then replay every entry and compare the stored balances."""
    report = verify_log(store, header)
    states: dict[str, AccountState] = {}
    seen_ids: set[str] = set()
    verified: Verified = {}
    transfers = evidence = 0
    for index, _data, entry, indexed in _decoded(store):
        try:
            if isinstance(entry, Opening):
                if entry.account.id in states:
                    raise CorruptLedger(f"account {entry.account.id!r} opened twice")
                states[entry.account.id] = AccountState(entry.account, 0)
                continue
            if not isinstance(entry, Transfer):
                raise CorruptLedger(f"unknown entry type {type(entry).__name__}")
            if entry.id in seen_ids:
                raise CorruptLedger(f"transfer id {entry.id!r} used twice")
            seen_ids.add(entry.id)
            if indexed.get(entry.id) != index:
                raise CorruptLedger(f"transfer id {entry.id!r} is not indexed at this entry")
            payer, payee = states.get(entry.payer), states.get(entry.payee)
            if payer is None or payee is None:
                raise CorruptLedger("payer or payee was not opened before this transfer")
            check_evidence(
                entry,
                payer.account,
                verified,
                origin=header.origin,
                exchange_key=header.public_key,
            )
            evidence += entry.evidence is not None
            states[entry.payer], states[entry.payee] = apply_transfer(entry, payer, payee)
            transfers += 1
        except LedgerError as exc:
            raise TamperedEntry(f"entry {index}: {exc}", index=index) from exc
    stored = {s.account.id: s for s in store.accounts()}
    for account_id in sorted(set(stored) | set(states)):
        if stored.get(account_id) != states.get(account_id):
            got = stored.get(account_id)
            want = states.get(account_id)
            raise CorruptLedger(
                f"account {account_id!r}: stored as {got and (got.account.kind, got.balance)}, "
                f"the log gives {want and (want.account.kind, want.balance)}"
            )
    balances = {k: s.balance for k, s in sorted(states.items())}
    if sum(balances.values()) != 0:
        raise CorruptLedger(f"balances sum to {sum(balances.values())}, not zero")
    negative = [
        k for k, s in states.items() if s.balance < 0 and s.account.kind is not AccountKind.ISSUER
    ]
    if negative:
        raise CorruptLedger(f"accounts below zero: {', '.join(sorted(negative))}")
    return AuditReport(
        report.size, report.root, report.checkpoints, len(states), transfers, evidence, balances
    )
