"""Welfare of a trained wide market against the linear-programming optimum.

A wide market of Leontief producers (one per recipe, :mod:`catallax.traders.producers`)
runs CAPITALISM on a production economy (:mod:`catallax.exchange.envs.production`): the
default instance (3 raw goods, 2 intermediates, 2 final goods, 6 recipes) and larger
random layered instances. Welfare is the consumers' value of the final goods bought per
step (raw goods are free), averaged over the last ``window`` steps and the parallel
episodes.

The baseline, from the same run, is the welfare-optimal stationary plan: a linear
programme over run levels, stocks and consumer tranches (scipy's ``linprog``, HiGHS),
checked by playing its plan in ``ProductionEnv``. A second reference is a planner
without prices that runs every recipe at capacity in ``ProductionEnv``. The figure is
the ratio market / LP (goal >= 0.95 on the default instance).

Run: ``python bench/wide.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catallax.exchange.envs.production import (
    Economy,
    ProductionEnv,
    default_economy,
    lp_optimum,
    random_economy,
)
from catallax.exchange.wide import WideMarket, run_economy
from catallax.traders.producers import LeontiefProducers


@dataclass
class Args:
    """Welfare of the trained wide market as a share of the LP optimum."""

    steps: int = 800
    """CAPITALISM steps of training on each instance"""
    window: int = 100
    """the welfare is the mean over this many last steps"""
    envs: int = 8
    """parallel episodes (economies) sharing the traders' wealth"""
    allowance: float = 200.0
    """credits each producer starts with"""
    larger: str = "4,3,3,12;6,4,4,20;8,6,5,30"
    """larger random instances as raw,intermediate,final,recipes; separated by ';'"""
    seed: int = 0
    """seed of the random instances and of the initial stocks"""
    quick: bool = False
    """smoke test: the default instance only, 300 steps, 2 episodes"""


def play(economy: Economy, runs: np.ndarray, *, steps: int, window: int, seed: int) -> float:
    """Mean welfare of a fixed plan over the last ``window`` steps of ``ProductionEnv``."""
    env = ProductionEnv(economy=economy)
    env.reset(seed=seed)
    welfare = [env.step(runs)[1] for _ in range(steps)]
    return float(np.mean(welfare[-window:]))


def market_welfare(economy: Economy, args: Args) -> float:
    """Train a wide market of Leontief producers; its mean welfare over the last window."""
    producers = LeontiefProducers.for_economy(economy)
    market = WideMarket(
        producers,
        n_goods=economy.n_goods,
        n_envs=args.envs,
        allowance=args.allowance,
        depreciation=economy.depreciation,
    )
    log = run_economy(market, economy, steps=args.steps, seed=args.seed)
    if any(x != 0 for x in log.conservation):  # integer units: exactly zero
        raise SystemExit("wide: money was not conserved")
    return log.mean_welfare(args.window)


def report(name: str, economy: Economy, args: Args) -> None:
    optimum, plan = lp_optimum(economy)
    played = play(economy, plan, steps=60, window=10, seed=args.seed)
    if abs(played - optimum) > 1e-6 * max(optimum, 1.0):
        raise SystemExit(f"wide: the LP plan earns {played:.6f} in the env, not {optimum:.6f}")
    greedy = play(economy, economy.capacity, steps=60, window=10, seed=args.seed)
    market = market_welfare(economy, args)
    print(
        f"{name}: {economy.n_goods} goods, {economy.n_recipes} recipes; "
        f"LP optimum {optimum:.3f} per step (its plan earns {played:.3f} in ProductionEnv); "
        f"all-at-capacity planner {greedy:.3f}"
    )
    print(f"{name}: market welfare {market:.3f}, ratio market/LP: {market / optimum:.3f}")


def main() -> None:
    from _common import parse_args

    args = parse_args(Args)
    if args.quick:
        args.steps, args.window, args.envs, args.larger = 300, 50, 2, ""
    print(
        f"setup: {args.steps} steps x {args.envs} parallel economies, welfare averaged over "
        f"the last {args.window} steps"
    )
    report("default", default_economy(), args)
    if args.larger:
        for spec in args.larger.split(";"):
            sizes = [int(x) for x in spec.split(",")]
            if len(sizes) != 4:
                raise SystemExit(
                    f"wide: --larger wants raw,intermediate,final,recipes; got {spec!r}"
                )
            report(f"random {spec}", random_economy(*sizes, seed=args.seed), args)
    print("goal: ratio market/LP >= 0.95 on the default instance")


if __name__ == "__main__":
    main()
