"""Shared plumbing of the benchmarks: argument dataclasses on the command line, timing.

Each benchmark declares its arguments CleanRL-style, as a dataclass whose fields carry a
docstring (a string literal right after the field). :func:`parse_args` turns that class
into an ``argparse`` parser whose help text is those docstrings, so a benchmark reads
top to bottom without a parser of its own and ``--help`` documents every option.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import statistics
import time
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["field_docs", "median_ms", "parse_args"]

T = TypeVar("T")


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of dataclass ``cls``, by field name."""
    tree = ast.parse(inspect.getsource(cls))
    body = next(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)).body
    docs: dict[str, str] = {}
    for field, after in zip(body, [*body[1:], None], strict=True):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[field.target.id] = " ".join(after.value.value.split())
    return docs


def parse_args(cls: type[T], argv: Sequence[str] | None = None) -> T:
    """Parse ``argv`` (default: the command line) into an instance of dataclass ``cls``.

    Every field becomes ``--name-with-dashes``; booleans get ``--x/--no-x``; the help of
    each option is the field's docstring and its default.
    """
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    parser = argparse.ArgumentParser(
        description=(cls.__doc__ or "").strip(),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints[f.name]
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if kind is bool:
            parser.add_argument(
                flag,
                default=default,
                action=argparse.BooleanOptionalAction,
                help=_escape(docs.get(f.name)),
            )
        else:
            parser.add_argument(flag, type=kind, default=default, help=_escape(docs.get(f.name)))
    return cls(**vars(parser.parse_args(argv)))


def median_ms(*steps: Callable[[], Any], repeats: int, warmup: int = 2) -> list[float]:
    """Median wall time of each of ``steps`` over ``repeats`` calls, in milliseconds.

    The steps are called in turn, one call of each per round, so that a change in the
    machine's load (it is shared) falls on all of them alike.
    """
    for _ in range(warmup):
        for step in steps:
            step()
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for step, series in zip(steps, times, strict=True):
            start = time.perf_counter()
            step()
            series.append(time.perf_counter() - start)
    return [1000.0 * statistics.median(series) for series in times]


def _escape(text: str | None) -> str | None:
    """Protect ``%`` in help text from argparse's formatting."""
    return None if text is None else text.replace("%", "%%")
