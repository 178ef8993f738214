"""The SQLite ledger file's schema, its creation, and typed reading of its rows.

Schema 3 (goods) adds each account's asset to ``accounts``; schema 2 (issue 8) made
every table ``STRICT`` and recorded the checkpoint interval in ``meta``; schema 1 is
what earlier versions wrote (read, never written). A file of schema 2 is read and
written as before, with accounts of credits only (its accounts have no asset column;
a batch opening an account of a good is refused). Opening a file
compares ``sqlite_master`` with :func:`expected_master` exactly. Every value read back
goes through :func:`typed`, so a value of another type (a file edited by hand, or of
schema 1) is :class:`CorruptStore` naming the field, never a silent conversion.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path

from catallax.exchange.ledger import files
from catallax.exchange.ledger.errors import CorruptStore, LedgerStateError, TransferError
from catallax.exchange.ledger.model import CREDITS, Account, AccountKind
from catallax.exchange.ledger.store import AccountState, StoreHeader, TreeState

__all__ = [
    "SCHEMAS",
    "SCHEMA_VERSION",
    "WITH_ASSETS",
    "WRITABLE",
    "account_columns",
    "account_row",
    "build_file",
    "entry_row",
    "expected_master",
    "statements",
    "typed",
    "write_header",
]

#: Bumped when the tables change. 2: STRICT tables, the checkpoint interval in ``meta``;
#: 3: each account's asset (``accounts.asset``).
SCHEMA_VERSION = 3
#: The schemas this version writes: 3, and 2 for accounts of credits only.
WRITABLE = (2, 3)
#: The schemas whose accounts hold their asset (older ones hold credits only).
WITH_ASSETS = 3

SCHEMAS = {
    3: """
CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT, WITHOUT ROWID;
CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, nodes BLOB NOT NULL) STRICT;
CREATE TABLE transfer_ids (id TEXT PRIMARY KEY, idx INTEGER NOT NULL) STRICT, WITHOUT ROWID;
CREATE TABLE accounts (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, public_key BLOB, balance INTEGER NOT NULL,
    asset TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE tree (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL, frontier BLOB NOT NULL, checkpoint TEXT NOT NULL
) STRICT;
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL) STRICT;
""",
    2: """
CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT, WITHOUT ROWID;
CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, nodes BLOB NOT NULL) STRICT;
CREATE TABLE transfer_ids (id TEXT PRIMARY KEY, idx INTEGER NOT NULL) STRICT, WITHOUT ROWID;
CREATE TABLE accounts (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, public_key BLOB, balance INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE tree (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL, frontier BLOB NOT NULL, checkpoint TEXT NOT NULL
) STRICT;
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL) STRICT;
""",
    1: """
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
""",
}
_SQL_TYPE = {bytes: "a blob", str: "text", int: "an integer", float: "a real"}


def statements(version: int) -> list[str]:
    """The ``CREATE`` statements of schema ``version``."""
    return [s.strip() for s in SCHEMAS[version].split(";") if s.strip()]


@cache
def expected_master(version: int) -> dict[str, tuple]:
    """The ``sqlite_master`` rows that schema ``version`` creates, by name."""
    db = sqlite3.connect(":memory:")
    for statement in statements(version):
        db.execute(statement)
    rows = db.execute("SELECT name, type, tbl_name, sql FROM sqlite_master").fetchall()
    db.close()
    return {row[0]: row for row in rows}


def typed(value: object, want: type, field: str, index: int | None = None) -> object:
    """``value`` if it is a ``want``; else :class:`CorruptStore` naming ``field``."""
    if type(value) is not want:
        got = "null" if value is None else _SQL_TYPE.get(type(value), type(value).__name__)
        raise CorruptStore(f"{field}: stored as {got}, expected {_SQL_TYPE[want]}", index=index)
    return value


def write_header(db: sqlite3.Connection, header: StoreHeader, state: TreeState) -> None:
    """Insert the header into ``meta`` and the tree's first state (inside a transaction)."""
    if header.checkpoint_interval is None:
        raise LedgerStateError("a new ledger file needs its checkpoint interval in its header")
    meta = [
        ("origin", header.origin),
        ("public_key", header.public_key),
        ("checkpoint_interval", header.checkpoint_interval),
    ]
    db.executemany("INSERT INTO meta VALUES (?, ?)", meta)
    db.execute(
        "INSERT INTO tree VALUES (1, ?, ?, ?)", (state.size, state.frontier, state.checkpoint)
    )


def build_file(path: Path, initial: tuple[StoreHeader, TreeState] | None) -> None:
    """Write a whole new ledger file at ``path`` (a temporary name) and close it."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        files._step("created")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        for statement in statements(SCHEMA_VERSION):
            db.execute(statement)
        db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        files._step("schema written")
        if initial is not None:
            write_header(db, *initial)
        db.execute("COMMIT")
        files._step("committed")
    finally:
        db.close()
    files._step("closed")


def entry_row(row: tuple) -> tuple[int, bytes, bytes]:
    """An ``entries`` row ``(idx, data, nodes)``, its blobs checked."""
    index = row[0]
    typed(row[1], bytes, f"entry {index}: data", index)
    typed(row[2], bytes, f"entry {index}: nodes", index)
    return row  # type: ignore[return-value]


def account_columns(with_assets: bool) -> str:
    """The columns :func:`account_row` reads, for a layout with or without assets."""
    return "id, kind, public_key, balance" + (", asset" if with_assets else "")


def account_row(row: tuple) -> AccountState:
    """An ``accounts`` row ``(id, kind, public_key, balance[, asset])`` as an
    :class:`AccountState`; a row without its asset (an older layout) holds credits."""
    what = f"account {row[0]!r}"
    if row[2] is not None:
        typed(row[2], bytes, f"{what}: public_key")
    balance = typed(row[3], int, f"{what}: balance")
    asset = typed(row[4], str, f"{what}: asset") if len(row) > 4 else CREDITS
    try:
        kind = AccountKind(typed(row[1], str, f"{what}: kind"))
        return AccountState(Account(row[0], kind, row[2], asset), balance)  # type: ignore[arg-type]
    except (TransferError, ValueError) as exc:
        raise CorruptStore(f"{what}: stored row is malformed ({exc})") from exc
