"""Following exchanges: from MQTT or from the gRPC ledger stream, into a :class:`NetworkView`.

A :class:`Follower` takes what a source delivers (statuses, entries, checkpoints) and
hands the view each entry exactly once, in index order: an entry seen before (a
republished one, a broker's redelivery) is dropped, and a gap (entries published while
the broker or this monitor was away, or before it started) is filled from the
exchange's ``Ledger`` service at the address its status gives. Each checkpoint is
verified against the previous one (:class:`~.chain.CheckpointChain`) with the
consistency proof the MQTT message carries when it starts where ours does, else one
asked of the ``Ledger`` service. An alarm (:class:`~catallax.node.errors.Rollback`,
:class:`~catallax.node.errors.SplitView`) is shown in the view; with ``stop_on_alarm``
it also ends :meth:`Follower.run` by raising it.

Two sources: :func:`follow_mqtt` (``catallax/v1/+/#`` on a broker, reconnecting when
the broker goes away) and :func:`follow_grpc` (``ListTasks`` for the status, then
``Ledger.Tail`` from the next index, reconnecting when the exchange restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence

import aiomqtt
import grpc

from catallax.exchange.ledger import Checkpoint, decode_entry
from catallax.node.errors import (
    BadPayload,
    CallFailed,
    CheckpointAlarm,
    NodeError,
    NotTrusted,
    Rollback,
)
from catallax.node.ledger_client import LedgerClient
from catallax.node.monitor.payloads import (
    Status,
    TaskStatus,
    parse_checkpoint_msg,
    parse_ledger,
    parse_status,
)
from catallax.node.monitor.topics import PREFIX, exchange_id, parse_topic
from catallax.node.monitor.view import NetworkView

__all__ = ["Follower", "follow_all", "follow_grpc", "follow_mqtt", "parse_address"]

log = logging.getLogger("catallax.node.monitor")
#: aiomqtt's own logger: it warns of every publish beyond ten in flight, which is how
#: the publisher works; errors still show.
mqtt_log = logging.getLogger("catallax.node.monitor.mqtt")
mqtt_log.setLevel(logging.ERROR)

#: Seconds between two tries to reach a broker or an exchange that went away (at most).
RETRY_MAX = 2.0


def parse_address(value: str, what: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT``; :class:`~catallax.node.errors.OptionError`
    naming ``what`` otherwise."""
    from catallax.node.errors import OptionError

    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise OptionError(f"{what} {value!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


class Follower:
    """Feeds a :class:`NetworkView` (see the module docstring).

    ``only``: follow just these exchange ids (others are ignored); ``stop_on_alarm``:
    raise the first alarm out of the source.
    """

    def __init__(
        self,
        view: NetworkView,
        *,
        only: set[str] | None = None,
        stop_on_alarm: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.view = view
        self.only = only
        self.stop_on_alarm = stop_on_alarm
        self.timeout = timeout
        self._clients: dict[str, LedgerClient] = {}
        self._frozen: set[str] = set()
        self._gaps: dict[str, int] = {}  # the gap last logged, by exchange

    def wants(self, exchange: str) -> bool:
        return (self.only is None or exchange in self.only) and exchange not in self._frozen

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients = {}

    def _client(self, exchange: str) -> LedgerClient | None:
        status = self.view.exchange(exchange).status
        if status is None or not status.address:
            return None
        client = self._clients.get(status.address)
        if client is None:
            client = self._clients[status.address] = LedgerClient(
                status.address, timeout=self.timeout
            )
        return client

    # --- what sources hand in -------------------------------------------------------

    def status(self, status: Status) -> None:
        if exchange_id(status.public_key) != status.exchange:
            raise BadPayload(
                f"status of {status.exchange}: its public key is exchange "
                f"{exchange_id(status.public_key)}"
            )
        if self.wants(status.exchange):
            self.view.on_status(status)

    async def entry(self, exchange: str, index: int, data: bytes) -> None:
        """The entry at ``index`` (bytes as stored): dropped if seen, after a fill of
        the gap before it if there is one."""
        if not self.wants(exchange):
            return
        view = self.view.exchange(exchange)
        if index < view.expects():
            return
        if index > view.expects() and not await self._fill(exchange, index):
            return
        self.view.on_entry(exchange, index, data, decode_entry(data))

    async def _fill(self, exchange: str, stop: int) -> bool:
        """Fetch entries up to ``stop`` from the exchange's Ledger service; False if it
        cannot be reached (the gap stays, and later entries wait for it)."""
        start = self.view.exchange(exchange).expects()
        client = self._client(exchange)
        try:
            if client is None:
                raise CallFailed("the exchange's status gives no address")
            rows = await client.entries(start, stop)
        except (CallFailed, NotTrusted) as exc:
            if self._gaps.get(exchange) != start:  # once per gap, not once per entry
                self._gaps[exchange] = start
                log.warning("event=gap exchange=%s from=%d to=%d why=%s",
                            exchange, start, stop, exc)  # fmt: skip
            return False
        for index, data in rows:
            self.view.on_entry(exchange, index, data, decode_entry(data))
        log.info("event=filled exchange=%s from=%d to=%d", exchange, start, stop)
        return True

    async def checkpoint(
        self, exchange: str, note: str, hint: tuple[int, tuple[bytes, ...]] | None = None
    ) -> None:
        """A checkpoint note; ``hint``: ``(previous_size, proof)`` sent with it."""
        if not self.wants(exchange):
            return
        view = self.view.exchange(exchange)
        if view.chain is None:
            log.warning("event=checkpoint_before_status exchange=%s", exchange)
            return
        try:
            head = view.chain.open(note)
            if head.size > view.expects():
                await self._fill(exchange, head.size)
            proof = await self._proof(exchange, head, hint)
            if proof is False:
                return
            step = view.chain.advance(note, head, proof)
        except CheckpointAlarm as exc:
            kind = "rollback" if isinstance(exc, Rollback) else "split_view"
            self._frozen.add(exchange)
            self.view.on_alarm(exchange, kind, str(exc), exc.first, exc.second)
            if self.stop_on_alarm:
                raise
            return
        except NotTrusted as exc:
            self.view.on_alarm(exchange, "bad_checkpoint", str(exc), view.chain.note, note)
            if self.stop_on_alarm:
                raise
            return
        if step.new:
            self.view.on_checkpoint(exchange, head, step.proved_from)

    async def _proof(
        self, exchange: str, head: Checkpoint, hint: tuple[int, tuple[bytes, ...]] | None
    ) -> list[bytes] | bool | None:
        """The consistency proof ``head`` needs (None: it needs none; False: none could
        be had, so it is left unverified until a later one)."""
        wanted = self.view.exchange(exchange).chain.wants(head)  # type: ignore[union-attr]
        if wanted is None:
            return None
        if hint is not None and hint[0] == wanted[0]:
            return list(hint[1])
        client = self._client(exchange)
        if client is not None:
            try:
                return await client.consistency_proof(*wanted)
            except CallFailed as exc:
                if exc.code is grpc.StatusCode.OUT_OF_RANGE:
                    return []  # the exchange's log is smaller than the size held: no proof
                log.warning("event=no_proof exchange=%s first=%d second=%d why=%s",
                            exchange, *wanted, exc)  # fmt: skip
                return False
        log.warning("event=no_proof exchange=%s first=%d second=%d why=no_address",
                    exchange, *wanted)  # fmt: skip
        return False


# --- sources -------------------------------------------------------------------------


async def follow_mqtt(
    follower: Follower,
    host: str,
    port: int,
    *,
    connected: Callable[[], None] | None = None,
    prefix: str = PREFIX,
) -> None:
    """Follow every exchange publishing under ``prefix`` on the broker ``host:port``
    until cancelled (or an alarm, with ``stop_on_alarm``); reconnects when the broker
    goes away. ``connected`` is called after each subscription."""
    wait = 0.1
    while True:
        try:
            async with aiomqtt.Client(
                host,
                port,
                identifier=f"catallax-monitor-{uuid.uuid4().hex[:12]}",
                keepalive=10,
                logger=mqtt_log,
            ) as client:
                await client.subscribe(f"{prefix}/+/#", qos=1)
                log.info("event=mqtt_connected broker=%s:%d", host, port)
                wait = 0.1
                if connected is not None:
                    connected()
                async for message in client.messages:
                    await _dispatch(follower, str(message.topic), bytes(message.payload))
        except aiomqtt.MqttError as exc:
            log.warning("event=mqtt_down broker=%s:%d why=%s", host, port, exc)
        await asyncio.sleep(wait)
        wait = min(wait * 2, RETRY_MAX)


async def _dispatch(follower: Follower, name: str, payload: bytes) -> None:
    try:
        topic = parse_topic(name)
        if not payload:
            return  # a retained message being cleared
        if topic.kind == "status":
            follower.status(parse_status(payload))
        elif topic.kind == "ledger":
            for msg in parse_ledger(payload):
                await follower.entry(topic.exchange, msg.index, msg.data)
        elif topic.kind == "checkpoint":
            cp = parse_checkpoint_msg(payload)
            await follower.checkpoint(topic.exchange, cp.note, (cp.previous_size, cp.proof))
    except BadPayload as exc:
        log.warning("event=bad_payload topic=%s why=%s", name, exc)


async def _status_of(address: str, timeout: float) -> Status:
    from catallax.node.exchange.watch import list_tasks

    reply = await asyncio.to_thread(list_tasks, address, timeout)
    tasks = tuple(TaskStatus(t.name, t.market, t.env_id, t.auction, t.slots) for t in reply.tasks)
    key = bytes(reply.public_key)
    return Status(exchange_id(key), reply.exchange, key, address, tasks, "online")


async def follow_grpc(follower: Follower, address: str) -> None:
    """Follow the exchange at ``address`` over gRPC (``ListTasks``, ``Ledger.Tail``)
    until cancelled (or an alarm, with ``stop_on_alarm``); reconnects when it restarts."""
    wait = 0.1
    client = LedgerClient(address, timeout=follower.timeout)
    try:
        while True:
            try:
                status = await _status_of(address, follower.timeout)
                follower.status(status)
                ex = status.exchange
                view = follower.view.exchange(ex)
                wait = 0.1
                try:
                    async for item in client.tail(view.expects()):
                        if isinstance(item, str):
                            await follower.checkpoint(ex, item)
                        else:
                            await follower.entry(ex, *item)
                except CallFailed as exc:
                    if exc.code is not grpc.StatusCode.OUT_OF_RANGE:
                        raise
                    # The log is now smaller than what was seen: its checkpoint says how.
                    await follower.checkpoint(ex, await client.latest_checkpoint())
                    raise
            except CallFailed as exc:
                log.warning("event=exchange_down address=%s why=%s", address, exc)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RETRY_MAX)
    finally:
        with contextlib.suppress(NodeError):
            await client.close()


async def follow_all(
    follower: Follower,
    *,
    mqtt: Sequence[tuple[str, int]] = (),
    exchanges: Sequence[str] = (),
    stop: asyncio.Event,
) -> None:
    """Run a source per broker and per exchange address until ``stop`` is set; the first
    that fails (an alarm, with ``stop_on_alarm``) ends the others and is raised."""
    runs = [asyncio.ensure_future(follow_mqtt(follower, h, p)) for h, p in mqtt]
    runs += [asyncio.ensure_future(follow_grpc(follower, a)) for a in exchanges]
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({*runs, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for run in done:
            if run is not stopper and run.exception() is not None:
                raise run.exception()  # type: ignore[misc]
    finally:
        for run in (*runs, stopper):
            run.cancel()
        await asyncio.gather(*runs, stopper, return_exceptions=True)
        await follower.close()
