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
    from catallax.exchange.capitalism import (
        Progress,
        TrainLog,
        evaluate,
        greedy_policy,
        train,
        vector_env,
    )
    from catallax.exchange.deep import Decision, DeepMarket, StepReport
    from catallax.exchange.errors import ActionError, ExchangeError, MarketConfigError, RewardError
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
    from catallax.exchange.wide import (
        WideDecision,
        WideLearner,
        WideMarket,
        WideOutcome,
        WideReport,
        WideTraders,
    )
    from catallax.exchange.wide_clearing import Clearing, Orders, clear
    from catallax.exchange.wide_loop import EconomyLog, run_economy
    from catallax.exchange.wide_prices import (
        CobbDouglas,
        GraphNode,
        MarketGraph,
        backprop_prices,
        flows,
    )

__all__ = [
    # auctions
    "NO_WINNER",
    "AuctionKind",
    "AuctionResult",
    "run_auction",
    # the deep market and its training loop
    "Decision",
    "DeepMarket",
    "StepReport",
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
    # errors
    "ActionError",
    "ExchangeError",
    "MarketConfigError",
    "RewardError",
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
    "Progress": "catallax.exchange.capitalism",
    "TrainLog": "catallax.exchange.capitalism",
    "evaluate": "catallax.exchange.capitalism",
    "greedy_policy": "catallax.exchange.capitalism",
    "train": "catallax.exchange.capitalism",
    "vector_env": "catallax.exchange.capitalism",
    "WideDecision": "catallax.exchange.wide",
    "WideLearner": "catallax.exchange.wide",
    "WideMarket": "catallax.exchange.wide",
    "WideOutcome": "catallax.exchange.wide",
    "WideReport": "catallax.exchange.wide",
    "WideTraders": "catallax.exchange.wide",
    "Clearing": "catallax.exchange.wide_clearing",
    "Orders": "catallax.exchange.wide_clearing",
    "clear": "catallax.exchange.wide_clearing",
    "EconomyLog": "catallax.exchange.wide_loop",
    "run_economy": "catallax.exchange.wide_loop",
    "LayerPrograms": "catallax.exchange.neural",
    "market_forward": "catallax.exchange.neural",
    "market_from_mlp": "catallax.exchange.neural",
    "mlp_forward": "catallax.exchange.neural",
    "CobbDouglas": "catallax.exchange.wide_prices",
    "GraphNode": "catallax.exchange.wide_prices",
    "MarketGraph": "catallax.exchange.wide_prices",
    "backprop_prices": "catallax.exchange.wide_prices",
    "flows": "catallax.exchange.wide_prices",
    "Bidders": "catallax.exchange.protocols",
    "Consumer": "catallax.exchange.protocols",
    "Enumerable": "catallax.exchange.protocols",
    "Learner": "catallax.exchange.protocols",
    "Mortal": "catallax.exchange.protocols",
    "OneBidder": "catallax.exchange.protocols",
    "Outcomes": "catallax.exchange.protocols",
    "as_bidders": "catallax.exchange.protocols",
    "ActionError": "catallax.exchange.errors",
    "ExchangeError": "catallax.exchange.errors",
    "MarketConfigError": "catallax.exchange.errors",
    "RewardError": "catallax.exchange.errors",
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
