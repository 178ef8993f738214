"""Commits that SQLite interrupts part-way, at every point of the ``COMMIT`` statement.

SQLite checks its progress handler once more on a statement's way out, after the
``COMMIT`` made the round durable, so a commit can report ``interrupted`` for a round
that is there (the state machine in ``test_ledger_state_machine.py`` found it). A
handler that keeps refusing also fails every later statement on the same connection.
Whatever the point, a round must be whole in both the file and the ledger's memory, or
absent from both, and the ledger must go on committing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import AccountKind, Ledger, LedgerStateError, SqliteStore, Transfer
from catallax.exchange.ledger.evidence import authorize_transfers

ORIGIN = "catallax.test/interrupted-commit"


class Bench:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "ledger.sqlite"
        self.exchange = crypto.generate_private_key()
        self.keys = {"env": crypto.generate_private_key(), "env2": crypto.generate_private_key()}
        self.serial = 0
        self.committed: list[str] = []
        self.lost: list[str] = []
        self.ledger = self.open()
        for name, key in self.keys.items():
            self.ledger.open_account(name, AccountKind.ISSUER, crypto.public_key_bytes(key))

    def open(self) -> Ledger:
        store = SqliteStore(self.path, create=True)
        return Ledger(store, key=self.exchange, origin=ORIGIN, checkpoint_interval=8)

    def transfers(self, n: int) -> list[Transfer]:
        out = []
        for _ in range(n):
            self.serial += 1
            out.append(Transfer(f"tx{self.serial}", "env", "env2", 1, "allowance", task="t"))
        return authorize_transfers(out, self.keys, ORIGIN)

    def stored_head(self) -> tuple[int, str]:
        """The head in the file, read through a connection of our own."""
        db = sqlite3.connect(self.path)
        try:
            return db.execute("SELECT size, checkpoint FROM tree WHERE id = 1").fetchone()
        finally:
            db.close()

    def interrupted_commit(self, n: int, k: int) -> tuple[bool, bool]:
        """Commit ``n`` transfers while SQLite aborts at the ``k``-th progress check of the
        ``COMMIT`` statement, and at every check after it (on any statement) until the call
        returns. Whether the handler fired, and whether the commit raised."""
        writer = self.ledger._store._write_db()  # a fresh one if an abort dropped it
        seen = {"commit": False, "checks": 0}

        def trace(sql: str) -> None:
            seen["commit"] = seen["commit"] or sql == "COMMIT"

        def progress() -> int:
            if seen["commit"]:
                seen["checks"] += 1
            return int(seen["checks"] >= k)

        transfers = self.transfers(n)
        writer.set_trace_callback(trace)
        writer.set_progress_handler(progress, 1)
        try:
            self.ledger.commit_round(transfers)
        except sqlite3.OperationalError:
            raised = True
            self.lost += [t.id for t in transfers]
        else:
            raised = False
            self.committed += [t.id for t in transfers]
        finally:
            with contextlib.suppress(sqlite3.ProgrammingError):  # an abort may close it
                writer.set_progress_handler(None, 0)
                writer.set_trace_callback(None)
        assert seen["commit"]
        return seen["checks"] >= k, raised

    def check(self) -> None:
        ledger = self.ledger
        assert self.stored_head() == (ledger.size, ledger.checkpoint)
        assert ledger.size == 2 + len(self.committed)
        assert ledger.balance("env2") == len(self.committed) == -ledger.balance("env")
        assert all(ledger.transfer_index(i) is not None for i in self.committed)
        assert all(self.ledger._store.transfer_index(i) is None for i in self.lost)


def test_a_commit_interrupted_anywhere_in_commit_is_whole_or_absent(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    outcomes = []
    for k in range(1, 100):
        fired, raised = bench.interrupted_commit(1 + k % 3, k)
        bench.check()
        outcomes.append((fired, raised))
        if not fired:  # the COMMIT statement ran to its end before the k-th check
            break
    else:
        raise AssertionError("the COMMIT statement never finished uninterrupted")
    assert (True, True) in outcomes  # interrupted before the round landed: absent
    assert (True, False) in outcomes  # interrupted after it landed: it counts

    transfers = bench.transfers(2)
    bench.ledger.commit_round(transfers)
    bench.committed += [t.id for t in transfers]
    bench.check()
    assert bench.ledger.audit().balances == bench.ledger.balances()
    size, root, balances = bench.ledger.size, bench.ledger.root, bench.ledger.balances()
    bench.ledger.close()
    bench.ledger = bench.open()
    assert (bench.ledger.size, bench.ledger.root, bench.ledger.balances()) == (
        size,
        root,
        balances,
    )
    bench.check()
    bench.ledger.close()


def test_an_unknown_outcome_stops_commits_until_reopened(tmp_path, monkeypatch) -> None:
    bench = Bench(tmp_path)
    k = 1
    while bench.interrupted_commit(1, k) != (True, False):  # find the check after landing
        bench.check()
        k += 1
    bench.check()
    store = bench.ledger._store

    def unreadable() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    # The same interrupt again, and the file cannot be read back to learn the outcome.
    with monkeypatch.context() as m:
        m.setattr(store, "_connect_reader", unreadable)
        with pytest.raises(LedgerStateError, match="whether it landed is unknown"):
            bench.interrupted_commit(1, k)
    # The round did land; the ledger, still at the old head, refuses to write on.
    assert bench.stored_head()[0] == bench.ledger.size + 1
    with pytest.raises(LedgerStateError, match="whether it landed is unknown"):
        bench.ledger.commit_round(bench.transfers(1))
    bench.ledger.close()
    bench.ledger = bench.open()
    assert bench.stored_head() == (bench.ledger.size, bench.ledger.checkpoint)
    bench.ledger.commit_round(bench.transfers(1))
    assert bench.stored_head() == (bench.ledger.size, bench.ledger.checkpoint)
    bench.ledger.close()
