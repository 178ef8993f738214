"""``catallax trader``: installed trader families and the plugin checker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from catallax.node.cli._common import fail, new_app, out

app = new_app("Trader families: list what is installed, check a plugin.")


@app.command("list")
def list_families(
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
) -> None:
    """List the trader families installed (entry-point group catallax.traders)."""
    from catallax.traders import PluginError, families, load_family

    found = families()
    rows = []
    for spec in sorted(found.values(), key=lambda s: s.id):
        try:
            doc = (load_family(spec.id).__doc__ or "").strip().splitlines()[0]
        except PluginError as exc:
            doc = f"(cannot load: {exc})"
        rows.append({"id": spec.id, "target": spec.target, "source": spec.source, "summary": doc})
    if json_out:
        print(json.dumps(rows))
        return
    table = Table(title="trader families")
    for col in ("id", "target", "source", "summary"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], r["target"], r["source"], r["summary"])
    out.print(table)


@app.command("check")
def check(
    family: Annotated[str, typer.Argument(help="Family id or module:Class.")],
    env_id: Annotated[
        str, typer.Argument(help="Gymnasium id to check it on.")
    ] = "catallax/Chain-v0",
) -> None:
    """Run check_trader on a family: shapes, actions, learning, growth, a short market run."""
    from catallax.node.training import OptionError, make_env_factory
    from catallax.traders import PluginError, TraderCheckError, check_trader, load_family

    try:
        cls = load_family(family)
        if hasattr(cls, "for_economy") and not hasattr(cls, "for_env"):
            env_id, make = _economy_factory(env_id)  # a wide-market family: its economy
        else:
            make = make_env_factory(env_id)
    except (PluginError, OptionError) as exc:
        fail(str(exc))
    env = make()
    try:
        pop = check_trader(cls, env)
    except TraderCheckError as exc:
        out.print(f"{family}: FAILED: {exc}", markup=False)
        raise typer.Exit(1) from exc
    finally:
        env.close()
    out.print(f"{family}: ok on {env_id} ({pop.size} members)", markup=False)


def _economy_factory(env_id: str):
    """Makes ``env_id`` as it is (a production economy has Box actions); the default
    economy's environment when ``env_id`` is the deep default."""
    import gymnasium as gym

    import catallax.exchange.envs  # noqa: F401  (registers the catallax ids)
    from catallax.node.errors import OptionError

    name = "catallax/Production-v0" if env_id == "catallax/Chain-v0" else env_id
    try:
        gym.spec(name)
    except gym.error.Error as exc:
        raise OptionError(f"{env_id}: {exc}") from None
    return name, lambda: gym.make(name)


@app.command("run")
def run(
    plugin: Annotated[str, typer.Argument(help="Trader family id, or module:Class.")],
    task: Annotated[list[str], typer.Option("--task", help="A task name; repeatable.")],
    key: Annotated[
        list[Path],
        typer.Option("--key", help="An identity's private key (PEM); repeatable."),
    ],
    seed: Annotated[
        int, typer.Option(help="Seed of the populations (key j, task i: seed + 1000 j + i).")
    ] = 0,
    option: Annotated[
        list[str],
        typer.Option("--option", help="KEY=VALUE passed to the family (TOML value); repeatable."),
    ] = [],  # noqa: B006  (typer reads the default)
    exchange_key: Annotated[
        Path | None,
        typer.Option("--exchange-key", help="Pin the exchange's public key (PEM)."),
    ] = None,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="Connect with TLS, trusting this CA (PEM).")
    ] = None,
    exchange: Annotated[
        list[str], typer.Option("--exchange", help="An exchange HOST:PORT; repeatable.")
    ] = [],  # noqa: B006  (typer reads the default)
    mqtt: Annotated[
        str | None,
        typer.Option(
            "--mqtt",
            help="Find the exchanges offering --task from this broker's status "
            "messages (HOST:PORT) and join each, also later ones.",
        ),
    ] = None,
) -> int:
    """Trade with PLUGIN on remote tasks: dial out, register, bid, learn, reconnect.

    Repeat --exchange/--task to join several tasks with one key in one process: one
    identity, each exchange keeping its own ledger of it. With --mqtt HOST:PORT (and one
    --task, no --exchange) it joins every exchange whose retained status offers the
    task. Repeat --key to run several identities in one process, each on every task.
    Runs until SIGTERM or SIGINT; logs go to stderr as key=value lines.
    """
    import asyncio
    import logging
    import sys
    import tomllib

    import grpc

    from catallax.node.errors import NodeError
    from catallax.node.keys import load_private_key, load_public_key
    from catallax.node.trader import SessionFailed, make_sessions, parse_joins, run_traders
    from catallax.traders import PluginError, load_family

    options = {}
    for item in option:
        name, sep, raw = item.partition("=")
        if not sep or not name.isidentifier():
            fail(f"--option {item!r}: expected KEY=VALUE, e.g. optimism=2.0")
        try:
            options[name] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            options[name] = raw
    from catallax.node.monitor.follow import parse_address

    try:
        broker = None
        if mqtt is not None:
            broker = parse_address(mqtt, "--mqtt")
            if exchange or len(task) != 1:
                fail("--mqtt: give one --task and no --exchange (the broker names them)")
            joins = []
        else:
            joins = parse_joins(exchange, task)
        if len(set(key)) != len(key):
            fail("the same --key is given twice")
        identities = [load_private_key(k) for k in key]
        pinned = load_public_key(exchange_key) if exchange_key else None
        credentials = None
        if ca is not None:
            try:
                credentials = grpc.ssl_channel_credentials(ca.read_bytes())
            except OSError as exc:
                fail(f"--ca {str(ca)!r}: {exc.strerror}")
        try:
            load_family(plugin)
        except PluginError as exc:
            if "no for_env" not in str(exc):
                raise
    except (NodeError, PluginError) as exc:
        fail(str(exc))
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    if broker is not None:
        from catallax.node.trader.discovery import run_discovered

        work = run_discovered(
            plugin, task[0], identities, *broker, seed=seed, options=options,
            exchange_key=pinned, credentials=credentials,
        )  # fmt: skip
    else:
        sessions = []
        for j, identity in enumerate(identities):
            sessions += make_sessions(
                plugin, joins, identity, seed=seed + 1000 * j, options=options,
                exchange_key=pinned, credentials=credentials,
            )  # fmt: skip
        work = run_traders(sessions)
    try:
        asyncio.run(work)
    except SessionFailed as exc:
        out.print(f"catallax: trader stopped: {exc}", markup=False)
        return 1
    except NodeError as exc:
        fail(str(exc))
    return 0
