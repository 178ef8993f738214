"""The trader SDK: what a trader is, the built-in families, and the plugin registry.

A trader bids for the right to act and says what it does with it; a population is
many traders of one family held as arrays. The market (:mod:`catallax.exchange`)
consumes both through small protocols; this package gives them a shape, the families
that make a market learn, and the way to find third-party families.
"""

from catallax.traders.adaptive import AdaptiveBidders
from catallax.traders.base import Population, Trader
from catallax.traders.checker import check_trader, check_wide_trader
from catallax.traders.enumerated import EnumeratedPrograms
from catallax.traders.errors import (
    ObservationError,
    PluginError,
    TraderCheckError,
    TraderConfigError,
    TraderError,
    UnsupportedSpace,
)
from catallax.traders.features import Encoder, OneHot, TileCoder, encoder_for
from catallax.traders.producers import LeontiefProducers
from catallax.traders.registry import (
    ENTRY_POINT_GROUP,
    FamilySpec,
    families,
    load_family,
    load_trader,
    register,
)

__all__ = [
    # shapes of a trader
    "Population",
    "Trader",
    # built-in families
    "AdaptiveBidders",
    "EnumeratedPrograms",
    "LeontiefProducers",
    # observation encoders
    "Encoder",
    "OneHot",
    "TileCoder",
    "encoder_for",
    # plugins
    "ENTRY_POINT_GROUP",
    "FamilySpec",
    "check_trader",
    "check_wide_trader",
    "families",
    "load_family",
    "load_trader",
    "register",
    # errors
    "PluginError",
    "TraderCheckError",
    "TraderConfigError",
    "TraderError",
    "ObservationError",
    "UnsupportedSpace",
]
