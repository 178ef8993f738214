"""The exchange's MQTT publisher: its ledger, checkpoints, rounds and status, as they grow.

:class:`MqttPublisher` follows a ledger from outside its writer: every ``poll`` seconds
it reads the stored tree state (size and signed checkpoint) and then the entries it
covers from a read-only store of its own, in worker threads (SQLite's WAL lets it read
while the exchange commits; it never takes the writer's lock). The exchange runs it in
a process of its own (:mod:`.process`), so that publishing takes nothing from the round
loop. For each new checkpoint it publishes, in order (docs/mqtt.md):

1. every entry up to the checkpoint on ``ledger``, each with its index, in messages of
   at most :data:`PAGE` consecutive entries (QoS 1, all acknowledged);
2. the summaries of the rounds those entries complete on ``tasks/<task>/rounds``;
3. the checkpoint, retained, with the consistency proof from the one published before;
4. then it records that size in the cursor file (``mqtt-cursor.json`` in the data folder).

The status (retained) is published at every connection and whenever the tasks' details
change; the connection's last will turns it ``offline``, as does a clean stop. When the
broker is down or goes away, the exchange trades on: the publisher logs it, reconnects
(waiting at most :data:`RETRY_MAX` seconds between tries) and publishes again from the
last checkpoint the broker acknowledged, so no index is skipped (receivers drop the
repeats). After a restart it starts from the size its cursor file records, if that is
still a prefix of the ledger (same root), else from entry 0. If the ledger's server
drops the publisher's session (a PostgreSQL restart), it opens the store again, with
the same backoff while the server refuses, and publishes on from the last checkpoint it
published.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aiomqtt

from catallax.exchange.ledger import (
    LedgerStateError,
    LedgerUnavailable,
    decode_entry,
    open_store,
)
from catallax.exchange.ledger.checkpoint import parse_checkpoint
from catallax.exchange.ledger.hashing import HASH_SIZE
from catallax.exchange.ledger.proofs import consistency_proof, subtree_hash
from catallax.exchange.ledger.store import LedgerStore
from catallax.exchange.ledger.tree import completing_leaf
from catallax.node.monitor.payloads import (
    CheckpointMsg,
    Status,
    TaskStatus,
    checkpoint_payload,
    ledger_payload,
    round_payload,
    status_payload,
)
from catallax.node.monitor.rounds import summarise_rounds
from catallax.node.monitor.topics import exchange_id, topic

__all__ = ["CURSOR_FILE", "MqttPublisher"]

log = logging.getLogger("catallax.node.monitor")
#: aiomqtt's own logger: it warns of every publish beyond ten in flight, which is how
#: the publisher works; errors still show.
mqtt_log = logging.getLogger("catallax.node.monitor.mqtt")
mqtt_log.setLevel(logging.ERROR)

#: The publisher's record of what the broker acknowledged, in the data folder.
CURSOR_FILE = "mqtt-cursor.json"
#: The most seconds between two tries to reach the broker.
RETRY_MAX = 2.0
#: Seconds between two looks at the ledger's stored size.
POLL = 0.05
#: Entries read and published per ``ledger`` message (then the rest, before the checkpoint).
PAGE = 256


class _Nodes:
    """Tree nodes read from a store (for roots and proofs at any stored size)."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    def __call__(self, level: int, index: int) -> bytes:
        nodes = self.store.entry_nodes(completing_leaf(level, index))
        return nodes[level * HASH_SIZE : (level + 1) * HASH_SIZE]


async def _until_lost(client: aiomqtt.Client, work) -> None:
    """Await ``work`` unless the connection is lost first (then :class:`aiomqtt.MqttError`).

    A publish on a lost connection would wait for its acknowledgement until the client's
    timeout; the message iterator ends at once, so it is what tells."""

    async def lost() -> None:
        async for _ in client.messages:
            pass

    job, watch = asyncio.ensure_future(work), asyncio.ensure_future(lost())
    try:
        await asyncio.wait({job, watch}, return_when=asyncio.FIRST_COMPLETED)
        if job.done():
            job.result()
            return
        watch.result()  # raises the MqttError that ended the iteration
        raise aiomqtt.MqttError("the connection to the broker ended")
    finally:
        for fut in (job, watch):
            fut.cancel()
        await asyncio.gather(job, watch, return_exceptions=True)


class MqttPublisher:
    """Publishes one exchange's topics to the broker at ``host:port`` (see the module
    docstring). ``address`` is where the exchange answers (its status says so);
    ``tasks()`` what it offers (asked at each status); ``cursor`` the file recording
    what was published."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        location: str | Path,
        address: str,
        tasks: Callable[[], list[TaskStatus]],
        cursor: Path,
        poll: float = POLL,
    ) -> None:
        self.host, self.port = host, port
        self.location = location
        self.address = address
        self.tasks = tasks
        self.cursor_file = cursor
        self.poll = poll
        self.exchange = ""
        self.origin = ""
        self.public_key = b""
        self.published = 0  # entries every subscriber could have had (acknowledged)
        self.size = 0  # the ledger's size when last looked at
        self.entries_sent = 0
        self._store: LedgerStore | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._announced: tuple[TaskStatus, ...] = ()

    # --- running ----------------------------------------------------------------------

    def start(self) -> None:
        """Start publishing in a task of the running loop (:attr:`task`)."""
        self._task = asyncio.ensure_future(self.run())

    @property
    def task(self) -> asyncio.Task:
        """The publishing task (after :meth:`start`): it ends only after :meth:`stop`,
        or with the error that made publishing impossible."""
        if self._task is None:
            raise LedgerStateError("the publisher is not started")
        return self._task

    async def stop(self, grace: float = 5.0) -> None:
        """Publish what the ledger holds now (within ``grace`` seconds), say
        ``offline``, disconnect."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                log.warning("event=mqtt_stop_timeout published=%d", self.published)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
            self._task = None
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None

    def _status(self, state: str) -> Status:
        return Status(
            self.exchange, self.origin, self.public_key, self.address,
            tuple(self.tasks()), state, self.size, int(time.time() * 1000),
        )  # fmt: skip

    async def run(self) -> None:
        """Publish until :meth:`stop` (then what the ledger holds at that moment)."""
        self._store = await asyncio.to_thread(open_store, self.location, readonly=True)
        header = self._store.header()
        if header is None:
            raise LedgerStateError(f"{self.location}: the ledger has no header yet")
        self.origin, self.public_key = header.origin, header.public_key
        self.exchange = exchange_id(header.public_key)
        self.size = (await asyncio.to_thread(self._store.state)).size
        self.published = await asyncio.to_thread(self._resume)
        wait = 0.1
        while True:
            will = aiomqtt.Will(
                topic(self.exchange, "status"), status_payload(self._status("offline")),
                qos=1, retain=True,
            )  # fmt: skip
            try:
                async with aiomqtt.Client(
                    self.host, self.port, will=will, keepalive=10, timeout=10, logger=mqtt_log,
                    identifier=f"catallax-exchange-{self.exchange}-{uuid.uuid4().hex[:8]}",
                ) as client:  # fmt: skip
                    await self._publish_status(client, "online")
                    log.info("event=mqtt_connected broker=%s:%d from=%d",
                             self.host, self.port, self.published)  # fmt: skip
                    wait = 0.1
                    await _until_lost(client, self._follow(client))
                    await self._publish_status(client, "offline")
                    return
            except aiomqtt.MqttError as exc:
                log.warning("event=mqtt_down broker=%s:%d published=%d why=%s",
                            self.host, self.port, self.published, exc)  # fmt: skip
            if self._stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)
            wait = min(wait * 2, RETRY_MAX)

    async def _publish_status(self, client: aiomqtt.Client, state: str) -> None:
        status = self._status(state)
        self._announced = status.tasks
        payload = status_payload(status)
        await client.publish(topic(self.exchange, "status"), payload, qos=1, retain=True)

    async def _follow(self, client: aiomqtt.Client) -> None:
        """Publish each new checkpoint and what it covers, until stopping (then what
        the ledger holds at that moment)."""
        while True:
            if tuple(self.tasks()) != self._announced:  # a task learnt its slots, say
                await self._publish_status(client, "online")
            try:
                state = await asyncio.to_thread(self._opened().state)
                self.size = state.size
                if state.size > self.published:
                    await self._publish_up_to(client, state.checkpoint, state.size)
                    continue
            except LedgerUnavailable as exc:  # the server dropped our session
                log.warning("event=ledger_unavailable published=%d why=%s", self.published, exc)
                if self._stopping.is_set() or not await self._reopen():
                    return  # stopping: what the ledger holds cannot be read now
                continue  # from what was published: a receiver takes each index once
            if self._stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll)

    async def _reopen(self) -> bool:
        """Open the store again, retrying with backoff while its server refuses; False
        if stopping first."""
        wait = 0.1
        while not self._stopping.is_set():
            try:
                store = await asyncio.to_thread(open_store, self.location, readonly=True)
            except LedgerUnavailable as exc:
                log.warning("event=ledger_unavailable retry_s=%.1f why=%s", wait, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), wait)
                wait = min(wait * 2, RETRY_MAX)
                continue
            old, self._store = self._store, store
            if old is not None:
                with contextlib.suppress(Exception):
                    old.close()
            log.info("event=ledger_reopened published=%d", self.published)
            return True
        return False

    async def _publish_up_to(self, client: aiomqtt.Client, note: str, size: int) -> None:
        previous = self.published
        pending = []
        position = previous
        while position < size:
            stop = min(size, position + PAGE)
            rows = await asyncio.to_thread(self._read, position, stop)
            decoded = [(i, decode_entry(data)) for i, data in rows]
            payload = ledger_payload(
                self.exchange,
                [(i, data, e) for (i, data), (_, e) in zip(rows, decoded, strict=True)],
            )
            await client.publish(topic(self.exchange, "ledger"), payload, qos=1)
            self.entries_sent += len(rows)
            pending += decoded
            position = stop
        rounds = summarise_rounds(self.exchange, pending)
        await asyncio.gather(*(
            client.publish(topic(self.exchange, "rounds", r.task), round_payload(r), qos=1)
            for r in rounds
        ))  # fmt: skip
        proof = await asyncio.to_thread(self._proof, previous, size) if previous else []
        msg = CheckpointMsg(self.exchange, note, size, previous, tuple(proof))
        await client.publish(
            topic(self.exchange, "checkpoint"), checkpoint_payload(msg), qos=1, retain=True
        )
        self.published = size
        root = parse_checkpoint(note).root
        await asyncio.to_thread(self._save, size, root)

    # --- reads and the cursor (worker threads) ------------------------------------------

    def _opened(self) -> LedgerStore:
        if self._store is None:
            raise LedgerStateError("the publisher's store is closed")
        return self._store

    def _read(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        return [(i, data) for i, data, _ in self._opened().entries(start, stop)]

    def _proof(self, first: int, second: int) -> list[bytes]:
        return consistency_proof(first, second, _Nodes(self._opened()))

    def _save(self, size: int, root: bytes) -> None:
        record = {"exchange": self.exchange, "size": size, "root": base64.b64encode(root).decode()}
        tmp = self.cursor_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.cursor_file)

    def _resume(self) -> int:
        """The size recorded in the cursor file if the ledger still extends it, else 0."""
        try:
            record = json.loads(self.cursor_file.read_text())
            size, root = int(record["size"]), base64.b64decode(record["root"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0
        if record.get("exchange") != self.exchange or not 0 < size <= self.size:
            return 0
        if subtree_hash(0, size, _Nodes(self._opened())) != root:
            log.warning("event=mqtt_cursor_reset size=%d why=not_a_prefix", size)
            return 0
        return size
