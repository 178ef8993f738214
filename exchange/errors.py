"""Errors raised by the markets (``catallax.exchange``).

::

    ExchangeError                  root of everything the markets raise
    ├── MarketConfigError          invalid market parameters
    │   └── NotATrader             an object offered as a trader has no trader interface
    ├── MarketInputError           a value handed to a market step is malformed
    │   ├── BidError               a bid matrix of the wrong shape or dtype
    │   ├── ActionError            an action outside the action space
    │   ├── RewardError            a NaN or infinite reward; names the step and slot
    │   └── GoodsError             goods of the wrong shape, negative or not finite
    ├── AccountError               a trader account the market cannot use
    │   ├── UnknownTrader          no such account, or it has been removed
    │   └── DuplicateTrader        an account id admitted twice
    ├── MoneyError                 an amount that is not a finite number of units
    └── StaleValue                 a settlement applied to a market that has moved on

Every subclass of :class:`MarketInputError` and :class:`MarketConfigError` is also a
``ValueError``, so code that caught ``ValueError`` keeps working. The ledger, the
equilibrium solvers and the reference environments have their own roots in their
subpackages. When one of these is raised, nothing in the market has changed.
"""

from __future__ import annotations

__all__ = [
    "AccountError",
    "ActionError",
    "BidError",
    "DuplicateTrader",
    "ExchangeError",
    "GoodsError",
    "MarketConfigError",
    "MarketInputError",
    "MoneyError",
    "NotATrader",
    "RewardError",
    "StaleValue",
    "UnknownTrader",
]


class ExchangeError(Exception):
    """Root of the errors raised by the markets."""


class MarketConfigError(ExchangeError, ValueError):
    """A market parameter is out of its documented range."""


class NotATrader(MarketConfigError, TypeError):
    """An object offered as a trader has neither ``bid``/``act`` nor ``size``/``bids``/
    ``actions`` (also a ``TypeError``)."""


class MarketInputError(ExchangeError, ValueError):
    """A value handed to a market step (bids, actions, rewards, goods) is malformed."""


class BidError(MarketInputError):
    """A bid matrix has the wrong shape or dtype."""


class ActionError(MarketInputError):
    """A trader's action is not a valid action of the environment."""


class RewardError(MarketInputError):
    """A reward was NaN or infinite; the message names the step and the episode slot."""

    def __init__(self, message: str, *, step: int, slot: int) -> None:
        super().__init__(message)
        self.step = step
        self.slot = slot


class GoodsError(MarketInputError):
    """Goods of the wrong shape, negative, or not finite."""


class AccountError(ExchangeError, LookupError):
    """A trader account the market cannot use."""


class UnknownTrader(AccountError):
    """No trader with this account id (or row), or it has been removed."""


class DuplicateTrader(AccountError):
    """An account id that is already a trader of this market."""


class MoneyError(ExchangeError, ValueError):
    """An amount that is not a finite number of units within range."""


class StaleValue(ExchangeError):
    """A settlement or admission computed for a state the market has since left."""
