"""Where a ledger lives: a folder (SQLite) or a PostgreSQL URL, told apart and named.

A location is either a folder holding ``ledger.sqlite`` (a :class:`~pathlib.Path` or a
string) or a string ``postgresql://...`` / ``postgres://...``: a libpq connection URI
with one extra query parameter, ``schema``, naming the PostgreSQL schema that holds the
ledger (default :data:`DEFAULT_SCHEMA`), so that several ledgers can share a database::

    postgresql://root@127.0.0.1:5432/test?schema=exchange_a

``schema`` is taken out before the URL reaches libpq; every other parameter
(``sslmode``, ``connect_timeout``, ``host=/run/postgresql`` ...) is passed on as it is.
Parsing needs no driver, so telling a URL from a folder never imports psycopg.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from catallax.exchange.ledger.errors import InvalidArgument

__all__ = ["DEFAULT_SCHEMA", "SCHEMES", "LedgerURL", "describe", "is_url", "parse_url"]

#: URL schemes that name a PostgreSQL ledger.
SCHEMES = ("postgresql", "postgres")
#: The schema of a ledger whose URL names none.
DEFAULT_SCHEMA = "catallax_ledger"

# Lower case, so that the name needs no quoting rules beyond double quotes; pg_ names
# are reserved by PostgreSQL for its own schemas.
_SCHEMA = re.compile(r"(?!pg_)[a-z_][a-z0-9_]{0,62}")


def is_url(location: object) -> bool:
    """True for a string ``postgresql://...`` or ``postgres://...`` (any case)."""
    if not isinstance(location, str):
        return False
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


@dataclass(frozen=True, slots=True)
class LedgerURL:
    """A parsed ledger URL: what libpq gets, the schema, and a name without the password."""

    conninfo: str
    schema: str
    display: str


def check_schema(schema: object) -> str:
    """``schema`` if it can name a ledger's schema; else :class:`InvalidArgument`."""
    if not isinstance(schema, str) or not _SCHEMA.fullmatch(schema):
        raise InvalidArgument(
            f"schema: expected lower-case letters, digits and '_' (at most 63, not starting "
            f"with a digit or 'pg_'), got {schema!r}"
        )
    return schema


def _without_password(netloc: str) -> str:
    user, at, host = netloc.rpartition("@")
    if not at:
        return netloc
    name, colon, _ = user.partition(":")
    return f"{name}:***@{host}" if colon else netloc


def parse_url(url: str, schema: str | None = None) -> LedgerURL:
    """Split a ledger URL into the libpq URI and the schema (``schema`` wins if given).

    Raises:
        InvalidArgument: not a postgresql:// URL, a malformed query, two ``schema``
            parameters, or a schema name that cannot be used.
    """
    if not is_url(url):
        raise InvalidArgument(f"ledger URL: expected postgresql://..., got {url!r}")
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise InvalidArgument(f"ledger URL: malformed ({exc})") from None
    named = [value for key, value in query if key == "schema"]
    if len(named) > 1:
        raise InvalidArgument("ledger URL: the schema parameter is given more than once")
    if schema is not None and named and named[0] != schema:
        raise InvalidArgument(f"schema: {schema!r}, but the URL names {named[0]!r}")
    chosen = check_schema(schema if schema is not None else named[0] if named else DEFAULT_SCHEMA)
    rest = [(key, value) for key, value in query if key != "schema"]
    conninfo = urlunsplit(parts._replace(query=urlencode(rest, safe="/")))
    shown = [*rest, ("schema", chosen)]
    display = urlunsplit(
        parts._replace(netloc=_without_password(parts.netloc), query=urlencode(shown, safe="/"))
    )
    return LedgerURL(conninfo, chosen, display)


def describe(location: str | Path) -> str:
    """How to name ``location`` in a message: a folder as is, a URL without its password."""
    if is_url(location):
        try:
            return parse_url(location).display  # type: ignore[arg-type]
        except InvalidArgument:
            parts = urlsplit(str(location))
            return urlunsplit(parts._replace(netloc=_without_password(parts.netloc)))
    return str(location)
