"""An exchange node: its ledger, its tasks' round loops, and its gRPC server.

:class:`ExchangeNode` opens (or creates) the signed ledger (in the data folder, or the
PostgreSQL ledger that ``exchange.ledger`` names), proves it, rebuilds each task's
accounts from it (:mod:`.restore`), and serves the ``Exchange`` and ``Ledger`` services
(with health and reflection, :mod:`catallax.node.serving`) while each task runs its
rounds. :meth:`ExchangeNode.stop` (SIGTERM in :func:`serve`) marks the server
NOT_SERVING, lets every task finish the round under way (a round is committed whole or
not at all), ends the sessions, stops the server and closes the ledger.

Given a broker (``mqtt``, ``(host, port)``), the node also publishes its status, ledger,
checkpoints and rounds there (:class:`~catallax.node.monitor.publisher.MqttPublisher`,
docs/mqtt.md), and on stop publishes what its ledger holds before it closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

from grpc_health.v1 import health_pb2

from catallax.exchange.crypto import key_fingerprint
from catallax.exchange.ledger import (
    LEDGER_FILE,
    Ledger,
    LedgerError,
    LedgerUnavailable,
    WriterLocked,
    open_ledger,
)
from catallax.exchange.ledger.location import describe
from catallax.node.errors import NodeError, OptionError
from catallax.node.exchange.config import ExchangeConfig
from catallax.node.exchange.episodes import EpisodeLog
from catallax.node.exchange.progress import ProgressBook
from catallax.node.exchange.restore import read_history
from catallax.node.exchange.servicer import ExchangeServicer, WideExchangeServicer
from catallax.node.exchange.task import DeepTask, ExchangeContext
from catallax.node.exchange.wide.task import WideTask
from catallax.node.keys import load_private_key, load_public_key
from catallax.node.ledger_service import SERVICE_NAME as LEDGER_SERVICE
from catallax.node.ledger_service import LedgerServicer, LedgerSource
from catallax.node.serving import Server, Service, server_credentials, start_server
from catallax.node.wire import SequenceBook
from catallax.v1 import exchange_pb2, exchange_pb2_grpc, ledger_pb2_grpc, wide_pb2, wide_pb2_grpc

__all__ = ["EXCHANGE_SERVICE", "SEQUENCE_FILE", "ExchangeNode", "serve", "task_health_name"]

log = logging.getLogger("catallax.node.exchange")

#: The full proto name of the Exchange service.
EXCHANGE_SERVICE = exchange_pb2.DESCRIPTOR.services_by_name["Exchange"].full_name
#: The full proto name of the WideExchange service (wide tasks' sessions).
WIDE_SERVICE = wide_pb2.DESCRIPTOR.services_by_name["WideExchange"].full_name


def task_health_name(task: str) -> str:
    """The health-checking service name of one task: SERVING while it serves rounds
    (or has served them all), NOT_SERVING while it starts or is paused (``catallax
    health HOST:PORT --service catallax.v1.Exchange/NAME``; why is in ``catallax
    tasks`` and the log)."""
    return f"{EXCHANGE_SERVICE}/{task}"


#: The exchange's sequence book, inside its data folder.
SEQUENCE_FILE = "exchange-sequences.sqlite"


class ExchangeNode:
    """A running exchange (make one with :meth:`start`)."""

    def __init__(
        self,
        cfg: ExchangeConfig,
        *,
        mqtt: tuple[str, int] | None = None,
        advertise: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.mqtt = mqtt
        self.advertise = advertise
        self.publisher = None
        self.server: Server | None = None
        self.port = 0
        self.tasks: dict[str, DeepTask] = {}
        self._loops: list[asyncio.Task] = []
        self._closers: list = []
        self._stopping = False
        self._health_updates: set[asyncio.Future] = set()

    @classmethod
    async def start(
        cls,
        cfg: ExchangeConfig,
        *,
        mqtt: tuple[str, int] | None = None,
        advertise: str | None = None,
    ) -> ExchangeNode:
        """Open the ledger, rebuild the tasks, start the server and the round loops (and
        the MQTT publisher, given ``mqtt``; its status gives ``advertise`` as the
        exchange's address, default :attr:`address`)."""
        node = cls(cfg, mqtt=mqtt, advertise=advertise)
        try:
            await node._start()
        except BaseException:
            await node._close()
            raise
        return node

    async def _start(self) -> None:
        cfg = self.cfg
        key = load_private_key(cfg.key)
        env_keys = {t.name: load_public_key(t.env_key) for t in cfg.tasks}
        folder = Path(cfg.data_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OptionError(f"data_dir {folder}: cannot create it ({exc.strerror})") from None
        # A PostgreSQL ledger is made if its schema holds none, a folder's if its file is
        # missing: an existing ledger is opened as it is.
        location = cfg.ledger or folder
        create = cfg.ledger is not None or not (folder / LEDGER_FILE).exists()
        where = describe(location)
        try:
            ledger = await asyncio.to_thread(
                open_ledger, location, key=key, origin=cfg.origin, create=create
            )
        except LedgerError as exc:
            message = str(exc)
            raise NodeError(message if where in message else f"ledger {where}: {message}") from exc
        self._closers.append(ledger.close)
        if ledger.origin != cfg.origin:
            raise OptionError(
                f"the ledger in {where} is {ledger.origin!r}, the config says {cfg.origin!r}"
            )
        book = SequenceBook(folder / SEQUENCE_FILE)
        self._closers.append(book.close)
        episodes = EpisodeLog(folder)
        self._closers.append(episodes.close)
        progress = ProgressBook(folder)
        self._closers.append(progress.close)
        ctx = ExchangeContext(cfg.origin, key, ledger, book, episodes=episodes, progress=progress)
        self.ctx = ctx
        history = await asyncio.to_thread(read_history, ledger, [t.name for t in cfg.tasks])
        for t in cfg.tasks:
            kind = WideTask if t.market == "wide" else DeepTask
            self.tasks[t.name] = kind(t, ctx, env_keys[t.name], history[t.name])
        servicer = ExchangeServicer(ctx, self.tasks)
        wide = WideExchangeServicer(servicer)
        source = LedgerSource(location, verify=False)
        self._closers.append(source.close)
        ledger_servicer = LedgerServicer(source)
        services = [
            Service(
                EXCHANGE_SERVICE,
                lambda s: exchange_pb2_grpc.add_ExchangeServicer_to_server(servicer, s),
            ),
            Service(
                WIDE_SERVICE, lambda s: wide_pb2_grpc.add_WideExchangeServicer_to_server(wide, s)
            ),
            Service(
                LEDGER_SERVICE,
                lambda s: ledger_pb2_grpc.add_LedgerServicer_to_server(ledger_servicer, s),
            ),
        ]
        creds = server_credentials(cfg.tls_cert, cfg.tls_key)
        try:
            self.server, self.port = await start_server(
                services, cfg.host, cfg.port, credentials=creds
            )
        except RuntimeError as exc:
            raise OptionError(f"cannot listen on {cfg.host}:{cfg.port} ({exc})") from None
        if self.mqtt is not None:
            self._start_publisher(location)
        for task in self.tasks.values():
            await self._report_health(task)
            task.on_state.append(self._health_changed)
            self._loops.append(asyncio.ensure_future(task.run()))
        log.info(
            "event=start origin=%s host=%s port=%d key=%s tasks=%s ledger_size=%d tls=%s",
            cfg.origin, cfg.host, self.port, key_fingerprint(ctx.public_key),
            ",".join(self.tasks), ledger.size, creds is not None,
        )  # fmt: skip

    def _start_publisher(self, location: str | Path) -> None:
        from catallax.node.monitor.payloads import TaskStatus
        from catallax.node.monitor.process import PublisherProcess

        def tasks() -> list[TaskStatus]:
            return [
                TaskStatus(t.name, getattr(t.cfg, "market", "deep"), t.cfg.env,
                           getattr(t.cfg, "auction", ""), int(getattr(t, "slots", 0) or 0))
                for t in self.tasks.values()
            ]  # fmt: skip

        self.publisher = PublisherProcess(
            self.mqtt,  # type: ignore[arg-type]
            location=location, address=self.advertise or self.address, tasks=tasks,
            folder=Path(self.cfg.data_dir),
        )  # fmt: skip
        self.publisher.start()

    async def _report_health(self, task: DeepTask) -> None:
        if self.server is None or self._stopping:
            return
        serving = health_pb2.HealthCheckResponse
        status = serving.SERVING if task.healthy else serving.NOT_SERVING
        await self.server.health.set(task_health_name(task.name), status)

    def _health_changed(self, task: DeepTask) -> None:
        fut = asyncio.ensure_future(self._report_health(task))
        self._health_updates.add(fut)
        fut.add_done_callback(self._health_updates.discard)

    @property
    def address(self) -> str:
        return f"{self.cfg.host}:{self.port}"

    @contextlib.asynccontextmanager
    async def between_commits(self) -> AsyncIterator[Ledger]:
        """The node's ledger, held between two commits: while inside, no task commits.

        Commits run in worker threads on the ledger's one connection; reading it from
        another thread meanwhile (an audit, its entries) would interleave with a commit.
        Readers in other processes open the file read-only instead."""
        async with self.ctx.ledger_lock:
            yield self.ctx.ledger

    async def stop(self, grace: float = 5.0) -> None:
        """Stop: NOT_SERVING, every task finishes its round, sessions end, then close."""
        self._stopping = True
        if self.server is not None:
            await self.server.health.enter_graceful_shutdown()
        for task in self.tasks.values():
            task.stopping()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        for task in self.tasks.values():
            await task.stop()
        if self.publisher is not None:
            await self.publisher.stop(grace)
        if self.server is not None:
            await self.server.stop(grace)
        await self._close()
        log.info("event=stop origin=%s", self.cfg.origin)

    async def _close(self) -> None:
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                close()
        self._closers = []


#: Seconds between attempts to reopen a lost ledger: the first, and the most.
REOPEN_BACKOFF = (0.5, 10.0)


def _reopenable(exc: BaseException) -> bool:
    """Whether a failed start is the ledger's store still out of reach (try again)."""
    cause = exc.__cause__ if isinstance(exc, NodeError) else exc
    return isinstance(cause, LedgerUnavailable | WriterLocked)


async def serve(
    cfg: ExchangeConfig,
    *,
    grace: float = 5.0,
    mqtt: tuple[str, int] | None = None,
    advertise: str | None = None,
) -> int:
    """Run an exchange until SIGTERM or SIGINT, then stop it cleanly; prints
    ``listening on HOST:PORT`` (flushed) once it accepts calls. ``mqtt``: publish to
    this broker (see :class:`ExchangeNode`).

    If the ledger is lost while the node runs (its PostgreSQL server restarted or cut
    off: :class:`~catallax.exchange.ledger.LedgerUnavailable`), the node stops as on
    SIGTERM, then starts again on the same port from the reopened ledger, the source of
    truth, as a restarted process would (tasks begin new episodes; traders reconnect by
    themselves). Reopening is retried with capped backoff until it succeeds or a signal
    arrives."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    node = await ExchangeNode.start(cfg, mqtt=mqtt, advertise=advertise)
    print(f"listening on {node.address}", flush=True)
    while True:
        await _first(stop.wait(), node.ctx.lost.wait())
        if stop.is_set():
            break
        log.error("event=ledger_lost error=%r", node.ctx.why_lost)
        await node.stop(grace)
        cfg = replace(cfg, port=node.port)  # the address the traders know
        restarted = await _reopen(cfg, stop, mqtt=mqtt, advertise=advertise)
        if restarted is None:
            return 0
        node = restarted
        log.info("event=ledger_reopened ledger_size=%d", node.ctx.ledger.size)
    log.info("event=stopping grace_s=%g", grace)
    await node.stop(grace)
    return 0


async def _first(*waits: Awaitable[object]) -> None:
    """Wait until the first of ``waits`` is done; cancel the others."""
    futures = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for f in futures:
            f.cancel()


async def _reopen(cfg: ExchangeConfig, stop: asyncio.Event, **options: Any) -> ExchangeNode | None:
    """Start the node again once its ledger opens; None if ``stop`` is set first."""
    delay, most = REOPEN_BACKOFF
    while not stop.is_set():
        try:
            return await ExchangeNode.start(cfg, **options)
        except (NodeError, LedgerError) as exc:
            if not _reopenable(exc):
                raise
            log.warning("event=ledger_unavailable retry_s=%.1f error=%r", delay, str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, most)
    return None
