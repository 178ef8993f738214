"""Errors of the trader SDK.

::

    TraderError                root
    ├── PluginError            a trader family could not be found or loaded (also LookupError)
    └── TraderCheckError       a trader or population broke the market's contract
"""

from __future__ import annotations

__all__ = ["PluginError", "TraderCheckError", "TraderError"]


class TraderError(Exception):
    """Root of the errors raised by :mod:`catallax.traders`."""


class PluginError(TraderError, LookupError):
    """A trader family named by id or ``module:Class`` could not be loaded."""


class TraderCheckError(TraderError):
    """A trader or population does not satisfy what the market needs of it."""
