"""The ``catallax.v1.Ledger`` gRPC service: read access to a ledger.

:class:`LedgerServicer` serves a ledger (a SQLite folder, or a PostgreSQL URL) opened
read-only (it never writes and takes no writer lock), so it can run beside the exchange
that writes the ledger, in the same process or another. Every reply is read from one
snapshot of the ledger; before each call the servicer looks whether a writer has
committed since (one ``SELECT`` of the stored tree size) and, if so, opens the new
snapshot, checking its latest checkpoint against the stored tree (``verify`` checks the
whole log at the first opening only). Store reads block, so they run in worker threads
(``asyncio.to_thread``), one at a time per servicer, never on the event loop. If the
store's server drops a session of the servicer's (a PostgreSQL restart), the next call
opens both again and is answered; while the server refuses, calls are ``UNAVAILABLE``.

- ``LatestCheckpoint``: the signed note's bytes.
- ``Entries [start, end)``: at most :data:`MAX_PAGE` entries of canonical leaf bytes
  with their indices; an ``end`` beyond the log is cut at the log's size.
- ``InclusionProof(index, tree_size)``, ``ConsistencyProof(first, second)``: RFC 9162.
- ``Tail(start)``: the entries from ``start`` on, then the checkpoint covering them;
  then, as a writer commits, the new entries and their checkpoint, until the client
  cancels. New commits are found by polling the stored size every ``poll_interval``
  seconds (default :data:`POLL_INTERVAL`); rounds committed between two polls arrive
  together, followed by the one checkpoint that covers them.

Refusals, all mapped in :func:`status_for`:

============================================  =====================
what                                          status
============================================  =====================
a request that can never be right: ``start    ``INVALID_ARGUMENT``
> end``, ``index >= tree_size``, ``tree_size
== 0``, ``first == 0``, ``first > second``;
bytes that do not parse as the request
a size or index beyond the log as it is now   ``OUT_OF_RANGE``
(may succeed later): ``start >= size`` (non-
empty range), ``tree_size``/``second`` >
size, ``Tail`` from beyond the end
the stored ledger is damaged                  ``DATA_LOSS``
(:class:`~catallax.exchange.ledger.CorruptLedger`)
the ledger is closed (the server is stopping) ``UNAVAILABLE``
or its server refuses us (``LedgerUnavailable``)
any other ledger error                        ``INTERNAL``
============================================  =====================
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import grpc

from catallax.exchange.ledger import (
    CorruptLedger,
    InvalidArgument,
    Ledger,
    LedgerError,
    LedgerStateError,
    LedgerUnavailable,
    open_ledger,
    open_store,
)
from catallax.exchange.ledger.location import describe, is_url
from catallax.node.errors import NodeError, OptionError
from catallax.node.serving import Server, Service, clip_details, start_server
from catallax.v1 import ledger_pb2, ledger_pb2_grpc

__all__ = [
    "MAX_PAGE",
    "POLL_INTERVAL",
    "SERVICE_NAME",
    "BadRequest",
    "BeyondLog",
    "LedgerServicer",
    "LedgerSource",
    "serve_ledger",
    "status_for",
]

#: The full proto name of the service.
SERVICE_NAME = ledger_pb2.DESCRIPTOR.services_by_name["Ledger"].full_name
#: The most entries one ``Entries`` reply (or one ``Tail`` read) carries.
MAX_PAGE = 1024
#: Seconds between two looks at the stored size while a ``Tail`` waits.
POLL_INTERVAL = 0.1

T = TypeVar("T")


class BadRequest(NodeError, ValueError):
    """A request that can never be answered, whatever the log holds."""


class BeyondLog(NodeError, ValueError):
    """A request past the log's current end (it may be answered once the log grows)."""


_STATUS: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (BadRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (BeyondLog, grpc.StatusCode.OUT_OF_RANGE),
    (IndexError, grpc.StatusCode.OUT_OF_RANGE),
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (CorruptLedger, grpc.StatusCode.DATA_LOSS),
    (LedgerStateError, grpc.StatusCode.UNAVAILABLE),
    (LedgerError, grpc.StatusCode.INTERNAL),
)


def status_for(exc: BaseException) -> grpc.StatusCode | None:
    """The status a refusal is answered with, or None for an unexpected error."""
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return None


class LedgerSource:
    """The newest committed snapshot of a ledger, read in worker threads.

    ``location`` is a ledger folder or a ``postgresql://`` URL. ``verify`` checks the
    whole log when the ledger is first opened (a damaged ledger
    is refused: :class:`~catallax.exchange.ledger.CorruptLedger`); later snapshots are
    checked as every read-only opening is (the latest checkpoint against the tree).
    """

    def __init__(self, location: str | Path, *, verify: bool = True) -> None:
        self.location = location if is_url(location) else Path(location)
        self._lock = threading.Lock()
        self._ledger: Ledger = open_ledger(self.location, verify=verify)
        try:
            self._watch = open_store(self.location, readonly=True)
        except BaseException:
            self._ledger.close()
            raise
        self._closed = False

    def _refresh(self) -> Ledger:
        if self._closed:
            raise LedgerStateError(f"{describe(self.location)}: the ledger service is closed")
        if self._watch.state().size != self._ledger.size:
            fresh = open_ledger(self.location, verify=False)
            self._ledger, old = fresh, self._ledger
            old.close()
        return self._ledger

    def _reconnect(self) -> None:
        """The server lost a session of ours (restarted, cut off): open the watch and
        the snapshot again. Raises :class:`LedgerUnavailable` while it refuses; the
        next call tries again."""
        watch = open_store(self.location, readonly=True)
        try:
            fresh = open_ledger(self.location, verify=False)
        except BaseException:
            watch.close()
            raise
        for old in (self._watch, self._ledger):
            with suppress(Exception):
                old.close()
        self._watch, self._ledger = watch, fresh

    def _call(self, fn: Callable[[Ledger], T]) -> T:
        with self._lock:
            try:
                return fn(self._refresh())
            except LedgerUnavailable:
                if self._closed:
                    raise
                self._reconnect()  # once per call: a read is never half-answered
                return fn(self._refresh())

    async def read(self, fn: Callable[[Ledger], T]) -> T:
        """``fn(ledger)`` on the newest snapshot, in a worker thread, one call at a time."""
        return await asyncio.to_thread(self._call, fn)

    async def wait_beyond(self, size: int, interval: float = POLL_INTERVAL) -> int:
        """The log's size once it holds more than ``size`` entries (polling the store)."""
        while True:
            now = await self.read(lambda ledger: ledger.size)
            if now > size:
                return now
            await asyncio.sleep(interval)

    def close(self) -> None:
        """Close the ledger; later reads raise :class:`LedgerStateError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._ledger.close()
                self._watch.close()


# --- what each call reads (in a worker thread) -------------------------------------------


def _entries(ledger: Ledger, start: int, end: int, page: int) -> list[tuple[int, bytes]]:
    if start > end:
        raise BadRequest(f"entries: start ({start}) is after end ({end})")
    if start == end:
        return []
    if start >= ledger.size:
        raise BeyondLog(f"entries: start {start}, but the log has {ledger.size} entries")
    stop = min(end, ledger.size, start + page)
    return [(i, ledger.entry_bytes(i)) for i in range(start, stop)]


def _inclusion(ledger: Ledger, index: int, size: int) -> list[bytes]:
    if size == 0:
        raise BadRequest("inclusion proof: the empty tree includes nothing (tree_size 0)")
    if index >= size:
        raise BadRequest(f"inclusion proof: index {index} is not in a tree of {size} entries")
    if size > ledger.size:
        raise BeyondLog(f"inclusion proof: tree_size {size}, but the log has {ledger.size}")
    return ledger.inclusion_proof(index, size)


def _consistency(ledger: Ledger, first: int, second: int) -> list[bytes]:
    if first == 0:
        raise BadRequest("consistency proof: nothing is proved from the empty tree (first 0)")
    if first > second:
        raise BadRequest(f"consistency proof: first ({first}) is greater than second ({second})")
    if second > ledger.size:
        raise BeyondLog(f"consistency proof: second {second}, but the log has {ledger.size}")
    return ledger.consistency_proof(first, second)


def _tail_step(ledger: Ledger, start: int, page: int) -> tuple[list[tuple[int, bytes]], str, int]:
    """Up to ``page`` entries from ``start``, the snapshot's checkpoint and its size."""
    if start > ledger.size:
        raise BeyondLog(f"tail: start {start}, but the log has {ledger.size} entries")
    stop = min(ledger.size, start + page)
    return [(i, ledger.entry_bytes(i)) for i in range(start, stop)], ledger.checkpoint, ledger.size


# --- the servicer ---------------------------------------------------------------------


async def _refuse(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    code = status_for(exc)
    if code is None:
        raise exc
    await context.abort(code, clip_details(str(exc)))


def _entry(index: int, data: bytes) -> ledger_pb2.Entry:
    return ledger_pb2.Entry(index=index, data=data)


class LedgerServicer(ledger_pb2_grpc.LedgerServicer):
    """The Ledger service over a :class:`LedgerSource` (see the module docstring)."""

    def __init__(
        self, source: LedgerSource, *, page: int = MAX_PAGE, poll_interval: float = POLL_INTERVAL
    ) -> None:
        if type(page) is not int or page < 1:
            raise OptionError(f"page: expected an int >= 1, got {page!r}")
        self.source = source
        self.page = page
        self.poll_interval = poll_interval

    async def _read(self, context: grpc.aio.ServicerContext, fn: Callable[[Ledger], T]) -> T:
        try:
            return await self.source.read(fn)
        except (LedgerError, BadRequest, BeyondLog, IndexError) as exc:
            await _refuse(context, exc)
            raise  # abort raises; this line is never reached

    async def LatestCheckpoint(self, request, context) -> ledger_pb2.Checkpoint:
        note = await self._read(context, lambda ledger: ledger.checkpoint)
        return ledger_pb2.Checkpoint(note=note.encode("utf-8"))

    async def Entries(self, request, context) -> ledger_pb2.EntriesReply:
        start, end, page = request.start, request.end, self.page
        rows = await self._read(context, lambda ledger: _entries(ledger, start, end, page))
        return ledger_pb2.EntriesReply(entries=[_entry(i, d) for i, d in rows])

    async def InclusionProof(self, request, context) -> ledger_pb2.Proof:
        index, size = request.index, request.tree_size
        hashes = await self._read(context, lambda ledger: _inclusion(ledger, index, size))
        return ledger_pb2.Proof(hashes=hashes)

    async def ConsistencyProof(self, request, context) -> ledger_pb2.Proof:
        first, second = request.first, request.second
        hashes = await self._read(context, lambda ledger: _consistency(ledger, first, second))
        return ledger_pb2.Proof(hashes=hashes)

    async def Tail(self, request, context) -> AsyncIterator[ledger_pb2.TailEvent]:
        # Cancellation (the client vanishing) arrives as CancelledError at an await; the
        # handler holds nothing that needs releasing, so it simply propagates.
        position, covered, page = request.start, None, self.page
        while True:
            rows, note, size = await self._read(
                context, lambda ledger, at=position: _tail_step(ledger, at, page)
            )
            for index, data in rows:
                yield ledger_pb2.TailEvent(entry=_entry(index, data))
            position += len(rows)
            if position < size:
                continue
            if covered != size:
                yield ledger_pb2.TailEvent(checkpoint=ledger_pb2.Checkpoint(note=note.encode()))
                covered = size
            await self._wait_beyond(context, size)

    async def _wait_beyond(self, context: grpc.aio.ServicerContext, size: int) -> None:
        try:
            await self.source.wait_beyond(size, self.poll_interval)
        except LedgerError as exc:
            await _refuse(context, exc)


async def serve_ledger(
    location: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    verify: bool = True,
    page: int = MAX_PAGE,
    poll_interval: float = POLL_INTERVAL,
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[Server, int]:
    """Serve the ledger at ``location`` (a folder or a ``postgresql://`` URL) on
    ``host:port`` (0: any free port).

    ``verify`` checks the whole log before serving (a damaged ledger is refused);
    ``page`` bounds an ``Entries`` reply. Returns the started
    :class:`~catallax.node.serving.Server` (with health and reflection) and the bound port;
    :meth:`Server.stop` also closes the ledger.
    """
    source = LedgerSource(location, verify=verify)
    servicer = LedgerServicer(source, page=page, poll_interval=poll_interval)
    service = Service(
        SERVICE_NAME, lambda s: ledger_pb2_grpc.add_LedgerServicer_to_server(servicer, s)
    )
    try:
        server, bound = await start_server([service], host, port, credentials=credentials)
    except BaseException:
        source.close()
        raise
    server.on_stop(source.close)
    return server, bound
