"""The tables a writer acts on are proven from the log, and hold values of their type only.

The writer checks overdrafts against the ``accounts`` balances and idempotency against
the ``transfer_ids`` index, and those tables are not signed. So opening a ledger for
writing replays the log and refuses a ledger whose tables do not follow from it:
an edited balance (that would let a trader overspend, the forgery then signed into the
log), a deleted id row (that would let a replayed transfer pay twice), an extra id row
(that would block a later real transfer). New files use STRICT tables, so SQLite itself
refuses a REAL balance or a TEXT entry; a file of the older schema (readable, never
written) with a mistyped column fails verification naming the entry or the field.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import CorruptLedger, LedgerStateError, Transfer, open_ledger
from catallax.exchange.ledger.evidence import authorize_transfers
from catallax.node.cli import main

ORIGIN = "catallax.test/derived"

#: The tables of schema 1 (before STRICT tables), as that version created them.
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, nodes BLOB NOT NULL);
CREATE TABLE transfer_ids (id TEXT PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE accounts (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, public_key BLOB, balance INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE tree (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL, frontier BLOB NOT NULL, checkpoint TEXT NOT NULL
);
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
"""
TABLES = ["meta", "entries", "transfer_ids", "accounts", "tree", "checkpoints"]


class World:
    """A ledger: 4 openings (0..3), allowances to t0 and t1 (4, 5), a bid t0 -> t1 (6)."""

    def __init__(self, tmp_path: Path) -> None:
        self.key = crypto.generate_private_key()
        self.traders = {"t0": crypto.generate_private_key(), "t1": crypto.generate_private_key()}
        self.folder = tmp_path / "ledger"
        self.path = self.folder / "ledger.sqlite"
        pub = crypto.public_key_bytes
        with open_ledger(
            self.folder, key=self.key, origin=ORIGIN, create=True, checkpoint_interval=2
        ) as ledger:
            ledger.open_account("env", "issuer", pub(self.key))
            ledger.open_account("t0", "trader", pub(self.traders["t0"]))
            ledger.open_account("t1", "trader", pub(self.traders["t1"]))
            ledger.open_account("treasury", "treasury")
            ledger.commit_round(
                [
                    Transfer("allow-t0", "env", "t0", 100, "allowance", "x", 1),
                    Transfer("allow-t1", "env", "t1", 100, "allowance", "x", 1),
                ]
            )
            ledger.commit_round(self.signed(Transfer("bid-1", "t0", "t1", 30, "bid", "x", 2)))

    def signed(self, *transfers: Transfer) -> list[Transfer]:
        return authorize_transfers(transfers, self.traders, ORIGIN)

    def sql(self, statement: str, args: tuple = ()) -> None:
        db = sqlite3.connect(self.path)
        db.execute(statement, args)
        db.commit()
        db.close()

    def open_writer(self, **kwargs):
        return open_ledger(self.folder, key=self.key, **kwargs)

    def downgrade_to_schema_1(self) -> None:
        """Rewrite the file with schema 1's tables (no STRICT), as an older version left it."""
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("BEGIN")
        for table in TABLES:
            db.execute(f"ALTER TABLE {table} RENAME TO old_{table}")
        for statement in SCHEMA_1.split(";"):
            if statement.strip():
                db.execute(statement)
        for table in TABLES:
            # Schema 1's accounts have no asset column (every account held credits).
            columns = "id, kind, public_key, balance" if table == "accounts" else "*"
            db.execute(f"INSERT INTO {table} SELECT {columns} FROM old_{table}")
            db.execute(f"DROP TABLE old_{table}")
        db.execute("UPDATE meta SET value = 1 WHERE key = 'schema'")
        db.execute("DELETE FROM meta WHERE key = 'checkpoint_interval'")
        db.execute("COMMIT")
        db.close()


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


# --- the derived tables against the log ------------------------------------------------


@pytest.mark.parametrize("verify", [True, False])
def test_an_edited_balance_is_refused_before_it_pays_for_an_overdraft(world, verify) -> None:
    world.sql("UPDATE accounts SET balance = 1000000 WHERE id = 't0'")
    with (
        pytest.raises(CorruptLedger, match="account 't0': balance") as info,
        world.open_writer(verify=verify) as ledger,
    ):
        # Without the proof, t0 (who holds 70) pays 500000 and the log signs it.
        ledger.commit_round(world.signed(Transfer("over", "t0", "t1", 500_000, "bid", "x", 3)))
    assert "1000000" in str(info.value) and "70" in str(info.value)
    with pytest.raises(CorruptLedger, match="account 't0'"):
        open_ledger(world.folder).close()  # a verifying reader refuses it too
    with open_ledger(world.folder, verify=False) as reader, pytest.raises(CorruptLedger):
        reader.audit()


def test_a_deleted_id_row_is_refused_before_a_replayed_transfer_pays_twice(world) -> None:
    world.sql("DELETE FROM transfer_ids WHERE id = 'allow-t0'")
    with (
        pytest.raises(CorruptLedger, match="entry 4: transfer id 'allow-t0'") as info,
        world.open_writer() as ledger,
    ):
        # Without the proof, the replayed allowance is not a duplicate: it pays again.
        ledger.commit_round([Transfer("allow-t0", "env", "t0", 100, "allowance", "x", 1)])
    assert info.value.index == 4


def test_an_extra_id_row_is_refused_before_it_blocks_a_real_transfer(world) -> None:
    world.sql("INSERT INTO transfer_ids (id, idx) VALUES ('allow-t0-2', 2)")
    with (
        pytest.raises(CorruptLedger, match="'allow-t0-2'") as info,
        world.open_writer() as ledger,
    ):
        # Without the proof, the real transfer is refused as a conflicting duplicate.
        ledger.commit_round([Transfer("allow-t0-2", "env", "t0", 5, "allowance", "x", 4)])
    assert info.value.index == 2
    with (
        open_ledger(world.folder, verify=False) as reader,
        pytest.raises(CorruptLedger, match="'allow-t0-2'"),
    ):
        reader.audit()


def test_an_id_row_pointing_elsewhere_and_a_forged_account_are_refused(world) -> None:
    world.sql("UPDATE transfer_ids SET idx = 6 WHERE id = 'allow-t1'")
    with pytest.raises(CorruptLedger, match="entry 5"):
        world.open_writer().close()
    world.sql("UPDATE transfer_ids SET idx = 5 WHERE id = 'allow-t1'")
    world.open_writer().close()
    world.sql("INSERT INTO accounts VALUES ('ghost', 'treasury', NULL, 0, 'credits')")
    with pytest.raises(CorruptLedger, match="account 'ghost'"):
        world.open_writer().close()
    world.sql("DELETE FROM accounts WHERE id = 'ghost'")
    world.sql("DELETE FROM accounts WHERE id = 'treasury'")
    with pytest.raises(CorruptLedger, match="account 'treasury'"):
        world.open_writer().close()


def test_the_cli_names_what_differs(capsys, world) -> None:
    world.sql("UPDATE accounts SET balance = 71 WHERE id = 't0'")
    status, out, _ = run_cli(capsys, "ledger", "audit", str(world.folder))
    assert status == 1 and out.startswith("FAILED ledger: account 't0': balance"), out


# --- values of the wrong type ------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE accounts SET balance = balance + 0.75 WHERE id = 't0'",
        "UPDATE accounts SET balance = 'lots' WHERE id = 't0'",
        "UPDATE entries SET data = CAST(data AS TEXT) WHERE idx = 4",
        "UPDATE entries SET nodes = 7 WHERE idx = 4",
        "UPDATE transfer_ids SET idx = 4.5 WHERE id = 'allow-t0'",
        "UPDATE tree SET size = '7x'",
        "UPDATE tree SET checkpoint = CAST(checkpoint AS BLOB)",
        "UPDATE checkpoints SET note = CAST(note AS BLOB)",
    ],
)
def test_a_new_file_refuses_values_of_the_wrong_type(world, statement) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="cannot store"):
        world.sql(statement)


def test_a_table_rewritten_without_its_types_is_refused(capsys, world) -> None:
    world.downgrade_to_schema_1()
    world.sql("UPDATE meta SET value = 2 WHERE key = 'schema'")  # claims the new schema
    status, out, _ = run_cli(capsys, "ledger", "verify", str(world.folder))
    assert status == 1 and out.startswith("FAILED ledger:") and "schema" in out, out


def test_a_file_of_schema_1_is_read_but_never_written(world) -> None:
    world.downgrade_to_schema_1()
    with open_ledger(world.folder) as reader:
        assert reader.audit().transfers == 3
    with pytest.raises(LedgerStateError, match="schema 1"):
        world.open_writer()


BOTH = ("verify", "audit")


@pytest.mark.parametrize(
    ("statement", "message", "failing"),
    [
        ("UPDATE entries SET data = CAST(data AS TEXT) WHERE idx = 4", "FAILED entry 4: data",
         BOTH),
        ("UPDATE entries SET nodes = 7 WHERE idx = 5", "FAILED entry 5: nodes", BOTH),
        ("UPDATE entries SET data = NULL WHERE idx = 6", None, ()),  # NOT NULL holds
        ("UPDATE accounts SET balance = balance + 0.75 WHERE id = 't0'", "account 't0': balance",
         BOTH),
        ("UPDATE accounts SET public_key = 'k' WHERE id = 't1'", "account 't1': public_key",
         BOTH),
        ("UPDATE transfer_ids SET idx = 4.5 WHERE id = 'allow-t0'", "transfer id 'allow-t0'",
         ("audit",)),
        ("UPDATE tree SET size = 7.0", None, ()),  # INTEGER affinity stores the int 7
        ("UPDATE tree SET size = '7x'", "tree: size", BOTH),
        ("UPDATE tree SET frontier = 'f'", "tree: frontier", BOTH),
        ("UPDATE checkpoints SET note = CAST(note AS BLOB)", "archived checkpoint", BOTH),
        ("UPDATE meta SET value = 5 WHERE key = 'origin'", "meta: origin", BOTH),
    ],
)  # fmt: skip
def test_a_mistyped_column_of_an_old_file_fails_by_name(
    capsys, world, statement, message, failing
) -> None:
    world.downgrade_to_schema_1()
    try:
        world.sql(statement)
    except sqlite3.IntegrityError:
        assert message is None
        return
    for command in BOTH:
        status, out, err = run_cli(capsys, "ledger", command, str(world.folder))
        if command not in failing:
            assert status == 0, (command, out, err)
            continue
        assert status == 1 and "Traceback" not in err, (command, out, err)
        assert out.startswith("FAILED ") and message in out, (command, out)
        assert out.count("\n") == 1
