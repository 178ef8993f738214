"""Shared pieces of the command line: consoles and the one-line error convention.

Every command reports bad input the same way: one line ``catallax: error: <what>`` on
stderr and exit status 2, never a traceback. Results go to stdout; progress and
diagnostics go to stderr, so ``--json`` output can be piped.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from catallax.node.errors import CliError

#: Status 2 is the Unix convention for "the command was used wrongly".
USAGE_ERROR = 2

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Abort the current command with a one-line error and exit status 2."""
    raise CliError(message)


def one_line(message: str) -> str:
    """Fold a (possibly multi-line) message onto one line."""
    return " ".join(str(message).split())


def print_error(message: str) -> None:
    """Print ``catallax: error: <message>`` on stderr, on one line."""
    err.print(f"catallax: error: {one_line(message)}", markup=False)


def new_app(help_text: str) -> typer.Typer:
    """A typer app (or sub-app) with the project's settings."""
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
