"""The economics of catallax: auctions, the deep market (Algorithm 1), the CAPITALISM
training loop and the protocols traders implement. Subpackages hold the reference
environments (:mod:`catallax.exchange.envs`), the equilibrium solvers
(:mod:`catallax.exchange.equilibrium`) and the ledger (:mod:`catallax.exchange.ledger`).
No network code lives here, and nothing here imports another part of the project.
"""

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
