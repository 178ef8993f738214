"""The deep market (paper, Definition 2.1 and Algorithm 1): values, accounts, the
settlement, the compiled auction kernel, royalties, and the CAPITALISM loop.

A step is values travelling one way: bids -> :class:`Decision` -> (the environment
steps) -> :class:`Settlement` -> ``DeepMarket.apply`` (after the ledger commits it).
"""

from catallax.exchange.deep.accounts import tie_key
from catallax.exchange.deep.loop import (
    EVALUATION_CAP,
    Evaluation,
    Progress,
    TrainLog,
    episode_cap,
    evaluate,
    evaluation,
    greedy_policy,
    raise_optimism,
    salvage_prices,
    stream_seeds,
    train,
    vector_env,
)
from catallax.exchange.deep.market import DeepMarket, Journal
from catallax.exchange.deep.scale import ScaleTracker
from catallax.exchange.deep.values import Admission, Decision, Owners, Settlement, StepReport

__all__ = [
    # the market
    "DeepMarket",
    "Journal",
    "tie_key",
    # values
    "Admission",
    "Decision",
    "Owners",
    "Settlement",
    "StepReport",
    # the training loop
    "EVALUATION_CAP",
    "Evaluation",
    "Progress",
    "ScaleTracker",
    "TrainLog",
    "episode_cap",
    "evaluate",
    "evaluation",
    "greedy_policy",
    "raise_optimism",
    "salvage_prices",
    "stream_seeds",
    "train",
    "vector_env",
]
