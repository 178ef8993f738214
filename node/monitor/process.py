"""The publisher in a process of its own, beside the exchange that writes the ledger.

Publishing a ledger entry costs the publishing process about 0.2 ms of CPU (its JSON,
the MQTT packet, the broker's acknowledgement); on the exchange's event loop that came
to a third of its rounds (``bench/mqtt.py``). So the exchange starts
:class:`PublisherProcess`, which runs ``python -m catallax.node.monitor.process``: a
:class:`~.publisher.MqttPublisher` on the ledger's read-only store, on an event loop of
its own. The two share two files in the data folder: the cursor (written by the child)
and ``mqtt-status.json``, the tasks the status lists (written by the parent whenever they
change, read by the child at each poll).

The child stops cleanly on SIGTERM (it publishes what the ledger holds, then
``offline``); if the exchange dies (it is no longer the child's parent), the child ends
at once without a clean disconnect, so the broker publishes its last will: ``offline``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from catallax.node.monitor.payloads import TaskStatus

__all__ = ["STATUS_FILE", "PublisherProcess", "main"]

log = logging.getLogger("catallax.node.monitor")

#: The tasks the status lists, written by the exchange for its publisher.
STATUS_FILE = "mqtt-status.json"
#: Seconds between two looks at the tasks (parent) or at the parent (child).
WATCH = 0.2


def _write_tasks(path: Path, tasks: list[TaskStatus]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(t) for t in tasks]))
    os.replace(tmp, path)


def _read_tasks(path: Path) -> list[TaskStatus]:
    try:
        return [TaskStatus(**t) for t in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []


class PublisherProcess:
    """The parent's handle on the publisher process (see the module docstring)."""

    def __init__(
        self,
        broker: tuple[str, int],
        *,
        location: str | Path,
        address: str,
        tasks: Callable[[], list[TaskStatus]],
        folder: Path,
    ) -> None:
        self.broker = broker
        self.location = location
        self.address = address
        self.tasks = tasks
        self.status_file = folder / STATUS_FILE
        self.cursor_file = folder / "mqtt-cursor.json"
        self.proc: subprocess.Popen | None = None
        self._watch: asyncio.Task | None = None
        self._written: list[TaskStatus] = []

    def start(self) -> None:
        """Write the tasks, start the child, and rewrite the tasks when they change."""
        self._update()
        host, port = self.broker
        argv = [sys.executable, "-m", "catallax.node.monitor.process",
                "--broker", f"{host}:{port}", "--ledger", str(self.location),
                "--address", self.address, "--cursor", str(self.cursor_file),
                "--status", str(self.status_file), "--parent", str(os.getpid())]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        self._watch = asyncio.ensure_future(self._watch_tasks())
        log.info("event=mqtt_publisher pid=%d broker=%s:%d", self.proc.pid, host, port)

    def _update(self) -> None:
        tasks = self.tasks()
        if tasks != self._written:
            _write_tasks(self.status_file, tasks)
            self._written = tasks

    async def _watch_tasks(self) -> None:
        while True:
            await asyncio.sleep(WATCH)  # a look every WATCH seconds, not a wait for an event
            self._update()

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the child (it publishes what the ledger holds, then ``offline``) and
        wait ``grace`` seconds for it, then SIGKILL."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, grace)
        except subprocess.TimeoutExpired:
            log.warning("event=mqtt_publisher_killed pid=%d", self.proc.pid)
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)


async def _serve(args: argparse.Namespace) -> None:
    from catallax.node.monitor.follow import parse_address
    from catallax.node.monitor.publisher import MqttPublisher

    host, port = parse_address(args.broker, "--broker")
    status = Path(args.status)
    publisher = MqttPublisher(
        host, port, location=args.ledger, address=args.address,
        tasks=lambda: _read_tasks(status), cursor=Path(args.cursor),
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    async def orphaned() -> None:
        while os.getppid() == args.parent:
            await asyncio.sleep(WATCH)  # the parent's death has no event to wait on
        log.warning("event=mqtt_publisher_orphaned")
        os._exit(0)  # no clean disconnect: the broker publishes the last will

    watcher = asyncio.ensure_future(orphaned())
    publisher.start()
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({publisher.task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    await publisher.stop(30.0)
    watcher.cancel()
    stopped.cancel()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m catallax.node.monitor.process`` (started by the exchange)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("broker", "ledger", "address", "cursor", "status"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO,
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )  # fmt: skip
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
