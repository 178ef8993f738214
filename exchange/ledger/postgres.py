"""The PostgreSQL ledger store (psycopg 3): one schema per ledger, one transaction per round.

Location: a libpq URL with a ``schema`` query parameter
(:mod:`~catallax.exchange.ledger.location`), e.g.
``postgresql://root@127.0.0.1:5432/test?schema=exchange_a``; the ``schema=`` argument
may name it instead (default ``catallax_ledger``). A ledger is the URL's database plus
that schema, so several ledgers can share one database. The schema holds six tables
(the SQLite file's, in PostgreSQL types): ``meta`` (one row: the layout version, then the
header), ``entries``, ``transfer_ids`` (with an index by entry), ``accounts``, ``tree``
(one row) and ``checkpoints``. Amounts, balances, sizes and indices are ``BIGINT``: the
ledger's rules keep every balance within +-(2**63 - 1) units
(:data:`~catallax.exchange.ledger.MAX_AMOUNT`), exactly the SQLite ``INTEGER`` range;
a value beyond it is refused by the server and the batch with it. Texts are
``COLLATE "C"``, so that ids sort by their bytes, as everywhere else.

Durability: every connection runs with ``synchronous_commit = on``, so ``COMMIT``
returns once the round is flushed to the server's write-ahead log (durable if the
server itself runs with ``fsync = on``, its default). Each :meth:`PostgresStore.commit`
is one transaction sent as one pipeline (one round trip): ``BEGIN``; the update of the
``tree`` row, which moves the head only from the batch's start (from anywhere else it
would set the checkpoint to NULL, which the table refuses); each table's new rows as
arrays (``unnest``); ``COMMIT``. A stale start, a repeated transfer id, an archived
size already there or any other constraint aborts the transaction before its
``COMMIT``, and nothing is applied (:class:`LedgerStateError`). If the connection is
lost during a commit, whether the round landed is read back through a fresh connection
(its entries at their indices), and the store then refuses every further use: reopen
the ledger.

One writer: a store opened for writing takes the session-level advisory lock
``pg_try_advisory_lock(k)``, ``k`` the first 8 bytes of SHA-256 of the schema name (the
lock space is per database), and holds it on its one connection until it is closed;
another writer, in any process, gets :class:`WriterLocked` when it opens, as with the
SQLite folder lock. The server drops the lock when the session ends, so a killed writer
never leaves it behind. (Through a pooler in transaction mode a session lock means
nothing: connect to the server or to a session-mode pool.)

Opening never writes: the catalog of the schema is compared with the expected tables,
columns, types, primary keys and (no) triggers of a layout (:data:`LAYOUTS`: 2, whose
accounts keep their asset, or 1, accounts of credits only, still read and written for
credits), and ``meta.schema`` must name that layout; a mismatch is
:class:`CorruptStore`. A read-only store's session runs with
``default_transaction_read_only``. A new ledger (``create``) is made
in one transaction: the schema if missing, the tables, the header when given.
:meth:`PostgresStore.snapshot` is one ``REPEATABLE READ READ ONLY`` transaction, so
every read inside it sees one committed state whatever other connections commit. Long
reads are paged by key (the log is append-only), so iterators never hold a cursor
across a caller's other calls. Server and connection failures are
:class:`LedgerStateError` with the server's message on one line; damaged data the
server reports (``XX001``/``XX002``) is :class:`CorruptStore`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from catallax.exchange.ledger.errors import (
    CorruptStore,
    InvalidArgument,
    LedgerStateError,
    LedgerUnavailable,
    NoLedger,
    WriterLocked,
)
from catallax.exchange.ledger.location import parse_url
from catallax.exchange.ledger.schema import account_columns, account_row, entry_row, typed
from catallax.exchange.ledger.store import (
    AccountState,
    Batch,
    LedgerStore,
    StoreHeader,
    TreeState,
    check_batch_keys,
)

__all__ = ["LAYOUTS", "SCHEMA_VERSION", "TABLES", "PostgresStore", "lock_key"]

#: The layout of a new PostgreSQL ledger, recorded in ``meta.schema``. 2: each
#: account's asset (``accounts.asset``); layout 1 (accounts of credits only) is still
#: read and written, for accounts of credits.
SCHEMA_VERSION = 2
#: Rows per page of a long read.
_PAGE = 4096


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: tuple[tuple[str, str, bool], ...]  # (name, type, NOT NULL)
    key: tuple[str, ...]
    checks: tuple[str, ...] = ()


#: The tables of a ledger's schema (the DDL is made from these, and opening compares
#: the catalog with them).
TABLES = (
    _Table(
        "meta",
        (("id", "smallint", True), ("schema", "integer", True), ("origin", "text", False),
         ("public_key", "bytea", False), ("checkpoint_interval", "bigint", False)),
        ("id",),
        ("id = 1", "checkpoint_interval >= 1"),
    ),
    _Table(
        "entries",
        (("idx", "bigint", True), ("data", "bytea", True), ("nodes", "bytea", True)),
        ("idx",),
        ("idx >= 0",),
    ),
    _Table("transfer_ids", (("id", "text", True), ("idx", "bigint", True)), ("id",)),
    _Table(
        "accounts",
        (("id", "text", True), ("kind", "text", True), ("public_key", "bytea", False),
         ("balance", "bigint", True), ("asset", "text", True)),
        ("id",),
    ),
    _Table(
        "tree",
        (("id", "smallint", True), ("size", "bigint", True), ("frontier", "bytea", True),
         ("checkpoint", "text", True)),
        ("id",),
        ("id = 1", "size >= 0"),
    ),
    _Table("checkpoints", (("size", "bigint", True), ("note", "text", True)), ("size",)),
)  # fmt: skip
#: The tables of each layout: layout 1's accounts have no asset (credits only).
LAYOUTS = {
    SCHEMA_VERSION: TABLES,
    1: tuple(
        _Table(t.name, t.columns[:4], t.key, t.checks) if t.name == "accounts" else t
        for t in TABLES
    ),
}
#: The first layout whose accounts keep their asset.
WITH_ASSETS = 2
#: Secondary indexes: (name, table, columns).
_INDEXES = (("transfer_ids_by_entry", "transfer_ids", ("idx", "id")),)


_COLLATE = ' COLLATE "C"'


def _ddl(schema: str) -> list[str]:
    statements = [f'CREATE SCHEMA IF NOT EXISTS "{schema}"']
    for table in TABLES:
        parts = [
            f"{name} {kind}{_COLLATE if kind == 'text' else ''}{' NOT NULL' if not_null else ''}"
            for name, kind, not_null in table.columns
        ]
        parts.append(f"PRIMARY KEY ({', '.join(table.key)})")
        parts.extend(f"CHECK ({check})" for check in table.checks)
        statements.append(f'CREATE TABLE "{schema}".{table.name} ({", ".join(parts)})')
    for name, table, columns in _INDEXES:
        statements.append(f'CREATE INDEX {name} ON "{schema}".{table} ({", ".join(columns)})')
    return statements


def lock_key(schema: str) -> int:
    """The advisory lock key of the ledger in ``schema`` (a signed 64-bit integer)."""
    digest = hashlib.sha256(b"catallax.ledger\x00" + schema.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


_RELATIONS = """
SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'i')
"""
_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       coalesce(co.collname, '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname, a.attnum
"""
_KEYS = """
SELECT c.relname, con.contype, array_agg(a.attname::text ORDER BY k.ord)
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE n.nspname = %s AND con.contype IN ('p', 'u')
GROUP BY c.relname, con.conname, con.contype
"""
_TRIGGERS = """
SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal
UNION ALL
SELECT tablename, rulename FROM pg_rules WHERE schemaname = %s
"""
_KINDS = {"r": "table", "p": "table", "v": "view", "m": "view", "f": "table", "S": "sequence"}


class PostgresStore(LedgerStore):
    """A ledger store in one schema of a PostgreSQL database (see the module docstring).

    ``url`` is a ``postgresql://`` URL (its ``schema`` parameter, or ``schema``, names
    the ledger's schema). ``create`` makes the ledger if the schema holds none, holding
    ``initial`` (the header and the empty tree's state) when given; ``readonly`` refuses
    every commit and takes no lock. ``connect_timeout`` (seconds) applies unless the URL
    sets its own. Not thread-safe: one thread (or one lock) per store.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        create: bool = False,
        readonly: bool = False,
        initial: tuple[StoreHeader, TreeState] | None = None,
        connect_timeout: float = 10,
    ) -> None:
        self.url = parse_url(url, schema)
        self.schema = self.url.schema
        self.where = self.url.display
        self.readonly = readonly
        self._s = f'"{self.schema}"'
        self._db: psycopg.Connection | None = None
        self._closed = False
        self._depth = 0
        self._broken: str | None = None
        self._initialised = False
        try:
            self._db = self._connect(connect_timeout)
            if not readonly:
                self._take_lock()
            if not self._has_relations():
                if not create or readonly:
                    raise NoLedger(
                        f"{self.where}: no ledger here (schema {self.schema!r} holds no tables)"
                    )
                self._create(initial)
            self.check()
        except BaseException:
            self.close()
            raise

    # --- opening --------------------------------------------------------------------

    def _connect(self, timeout: float) -> psycopg.Connection:
        try:
            params = conninfo_to_dict(self.url.conninfo)
        except psycopg.Error as exc:
            raise InvalidArgument(f"{self.where}: not a usable URL ({_line(exc)})") from None
        options: dict = {"autocommit": True, "client_encoding": "UTF8"}
        options.setdefault("application_name", params.get("application_name", "catallax-ledger"))
        if "connect_timeout" not in params:
            options["connect_timeout"] = max(1, round(timeout))
        try:
            db = psycopg.connect(self.url.conninfo, **options)
        except psycopg.Error as exc:
            raise LedgerUnavailable(f"{self.where}: cannot connect ({_line(exc)})") from None
        try:
            db.execute("SET synchronous_commit = on")
            if self.readonly:
                db.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            db.close()
            raise LedgerStateError(
                f"{self.where}: cannot set up the session ({_line(exc)})"
            ) from None
        return db

    def _take_lock(self) -> None:
        with self._reading():
            row = (
                self._conn()
                .execute("SELECT pg_try_advisory_lock(%s)", (lock_key(self.schema),))
                .fetchone()
            )
        if not row or row[0] is not True:
            raise WriterLocked(f"another writer holds {self.where}")

    def _has_relations(self) -> bool:
        with self._reading():
            return bool(self._conn().execute(_RELATIONS, (self.schema,)).fetchall())

    def _create(self, initial: tuple[StoreHeader, TreeState] | None) -> None:
        db = self._conn()
        with self._reading():
            (encoding,) = db.execute("SHOW server_encoding").fetchone()  # type: ignore[misc]
        if encoding != "UTF8":
            raise LedgerStateError(
                f"{self.where}: the database's encoding is {encoding}; a ledger needs UTF8"
            )
        try:
            db.execute("BEGIN")
            for statement in _ddl(self.schema):
                db.execute(statement)
            db.execute(f"INSERT INTO {self._s}.meta (id, schema) VALUES (1, %s)", (SCHEMA_VERSION,))
            if initial is not None:
                self._write_header(db, *initial)
            db.execute("COMMIT")
        except psycopg.Error as exc:
            self._abort()
            raise LedgerStateError(
                f"{self.where}: cannot create the ledger ({_line(exc)})"
            ) from exc
        except BaseException:
            self._abort()
            raise

    def check(self) -> None:
        """The catalog of the schema against :data:`TABLES`, and the layout version;
        :class:`CorruptStore` if either differs."""
        with self.snapshot(), self._reading():
            self._check()

    def _check(self) -> None:
        db, where = self._conn(), self.where
        relations = {name: kind for name, kind in db.execute(_RELATIONS, (self.schema,))}
        expected = {t.name: t for t in TABLES}
        indexes = {f"{t.name}_pkey" for t in TABLES} | {name for name, _, _ in _INDEXES}
        missing = sorted(set(expected) - set(relations))
        if missing:
            raise CorruptStore(f"{where}: not a ledger (missing {', '.join(missing)})")
        for name, kind in sorted(relations.items()):
            if name not in expected and not (kind == "i" and name in indexes):
                what = _KINDS.get(kind, "index")
                raise CorruptStore(f"{where}: schema: unexpected {what} {name!r}")
        columns: dict[str, list[tuple]] = {}
        for table, column, kind, not_null, collation in db.execute(_COLUMNS, (self.schema,)):
            columns.setdefault(table, []).append((column, kind, not_null, collation))
        keys: dict[str, set[tuple]] = {}
        for table, contype, names in db.execute(_KEYS, (self.schema,)):
            keys.setdefault(table, set()).add((contype, tuple(names)))

        def differing(layout: int) -> list[str]:
            """The tables of the catalog that are not as ``layout`` makes them."""
            out = []
            for table in LAYOUTS[layout]:
                want = [
                    (name, kind, not_null, "C" if kind == "text" else "")
                    for name, kind, not_null in table.columns
                ]
                if columns.get(table.name) != want or keys.get(table.name) != {("p", table.key)}:
                    out.append(table.name)
            return out

        # The layout the tables are (the nearest one names what differs).
        found = min(LAYOUTS, key=lambda layout: (len(differing(layout)), -layout))
        if differing(found):
            raise CorruptStore(
                f"{where}: schema: table {differing(found)[0]!r} is not as layout {found} makes it"
            )
        for table, trigger in db.execute(_TRIGGERS, (self.schema, self.schema)):
            raise CorruptStore(
                f"{where}: schema: unexpected trigger or rule {trigger!r} on {table}"
            )
        row = db.execute(f"SELECT schema FROM {self._s}.meta WHERE id = 1").fetchone()
        version = None if row is None else row[0]
        if version not in LAYOUTS:
            raise CorruptStore(f"{where}: unknown ledger layout {version!r}")
        if version != found:
            raise CorruptStore(
                f"{where}: schema: the tables are layout {found}'s, but meta says layout {version}"
            )
        self.layout_version = version
        (encoding,) = db.execute("SHOW server_encoding").fetchone()  # type: ignore[misc]
        if encoding != "UTF8":
            raise LedgerStateError(f"{where}: the database's encoding is {encoding}, not UTF8")

    @property
    def holds_goods(self) -> bool:  # type: ignore[override]
        """Whether the schema keeps each account's asset (layout 2); a schema of layout
        1 keeps accounts of credits only."""
        return self.layout_version >= WITH_ASSETS

    @property
    def layout(self) -> str:  # type: ignore[override]
        """The schema's layout, for messages."""
        return f"PostgreSQL layout {self.layout_version}"

    # --- connections and errors ---------------------------------------------------

    def _conn(self) -> psycopg.Connection:
        if self._closed or self._db is None:
            raise LedgerStateError(f"{self.where}: store closed")
        if self._broken is not None:
            raise LedgerUnavailable(self._broken)
        return self._db

    def _lost(self, exc: BaseException) -> LedgerUnavailable:
        """The connection failed: the store is unusable (its lock, if any, is gone)."""
        self._broken = (
            f"{self.where}: the connection to the server failed ({_line(exc)}); reopen the ledger"
        )
        if self._db is not None:
            with suppress(Exception):
                self._db.close()
        return LedgerUnavailable(self._broken)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Map the driver's errors: damage to :class:`CorruptStore`, the rest to
        :class:`LedgerStateError` (a lost connection also breaks the store)."""
        try:
            yield
        except (pg_errors.DataCorrupted, pg_errors.IndexCorrupted) as exc:
            raise CorruptStore(f"{self.where}: the server reports damage ({_line(exc)})") from exc
        except (pg_errors.UndefinedTable, pg_errors.UndefinedColumn) as exc:
            raise CorruptStore(f"{self.where}: not a ledger ({_line(exc)})") from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if self._db is not None and (self._db.broken or self._db.closed):
                raise self._lost(exc) from exc
            raise LedgerStateError(f"{self.where}: {_line(exc)}") from exc
        except psycopg.Error as exc:
            raise LedgerStateError(f"{self.where}: {_line(exc)}") from exc

    def _end_stale(self, db: psycopg.Connection) -> None:
        """Roll back a transaction left open by an interrupted statement (outside a
        snapshot or a commit no transaction is ours, so nothing can be lost)."""
        if db.info.transaction_status != TransactionStatus.IDLE:
            with self._reading():
                db.execute("ROLLBACK")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One ``REPEATABLE READ READ ONLY`` transaction: every read inside sees the same
        committed state."""
        db = self._conn()
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._end_stale(db)
        with self._reading():
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            if not db.closed and db.info.transaction_status != TransactionStatus.IDLE:
                with suppress(psycopg.Error):  # a read-only transaction: nothing to lose
                    db.execute("ROLLBACK")

    # --- reading --------------------------------------------------------------------

    def _rows(self, query: str, args: tuple = (), *, binary: bool = False) -> list[tuple]:
        with self._reading():
            cursor = self._conn().cursor(binary=binary)
            cursor.execute(query, args)
            return cursor.fetchall()

    def _one(self, query: str, args: tuple = ()) -> tuple | None:
        rows = self._rows(query, args)
        return rows[0] if rows else None

    def header(self) -> StoreHeader | None:
        row = self._one(f"SELECT origin, public_key, checkpoint_interval FROM {self._s}.meta")
        if row is None:
            raise CorruptStore(f"{self.where}: meta: the row is missing")
        if row[0] is None or row[1] is None:
            return None
        origin = typed(row[0], str, "meta: origin")
        key = typed(row[1], bytes, "meta: public_key")
        interval = typed(row[2], int, "meta: checkpoint_interval")
        if interval < 1:  # type: ignore[operator]
            raise CorruptStore(f"meta: checkpoint_interval {interval} is not >= 1")
        return StoreHeader(origin, key, interval)  # type: ignore[arg-type]

    def state(self) -> TreeState:
        row = self._one(f"SELECT size, frontier, checkpoint FROM {self._s}.tree WHERE id = 1")
        if row is None:
            raise LedgerStateError(f"{self.where}: not initialised")
        size = typed(row[0], int, "tree: size")
        frontier = typed(row[1], bytes, "tree: frontier")
        checkpoint = typed(row[2], str, "tree: checkpoint")
        return TreeState(size, frontier, checkpoint)  # type: ignore[arg-type]

    def account(self, account_id: str) -> AccountState | None:
        row = self._one(
            f"SELECT {account_columns(self.holds_goods)} FROM {self._s}.accounts WHERE id = %s",
            (account_id,),
        )
        return None if row is None else account_row(row)

    def accounts(self) -> list[AccountState]:
        query = (
            f"SELECT {account_columns(self.holds_goods)} FROM {self._s}.accounts "
            "WHERE id > %s ORDER BY id LIMIT %s"
        )
        found: list[AccountState] = []
        after = ""
        while True:
            rows = self._rows(query, (after, _PAGE))
            found.extend(account_row(row) for row in rows)
            if len(rows) < _PAGE:
                return found
            after = rows[-1][0]

    def transfer_index(self, transfer_id: str) -> int | None:
        row = self._one(f"SELECT idx FROM {self._s}.transfer_ids WHERE id = %s", (transfer_id,))
        return None if row is None else typed(row[0], int, f"transfer id {transfer_id!r}: idx")  # type: ignore[return-value]

    def transfer_indices(self, transfer_ids: list[str]) -> dict[str, int]:
        if not transfer_ids:
            return {}
        rows = self._rows(
            f"SELECT id, idx FROM {self._s}.transfer_ids WHERE id = ANY(%b::text[])",
            (list(transfer_ids),),
        )
        return {tid: typed(index, int, f"transfer id {tid!r}: idx") for tid, index in rows}  # type: ignore[misc]

    def transfer_ids(self) -> Iterator[tuple[int, str]]:
        query = (
            f"SELECT idx, id FROM {self._s}.transfer_ids WHERE (idx, id) > (%s, %s) "
            "ORDER BY idx, id LIMIT %s"
        )
        at: tuple[int, str] = (-1, "")
        while True:
            rows = self._rows(query, (*at, _PAGE))
            for index, tid in rows:
                yield typed(index, int, f"transfer id {tid!r}: idx"), tid  # type: ignore[misc]
            if len(rows) < _PAGE:
                return
            at = rows[-1]

    def _pages(self, start: int, stop: int, size: int) -> Iterator[list[tuple]]:
        query = (
            f"SELECT idx, data, nodes FROM {self._s}.entries WHERE idx >= %s AND idx < %s "
            "ORDER BY idx LIMIT %s"
        )
        at = max(start, 0)
        while at < stop:
            rows = self._rows(query, (at, stop, size), binary=True)
            if rows:
                yield rows
            if len(rows) < size:
                return
            at = typed(rows[-1][0], int, "entries: idx") + 1  # type: ignore[operator]

    def entries(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes, bytes]]:
        stop = 2**63 - 1 if stop is None else min(stop, 2**63 - 1)
        for rows in self._pages(start, stop, _PAGE):
            for row in rows:
                yield entry_row(row)

    def entry_batches(self, size: int) -> Iterator[list[tuple[int, bytes, bytes]]]:
        # Types are checked by the verification that reads these (rebuild.check_chunks).
        return self._pages(0, 2**63 - 1, size)  # type: ignore[return-value]

    def _blob(self, column: str, index: int) -> bytes:
        if not 0 <= index < 2**63:
            raise IndexError(f"entry {index} is not stored")
        row = self._one(f"SELECT {column} FROM {self._s}.entries WHERE idx = %s", (index,))
        if row is None:
            raise IndexError(f"entry {index} is not stored")
        return typed(row[0], bytes, f"entry {index}: {column}", index)  # type: ignore[return-value]

    def entry(self, index: int) -> bytes:
        return self._blob("data", index)

    def entry_nodes(self, index: int) -> bytes:
        return self._blob("nodes", index)

    def checkpoints(self) -> list[str]:
        rows = self._rows(f"SELECT size, note FROM {self._s}.checkpoints ORDER BY size")
        return [typed(note, str, f"archived checkpoint {size}: note") for size, note in rows]  # type: ignore[misc]

    # --- writing --------------------------------------------------------------------

    def _write_db(self) -> psycopg.Connection:
        db = self._conn()
        if self.readonly:
            raise LedgerStateError(f"{self.where}: opened read-only")
        if self._depth:
            raise LedgerStateError(f"{self.where}: cannot commit inside a snapshot")
        self._end_stale(db)
        return db

    def _write_header(self, db: psycopg.Connection, header: StoreHeader, state: TreeState) -> None:
        if header.checkpoint_interval is None:
            raise LedgerStateError("a new ledger needs its checkpoint interval in its header")
        cursor = db.execute(
            f"UPDATE {self._s}.meta SET origin = %s, public_key = %s, checkpoint_interval = %s "
            "WHERE id = 1 AND origin IS NULL AND public_key IS NULL",
            (header.origin, header.public_key, header.checkpoint_interval),
        )
        if cursor.rowcount != 1:
            raise LedgerStateError(f"{self.where}: already initialised")
        db.execute(
            f"INSERT INTO {self._s}.tree (id, size, frontier, checkpoint) VALUES (1, %s, %s, %s)",
            (state.size, state.frontier, state.checkpoint),
        )

    def initialize(self, header: StoreHeader, state: TreeState) -> None:
        db = self._write_db()
        try:
            db.execute("BEGIN")
            self._write_header(db, header, state)
            db.execute("COMMIT")
        except psycopg.Error as exc:
            self._abort()
            raise self._refused(exc) from exc
        except BaseException:
            self._abort()
            raise

    def _stale(self, batch: Batch) -> LedgerStateError | None:
        """After a refused batch (rolled back): the error to raise if it did not start
        at the log's size, else None."""
        if self._broken is not None:
            return None
        try:
            row = self._one(f"SELECT size FROM {self._s}.tree WHERE id = 1")
        except LedgerStateError:
            return None
        size = None if row is None else row[0]
        if size == batch.start:
            return None
        return LedgerStateError(
            f"{self.where}: batch starts at {batch.start} but the log has {size} entries"
        )

    def _refused(self, exc: BaseException) -> LedgerStateError:
        lost = self._db is None or self._db.broken or self._db.closed
        if lost and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return self._lost(exc)
        return LedgerStateError(f"{self.where}: batch refused, nothing written ({_line(exc)})")

    def commit(self, batch: Batch) -> None:
        goods = self.holds_goods
        check_batch_keys(batch, goods=goods)
        db = self._write_db()
        if not self._initialised:
            self.state()  # "not initialised" if the tree row is missing; it never goes away
            self._initialised = True
        s, state = self._s, batch.state
        try:
            # The whole transaction in one pipeline: one round trip. The head moves only
            # from the batch's start: from anywhere else the checkpoint would become NULL,
            # which the table refuses, so the transaction aborts and its COMMIT is
            # skipped (a stale batch may also collide with a stored index first).
            with db.pipeline():
                db.execute("BEGIN")
                db.execute(
                    f"UPDATE {s}.tree SET size = %s, frontier = %s, "
                    "checkpoint = CASE WHEN size = %s THEN %s END WHERE id = 1",
                    (state.size, state.frontier, batch.start, state.checkpoint),
                )
                # Each table's rows as arrays, one statement per table: few statements,
                # whatever the round's size.
                db.execute(
                    f"INSERT INTO {s}.entries (idx, data, nodes) "
                    "SELECT * FROM unnest(%b::bigint[], %b::bytea[], %b::bytea[])",
                    (
                        list(range(batch.start, batch.start + len(batch.entries))),
                        batch.entries,
                        batch.nodes,
                    ),
                )
                if batch.transfer_ids:
                    tids, indices = zip(*batch.transfer_ids, strict=True)
                    db.execute(
                        f"INSERT INTO {s}.transfer_ids (id, idx) "
                        "SELECT * FROM unnest(%b::text[], %b::bigint[])",
                        (list(tids), list(indices)),
                    )
                if batch.accounts:
                    # One row per account (the last state of each, as the other stores keep).
                    accounts = list({a.account.id: a for a in batch.accounts}.values())
                    arrays = [
                        [a.account.id for a in accounts],
                        [a.account.kind.value for a in accounts],
                        [a.account.public_key for a in accounts],
                        [a.balance for a in accounts],
                    ]
                    types = "%b::text[], %b::text[], %b::bytea[], %b::bigint[]"
                    if goods:
                        arrays.append([a.account.asset for a in accounts])
                        types += ", %b::text[]"
                    db.execute(
                        f"INSERT INTO {s}.accounts ({account_columns(goods)}) "
                        f"SELECT * FROM unnest({types}) "
                        "ON CONFLICT (id) DO UPDATE SET balance = excluded.balance",
                        arrays,
                    )
                if batch.archive:
                    sizes, notes = zip(*batch.archive, strict=True)
                    db.execute(
                        f"INSERT INTO {s}.checkpoints (size, note) "
                        "SELECT * FROM unnest(%b::bigint[], %b::text[])",
                        (list(sizes), list(notes)),
                    )
                db.execute("COMMIT")
        except psycopg.Error as exc:
            if not (db.broken or db.closed):
                # The server answered with an error: it ran no COMMIT, or rolled it back.
                self._abort()
                raise self._stale(batch) or self._refused(exc) from exc
            if not self._settle(batch, exc):
                raise LedgerUnavailable(
                    f"{self.where}: the connection failed during a commit and the round did "
                    f"not land ({_line(exc)})"
                ) from exc
        except BaseException as exc:
            self._broken = (
                f"{self.where}: a commit was interrupted ({type(exc).__name__}) and whether "
                "it landed is unknown; reopen the ledger"
            )
            with suppress(Exception):
                db.close()
            raise

    def _settle(self, batch: Batch, exc: psycopg.Error) -> bool:
        """After the connection failed during a commit: did the round land?

        Read through a fresh connection: the round landed exactly when its entries are
        stored at their indices. The store stays broken either way (the lost session
        took the writer lock with it); if even the read fails, the outcome is unknown.
        """
        self._lost(exc)
        try:
            with psycopg.connect(self.url.conninfo, autocommit=True, connect_timeout=10) as fresh:
                rows = fresh.execute(
                    f"SELECT idx, data FROM {self._s}.entries WHERE idx >= %s AND idx < %s "
                    "ORDER BY idx",
                    (batch.start, batch.start + len(batch.entries)),
                ).fetchall()
                head = fresh.execute(
                    f"SELECT size, frontier, checkpoint FROM {self._s}.tree WHERE id = 1"
                ).fetchone()
        except psycopg.Error as check:
            self._broken = (
                f"{self.where}: a commit failed ({_line(exc)}) and whether it landed is "
                f"unknown ({_line(check)}); reopen the ledger"
            )
            raise LedgerUnavailable(self._broken) from exc
        if not batch.entries:  # nothing of its own to find: only its head tells
            return head is not None and TreeState(*head) == batch.state
        return [data for _, data in rows] == list(batch.entries)

    def _abort(self) -> None:
        """Roll back the open transaction; if even that fails, drop the connection (the
        server then rolls it back) and refuse every further use."""
        db = self._db
        if db is None or db.closed:
            return
        try:
            if db.info.transaction_status != TransactionStatus.IDLE:
                db.execute("ROLLBACK")
            return
        except psycopg.Error as exc:
            self._lost(exc)

    def close(self) -> None:
        """Close the connection (which releases the writer lock); idempotent."""
        self._closed = True
        db, self._db = self._db, None
        if db is not None:
            with suppress(Exception):
                db.close()
