"""Per-signer sequence numbers and timestamps, persisted in SQLite.

Every signed body carries ``sequence`` (uint64) and ``timestamp_ms`` (int64, the
signer's clock in milliseconds since the Unix epoch). A receiver keeps one row per
signer key in a :class:`SequenceBook` and accepts a body only when

- its sequence is at least 1 and above the last one accepted from that key (else
  :class:`~catallax.node.errors.Replayed`), and
- its timestamp lies within ``window_ms`` (default 30 s) of the receiver's clock, either
  way (else :class:`~catallax.node.errors.Stale`).

Each acceptance is one synchronous SQLite transaction (WAL, ``synchronous=FULL``), so a
replay is refused also after a restart or a crash: an accepted sequence number is on
disk before the body is acted on. The window bounds how long a captured message could
be held back and still land, and how much clock skew senders may have; sequences give
exactness within it. Sequences are below 2**63 (SQLite integers are signed 64-bit).

A sender draws its numbers from a :class:`Sequencer`: ``max(last + 1, now in µs)``, so
numbers keep growing across restarts even without a file (as long as the clock does
not go back by more than the sender's own rate); with a book it also persists a
*reservation*: a ceiling :data:`RESERVATION_US` above the number it hands out, written
before any number up to it is used, so one write serves about a minute of messages and
after a crash or restart the numbers start above the ceiling (above every number that
could have been used), even if the clock went back.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from google.protobuf.message import Message

from catallax.node.errors import Malformed, Replayed, SequenceFileError, Stale, WireError

__all__ = [
    "DEFAULT_WINDOW_MS",
    "MAX_SEQUENCE",
    "MemoryBook",
    "SequenceBook",
    "Sequencer",
    "check_window",
    "now_ms",
    "scoped",
]

#: How far a body's timestamp may be from the receiver's clock, by default: 30 s.
DEFAULT_WINDOW_MS = 30_000
#: The largest sequence number (SQLite's integers are signed 64-bit).
MAX_SEQUENCE = 2**63 - 1
#: How far above the number in hand a persisted :class:`Sequencer` reserves, in numbers
#: (µs of its clock): one durable write per minute of messages.
RESERVATION_US = 60_000_000

_APPLICATION_ID = 0x63617478  # "catx": marks a sequence book file
_SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    public_key BLOB PRIMARY KEY,
    sequence INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sent (
    public_key BLOB PRIMARY KEY,
    sequence INTEGER NOT NULL
) WITHOUT ROWID;
"""


def scoped(public_key: bytes, scope: str = "") -> bytes:
    """The book's key of a signer within a scope (the bare key when ``scope`` is empty)."""
    key = bytes(public_key)
    return key if not scope else key + b"\x00" + scope.encode()


def check_window(timestamp_ms: int, now: int, window_ms: int) -> None:
    """:class:`Stale` unless ``timestamp_ms`` lies within ``window_ms`` of ``now``."""
    if abs(timestamp_ms - now) > window_ms:
        raise Stale(
            f"timestamp {timestamp_ms} ms is {(timestamp_ms - now) / 1000:+.1f} s from "
            f"this clock; the window is ±{window_ms / 1000:g} s"
        )


def now_ms() -> int:
    """The wall clock in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


class SequenceBook:
    """The last sequence number and timestamp accepted from each signer, on disk.

    ``path`` is a SQLite file (created if absent), or ``":memory:"`` for a book that
    forgets on close (tests only). ``clock`` returns milliseconds since the epoch.
    Safe to share between threads; one process at a time should own a file.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        window_ms: int = DEFAULT_WINDOW_MS,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if not isinstance(window_ms, int) or window_ms <= 0:
            raise Malformed(f"window_ms: expected a positive integer, got {window_ms!r}")
        self.path = str(path)
        self.window_ms = window_ms
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._setup()
        except sqlite3.Error as exc:
            raise SequenceFileError(f"{self.path}: not a usable sequence book ({exc})") from exc

    def _setup(self) -> None:
        db = self._db
        app = db.execute("PRAGMA application_id").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app != _APPLICATION_ID and (app != 0 or tables):
            db.close()
            raise SequenceFileError(f"{self.path}: not a sequence book")
        if self.path != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA application_id={_APPLICATION_ID}")
        db.executescript(_SCHEMA)

    # --- receiving -----------------------------------------------------------------------

    def last(self, public_key: bytes) -> tuple[int, int] | None:
        """``(sequence, timestamp_ms)`` last accepted from ``public_key``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT sequence, timestamp_ms FROM received WHERE public_key = ?",
                (bytes(public_key),),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def check(self, public_key: bytes, sequence: int, timestamp_ms: int) -> None:
        """Accept ``sequence`` at ``timestamp_ms`` from ``public_key`` and record it.

        Raises:
            Malformed: a sequence of 0 (unset) or beyond :data:`MAX_SEQUENCE`.
            Stale: the timestamp is more than ``window_ms`` from the clock.
            Replayed: the sequence is not above the last one accepted from this key.
        """
        if not 1 <= sequence <= MAX_SEQUENCE:
            raise Malformed(f"sequence: expected 1 .. 2**63-1, got {sequence}")
        check_window(timestamp_ms, self._clock(), self.window_ms)
        key = bytes(public_key)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT sequence FROM received WHERE public_key = ?", (key,)
                ).fetchone()
                if row is not None and sequence <= row[0]:
                    raise Replayed(
                        f"sequence {sequence} is not above {row[0]}, the last one accepted "
                        "from this signer"
                    )
                db.execute(
                    "INSERT INTO received (public_key, sequence, timestamp_ms) VALUES (?, ?, ?) "
                    "ON CONFLICT (public_key) DO UPDATE SET sequence = excluded.sequence, "
                    "timestamp_ms = excluded.timestamp_ms",
                    (key, sequence, timestamp_ms),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def accept(self, public_key: bytes, body: Message, scope: str = "") -> None:
        """:meth:`check` the ``sequence`` and ``timestamp_ms`` fields of a signed body.

        ``scope`` names an ordered channel of the signer (a task's stream, say): numbers
        must grow within a scope, so that one signer may send on several channels at
        once without their messages racing each other.
        """
        try:
            sequence, timestamp_ms = body.sequence, body.timestamp_ms
        except AttributeError:
            raise Malformed(f"{type(body).__name__} carries no sequence and timestamp_ms") from None
        self.check(scoped(public_key, scope), sequence, timestamp_ms)

    def check_many(self, items: list[tuple[bytes, int, int]]) -> list[WireError | None]:
        """:meth:`check` many ``(key, sequence, timestamp_ms)`` in one transaction (one
        synchronous write for all); returns, per item, ``None`` if it was accepted and
        recorded, else the error refusing it (nothing is recorded for a refused item).
        Items of one key are accepted only in increasing order of sequence.
        """
        now = self._clock()
        out: list[WireError | None] = []
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                last: dict[bytes, int] = {}
                for key, sequence, timestamp_ms in items:
                    key = bytes(key)
                    if not 1 <= sequence <= MAX_SEQUENCE:
                        out.append(Malformed(f"sequence: expected 1 .. 2**63-1, got {sequence}"))
                        continue
                    if abs(timestamp_ms - now) > self.window_ms:
                        out.append(
                            Stale(
                                f"timestamp {timestamp_ms} ms is "
                                f"{(timestamp_ms - now) / 1000:+.1f} s from this clock; the "
                                f"window is ±{self.window_ms / 1000:g} s"
                            )
                        )
                        continue
                    if key not in last:
                        row = db.execute(
                            "SELECT sequence FROM received WHERE public_key = ?", (key,)
                        ).fetchone()
                        last[key] = 0 if row is None else row[0]
                    if sequence <= last[key]:
                        out.append(
                            Replayed(
                                f"sequence {sequence} is not above {last[key]}, the last one "
                                "accepted from this signer"
                            )
                        )
                        continue
                    last[key] = sequence
                    db.execute(
                        "INSERT INTO received (public_key, sequence, timestamp_ms) VALUES "
                        "(?, ?, ?) ON CONFLICT (public_key) DO UPDATE SET sequence = "
                        "excluded.sequence, timestamp_ms = excluded.timestamp_ms",
                        (key, sequence, timestamp_ms),
                    )
                    out.append(None)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return out

    # --- sending -------------------------------------------------------------------------

    def _reserve(self, public_key: bytes, floor: int, ahead: int) -> tuple[int, int]:
        """Reserve the numbers of ``public_key`` from ``max(ceiling + 1, floor)`` to ``ahead``
        above it, durably; returns ``(first, ceiling)``. The ``sent`` table holds the
        ceiling: every number that may have been handed out is at most it."""
        key = bytes(public_key)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT sequence FROM sent WHERE public_key = ?", (key,))
                last = (row.fetchone() or (0,))[0]
                first = max(last + 1, floor)
                ceiling = min(first + ahead, MAX_SEQUENCE)
                db.execute(
                    "INSERT INTO sent (public_key, sequence) VALUES (?, ?) ON CONFLICT "
                    "(public_key) DO UPDATE SET sequence = excluded.sequence",
                    (key, ceiling),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return first, ceiling

    def close(self) -> None:
        """Close the file; the book is on disk."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SequenceBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryBook:
    """A :class:`SequenceBook` that forgets: the same checks, a dict instead of SQLite.

    For a receiver that needs no persistence, such as a trader checking the messages of
    the exchange it talks to (a replay after its restart can only name rounds long
    closed, which the exchange no longer counts). Not thread-safe.
    """

    def __init__(self, *, window_ms: int = DEFAULT_WINDOW_MS, clock: Callable[[], int] = now_ms):
        self.window_ms = window_ms
        self._clock = clock
        self._last: dict[bytes, tuple[int, int]] = {}

    def accept(self, public_key: bytes, body: Message, scope: str = "") -> None:
        """Refuse a body whose sequence is not above the last one of its signer in
        ``scope`` (:class:`Replayed`) or whose timestamp is outside the window (:class:`Stale`)."""
        sequence, timestamp_ms = body.sequence, body.timestamp_ms
        if not 1 <= sequence <= MAX_SEQUENCE:
            raise Malformed(f"sequence: expected 1 .. 2**63-1, got {sequence}")
        check_window(timestamp_ms, self._clock(), self.window_ms)
        key = scoped(public_key, scope)
        last = self._last.get(key, (0, 0))[0]
        if sequence <= last:
            raise Replayed(
                f"sequence {sequence} is not above {last}, the last one accepted from this signer"
            )
        self._last[key] = (sequence, timestamp_ms)

    def last(self, public_key: bytes) -> tuple[int, int] | None:
        """``(sequence, timestamp_ms)`` last accepted from ``public_key`` (a scoped key
        for a scope), or None: as :meth:`SequenceBook.last`."""
        return self._last.get(bytes(public_key))

    def close(self) -> None:
        """Nothing to close (the same interface as :class:`SequenceBook`)."""


class Sequencer:
    """A sender's sequence numbers and timestamps for one signer key.

    :meth:`next` returns ``max(last + 1, now in microseconds)``. With a ``book``, a
    ceiling :data:`RESERVATION_US` above it is persisted there before the number is
    used (again only once the numbers pass it), so numbers grow across a restart even
    if the clock goes back, at one durable write per minute of messages.
    """

    def __init__(
        self,
        public_key: bytes,
        *,
        book: SequenceBook | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.public_key = bytes(public_key)
        self._book = book
        self._clock = clock
        self._last = 0
        self._ceiling = -1  # the reservation in the book (none yet)
        self._lock = threading.Lock()

    def next(self) -> int:
        """The next sequence number: above every earlier one."""
        floor = time.time_ns() // 1_000
        with self._lock:
            number = max(self._last + 1, floor)
            if self._book is not None and number > self._ceiling:
                number, self._ceiling = self._book._reserve(self.public_key, number, RESERVATION_US)
            self._last = number
            return number

    def stamp(self, body: Message) -> Message:
        """Set ``body.sequence`` to :meth:`next` and ``body.timestamp_ms`` to the clock."""
        body.sequence = self.next()
        body.timestamp_ms = self._clock()
        return body
