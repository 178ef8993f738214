"""``catallax monitor``: watch exchanges live, in the terminal, as JSON lines or on a web page.

Sources: ``--mqtt HOST:PORT`` (every exchange publishing on that broker: docs/mqtt.md)
and ``--exchange HOST:PORT`` (one exchange's gRPC ``ListTasks`` and ledger stream, no
broker needed); repeatable, mixed freely. Each exchange's key is taken from its status
(trusted on first sight) unless pinned with ``--key FILE``. Every entry is shown once,
every checkpoint verified against the one before (:mod:`catallax.node.monitor.follow`).

Output: a live terminal view (the default); ``--json``, one JSON line per event
(entries, rounds, checkpoints, statuses, alarms) for scripts; ``--web PORT``, the same
view as a page served by this process (it prints ``listening on HOST:PORT`` once it
accepts connections). Runs until SIGTERM or SIGINT (status 0).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from catallax.node.cli._common import fail, out

_Mqtt = Annotated[
    list[str], typer.Option("--mqtt", help="A broker HOST:PORT to follow; repeatable.")
]
_Exchange = Annotated[
    list[str],
    typer.Option("--exchange", help="An exchange HOST:PORT to follow over gRPC; repeatable."),
]
_KeyFiles = Annotated[
    list[Path],
    typer.Option("--key", help="Pin an exchange's public key (PEM); repeatable."),
]


def sources(
    mqtt: list[str], exchange: list[str], keys: list[Path]
) -> tuple[list[tuple[str, int]], list[str], dict[str, bytes]]:
    """Checked ``--mqtt``, ``--exchange`` and ``--key`` options (one line and status 2
    if one is wrong): brokers, exchange addresses, pinned keys by exchange id."""
    from catallax.node.errors import NodeError
    from catallax.node.keys import load_public_key
    from catallax.node.monitor import exchange_id, parse_address

    if not mqtt and not exchange:
        fail("give --mqtt HOST:PORT or --exchange HOST:PORT (or several)")
    try:
        brokers = [parse_address(m, "--mqtt") for m in mqtt]
        for address in exchange:
            parse_address(address, "--exchange")
        pinned = {exchange_id(k): k for k in (load_public_key(p) for p in keys)}
    except NodeError as exc:
        fail(str(exc))
    return brokers, list(exchange), pinned


def run_until_signal(main) -> None:
    """Run the coroutine function ``main(stop)`` until it returns or SIGTERM/SIGINT set
    ``stop``."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def monitor(
    mqtt: _Mqtt = [],  # noqa: B006  (typer reads the default)
    exchange: _Exchange = [],  # noqa: B006
    key: _KeyFiles = [],  # noqa: B006
    web: Annotated[
        int | None, typer.Option("--web", help="Serve the view as a web page on this port.")
    ] = None,
    web_host: Annotated[
        str, typer.Option("--web-host", help="Address the web page binds.")
    ] = "127.0.0.1",
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line per event.")] = False,
    top: Annotated[int, typer.Option("--top", help="Richest identities shown.")] = 10,
) -> int:
    """Watch exchanges live: tasks, rounds per second, the richest identities across
    exchanges, the latest checkpoint and whether it verifies."""
    import logging

    from catallax.node.monitor import Follower, NetworkView, follow_all

    brokers, addresses, pinned = sources(mqtt, exchange, key)
    if web is not None and not 0 <= web <= 65535:
        fail(f"--web: expected a port 0 .. 65535, got {web}")
    if not 1 <= top <= 1000:
        fail(f"--top: expected 1 .. 1000, got {top}")
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING,
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )  # fmt: skip
    view = NetworkView(top=top, keys=pinned)
    only = set(pinned) if pinned else None
    follower = Follower(view, only=only)
    if json_out:
        view.listen(lambda event: print(json.dumps(event), flush=True))

    async def main(stop: asyncio.Event) -> None:
        server = None
        if web is not None:
            from catallax.node.monitor.web import WebMonitor

            server = WebMonitor(view, web_host, web)
            try:
                await server.start()
            except OSError as exc:
                fail(f"--web {web}: cannot listen on {web_host} ({exc.strerror})")
            print(f"listening on {web_host}:{server.port}", flush=True)
        try:
            if web is None and not json_out:
                await _live(view, follower, brokers, addresses, stop)
            else:
                await follow_all(follower, mqtt=brokers, exchanges=addresses, stop=stop)
        finally:
            if server is not None:
                await server.stop()

    run_until_signal(main)
    return 0


async def _live(view, follower, brokers, addresses, stop: asyncio.Event) -> None:
    from rich.live import Live

    from catallax.node.monitor import follow_all
    from catallax.node.monitor.terminal import render

    run = asyncio.ensure_future(follow_all(follower, mqtt=brokers, exchanges=addresses, stop=stop))
    with Live(render(view.snapshot()), console=out, refresh_per_second=4) as live:
        while not run.done():
            await asyncio.wait({run}, timeout=0.5)
            live.update(render(view.snapshot()))
    run.result()


def plot(
    folder: Annotated[str, typer.Argument(help="A ledger folder (or a postgresql:// ledger URL).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The PNG to write.")],
    top: Annotated[int, typer.Option("--top", help="Richest identities drawn.")] = 5,
) -> int:
    """Plot a ledger's history: wealth of the richest identities, prices and winners over
    rounds, rewards per round (PNG)."""
    from catallax.exchange.ledger import LedgerError
    from catallax.exchange.ledger.location import is_url
    from catallax.node.plotting import plot_ledger

    if not 1 <= top <= 10:
        fail(f"--top: expected 1 .. 10, got {top}")
    if output.suffix.lower() != ".png":
        fail(f"-o {str(output)!r}: expected a .png file")
    if not output.parent.is_dir():
        fail(f"-o {str(output)!r}: no folder {str(output.parent)!r}")
    if not is_url(folder) and not Path(folder).is_dir():
        fail(f"{folder!r}: no such ledger folder")
    try:
        written = plot_ledger(folder, output, top=top)
    except LedgerError as exc:
        fail(f"{folder}: {exc}")
    print(f"wrote {written}")
    return 0
