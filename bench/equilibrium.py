"""Benchmark: catallax's Fisher-market solver against cvxpy + Clarabel on Eisenberg-Gale.

For each instance we solve the same market twice, measured in the same run:

- ours: ``catallax.exchange.equilibrium.solve`` to certificate violations <= ``tol``;
- baseline: cvxpy with the Clarabel solver on the Eisenberg-Gale convex program (the
  quasi-linear version of Cole et al. 2017 for quasi-linear markets), solved to Clarabel
  tolerances ``tol``; its prices are the duals of the supply constraints. The baseline sees
  the same instance in normalised units (total budget 1, one unit of each good), which keeps
  Clarabel well conditioned; its prices are converted back.

Each line prints both times, the ratio, the largest relative price difference and the
certificate of our result (and of the baseline's, recomputed by ``certify``).

    python bench/equilibrium.py            # full run (needs the ``bench`` extra)
    python bench/equilibrium.py --quick --no-baseline   # smoke test
"""

from __future__ import annotations

import os

# Both solvers run on one thread: Clarabel is single-threaded, and OpenBLAS threads fight
# over the cores once cvxpy's own native libraries are loaded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time
from dataclasses import dataclass

import numpy as np
from _common import parse_args

from catallax.exchange.equilibrium import (
    Equilibrium,
    FisherMarket,
    certify,
    solve,
)


@dataclass
class Args:
    """Benchmark: catallax's Fisher-market solver against cvxpy + Clarabel on Eisenberg-Gale."""

    quick: bool = False
    """tiny instances only (smoke test)"""
    baseline: bool = True
    """compare with cvxpy + Clarabel (only in the ``bench`` extra; --no-baseline skips it)"""
    tol: float = 1e-6
    """certificate tolerance for ours (every relative violation <= tol)"""
    baseline_tol: float = 1e-10
    """Clarabel's feasibility and gap tolerances (its defaults); at 1e-6 its certificate
    violations are near 1e-3, so the defaults are what gives the same accuracy"""
    seed: int = 0
    """seed of the random instances"""
    repeats: int = 3
    """timed runs per solver and instance, the fastest reported, the same for both solvers
    (instances of a million variables or more are timed once: Clarabel takes minutes)"""
    skip_huge_baseline: bool = False
    """do not run cvxpy on 1000x1000 (a million variables; minutes)"""


def instance(rng, shape: tuple[int, ...], dist: str, quasilinear: bool) -> FisherMarket:
    """Random market: valuations uniform(0,1) or lognormal(0,1); budgets so that total budget
    is about half the number of goods (prices of order one), supply one unit per good."""
    *batch, n, m = shape
    values = rng.uniform(size=shape) if dist == "uniform" else rng.lognormal(size=shape)
    budgets = rng.uniform(size=(*batch, n)) * m / n
    return FisherMarket(values, budgets, np.ones((*batch, m)), quasilinear=quasilinear)


def timed(repeats: int, fn):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def eisenberg_gale(market: FisherMarket, tol: float) -> tuple[Equilibrium | None, str]:
    """Solve the (batch of) market(s) as one Eisenberg-Gale program with cvxpy + Clarabel;
    ``None`` and the error's name when Clarabel gives up."""
    import cvxpy as cp

    n, m = market.n_buyers, market.n_goods
    values = market.valuations.reshape(-1, n, m)
    budgets = market.budgets.reshape(-1, n)
    supply = np.broadcast_to(market.supply, (*market.batch_shape, m)).reshape(-1, m)
    k = values.shape[0]
    money = budgets.sum(axis=1)
    b = (budgets / money[:, None]).reshape(-1)
    v = (values * supply[:, None, :] / money[:, None, None]).reshape(k * n, m)
    x = cp.Variable((k * n, m), nonneg=True)  # share of each good's supply
    utility = cp.sum(cp.multiply(v, x), axis=1)
    clearing = [cp.sum(x[i * n : (i + 1) * n], axis=0) <= 1 for i in range(k)]
    if market.quasilinear:
        kept = cp.Variable(k * n, nonneg=True)
        objective = cp.Maximize(b @ cp.log(utility + kept) - cp.sum(kept))
    else:
        objective = cp.Maximize(b @ cp.log(utility))
    problem = cp.Problem(objective, clearing)
    try:
        problem.solve(
            solver=cp.CLARABEL, tol_feas=tol, tol_gap_abs=tol, tol_gap_rel=tol, tol_ktratio=tol
        )
    except cp.error.SolverError:
        return None, "failed: SolverError"
    price_n = np.stack([np.asarray(c.dual_value, dtype=float).reshape(m) for c in clearing])
    prices = price_n * money[:, None] / supply
    allocation = x.value.reshape(k, n, m) * supply[:, None, :]
    spent = np.sum(prices[:, None, :] * allocation, axis=-1)
    shape = market.batch_shape
    eq = Equilibrium(
        prices.reshape(*shape, m), allocation.reshape(*shape, n, m), spent.reshape(*shape, n)
    )
    return eq, str(problem.status)


def price_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Largest difference relative to the market's largest price."""
    scale = np.max(np.abs(theirs), axis=-1, keepdims=True)
    return float(np.max(np.abs(ours - theirs) / np.where(scale > 0, scale, 1.0)))


def run_case(args: Args, name: str, market: FisherMarket, label: str, baseline: bool) -> None:
    repeats = 1 if market.valuations.size >= 10**6 else args.repeats
    ours_time, eq = timed(repeats, lambda: solve(market, tol=args.tol))
    cert = certify(market, eq)
    gap = float(np.max(eq.gap))
    line = f"{name} {label}: ours {ours_time:.3f} s"
    if baseline:
        base_time, (base, status) = timed(
            repeats, lambda: eisenberg_gale(market, args.baseline_tol)
        )
        if base is None:
            line += f", cvxpy+clarabel gave up after {base_time:.2f} s ({status}), no ratio"
        else:
            line += (
                f", cvxpy+clarabel {base_time:.2f} s ({status}), speedup "
                f"{base_time / ours_time:.1f}x (goal >= 20), max price diff "
                f"{price_difference(eq.prices, base.prices):.1e}"
            )
    line += f", gap {gap:.1e}, certificate: {cert}"
    if baseline and base is not None:
        line += f" | cvxpy certificate: {certify(market, base)}"
    print(line, flush=True)


def main() -> None:
    args = parse_args(Args)
    rng = np.random.default_rng(args.seed)
    baseline = args.baseline
    if baseline:  # import cvxpy and compile once, outside the timings
        eisenberg_gale(instance(rng, (3, 2), "uniform", True), args.baseline_tol)
    if args.quick:
        sizes = [(20, 5)]
        batch = (8, 6, 4)
    else:
        sizes = [(100, 100), (1000, 100), (1000, 1000)]
        batch = (1024, 16, 8)
    for quasilinear in (True, False):
        name = "fisher-quasilinear" if quasilinear else "fisher-linear"
        for n, m in sizes:
            for dist in ("uniform", "lognormal"):
                market = instance(rng, (n, m), dist, quasilinear)
                huge = n * m >= 10**6 and args.skip_huge_baseline
                run_case(args, name, market, f"{n}x{m} {dist}", baseline and not huge)
        market = instance(rng, batch, "lognormal", quasilinear)
        k, n, m = batch
        run_case(args, name, market, f"batch of {k} markets {n}x{m} lognormal", baseline)


if __name__ == "__main__":
    main()
