"""The SQLite ledger store: one file, WAL, one durable transaction per round.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``, so the WAL is synced at
every commit and an acknowledged round survives a power cut, not only a killed
process (``NORMAL`` in WAL mode may lose the last commits on power loss, so we do
not use it). Each :meth:`SqliteStore.commit` is one ``BEGIN IMMEDIATE ... COMMIT``
holding the entries with the tree nodes each one completed, the transfer ids, the new
balances, the tree state and the signed checkpoint, so a round is there whole or not
at all.

Opening never writes: an existing file is checked first (the SQLite header, the file
length against the page count in the header, ``PRAGMA quick_check``, the schema)
through a read-only connection, which stays the only connection until the first
commit. A damaged file raises :class:`CorruptStore` and is left exactly as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from itertools import count
from pathlib import Path

from catallax.exchange.ledger.errors import CorruptStore, LedgerStateError, TransferError
from catallax.exchange.ledger.model import Account, AccountKind
from catallax.exchange.ledger.store import AccountState, Batch, LedgerStore, StoreHeader, TreeState

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

#: Bumped when the tables change; a file with another version is refused.
SCHEMA_VERSION = 1

_SCHEMA = """
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
_TABLES = {"meta", "entries", "transfer_ids", "accounts", "tree", "checkpoints"}
_MAGIC = b"SQLite format 3\x00"
_READ_BATCH = 4096


def _corrupt(path: Path, exc: sqlite3.DatabaseError) -> CorruptStore:
    return CorruptStore(f"{path}: the SQLite file is damaged ({exc})")


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    # Corruption comes as a plain DatabaseError ("malformed", "not a database");
    # OperationalError (locked, I/O, disk full) is about the environment, not the file.
    return type(exc) is sqlite3.DatabaseError


def _check_file(path: Path) -> None:
    """Check the file header and length; :class:`CorruptStore` if not a whole SQLite file."""
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
        length = path.stat().st_size
    except OSError as exc:
        raise CorruptStore(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise CorruptStore(f"{path}: not a SQLite database (bad or truncated header)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise CorruptStore(f"{path}: corrupted header (page size {page_size})")
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    if length % page_size:
        raise CorruptStore(f"{path}: truncated ({length} bytes is not a whole number of pages)")
    if header_valid and length < pages * page_size:
        raise CorruptStore(
            f"{path}: truncated ({length} bytes, the header says {pages} pages of {page_size})"
        )


class SqliteStore(LedgerStore):
    """A ledger store in one SQLite file (see the module docstring for durability).

    ``create`` makes a new file if there is none; ``readonly`` refuses every commit.
    Not thread-safe: one thread (or one lock) per store.
    """

    def __init__(self, path: str | Path, *, create: bool = False, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._writer: sqlite3.Connection | None = None
        self._closed = False
        if not self.path.exists():
            if not create or readonly:
                raise LedgerStateError(f"{self.path}: no ledger file")
            self._create()
            return
        _check_file(self.path)
        try:
            self._db = self._connect_reader()
        except sqlite3.DatabaseError as exc:
            raise _corrupt(self.path, exc) from exc
        try:
            self.check()
        except BaseException:
            self._db.close()
            raise

    # --- opening --------------------------------------------------------------------

    def _connect_reader(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)

    def _connect_writer(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            db.close()
            raise LedgerStateError(f"{self.path}: cannot switch to WAL (journal mode {mode})")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _create(self) -> None:
        db = self._connect_writer()
        db.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        db.execute("COMMIT")
        self._db = self._writer = db

    def check(self) -> None:
        """``PRAGMA quick_check`` and the schema; :class:`CorruptStore` if either fails."""
        try:
            rows = self._db.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                problems = "; ".join(str(r[0]) for r in rows[:3])
                raise CorruptStore(f"{self.path}: quick_check failed: {problems}")
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
            missing = _TABLES - tables
            if missing:
                raise CorruptStore(
                    f"{self.path}: not a ledger (missing {', '.join(sorted(missing))})"
                )
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                raise CorruptStore(f"{self.path}: unknown ledger schema {row and row[0]!r}")
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "no such table" not in str(exc):
                raise
            raise _corrupt(self.path, exc) from exc

    def _check_open(self) -> None:
        if self._closed:
            raise LedgerStateError(f"{self.path}: store closed")

    def _write_db(self) -> sqlite3.Connection:
        self._check_open()
        if self.readonly:
            raise LedgerStateError(f"{self.path}: opened read-only")
        if self._writer is None:
            writer = self._connect_writer()
            self._db.close()
            self._db = self._writer = writer
        return self._writer

    # --- reading --------------------------------------------------------------------

    def _one(self, sql: str, args: tuple = ()) -> tuple | None:
        self._check_open()
        try:
            return self._db.execute(sql, args).fetchone()
        except sqlite3.DatabaseError as exc:
            if _is_corruption(exc):
                raise _corrupt(self.path, exc) from exc
            raise

    def _iter(self, sql: str, args: tuple) -> Iterator[tuple]:
        self._check_open()
        try:
            cursor = self._db.execute(sql, args)
            while rows := cursor.fetchmany(_READ_BATCH):
                yield from rows
        except sqlite3.DatabaseError as exc:
            if _is_corruption(exc):
                raise _corrupt(self.path, exc) from exc
            raise

    def header(self) -> StoreHeader | None:
        origin = self._one("SELECT value FROM meta WHERE key = 'origin'")
        key = self._one("SELECT value FROM meta WHERE key = 'public_key'")
        if origin is None or key is None:
            return None
        return StoreHeader(str(origin[0]), bytes(key[0]))

    def state(self) -> TreeState:
        row = self._one("SELECT size, frontier, checkpoint FROM tree WHERE id = 1")
        if row is None:
            raise LedgerStateError(f"{self.path}: not initialised")
        return TreeState(row[0], bytes(row[1]), row[2])

    def account(self, account_id: str) -> AccountState | None:
        row = self._one(
            "SELECT id, kind, public_key, balance FROM accounts WHERE id = ?", (account_id,)
        )
        return None if row is None else _account(row)

    def accounts(self) -> list[AccountState]:
        sql = "SELECT id, kind, public_key, balance FROM accounts ORDER BY id"
        return [_account(row) for row in self._iter(sql, ())]

    def transfer_index(self, transfer_id: str) -> int | None:
        row = self._one("SELECT idx FROM transfer_ids WHERE id = ?", (transfer_id,))
        return None if row is None else row[0]

    def transfer_indices(self, transfer_ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for i in range(0, len(transfer_ids), 500):
            chunk = transfer_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id, idx FROM transfer_ids WHERE id IN ({marks})"
            found.update(self._iter(sql, tuple(chunk)))
        return found

    def entries(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes, bytes]]:
        stop = 2**63 - 1 if stop is None else stop
        sql = "SELECT idx, data, nodes FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"
        return self._iter(sql, (start, stop))

    def entry_batches(self, size: int) -> Iterator[list[tuple[int, bytes, bytes]]]:
        self._check_open()
        try:
            cursor = self._db.execute("SELECT idx, data, nodes FROM entries ORDER BY idx")
            while rows := cursor.fetchmany(size):
                yield rows
        except sqlite3.DatabaseError as exc:
            if _is_corruption(exc):
                raise _corrupt(self.path, exc) from exc
            raise

    def entry(self, index: int) -> bytes:
        row = self._one("SELECT data FROM entries WHERE idx = ?", (index,))
        if row is None:
            raise IndexError(f"entry {index} is not stored")
        return row[0]

    def entry_nodes(self, index: int) -> bytes:
        row = self._one("SELECT nodes FROM entries WHERE idx = ?", (index,))
        if row is None:
            raise IndexError(f"entry {index} is not stored")
        return row[0]

    def checkpoints(self) -> list[str]:
        return [row[0] for row in self._iter("SELECT note FROM checkpoints ORDER BY size", ())]

    # --- writing --------------------------------------------------------------------

    def initialize(self, header: StoreHeader, state: TreeState) -> None:
        db = self._write_db()
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM meta WHERE key = 'origin'").fetchone():
                raise LedgerStateError(f"{self.path}: already initialised")
            db.execute("INSERT INTO meta VALUES ('origin', ?)", (header.origin,))
            db.execute("INSERT INTO meta VALUES ('public_key', ?)", (header.public_key,))
            db.execute(
                "INSERT INTO tree VALUES (1, ?, ?, ?)",
                (state.size, state.frontier, state.checkpoint),
            )
            db.execute("COMMIT")
        except BaseException:
            self._abort()
            raise

    def commit(self, batch: Batch) -> None:
        db = self._write_db()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT size FROM tree WHERE id = 1").fetchone()
            if row is None or row[0] != batch.start:
                raise LedgerStateError(
                    f"{self.path}: batch starts at {batch.start} but the log has "
                    f"{row and row[0]} entries"
                )
            db.executemany(
                "INSERT INTO entries (idx, data, nodes) VALUES (?, ?, ?)",
                zip(count(batch.start), batch.entries, batch.nodes),
            )
            db.executemany("INSERT INTO transfer_ids (id, idx) VALUES (?, ?)", batch.transfer_ids)
            db.executemany(
                "INSERT INTO accounts (id, kind, public_key, balance) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET balance = excluded.balance",
                [
                    (s.account.id, s.account.kind.value, s.account.public_key, s.balance)
                    for s in batch.accounts
                ],
            )
            state = batch.state
            db.execute(
                "UPDATE tree SET size = ?, frontier = ?, checkpoint = ? WHERE id = 1",
                (state.size, state.frontier, state.checkpoint),
            )
            if batch.archive:
                db.execute(
                    "INSERT INTO checkpoints (size, note) VALUES (?, ?)",
                    (state.size, state.checkpoint),
                )
            db.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            self._abort()
            raise LedgerStateError(f"{self.path}: batch refused, nothing written ({exc})") from exc
        except BaseException:
            self._abort()
            raise

    def _abort(self) -> None:
        """Roll back the open transaction; if even that fails, drop the connection.

        Closing a connection rolls its transaction back, so no half-written batch can
        stay visible to later reads or be committed by a later batch.
        """
        db = self._writer
        if db is None:
            return
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
            return
        except sqlite3.Error:
            pass
        db.close()
        self._writer = None
        self._db = self._connect_reader()

    def close(self) -> None:
        self._closed = True
        self._db.close()


def _account(row: tuple) -> AccountState:
    try:
        key = None if row[2] is None else bytes(row[2])
        return AccountState(Account(row[0], AccountKind(row[1]), key), int(row[3]))
    except (TransferError, ValueError, TypeError) as exc:
        raise CorruptStore(f"account {row[0]!r}: stored row is malformed ({exc})") from exc
