"""Checking a stored ledger from its bytes: verification, proof of the derived tables, audit.

:func:`verify_log` recomputes every leaf hash from the stored entry bytes, rebuilds the
tree and compares every stored node with it, and checks every stored checkpoint (its
signature by the exchange's key and its root against the rebuilt tree), including that
every checkpoint the header's interval promises is archived. It streams the log, so
memory stays flat, and batches its reads.

:func:`prove_log` also replays the log to the balances and transfer ids it gives and
compares them with the stored tables the writer acts on
(:class:`~catallax.exchange.ledger.replay.Replay`), in the same pass.

:func:`audit_log` does that and checks every entry's canonical encoding and evidence,
that every production report is recorded whole, and that each asset's balances
(credits and every good) sum to zero.

Each reads one consistent snapshot of the store (:meth:`LedgerStore.snapshot`), so a
writer committing meanwhile is never mistaken for damage, and each raises a
:class:`~catallax.exchange.ledger.errors.CorruptLedger` subclass naming the first fault.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from catallax.exchange.ledger.checkpoint import Checkpoint, open_checkpoint
from catallax.exchange.ledger.errors import (
    BadCheckpoint,
    CheckpointError,
    CorruptLedger,
    LedgerError,
    TamperedEntry,
)
from catallax.exchange.ledger.model import CREDITS, Account, AccountKind, Transfer
from catallax.exchange.ledger.rebuild import CHUNK, check_chunks
from catallax.exchange.ledger.replay import Replay
from catallax.exchange.ledger.rules import Verified, check_evidence, unrecorded
from catallax.exchange.ledger.store import AccountState, LedgerStore, StoreHeader
from catallax.exchange.ledger.tree import CompactTree

__all__ = [
    "AuditReport",
    "VerifyReport",
    "audit_log",
    "check_head",
    "prove_log",
    "verify_log",
]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """A verified log: its ``size``, its ``root`` and how many checkpoints were checked."""

    size: int
    root: bytes
    checkpoints: int


@dataclass(frozen=True, slots=True)
class AuditReport:
    """An audited log: what :func:`verify_log` found plus what the replay covered.

    ``balances`` are by account id (units of each account's asset); ``supply`` gives,
    per asset (credits and every good with an account), the units its non-issuer
    accounts hold, which its issuers' balances match exactly (each asset's balances
    sum to zero, checked).
    """

    size: int
    root: bytes
    checkpoints: int
    accounts: int
    transfers: int
    evidence: int
    balances: dict[str, int]
    supply: dict[str, int] = field(default_factory=dict)

    @property
    def assets(self) -> tuple[str, ...]:
        """The assets checked, sorted (credits first)."""
        return tuple(sorted(self.supply, key=lambda a: (a != CREDITS, a)))


def _open_note(note: str, header: StoreHeader, what: str) -> Checkpoint:
    try:
        checkpoint = open_checkpoint(note, header.public_key)
    except CheckpointError as exc:
        raise BadCheckpoint(f"{what}: {exc}") from exc
    if checkpoint.origin != header.origin:
        raise BadCheckpoint(f"{what}: origin {checkpoint.origin!r} is not {header.origin!r}")
    return checkpoint


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def check_head(store: LedgerStore, header: StoreHeader) -> Checkpoint:
    """The cheap check made on every open: the latest checkpoint against the frontier."""
    state = store.state()
    head = _open_note(state.checkpoint, header, "latest checkpoint")
    if head.size != state.size:
        raise BadCheckpoint(
            f"latest checkpoint: it signs size {head.size}, the stored tree has size {state.size}"
        )
    try:
        tree = CompactTree.from_frontier_bytes(state.size, state.frontier)
    except LedgerError as exc:
        raise TamperedEntry(f"tree state: {exc}") from exc
    if head.root != tree.root():
        raise BadCheckpoint(
            f"latest checkpoint: it signs root {_b64(head.root)}, the stored tree's frontier "
            f"gives root {_b64(tree.root())} (both size {head.size})"
        )
    return head


def _archived(store: LedgerStore, header: StoreHeader, head: Checkpoint) -> dict[int, bytes]:
    """The root of every archived checkpoint by size, checked against the header's promise.

    A ledger archives a checkpoint at every multiple of its ``checkpoint_interval`` the
    log reached: each must be there, and nothing else (files of schema 1 promise none).
    """
    size, interval = head.size, header.checkpoint_interval
    roots: dict[int, bytes] = {}
    for note in store.checkpoints():
        cp = _open_note(note, header, "archived checkpoint")
        what = f"archived checkpoint of size {cp.size}"
        if cp.size > size:
            raise BadCheckpoint(f"{what}: beyond the log ({size})")
        if interval is not None and cp.size % interval:
            raise BadCheckpoint(
                f"{what}: not a multiple of {interval}, the interval this ledger archives at"
            )
        if cp.size in roots:
            raise BadCheckpoint(f"{what}: stored twice")
        roots[cp.size] = cp.root
    if interval is not None:
        for promised in range(interval, size + 1, interval):
            if promised not in roots:
                raise BadCheckpoint(
                    f"archived checkpoint of size {promised}: missing (the header promises "
                    f"one every {interval} entries)"
                )
    return roots


def _verify(store: LedgerStore, header: StoreHeader, replay: Replay | None) -> VerifyReport:
    head = check_head(store, header)
    size = head.size
    wanted = _archived(store, header, head)
    archived = len(wanted)
    wanted[size] = head.root
    chunks = store.entry_batches(CHUNK)
    if replay is not None:
        replay.size = size
        chunks = replay.follow(chunks)
    check_chunks(chunks, size, wanted)
    if replay is not None:
        replay.finish()
    return VerifyReport(size, head.root, archived + 1)


def verify_log(store: LedgerStore, header: StoreHeader) -> VerifyReport:
    """Recompute every hash and the tree; check every checkpoint. Raises on the first fault."""
    with store.snapshot():
        return _verify(store, header, None)


def prove_log(
    store: LedgerStore, header: StoreHeader, *, verify: bool = True
) -> dict[str, AccountState]:
    """The accounts the log gives, after checking the stored tables against them.

    With ``verify`` the whole log is verified too, in the same pass; without, only the
    latest checkpoint against the tree state, and the entries are replayed as stored.
    """
    replay = Replay(store)
    with store.snapshot():
        if verify:
            _verify(store, header, replay)
        else:
            replay.size = check_head(store, header).size
            replay.feed(store.entries(0, replay.size))
            replay.finish()
    return replay.states


def audit_log(store: LedgerStore, header: StoreHeader) -> AuditReport:
    """:func:`verify_log` and the replay of every entry: encoding, evidence, balances."""
    verified = Verified()

    def evidence(entry: Transfer, payer: Account, payee: Account) -> None:
        check_evidence(
            entry,
            payer,
            verified,
            origin=header.origin,
            exchange_key=header.public_key,
            payee=payee,
        )
        verified.record(entry)

    replay = Replay(store, check=evidence, canonical=True)
    with store.snapshot():
        report = _verify(store, header, replay)
    missing = unrecorded(verified)
    if missing:
        raise CorruptLedger(
            f"production report: its items {', '.join(map(repr, missing[:5]))} are not in "
            "the log (a report's productions are recorded together)"
        )
    states = replay.states
    balances = {k: s.balance for k, s in sorted(states.items())}
    sums: dict[str, int] = {CREDITS: 0}
    supply: dict[str, int] = {CREDITS: 0}
    for s in states.values():
        asset = s.account.asset
        sums[asset] = sums.get(asset, 0) + s.balance
        held = s.balance if s.account.kind is not AccountKind.ISSUER else 0
        supply[asset] = supply.get(asset, 0) + held
    unbalanced = {a: n for a, n in sorted(sums.items()) if n != 0}
    if unbalanced:
        what = ", ".join(f"{a} sum to {n}" for a, n in unbalanced.items())
        raise CorruptLedger(f"balances of {what}, not zero")
    negative = [
        k for k, s in states.items() if s.balance < 0 and s.account.kind is not AccountKind.ISSUER
    ]
    if negative:
        raise CorruptLedger(f"accounts below zero: {', '.join(sorted(negative))}")
    return AuditReport(
        report.size,
        report.root,
        report.checkpoints,
        len(states),
        replay.transfers,
        replay.evidence,
        balances,
        supply,
    )
