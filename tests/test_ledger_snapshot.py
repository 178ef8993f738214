"""Verifying a live ledger: a real writer process commits rounds while we verify and audit.

Verification must read one consistent snapshot of the file, so a commit landing in the
middle of a check never makes a healthy ledger look tampered (before: ``beyond the
signed tree size``, ``archived checkpoint ... is beyond the log``). The writer prints an
acknowledgement after each commit and commits ``PERMIT`` rounds for each line it reads
on stdin, so the parent paces it by events, never by sleeping. In the middle of the run
the parent really edits an already signed entry through a third SQLite connection; the
next verification must catch it, and after the edit is undone the checks pass again.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import TamperedEntry, audit_log, open_ledger, verify_log
from catallax.node import keys

ORIGIN = "catallax.test/live"
RUNS = 100
PERMIT = 8  # rounds the writer commits per permit
CLI_EVERY = 25  # every so many runs, also the installed command line
TAMPER_AT = 50

WRITER = r"""
import sys
from catallax.exchange.ledger import Transfer, open_ledger
from catallax.node import keys

folder, key_file = sys.argv[1], sys.argv[2]
ledger = open_ledger(folder, key=keys.load_private_key(key_file), checkpoint_interval=64)
r = 0
for permit in sys.stdin:
    for _ in range(int(permit)):
        ledger.commit_round(
            [Transfer(f"r{r}-{i}", "env", f"t{i % 2}", 1 + i, "allowance", "live", r)
             for i in range(5)]
        )
        print(ledger.size, flush=True)
        r += 1
ledger.close()
"""

CLI = [sys.executable, "-c", "from catallax.node.cli import main; main()"]


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    key = crypto.generate_private_key()
    key_file = keys.save_private_key(key, tmp_path / "exchange.pem")
    folder = tmp_path / "ledger"
    with open_ledger(folder, key=key, origin=ORIGIN, create=True, checkpoint_interval=64) as led:
        led.open_account("env", "issuer", crypto.public_key_bytes(key))
        led.open_account("t0", "trader", crypto.public_key_bytes(crypto.generate_private_key()))
        led.open_account("t1", "trader", crypto.public_key_bytes(crypto.generate_private_key()))
    return folder, key_file


class Writer:
    """The writer process: ``permit(n)`` lets it commit ``n`` rounds; ``ack()`` waits for one."""

    def __init__(self, folder: Path, key_file: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), str(key_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.pending = 0

    def permit(self, rounds: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{rounds}\n")
        self.proc.stdin.flush()
        self.pending += rounds

    def ack(self) -> int:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"writer died: {self.proc.stderr.read()}")
        self.pending -= 1
        return int(line)

    def drain(self) -> int:
        size = 0
        while self.pending:
            size = self.ack()
        return size

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def _check_in_process(folder: Path) -> None:
    with open_ledger(folder) as ledger:  # opening verifies the whole log
        ledger.verify()
        ledger.audit()
        store = ledger._store
        verify_log(store, store.header())
        audit_log(store, store.header())


def _check_cli(folder: Path, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "ledger", command, str(folder)], capture_output=True, text=True, timeout=120
    )


def _flip_entry(path: Path, index: int) -> bytes:
    db = sqlite3.connect(path, timeout=60)
    (data,) = db.execute("SELECT data FROM entries WHERE idx = ?", (index,)).fetchone()
    forged = data[:-1] + bytes([data[-1] ^ 0x01])
    db.execute("UPDATE entries SET data = ? WHERE idx = ?", (forged, index))
    db.commit()
    db.close()
    return data


def _restore_entry(path: Path, index: int, data: bytes) -> None:
    db = sqlite3.connect(path, timeout=60)
    db.execute("UPDATE entries SET data = ? WHERE idx = ?", (data, index))
    db.commit()
    db.close()


@pytest.mark.timeout(600)
def test_verify_and_audit_a_ledger_while_a_writer_commits(tmp_path: Path) -> None:
    folder, key_file = _setup(tmp_path)
    path = folder / "ledger.sqlite"
    writer = Writer(folder, key_file)
    false_reports: list[str] = []
    caught = None
    try:
        writer.permit(PERMIT)
        writer.ack()  # the writer is up and committing
        for run in range(RUNS):
            writer.permit(PERMIT)  # commits race with the checks below
            try:
                _check_in_process(folder)
            except Exception as exc:  # every report is collected
                false_reports.append(f"run {run}: {type(exc).__name__}: {exc}")
            if run % CLI_EVERY == 0:
                for command in ("verify", "audit"):
                    result = _check_cli(folder, command)
                    if result.returncode != 0 or not result.stdout.startswith("ok:"):
                        false_reports.append(f"run {run} cli {command}: {result.stdout}")
            if run == TAMPER_AT:
                writer.drain()
                original = _flip_entry(path, 3)  # an entry signed long ago
                writer.permit(PERMIT)
                with pytest.raises(TamperedEntry) as info:
                    _check_in_process(folder)
                caught = info.value
                result = _check_cli(folder, "verify")
                assert result.returncode == 1, result.stdout
                assert result.stdout.startswith("FAILED entry 3:"), result.stdout
                _restore_entry(path, 3, original)
            writer.drain()
    finally:
        writer.stop()
    assert false_reports == [], "\n".join(false_reports[:5])
    assert caught is not None and caught.index == 3
    assert writer.proc.returncode == 0, writer.proc.stderr.read()
    with open_ledger(folder) as ledger:
        assert ledger.size == 3 + 5 * PERMIT * (RUNS + 2)
        assert ledger.audit().transfers == 5 * PERMIT * (RUNS + 2)
