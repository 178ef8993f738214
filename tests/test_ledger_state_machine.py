"""A hypothesis state machine over a SQLite ledger: random rounds, refusals, interrupted
commits, crashes and reopenings, checked against a plain-Python model after every step.

Invariants: balances equal the model's, no account but an issuer below zero, the sum is
zero, every committed round is present whole and no refused or lost round left a trace,
the tree root equals the naive RFC 6962 root of the model's entries, and the latest
checkpoint verifies and names that root.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from catallax.exchange import crypto
from catallax.exchange.ledger import (
    AccountKind,
    Ledger,
    Opening,
    SqliteStore,
    Transfer,
    TransferError,
    encode_entry,
    evidence_required,
    open_checkpoint,
)
from catallax.exchange.ledger._reference import naive_root
from catallax.exchange.ledger.evidence import authorize_transfers

ORIGIN = "catallax.test/state-machine"
ACCOUNTS = [
    ("env", AccountKind.ISSUER),
    ("env2", AccountKind.ISSUER),
    ("t0", AccountKind.TRADER),
    ("t1", AccountKind.TRADER),
    ("t2", AccountKind.TRADER),
    ("treasury", AccountKind.TREASURY),
]
INTERRUPTED: list[int] = []
KINDS = {
    AccountKind.ISSUER: ["allowance", "reward"],
    AccountKind.TRADER: ["bid", "rent", "trade"],
    AccountKind.TREASURY: ["trade"],
}


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="catallax-sm-"))
        self.path = self.folder / "ledger.sqlite"
        self.exchange = crypto.generate_private_key()
        self.keys = {name: crypto.generate_private_key() for name, _ in ACCOUNTS}
        self.kinds = dict(ACCOUNTS)
        self.balances = {name: 0 for name, _ in ACCOUNTS}
        self.committed: dict[str, bytes] = {}  # transfer id -> encoded entry
        self.rounds: list[list[str]] = []  # committed rounds, as lists of new transfer ids
        self.lost: set[str] = set()  # ids of refused, interrupted or crashed rounds
        self.leaves: list[bytes] = []
        self.serial = 0
        self.ledger: Ledger | None = None

    def teardown(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _open(self) -> None:
        store = SqliteStore(self.path, create=True)
        self.ledger = Ledger(store, key=self.exchange, origin=ORIGIN, checkpoint_interval=8)

    @initialize()
    def open_accounts(self) -> None:
        self._open()
        for name, kind in ACCOUNTS:
            # The treasury holds a key of its own here, so that it may pay (a keyless
            # account cannot).
            key = crypto.public_key_bytes(self.keys[name])
            receipt = self.ledger.open_account(name, kind, key)
            self.leaves.append(self.ledger.entry_bytes(receipt.first))
        assert self.leaves[0] == encode_entry(self.ledger.entry(0))
        assert isinstance(self.ledger.entry(0), Opening)

    # --- building transfers ------------------------------------------------------------

    def _transfer(self, data, *, tid: str | None = None, issuer_pays: bool = False) -> Transfer:
        names = [n for n, _ in ACCOUNTS]
        payers = [n for n in names if self.kinds[n] is AccountKind.ISSUER] if issuer_pays else names
        payer = data.draw(st.sampled_from(payers), label="payer")
        payee = data.draw(st.sampled_from([n for n in names if n != payer]), label="payee")
        kind = data.draw(st.sampled_from(KINDS[self.kinds[payer]]), label="kind")
        amount = data.draw(st.integers(1, 300), label="amount")
        if tid is None:
            self.serial += 1
            tid = f"tx{self.serial}"
        t = Transfer(tid, payer, payee, amount, kind, task="sm", round=len(self.rounds))
        payer_account = self.ledger.account(payer).account
        assert evidence_required(t, payer_account)
        (t,) = authorize_transfers([t], self.keys, ORIGIN)
        return t

    def _predict(self, transfers: list[Transfer]) -> tuple[bool, dict[str, int], list[Transfer]]:
        """Whether the model accepts the round, the balances after it, the new transfers."""
        balances = dict(self.balances)
        seen = dict(self.committed)
        new: list[Transfer] = []
        for t in transfers:
            data = encode_entry(t)
            if t.id in seen:
                if seen[t.id] != data:
                    return False, self.balances, []
                continue
            balances[t.payer] -= t.amount
            balances[t.payee] += t.amount
            if balances[t.payer] < 0 and self.kinds[t.payer] is not AccountKind.ISSUER:
                return False, self.balances, []
            seen[t.id] = data
            new.append(t)
        return True, balances, new

    def _apply(self, balances: dict[str, int], new: list[Transfer]) -> None:
        self.balances = balances
        for t in new:
            data = encode_entry(t)
            self.committed[t.id] = data
            self.leaves.append(data)
        if new:
            self.rounds.append([t.id for t in new])

    # --- rules -------------------------------------------------------------------------

    @rule(data=st.data(), n=st.integers(1, 6))
    def commit_a_round(self, data, n: int) -> None:
        transfers = []
        for _ in range(n):
            if self.committed and data.draw(st.integers(0, 5), label="reuse") == 0:
                old = data.draw(st.sampled_from(sorted(self.committed)), label="old id")
                same = data.draw(st.booleans(), label="same content")
                if same:
                    index = self.ledger.transfer_index(old)
                    transfers.append(self.ledger.entry(index))
                else:
                    transfers.append(self._transfer(data, tid=old))
            else:
                transfers.append(self._transfer(data))
        ok, balances, new = self._predict(transfers)
        if ok:
            receipt = self.ledger.commit_round(transfers)
            assert list(receipt.indices) == list(
                range(len(self.leaves), len(self.leaves) + len(new))
            )
            self._apply(balances, new)
        else:
            try:
                self.ledger.commit_round(transfers)
            except TransferError:
                self.lost.update(t.id for t in transfers if t.id not in self.committed)
            else:
                raise AssertionError("the ledger accepted a round the model refuses")

    @rule(data=st.data())
    def refuse_bad_evidence(self, data) -> None:
        t = self._transfer(data)
        if t.evidence is None:
            return
        ev = t.evidence
        forged = crypto.SignedEnvelope(ev.message, ev.data + b"!", ev.public_key, ev.signature)
        bad = Transfer(t.id, t.payer, t.payee, t.amount, t.kind, t.task, t.round, forged)
        try:
            self.ledger.commit_round([bad])
        except TransferError:
            self.lost.add(t.id)
        else:
            raise AssertionError("forged evidence was accepted")

    @rule(data=st.data(), n=st.integers(1, 4))
    def crash_with_an_open_round(self, data, n: int) -> None:
        ids = []
        r = self.ledger.begin_round()
        for _ in range(n):
            t = self._transfer(data)
            try:
                r.add(t)
                ids.append(t.id)
            except TransferError:
                self.lost.add(t.id)
        self.lost.update(ids)
        self.ledger.close()  # the process dies: the round was never committed
        self._open()

    @rule(data=st.data(), every=st.integers(1, 40), after=st.integers(1, 30))
    def interrupt_a_commit(self, data, every: int, after: int) -> None:
        # SQLite aborts the commit's transaction part-way through (after some VM steps).
        n = data.draw(st.integers(1, 4), label="n")
        transfers = [self._transfer(data, issuer_pays=True) for _ in range(n)]
        ok, balances, new = self._predict(transfers)
        store = self.ledger._store
        calls = [0]

        def abort_later() -> int:
            calls[0] += 1
            return int(calls[0] >= after)

        if store._writer is None:  # reopened and not written yet: no connection to interrupt
            return
        writer = store._writer
        writer.set_progress_handler(abort_later, every)
        assert ok
        try:
            self.ledger.commit_round(transfers)
        except sqlite3.OperationalError:
            self.lost.update(t.id for t in new)
            INTERRUPTED.append(len(new))
        else:
            self._apply(balances, new)
        finally:
            with contextlib.suppress(sqlite3.ProgrammingError):  # an abort may have closed it
                writer.set_progress_handler(None, 0)

    @rule()
    def audit(self) -> None:
        report = self.ledger.audit()
        assert report.balances == self.balances
        assert report.size == len(self.leaves)

    @rule()
    def reopen(self) -> None:
        self.ledger.close()
        self._open()

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def balances_follow_the_model(self) -> None:
        balances = self.ledger.balances()
        assert balances == self.balances
        assert sum(balances.values()) == 0
        for name, value in balances.items():
            assert value >= 0 or self.kinds[name] is AccountKind.ISSUER

    @invariant()
    def rounds_are_whole_and_lost_ones_absent(self) -> None:
        for ids in self.rounds:
            assert all(self.ledger.transfer_index(i) is not None for i in ids)
        for i in self.lost - set(self.committed):
            assert self.ledger.transfer_index(i) is None

    @invariant()
    def tree_is_the_naive_tree_and_checkpoint_verifies(self) -> None:
        assert self.ledger.size == len(self.leaves)
        assert self.ledger.root == naive_root(self.leaves)
        head = open_checkpoint(self.ledger.checkpoint, self.ledger.public_key)
        assert (head.size, head.root) == (len(self.leaves), self.ledger.root)


LedgerMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestLedgerMachine = LedgerMachine.TestCase
