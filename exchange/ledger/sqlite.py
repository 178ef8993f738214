"""The SQLite ledger store: one file, WAL, one durable transaction per round.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``, so the WAL is synced at
every commit and an acknowledged round survives a power cut, not only a killed
process (``NORMAL`` in WAL mode may lose the last commits on power loss, so we do
not use it). Each :meth:`SqliteStore.commit` is one ``BEGIN IMMEDIATE ... COMMIT``
holding the entries with the tree nodes each one completed, the transfer ids, the new
balances, the tree state and the signed checkpoints, so a round is there whole or not
at all. A ``COMMIT`` can report an error after it made the round durable (an interrupt
checked on the statement's way out); the store then reads the file's head through a
fresh connection and returns normally if the round landed, so that a raised commit
always means nothing was written.

Tables are ``STRICT`` (schema 2 and 3), so SQLite refuses a value of another type;
every read checks the types again (files of schema 1 have no such tables, and a file
can be edited by hand), and a mistyped value is :class:`CorruptStore` naming the field.
New files are schema 3, whose accounts keep their asset. A file of schema 2 is read
and written as before, for accounts of credits only (:attr:`SqliteStore.holds_goods`
is False; a batch holding an account of a good is refused); a file of schema 1 can be
read and verified but is never written.

Opening never writes: an existing file is checked first (the SQLite header, the file
length against the page count in the header, ``PRAGMA quick_check``, the exact schema)
through a read-only connection, which stays the only connection until the first
commit. A damaged file raises :class:`CorruptStore` and is left exactly as it was. A
new file is built under a temporary name and renamed into place
(:func:`~catallax.exchange.ledger.files.create_atomically`). A store opened for
writing holds the folder's :class:`~catallax.exchange.ledger.files.WriterLock` until
it is closed. :meth:`SqliteStore.snapshot` holds one read transaction, so that every
read inside it sees the same committed state whatever a writer does meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from itertools import count
from pathlib import Path

from catallax.exchange.ledger import files
from catallax.exchange.ledger.errors import CorruptStore, LedgerStateError, LedgerUnavailable
from catallax.exchange.ledger.schema import (
    SCHEMA_VERSION,
    SCHEMAS,
    WITH_ASSETS,
    WRITABLE,
    account_columns,
    account_row,
    build_file,
    entry_row,
    expected_master,
    typed,
    write_header,
)
from catallax.exchange.ledger.store import (
    AccountState,
    Batch,
    LedgerStore,
    StoreHeader,
    TreeState,
    check_batch_keys,
)

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

_READ_BATCH = 4096


def _end_stale(db: sqlite3.Connection) -> None:
    """Roll back a transaction left open by an interrupted statement (its own COMMIT or
    ROLLBACK cut short as well). Outside a snapshot or a commit no transaction is ours,
    so it holds nothing that could be lost."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def _corrupt(path: Path, exc: sqlite3.DatabaseError) -> CorruptStore:
    return CorruptStore(f"{path}: the SQLite file is damaged ({exc})")


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    # Corruption comes as a plain DatabaseError ("malformed", "not a database");
    # OperationalError (locked, I/O, disk full) is about the environment, not the file.
    return type(exc) is sqlite3.DatabaseError


class SqliteStore(LedgerStore):
    """A ledger store in one SQLite file (see the module docstring).

    ``create`` makes a new file if there is none, atomically, holding ``initial`` (the
    header and the empty tree's state) when given; ``readonly`` refuses every commit
    and takes no lock. Not thread-safe: one thread (or one lock) per store.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = False,
        readonly: bool = False,
        initial: tuple[StoreHeader, TreeState] | None = None,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._writer: sqlite3.Connection | None = None
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self._depth = 0
        self._unsettled: str | None = None
        self._lock = None if readonly else files.WriterLock(self.path)
        try:
            if not self.path.exists():
                if not create or readonly:
                    raise LedgerStateError(f"{self.path}: no ledger file")
                files.create_atomically(self.path, lambda temporary: build_file(temporary, initial))
            files.check_file(self.path)
            try:
                self._db = self._connect_reader()
            except sqlite3.DatabaseError as exc:
                raise _corrupt(self.path, exc) from exc
            self.check()
            if not readonly and self.schema not in WRITABLE:
                raise LedgerStateError(
                    f"{self.path}: a ledger of schema {self.schema}, written by an older "
                    f"version; it can be verified read-only but not written (this version "
                    f"writes schemas {', '.join(map(str, WRITABLE))})"
                )
        except BaseException:
            self.close()
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

    def check(self) -> None:
        """``PRAGMA quick_check`` and the exact schema; :class:`CorruptStore` if either fails."""
        with self.snapshot():
            try:
                self._check()
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and "no such table" not in str(exc):
                    raise
                raise _corrupt(self.path, exc) from exc

    def _check(self) -> None:
        db = self._conn()
        rows = db.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            problems = "; ".join(str(r[0]) for r in rows[:3])
            raise CorruptStore(f"{self.path}: quick_check failed: {problems}")
        found = {r[0]: r for r in db.execute("SELECT name, type, tbl_name, sql FROM sqlite_master")}
        missing = set(expected_master(SCHEMA_VERSION)) - set(found)
        if missing:
            raise CorruptStore(f"{self.path}: not a ledger (missing {', '.join(sorted(missing))})")
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        version = None if row is None else row[0]
        if type(version) is not int or version not in SCHEMAS:
            raise CorruptStore(f"{self.path}: unknown ledger schema {version!r}")
        expected = expected_master(version)
        for name in sorted(set(found) | set(expected)):
            if name not in expected:
                kind = found[name][1]
                raise CorruptStore(f"{self.path}: schema: unexpected {kind} {name!r}")
            if found[name] != expected[name]:
                raise CorruptStore(
                    f"{self.path}: schema: table {name!r} is not as schema {version} makes it"
                )
        self.schema = version

    @property
    def holds_goods(self) -> bool:  # type: ignore[override]
        """Whether the file keeps each account's asset (schema 3); older files keep
        accounts of credits only."""
        return self.schema >= WITH_ASSETS

    @property
    def layout(self) -> str:  # type: ignore[override]
        """The file's schema, for messages."""
        return f"SQLite schema {self.schema}"

    def _conn(self) -> sqlite3.Connection:
        if self._closed or self._db is None:
            raise LedgerStateError(f"{self.path}: store closed")
        return self._db

    def _write_db(self) -> sqlite3.Connection:
        self._conn()
        if self.readonly:
            raise LedgerStateError(f"{self.path}: opened read-only")
        if self._depth:
            raise LedgerStateError(f"{self.path}: cannot commit inside a snapshot")
        if self._unsettled is not None:
            raise LedgerUnavailable(self._unsettled)
        if self._writer is None:
            writer = self._connect_writer()
            self._conn().close()
            self._db = self._writer = writer
        return self._writer

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Hold one read transaction: every read inside sees the same committed state."""
        db = self._conn()
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        _end_stale(db)
        db.execute("BEGIN")
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            if db.in_transaction:  # a read transaction: ending it cannot lose anything
                try:
                    db.execute("COMMIT")
                except sqlite3.Error:
                    with suppress(sqlite3.Error):
                        db.execute("ROLLBACK")

    # --- reading --------------------------------------------------------------------

    def _one(self, sql: str, args: tuple = ()) -> tuple | None:
        try:
            return self._conn().execute(sql, args).fetchone()
        except sqlite3.DatabaseError as exc:
            if _is_corruption(exc):
                raise _corrupt(self.path, exc) from exc
            raise

    def _batches(self, sql: str, args: tuple, size: int = _READ_BATCH) -> Iterator[list[tuple]]:
        try:
            cursor = self._conn().execute(sql, args)
            while rows := cursor.fetchmany(size):
                yield rows
        except sqlite3.DatabaseError as exc:
            if _is_corruption(exc):
                raise _corrupt(self.path, exc) from exc
            raise

    def _iter(self, sql: str, args: tuple) -> Iterator[tuple]:
        for rows in self._batches(sql, args):
            yield from rows

    def header(self) -> StoreHeader | None:
        meta = dict(self._iter("SELECT key, value FROM meta", ()))
        if "origin" not in meta or "public_key" not in meta:
            return None
        origin = typed(meta["origin"], str, "meta: origin")
        key = typed(meta["public_key"], bytes, "meta: public_key")
        interval = meta.get("checkpoint_interval")
        if self.schema >= 2 or interval is not None:
            typed(interval, int, "meta: checkpoint_interval")
            if interval < 1:
                raise CorruptStore(f"meta: checkpoint_interval {interval} is not >= 1")
        return StoreHeader(origin, key, interval)  # type: ignore[arg-type]

    def state(self) -> TreeState:
        row = self._one("SELECT size, frontier, checkpoint FROM tree WHERE id = 1")
        if row is None:
            raise LedgerStateError(f"{self.path}: not initialised")
        size = typed(row[0], int, "tree: size")
        frontier = typed(row[1], bytes, "tree: frontier")
        checkpoint = typed(row[2], str, "tree: checkpoint")
        return TreeState(size, frontier, checkpoint)  # type: ignore[arg-type]

    def account(self, account_id: str) -> AccountState | None:
        columns = account_columns(self.holds_goods)
        row = self._one(f"SELECT {columns} FROM accounts WHERE id = ?", (account_id,))
        return None if row is None else account_row(row)

    def accounts(self) -> list[AccountState]:
        sql = f"SELECT {account_columns(self.holds_goods)} FROM accounts ORDER BY id"
        return [account_row(row) for row in self._iter(sql, ())]

    def transfer_index(self, transfer_id: str) -> int | None:
        row = self._one("SELECT idx FROM transfer_ids WHERE id = ?", (transfer_id,))
        return None if row is None else typed(row[0], int, f"transfer id {transfer_id!r}: idx")  # type: ignore[return-value]

    def transfer_indices(self, transfer_ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for i in range(0, len(transfer_ids), 500):
            chunk = transfer_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id, idx FROM transfer_ids WHERE id IN ({marks})"
            for tid, index in self._iter(sql, tuple(chunk)):
                found[tid] = typed(index, int, f"transfer id {tid!r}: idx")  # type: ignore[assignment]
        return found

    def transfer_ids(self) -> Iterator[tuple[int, str]]:
        for tid, index in self._iter("SELECT id, idx FROM transfer_ids ORDER BY idx, id", ()):
            yield typed(index, int, f"transfer id {tid!r}: idx"), tid  # type: ignore[misc]

    def entries(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes, bytes]]:
        stop = 2**63 - 1 if stop is None else stop
        sql = "SELECT idx, data, nodes FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"
        for row in self._iter(sql, (start, stop)):
            yield entry_row(row)

    def entry_batches(self, size: int) -> Iterator[list[tuple[int, bytes, bytes]]]:
        # Types are checked by the verification that reads these (rebuild.check_chunks).
        return self._batches("SELECT idx, data, nodes FROM entries ORDER BY idx", (), size)

    def entry(self, index: int) -> bytes:
        row = self._one("SELECT data FROM entries WHERE idx = ?", (index,))
        if row is None:
            raise IndexError(f"entry {index} is not stored")
        return typed(row[0], bytes, f"entry {index}: data", index)  # type: ignore[return-value]

    def entry_nodes(self, index: int) -> bytes:
        row = self._one("SELECT nodes FROM entries WHERE idx = ?", (index,))
        if row is None:
            raise IndexError(f"entry {index} is not stored")
        return typed(row[0], bytes, f"entry {index}: nodes", index)  # type: ignore[return-value]

    def checkpoints(self) -> list[str]:
        rows = self._iter("SELECT size, note FROM checkpoints ORDER BY size", ())
        return [typed(note, str, f"archived checkpoint {size}: note") for size, note in rows]  # type: ignore[misc]

    # --- writing --------------------------------------------------------------------

    def initialize(self, header: StoreHeader, state: TreeState) -> None:
        db = self._write_db()
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM meta WHERE key = 'origin'").fetchone():
                raise LedgerStateError(f"{self.path}: already initialised")
            write_header(db, header, state)
            db.execute("COMMIT")
        except BaseException:
            self._abort()
            raise

    def commit(self, batch: Batch) -> None:
        goods = self.holds_goods
        check_batch_keys(batch, goods=goods)
        db = self._write_db()
        _end_stale(db)
        try:
            db.execute("BEGIN IMMEDIATE")
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
            rows = [
                (s.account.id, s.account.kind.value, s.account.public_key, s.balance)
                + ((s.account.asset,) if goods else ())
                for s in batch.accounts
            ]
            marks = ", ".join("?" * (5 if goods else 4))
            db.executemany(
                f"INSERT INTO accounts ({account_columns(goods)}) VALUES ({marks}) "
                "ON CONFLICT (id) DO UPDATE SET balance = excluded.balance",
                rows,
            )
            state = batch.state
            db.execute(
                "UPDATE tree SET size = ?, frontier = ?, checkpoint = ? WHERE id = 1",
                (state.size, state.frontier, state.checkpoint),
            )
            if batch.archive:
                db.executemany("INSERT INTO checkpoints (size, note) VALUES (?, ?)", batch.archive)
        except sqlite3.IntegrityError as exc:
            self._abort()
            raise LedgerStateError(f"{self.path}: batch refused, nothing written ({exc})") from exc
        except BaseException:
            self._abort()
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:  # COMMIT did not run: the transaction is still ours
                self._abort()
                raise
            if not self._settle(batch.state, exc):
                raise
        except BaseException:
            self._abort()
            raise

    def _settle(self, state: TreeState, exc: sqlite3.Error) -> bool:
        """After ``COMMIT`` reported ``exc`` and left no transaction open: did it land?

        SQLite ends the transaction either way: committed durably (the error came after
        the commit, e.g. a progress handler interrupting the statement on its way out)
        or rolled back. Which one is read from the file through a fresh read-only
        connection: the writer's own connection may fail the same way again (a progress
        handler or an interrupt is per connection). We hold the writer lock, so the
        stored head is this batch's exactly when the batch landed. If even that read
        fails the outcome is unknown; the store then refuses every further commit, so
        that the ledger above it can never write on a head it does not know.
        """
        try:
            reader = self._connect_reader()
            try:
                row = reader.execute("SELECT size, frontier, checkpoint FROM tree WHERE id = 1")
                row = row.fetchone()
            finally:
                reader.close()
        except sqlite3.Error as check:
            self._unsettled = (
                f"{self.path}: a commit failed ({exc}) and whether it landed is unknown "
                f"({check}); reopen the ledger"
            )
            raise LedgerUnavailable(self._unsettled) from exc
        return row is not None and TreeState(*row) == state

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
        if self._db is not None:
            self._db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
