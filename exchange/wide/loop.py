"""The CAPITALISM loop of a wide market on a production economy, over parallel episodes.

:func:`run_economy` runs a :class:`~catallax.exchange.wide.WideMarket` whose traders
produce goods of an :class:`~catallax.exchange.envs.production.Economy`: each step is
the market's forward pass, consumers buying the final goods (each trader is paid for
what it made: its reward) and the settlement (money, depreciation, the raw inflow to
the world). Episodes start, like ``ProductionEnv``'s, from a random stock of raw goods
owned by the world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from catallax.exchange.errors import MarketConfigError
from catallax.exchange.wide.market import WideMarket

if TYPE_CHECKING:
    from catallax.exchange.envs.production import Economy

__all__ = ["EconomyLog", "run_economy"]


@dataclass
class EconomyLog:
    """History of a run.

    Attributes:
        welfare: ``(steps, E)`` consumers' value of the final goods bought each step.
        prices: ``(steps, G)`` mean clearing price of each good over the episodes.
        conservation: ``(steps,)`` the market's total balance in units after each step
            (exactly 0).
    """

    welfare: list[np.ndarray] = field(default_factory=list)
    prices: list[np.ndarray] = field(default_factory=list)
    conservation: list[int] = field(default_factory=list)

    def mean_welfare(self, last: int) -> float:
        """Mean welfare per step and episode over the ``last`` steps."""
        return float(np.mean(self.welfare[-last:]))


def run_economy(
    market: WideMarket,
    economy: Economy,
    *,
    steps: int,
    seed: int | None = None,
    on_step: Callable[[int, EconomyLog], None] | None = None,
) -> EconomyLog:
    """Run ``steps`` steps of CAPITALISM on ``economy`` (the market changes in place).

    Raises:
        MarketConfigError: the market's goods or depreciation differ from the economy's.
    """
    if market.n_goods != economy.n_goods:
        raise MarketConfigError(f"market has {market.n_goods} goods, economy {economy.n_goods}")
    if market.depreciation != economy.depreciation:
        raise MarketConfigError("market.depreciation must equal economy.depreciation")
    if steps < 1:
        raise MarketConfigError(f"steps must be >= 1, got {steps}")
    rng = np.random.default_rng(seed)
    if market.steps == 0 and not market.state().any():
        raw = np.array([k == "raw" for k in economy.kinds])
        scale = rng.uniform(0.5, 1.5, (market.n_envs, economy.n_goods))
        market.endow(np.where(raw, economy.inflow * scale, 0.0))
    log = EconomyLog()
    inflow = np.broadcast_to(economy.inflow, (market.n_envs, economy.n_goods))
    for t in range(steps):
        decision = market.act()
        payments, taken, welfare = economy.consume(decision.produced)
        market.settle(decision, payments, taken, inflow=inflow)
        log.welfare.append(welfare)
        log.prices.append(decision.prices.mean(axis=0))
        log.conservation.append(market.total())
        if on_step is not None:
            on_step(t, log)
    return log
