"""The public surface of each package is what its __all__ says, and nothing is missing."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

EXPECTED = {
    "catallax.exchange": {
        "NO_WINNER", "AuctionKind", "AuctionResult", "run_auction",
        "Admission", "Decision", "DeepMarket", "Journal", "Owners", "Settlement", "StepReport",
        "tie_key", "Progress", "TrainLog", "evaluate", "greedy_policy", "train", "vector_env",
        "UNITS_PER_CREDIT", "split", "to_credits", "to_units",
        "CLEARING", "ISSUER", "NO_SLOT", "TREASURY", "FlowKind", "Transfers", "consumer",
        "MarketInputError", "BidError", "GoodsError", "AccountError", "UnknownTrader",
        "DuplicateTrader", "MoneyError", "StaleValue", "NotATrader",
        "Bidders", "Consumer", "Enumerable", "Learner", "Mortal", "OneBidder", "Outcomes",
        "as_bidders",
        "ActionError", "ExchangeError", "MarketConfigError", "RewardError",
        "WideDecision", "WideLearner", "WideMarket", "WideOutcome", "WideReport", "WideTraders",
        "WideSettlement",
        "Clearing", "Orders", "clear", "EconomyLog", "run_economy",
        "LayerPrograms", "market_forward", "market_from_mlp", "mlp_forward",
        "CobbDouglas", "GraphNode", "MarketGraph", "backprop_prices", "flows",
    },
    "catallax.traders": {
        "Population", "Trader", "AdaptiveBidders", "EnumeratedPrograms", "LeontiefProducers",
        "Encoder", "OneHot",
        "TileCoder", "encoder_for", "ENTRY_POINT_GROUP", "FamilySpec", "check_trader",
        "check_wide_trader", "families", "load_family", "load_trader", "register", "PluginError",
        "TraderCheckError",
        "TraderConfigError", "TraderError", "ObservationError", "UnsupportedSpace",
    },
}  # fmt: skip


@pytest.mark.parametrize("package", sorted(EXPECTED))
def test_exported_names(package):
    module = importlib.import_module(package)
    assert set(module.__all__) == EXPECTED[package]
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert hasattr(module, name), f"{package} exports {name} but does not define it"


def test_exchange_imports_nothing_else_of_the_project():
    """DESIGN.md: imports flow one way; exchange imports no other part of catallax."""
    offenders = []
    for path in (ROOT / "exchange").rglob("*.py"):
        text = path.read_text()
        for other in ("catallax.traders", "catallax.node", "catallax.v1"):
            if f"import {other}" in text or f"from {other}" in text:
                offenders.append(f"{path.relative_to(ROOT)} imports {other}")
    assert offenders == []
