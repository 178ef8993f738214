"""Errors raised by ``catallax.node``: the command line, and (later) the servers and clients.

One root, specific subclasses; where one fits, a class also derives from the built-in
exception a caller would naturally catch::

    NodeError                  root of everything catallax.node raises
    ├── OptionError            a command-line option or environment id that cannot be used;
    │                          one-line message (also a ValueError)
    └── CliError               bad input a command found after parsing (exit status 2)

The command line prints these as one line, ``catallax: error: <what>``, with exit status
2. The network layer (gRPC servers and clients, in later issues) will map each class to a
gRPC status code, e.g. ``OptionError`` to ``INVALID_ARGUMENT``, and status codes back to
these classes on the client side, so that a caller catches the same class locally and
over the wire.
"""

from __future__ import annotations

__all__ = ["CliError", "NodeError", "OptionError"]


class NodeError(Exception):
    """Root of the errors raised by :mod:`catallax.node`."""


class OptionError(NodeError, ValueError):
    """A command-line option or environment id that cannot be used; one-line message."""


class CliError(NodeError):
    """Bad input found by a command after parsing; printed as one line, exit status 2."""
