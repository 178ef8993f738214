"""Discovery: join every exchange that offers a task, as the broker announces them.

:func:`run_discovered` is ``catallax trader run PLUGIN --mqtt HOST:PORT --task NAME``:
it subscribes to the retained ``catallax/v1/+/status`` messages (docs/mqtt.md) and, for
each exchange that is ``online`` and lists the task, starts one session per key at the
address the status gives, pinning the exchange's key from that status (or only joining
the exchange whose key ``exchange_key`` pins). Exchanges that appear later are joined
when their status arrives; an exchange that goes ``offline`` keeps its sessions, which
reconnect as every session does. It runs until SIGTERM or SIGINT, and fails as soon as
a session fails for good (as :func:`~.runner.run_traders` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from typing import Any

import aiomqtt
import grpc

from catallax.exchange.crypto import Ed25519PrivateKey
from catallax.node.errors import BadPayload
from catallax.node.monitor.payloads import Status, parse_status
from catallax.node.monitor.topics import PREFIX, exchange_id
from catallax.node.trader.runner import Join, make_sessions

__all__ = ["run_discovered"]

log = logging.getLogger("catallax.node.trader")

#: The most seconds between two tries to reach the broker.
RETRY_MAX = 2.0


async def _statuses(host: str, port: int, found: asyncio.Queue) -> None:
    """Put every status message from the broker on ``found``; reconnect when it goes."""
    wait = 0.1
    while True:
        try:
            async with aiomqtt.Client(
                host, port, identifier=f"catallax-trader-{uuid.uuid4().hex[:12]}", keepalive=10
            ) as client:
                await client.subscribe(f"{PREFIX}/+/status", qos=1)
                wait = 0.1
                async for message in client.messages:
                    if not message.payload:
                        continue
                    try:
                        status = parse_status(bytes(message.payload))
                    except BadPayload as exc:
                        log.warning("event=bad_status topic=%s why=%s", message.topic, exc)
                        continue
                    await found.put(status)
        except aiomqtt.MqttError as exc:
            log.warning("event=mqtt_down broker=%s:%d why=%s", host, port, exc)
        await asyncio.sleep(wait)
        wait = min(wait * 2, RETRY_MAX)


async def run_discovered(
    spec: str,
    task: str,
    keys: list[Ed25519PrivateKey],
    host: str,
    port: int,
    *,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    exchange_key: bytes | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    handle_signals: bool = True,
) -> None:
    """Trade with ``spec`` on ``task`` of every exchange the broker at ``host:port``
    announces (see the module docstring); key ``j`` on the ``i``-th exchange found uses
    seed ``seed + 1000 j + i``."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    found: asyncio.Queue[Status] = asyncio.Queue()
    listener = asyncio.ensure_future(_statuses(host, port, found))
    stopper = asyncio.ensure_future(stop.wait())
    joined: set[str] = set()
    sessions: list = []
    runs: set[asyncio.Future] = set()
    try:
        while True:
            getter = asyncio.ensure_future(found.get())
            done, _ = await asyncio.wait(
                {getter, stopper, listener, *runs}, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
            if stopper in done:
                return
            for run in done & runs:
                runs.discard(run)
                if run.exception() is not None:
                    raise run.exception()  # type: ignore[misc]
            if getter in done:
                status = getter.result()
                if not _joinable(status, task, exchange_key) or status.exchange in joined:
                    continue
                joined.add(status.exchange)
                log.info("event=discovered exchange=%s origin=%s address=%s task=%s",
                         status.exchange, status.origin, status.address, task)  # fmt: skip
                i = len(joined) - 1
                for j, key in enumerate(keys):
                    new = make_sessions(
                        spec, [Join(status.address, task)], key, seed=seed + 1000 * j + i,
                        options=options, exchange_key=status.public_key, credentials=credentials,
                    )  # fmt: skip
                    sessions += new
                    runs |= {asyncio.ensure_future(s.run()) for s in new}
    finally:
        for s in sessions:
            s.stop()
        for fut in (*runs, listener, stopper):
            fut.cancel()
        await asyncio.gather(*runs, listener, stopper, return_exceptions=True)
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)


def _joinable(status: Status, task: str, pinned: bytes | None) -> bool:
    if status.state != "online" or not status.offers(task) or not status.address:
        return False
    if exchange_id(status.public_key) != status.exchange:
        log.warning("event=bad_status exchange=%s why=key_mismatch", status.exchange)
        return False
    return pinned is None or pinned == status.public_key
