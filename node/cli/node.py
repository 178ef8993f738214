"""``catallax node``: run a network node (``env``: an environment node; ``exchange``: an
exchange node). Both serve plain TCP unless given a TLS certificate and its key."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from catallax.node.cli._common import fail, new_app

app = new_app("Network nodes: serve an environment or an exchange over gRPC.")


@app.callback()
def _nodes() -> None:
    """Network nodes."""


@app.command("env")
def env(
    env_id: Annotated[str, typer.Argument(help="A Gymnasium id, module:Env-v0 or module:Class.")],
    key: Annotated[Path, typer.Option("--key", help="The node's private key (PEM).")],
    exchange_key: Annotated[
        list[Path],
        typer.Option("--exchange-key", help="A key (PEM) of an exchange to serve; repeatable."),
    ],
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Folder of the node's sequence book.")
    ],
    slots: Annotated[int, typer.Option("--slots", help="Parallel episode slots.")] = 1,
    port: Annotated[int, typer.Option("--port", help="TCP port; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    memory: Annotated[
        int, typer.Option("--memory", help="Wrap in a message register of N messages (0: none).")
    ] = 0,
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds running calls get on SIGTERM.")
    ] = 5.0,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert", help="Serve TLS with this PEM certificate chain (and --tls-key)."
        ),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="The private key (PEM) of --tls-cert.")
    ] = None,
) -> int:
    """Serve ENV_ID in parallel slots, every reply signed; stop cleanly on SIGTERM.

    Prints `listening on HOST:PORT` on stdout once it accepts calls; logs go to stderr
    as key=value lines. Plain TCP unless --tls-cert and --tls-key are given (the
    exchange then trusts the certificate's CA with the task key env_ca).
    """
    from catallax.node.env.server import serve
    from catallax.node.errors import NodeError
    from catallax.node.keys import load_private_key, load_public_key
    from catallax.node.serving import server_credentials

    if not 0 <= port <= 65535:
        fail(f"--port: expected 0 .. 65535, got {port}")
    if slots < 1:
        fail(f"--slots: expected at least 1, got {slots}")
    if grace < 0:
        fail(f"--grace: expected 0 or more seconds, got {grace}")
    try:
        node_key = load_private_key(key)
        exchanges = [load_public_key(path) for path in exchange_key]
        credentials = server_credentials(tls_cert, tls_key)
    except NodeError as exc:
        fail(str(exc))
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    try:
        return asyncio.run(
            serve(
                env_id=env_id,
                slots=slots,
                key=node_key,
                exchange_keys=exchanges,
                data_dir=data_dir,
                host=host,
                port=port,
                memory=memory,
                grace=grace,
                credentials=credentials,
            )
        )
    except NodeError as exc:
        fail(str(exc))


@app.command("exchange")
def exchange(
    config: Annotated[Path, typer.Option("--config", help="The exchange's TOML file.")],
    port: Annotated[int | None, typer.Option("--port", help="Override exchange.port.")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Override exchange.host.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Override exchange.data_dir.")
    ] = None,
    key: Annotated[Path | None, typer.Option("--key", help="Override exchange.key.")] = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            help="Override exchange.ledger: a PostgreSQL ledger's URL "
            "(postgresql://USER@HOST:PORT/DB?schema=NAME).",
        ),
    ] = None,
    set_: Annotated[
        list[str],
        typer.Option("--set", help="Override one key, e.g. tasks.chain.rent=0.1; repeatable."),
    ] = [],  # noqa: B006  (typer reads the default)
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds running calls get on SIGTERM.")
    ] = 5.0,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="Override exchange.tls_cert (PEM chain).")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="Override exchange.tls_key (PEM key).")
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(
            "--mqtt",
            help="Publish status, ledger, checkpoints and rounds to this broker "
            "(HOST:PORT; docs/mqtt.md).",
        ),
    ] = None,
    advertise: Annotated[
        str | None,
        typer.Option(
            "--advertise", help="The HOST:PORT the MQTT status gives (default: where it binds)."
        ),
    ] = None,
) -> int:
    """Run an exchange node: the deep-market tasks of CONFIG over gRPC, with its ledger.

    Prints `listening on HOST:PORT` on stdout once it accepts calls; logs go to stderr
    as key=value lines. SIGTERM marks the node NOT_SERVING, finishes the round under way
    (committed whole), then stops with status 0. TLS with --tls-cert and --tls-key
    (paths relative to the current folder), else as the config says.
    """
    from catallax.node.errors import NodeError
    from catallax.node.exchange import load_config, serve

    if port is not None and not 0 <= port <= 65535:
        fail(f"--port: expected 0 .. 65535, got {port}")
    if grace < 0:
        fail(f"--grace: expected 0 or more seconds, got {grace}")
    from catallax.node.monitor.follow import parse_address

    try:
        broker = parse_address(mqtt, "--mqtt") if mqtt is not None else None
        if advertise is not None:
            parse_address(advertise, "--advertise")
    except NodeError as exc:
        fail(str(exc))
    overrides = {
        "port": port,
        "host": host,
        "data_dir": str(data_dir.resolve()) if data_dir else None,
        "key": str(key.resolve()) if key else None,
        "ledger": ledger,
        "tls_cert": str(tls_cert.resolve()) if tls_cert else None,
        "tls_key": str(tls_key.resolve()) if tls_key else None,
    }
    try:
        cfg = load_config(config, overrides, list(set_))
    except NodeError as exc:
        fail(str(exc))
    _logging()
    try:
        return asyncio.run(serve(cfg, grace=grace, mqtt=broker, advertise=advertise))
    except NodeError as exc:
        fail(str(exc))


def _logging() -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
