"""``catallax trader``: installed trader families and the plugin checker."""

from __future__ import annotations

import json
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
