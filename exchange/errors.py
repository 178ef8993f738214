"""Errors raised by the in-process market (``catallax.exchange``).

::

    ExchangeError                  root of everything the market raises
    ├── MarketConfigError          invalid market parameters (also a ValueError)
    ├── RewardError                an environment or consumer reported a non-finite reward
    │                              (also a ValueError); names the step and the episode slot
    └── ActionError                a trader returned an action outside the action space

The ledger and the equilibrium solvers have their own roots in their subpackages.
"""

from __future__ import annotations

__all__ = ["ActionError", "ExchangeError", "MarketConfigError", "RewardError"]


class ExchangeError(Exception):
    """Root of the errors raised by the in-process market."""


class MarketConfigError(ExchangeError, ValueError):
    """A market parameter is out of its documented range."""


class RewardError(ExchangeError, ValueError):
    """A reward was NaN or infinite; the message names the step and the episode slot."""

    def __init__(self, message: str, *, step: int, slot: int) -> None:
        super().__init__(message)
        self.step = step
        self.slot = slot


class ActionError(ExchangeError, ValueError):
    """A trader's action is not a valid action of the environment."""
