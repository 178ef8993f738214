"""Archived checkpoints: the store keeps one at every multiple of the header's interval.

A ledger created with ``checkpoint_interval`` I signs and archives the tree head at
every size k·I the log reaches, also inside a round that crosses several multiples at
once, and records I in its header. Verification then knows which checkpoints must be
there: one missing, moved or extra fails, as does an interval changed in the header.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import (
    BadCheckpoint,
    InvalidArgument,
    Ledger,
    MemoryStore,
    Transfer,
    open_checkpoint,
    open_ledger,
)
from catallax.exchange.ledger.integrity import verify_log
from catallax.node.cli import main

ORIGIN = "catallax.test/archive"
INTERVAL = 4


def _grow(ledger: Ledger, rounds: list[int]) -> None:
    n = 0
    for size in rounds:
        ledger.commit_round(
            [Transfer(f"a{n + i}", "env", "t0", 1, "allowance", "x", n) for i in range(size)]
        )
        n += size


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    key = crypto.generate_private_key()
    folder = tmp_path / "ledger"
    with open_ledger(
        folder, key=key, origin=ORIGIN, create=True, checkpoint_interval=INTERVAL
    ) as ledger:
        ledger.open_account("env", "issuer", crypto.public_key_bytes(key))
        ledger.open_account("t0", "trader", crypto.public_key_bytes(crypto.generate_private_key()))
        _grow(ledger, [1, 3, 10, 2, 1, 9])  # size 28; the 10 and the 9 cross several multiples
    return folder


def _sizes(folder: Path) -> list[int]:
    with open_ledger(folder) as ledger:
        return [open_checkpoint(n, ledger.public_key).size for n in ledger._store.checkpoints()]


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return exit_info.value.code, capsys.readouterr().out


def _sql(folder: Path, statement: str, args: tuple = ()) -> None:
    db = sqlite3.connect(folder / "ledger.sqlite")
    db.execute(statement, args)
    db.commit()
    db.close()


def test_a_checkpoint_is_archived_at_every_multiple_even_inside_a_round(folder: Path) -> None:
    assert _sizes(folder) == [4, 8, 12, 16, 20, 24, 28]
    with open_ledger(folder) as ledger:
        assert ledger.size == 28 and ledger.verify().checkpoints == 8


def test_the_interval_is_the_ledgers_own(folder: Path) -> None:
    with open_ledger(folder) as ledger:
        assert ledger.checkpoint_interval == INTERVAL
    with pytest.raises(InvalidArgument, match="checkpoint_interval"):
        open_ledger(folder, checkpoint_interval=8)


@pytest.mark.parametrize("size", [4, 16, 28])
def test_a_deleted_archived_checkpoint_fails_verification(capsys, folder: Path, size) -> None:
    _sql(folder, "DELETE FROM checkpoints WHERE size = ?", (size,))
    with pytest.raises(BadCheckpoint, match=f"archived checkpoint of size {size}: missing"):
        open_ledger(folder)
    status, out = run_cli(capsys, "ledger", "verify", str(folder))
    assert status == 1 and f"archived checkpoint of size {size}: missing" in out, out


def test_all_archived_checkpoints_deleted_fails_verification(folder: Path) -> None:
    _sql(folder, "DELETE FROM checkpoints")
    with pytest.raises(BadCheckpoint, match="archived checkpoint of size 4: missing"):
        open_ledger(folder)


def test_a_moved_or_extra_archived_checkpoint_fails_verification(folder: Path) -> None:
    with open_ledger(folder) as ledger:
        head = ledger.checkpoint
    _sql(folder, "UPDATE checkpoints SET note = ? WHERE size = 24", (head,))
    with pytest.raises(BadCheckpoint, match="archived checkpoint of size 28: stored twice"):
        open_ledger(folder)


def test_an_interval_changed_in_the_header_fails_verification(folder: Path) -> None:
    _sql(folder, "UPDATE meta SET value = 1000 WHERE key = 'checkpoint_interval'")
    with pytest.raises(BadCheckpoint, match="not a multiple of 1000"):
        open_ledger(folder)


def test_the_memory_store_keeps_the_same_promise() -> None:
    key = crypto.generate_private_key()
    ledger = Ledger(MemoryStore(), key=key, origin=ORIGIN, checkpoint_interval=3)
    ledger.open_account("env", "issuer", crypto.public_key_bytes(key))
    ledger.open_account("t0", "trader", crypto.public_key_bytes(crypto.generate_private_key()))
    _grow(ledger, [7, 1, 5])
    store = ledger._store
    sizes = [open_checkpoint(n, ledger.public_key).size for n in store.checkpoints()]
    assert sizes == [3, 6, 9, 12, 15]
    assert verify_log(store, store.header()).checkpoints == 6
