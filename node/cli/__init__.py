"""The ``catallax`` command line.

Each subcommand group lives in its own module and is attached here. ``main`` runs the
app without click's standalone mode so that every usage error, from option parsing or
from a command's own checks, ends the same way: one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys

import typer

from catallax.node.cli._common import USAGE_ERROR, CliError, new_app, print_error

app = new_app(
    "catallax: market-based AI. Traders compete for the right to act; "
    "wealth is the learning signal."
)


def _attach() -> None:
    # Imported here so that each module can import ``app``-free helpers without cycles.
    from catallax.node.cli import demo, keys, ledger, monitor, net, node, trader, train

    app.command("demo", help=demo.__doc__)(demo.demo)
    app.command("train", help=train.__doc__)(train.train)
    app.command("health", help=net.health.__doc__)(net.health)
    app.command("tasks", help=net.tasks.__doc__)(net.tasks)
    app.command("monitor", help=monitor.monitor.__doc__)(monitor.monitor)
    app.command("plot", help=monitor.plot.__doc__)(monitor.plot)
    app.add_typer(trader.app, name="trader")
    app.add_typer(keys.app, name="keys")
    app.add_typer(ledger.app, name="ledger")
    app.add_typer(node.app, name="node")


_attach()


def _named(name: str, *extra: type[BaseException]) -> tuple[type[BaseException], ...]:
    """Exception classes called ``name`` that typer raises (it may vendor click)."""
    found = {c for c in typer.BadParameter.__mro__ if c.__name__ == name}
    return (*found, *extra)


_USAGE_ERRORS = _named("UsageError")
_ABORTS = (typer.Abort,)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``catallax`` console script."""
    try:
        rv = app(args=argv, prog_name="catallax", standalone_mode=False)
    except CliError as exc:
        print_error(str(exc))
        sys.exit(USAGE_ERROR)
    except _USAGE_ERRORS as exc:
        # typer validates through pydantic, which prefixes "Value error, ".
        print_error(exc.format_message().replace("Value error, ", ""))  # type: ignore[attr-defined]
        sys.exit(USAGE_ERROR)
    except _ABORTS:
        print_error("aborted")
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


__all__ = ["app", "main"]
