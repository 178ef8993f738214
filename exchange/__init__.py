"""The economics of catallax: auctions, the deep market (Algorithm 1), the CAPITALISM
training loop and the protocols traders implement. Subpackages hold the reference
environments (:mod:`catallax.exchange.envs`), the equilibrium solvers
(:mod:`catallax.exchange.equilibrium`) and the ledger (:mod:`catallax.exchange.ledger`).
Names are loaded on first use (PEP 562), so importing one submodule stays cheap.
No network code lives here, and nothing here imports another part of the project.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from catallax.exchange.auctions import NO_WINNER, AuctionKind, AuctionResult, run_auction
    from catallax.exchange.deep import (
        Admission,
        Decision,
        DeepMarket,
        Journal,
        Owners,
        Progress,
        Settlement,
        StepReport,
        TrainLog,
        evaluate,
        greedy_policy,
        tie_key,
        train,
        vector_env,
    )
    from catallax.exchange.errors import (
        AccountError,
        ActionError,
        BidError,
        DuplicateTrader,
        ExchangeError,
        GoodsError,
        MarketConfigError,
        MarketInputError,
        MoneyError,
        NotATrader,
        RewardError,
        StaleValue,
        UnknownTrader,
    )
    from catallax.exchange.money import UNITS_PER_CREDIT, split, to_credits, to_units
    from catallax.exchange.neural import LayerPrograms, market_forward, market_from_mlp, mlp_forward
    from catallax.exchange.protocols import (
        Bidders,
        Consumer,
        Enumerable,
        Learner,
        Mortal,
        OneBidder,
        Outcomes,
        as_bidders,
    )
    from catallax.exchange.transfers import (
        CLEARING,
        ISSUER,
        NO_SLOT,
        TREASURY,
        FlowKind,
        Transfers,
        consumer,
    )
    from catallax.exchange.wide import (
        Clearing,
        CobbDouglas,
        EconomyLog,
        GraphNode,
        MarketGraph,
        Orders,
        WideDecision,
        WideLearner,
        WideMarket,
        WideOutcome,
        WideReport,
        WideSettlement,
        WideTraders,
        backprop_prices,
        clear,
        flows,
        run_economy,
    )

__all__ = [
    # auctions
    "NO_WINNER",
    "AuctionKind",
    "AuctionResult",
    "run_auction",
    # the deep market and its training loop
    "Admission",
    "Decision",
    "DeepMarket",
    "Journal",
    "Owners",
    "Settlement",
    "StepReport",
    "tie_key",
    "Progress",
    "TrainLog",
    "evaluate",
    "greedy_policy",
    "train",
    "vector_env",
    # the wide market (Algorithm 2)
    "WideDecision",
    "WideLearner",
    "WideMarket",
    "WideOutcome",
    "WideReport",
    "WideSettlement",
    "WideTraders",
    "Clearing",
    "Orders",
    "clear",
    "EconomyLog",
    "run_economy",
    # markets and neural networks (Theorem 3.1, equation (1))
    "LayerPrograms",
    "market_forward",
    "market_from_mlp",
    "mlp_forward",
    "CobbDouglas",
    "GraphNode",
    "MarketGraph",
    "backprop_prices",
    "flows",
    # what traders implement
    "Bidders",
    "Consumer",
    "Enumerable",
    "Learner",
    "Mortal",
    "OneBidder",
    "Outcomes",
    "as_bidders",
    # money and its flows
    "UNITS_PER_CREDIT",
    "split",
    "to_credits",
    "to_units",
    "CLEARING",
    "ISSUER",
    "NO_SLOT",
    "TREASURY",
    "FlowKind",
    "Transfers",
    "consumer",
    # errors
    "ExchangeError",
    "MarketConfigError",
    "NotATrader",
    "MarketInputError",
    "BidError",
    "ActionError",
    "RewardError",
    "GoodsError",
    "AccountError",
    "UnknownTrader",
    "DuplicateTrader",
    "MoneyError",
    "StaleValue",
]

#: Where each public name lives; the module is imported when the name is first used.
_HOME = {
    "NO_WINNER": "catallax.exchange.auctions",
    "AuctionKind": "catallax.exchange.auctions",
    "AuctionResult": "catallax.exchange.auctions",
    "run_auction": "catallax.exchange.auctions",
    "Decision": "catallax.exchange.deep",
    "DeepMarket": "catallax.exchange.deep",
    "StepReport": "catallax.exchange.deep",
    "Admission": "catallax.exchange.deep",
    "Journal": "catallax.exchange.deep",
    "Owners": "catallax.exchange.deep",
    "Settlement": "catallax.exchange.deep",
    "tie_key": "catallax.exchange.deep",
    "Progress": "catallax.exchange.deep",
    "TrainLog": "catallax.exchange.deep",
    "evaluate": "catallax.exchange.deep",
    "greedy_policy": "catallax.exchange.deep",
    "train": "catallax.exchange.deep",
    "vector_env": "catallax.exchange.deep",
    "WideDecision": "catallax.exchange.wide",
    "WideLearner": "catallax.exchange.wide",
    "WideMarket": "catallax.exchange.wide",
    "WideOutcome": "catallax.exchange.wide",
    "WideReport": "catallax.exchange.wide",
    "WideSettlement": "catallax.exchange.wide",
    "WideTraders": "catallax.exchange.wide",
    "Clearing": "catallax.exchange.wide",
    "Orders": "catallax.exchange.wide",
    "clear": "catallax.exchange.wide",
    "EconomyLog": "catallax.exchange.wide",
    "run_economy": "catallax.exchange.wide",
    "LayerPrograms": "catallax.exchange.neural",
    "market_forward": "catallax.exchange.neural",
    "market_from_mlp": "catallax.exchange.neural",
    "mlp_forward": "catallax.exchange.neural",
    "CobbDouglas": "catallax.exchange.wide",
    "GraphNode": "catallax.exchange.wide",
    "MarketGraph": "catallax.exchange.wide",
    "backprop_prices": "catallax.exchange.wide",
    "flows": "catallax.exchange.wide",
    "Bidders": "catallax.exchange.protocols",
    "Consumer": "catallax.exchange.protocols",
    "Enumerable": "catallax.exchange.protocols",
    "Learner": "catallax.exchange.protocols",
    "Mortal": "catallax.exchange.protocols",
    "OneBidder": "catallax.exchange.protocols",
    "Outcomes": "catallax.exchange.protocols",
    "as_bidders": "catallax.exchange.protocols",
    **{
        name: "catallax.exchange.errors"
        for name in (
            "ExchangeError",
            "MarketConfigError",
            "MarketInputError",
            "BidError",
            "ActionError",
            "RewardError",
            "GoodsError",
            "AccountError",
            "UnknownTrader",
            "DuplicateTrader",
            "MoneyError",
            "StaleValue",
            "NotATrader",
        )
    },
    **{
        name: "catallax.exchange.transfers"
        for name in (
            "CLEARING",
            "ISSUER",
            "NO_SLOT",
            "TREASURY",
            "FlowKind",
            "Transfers",
            "consumer",
        )
    },
    **{
        name: "catallax.exchange.money"
        for name in ("UNITS_PER_CREDIT", "split", "to_credits", "to_units")
    },
}


def __getattr__(name: str) -> Any:
    try:
        home = _HOME[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
