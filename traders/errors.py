"""Errors of the trader SDK.

::

    TraderError                root
    ├── PluginError            a trader family could not be found or loaded (also LookupError)
    ├── TraderCheckError       a trader or population broke the market's contract
    ├── TraderConfigError      a family's constructor option out of range (also ValueError)
    ├── UnsupportedSpace       an observation or action space a family or encoder cannot use
    │                          (also ValueError)
    └── ObservationError       an observation outside the space its encoder was built for
                               (also ValueError)
"""

from __future__ import annotations

__all__ = [
    "ObservationError",
    "PluginError",
    "TraderCheckError",
    "TraderConfigError",
    "TraderError",
    "UnsupportedSpace",
]


class TraderError(Exception):
    """Root of the errors raised by :mod:`catallax.traders`."""


class PluginError(TraderError, LookupError):
    """A trader family named by id or ``module:Class`` could not be loaded."""


class TraderCheckError(TraderError):
    """A trader or population does not satisfy what the market needs of it."""


class TraderConfigError(TraderError, ValueError):
    """A trader family's constructor option is out of range (the message names it)."""


class UnsupportedSpace(TraderError, ValueError):
    """A family or an encoder cannot work with this observation or action space."""


class ObservationError(TraderError, ValueError):
    """An observation lies outside the space its encoder was built for."""
