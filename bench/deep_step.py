"""One deep-market step against the limit of the hardware: one capped pass over the bids.

A population of ``traders`` members bids in ``envs`` parallel episodes. Its bids are a
fixed precomputed array (with NaN and negative entries, which are "no bid"), so the work
timed is the market's, not the traders'. One step is :meth:`DeepMarket.act` (cap bids by
wealth, the auction in every episode, the winners' actions) followed by
:meth:`DeepMarket.settle` (the settlement computed as itemised integer transfers, then
applied: payments, the discount tax, rewards, episode ends, the wealth floor).

The limit is what any step must at least do: read the whole bid matrix once. It is
timed on the same arrays as one capped pass, ``np.minimum`` of the bids by the traders'
caps and a ``max`` along the contiguous axis. The figure is the median step over the
median limit, at the scale of a large in-process run (10,000 x 256), and the step's
microseconds at the network's shape (100 traders x 8 episodes), where per-call
overhead dominates. Before timing, the market's winners and prices are checked against
the numpy reference auction (:func:`catallax.exchange.auctions.run_auction`) and its
money is checked to sum to exactly zero.

Run: ``python bench/deep_step.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from _common import median_ms, parse_args

from catallax.exchange.auctions import run_auction
from catallax.exchange.deep import DeepMarket
from catallax.exchange.deep.accounts import state_masks


@dataclass
class Args:
    """Time one deep-market step (act + settle) against one capped pass over its bids."""

    traders: int = 10_000
    """number of traders bidding in every episode (the large case)"""
    envs: int = 256
    """number of parallel episodes settled in one step (the large case)"""
    small_traders: int = 100
    """traders in the small case (the network's shape)"""
    small_envs: int = 8
    """parallel episodes in the small case"""
    actions: int = 4
    """size of the action space (member k takes action k % actions)"""
    repeats: int = 40
    """timed steps of the large case (alternating step and limit); the median is reported"""
    small_repeats: int = 3000
    """timed steps of the small case"""
    no_bid: float = 0.05
    """fraction of bids that are NaN, and the same fraction that are negative"""
    end_rate: float = 0.02
    """probability that an episode ends at a step (its ownership closes)"""
    discount: float = 0.99
    """γ: the previous owner receives γ times the price"""
    seed: int = 0
    """seed of the bids and of the episode ends"""
    quick: bool = False
    """smoke test: 500 traders x 16 episodes, 5 repeats; 300 repeats of the small case"""


class FixedBids:
    """A population whose bids are a fixed ``(size, E)`` array; member k takes action k % A."""

    def __init__(self, table: np.ndarray, n_actions: int) -> None:
        self.table = table
        self.n_actions = n_actions

    @property
    def size(self) -> int:
        return self.table.shape[0]

    def bids(self, obs: np.ndarray) -> np.ndarray:
        return self.table

    def actions(self, obs: np.ndarray, members: np.ndarray) -> np.ndarray:
        return members % self.n_actions


def setup(n: int, e: int, steps: int, rng: np.random.Generator):
    """Bids in [0, 10) credits (some missing or negative), the market, the episode ends.

    Wealth caps at 9 credits per episode, so the cap binds for about a tenth of the bids.
    """
    bids = rng.uniform(0.0, 10.0, size=(n, e))
    holes = rng.random((n, e))
    bids[holes < args.no_bid] = np.nan
    bids[(holes >= args.no_bid) & (holes < 2 * args.no_bid)] *= -1.0
    market = DeepMarket(
        FixedBids(bids, args.actions),
        n_actions=args.actions,
        n_envs=e,
        auction="vickrey",
        allowance=9.0 * e,
        discount=args.discount,
        seed=args.seed,
    )
    ends = rng.random((steps, e)) < args.end_rate
    return bids, market, ends


def stepper(market: DeepMarket, ends: np.ndarray):
    """One market step per call, cycling through the episode ends."""
    e = market.n_envs
    obs, rewards, no_trunc = np.arange(e), np.ones(e), np.zeros(e, dtype=bool)
    t = [0]

    def step() -> None:
        decision = market.act(obs)
        market.settle(decision, rewards, ends[t[0] % len(ends)], no_trunc)
        t[0] += 1

    return step


def limit_of(market: DeepMarket, bids: np.ndarray):
    """One capped pass over the same bids: minimum by the caps, max along rows."""
    caps = market.caps()[:, None]
    scratch = np.empty_like(bids)

    def limit() -> None:
        np.minimum(bids, caps, out=scratch)
        scratch.max(axis=1)

    return limit


def check(market: DeepMarket, bids: np.ndarray) -> None:
    """The market's auction equals the numpy reference on these bids, and money sums to 0."""
    obs = np.arange(market.n_envs)
    d = market.act(obs)
    ref = run_auction(
        bids,
        market.caps(),
        "vickrey",
        keys=market.accounts.key,
        mask=state_masks(obs, market.tie_epoch),
    )
    same = (
        np.array_equal(d.winner, ref.winner)
        and np.array_equal(d.price, ref.price)
        and np.array_equal(d.top, ref.top)
    )
    if not same or market.total() != 0:
        sys.exit("deep_step: the market's auction disagrees with the numpy reference")


args = parse_args(Args)
if args.quick:
    args.traders, args.envs, args.repeats, args.small_repeats = 500, 16, 5, 300
rng = np.random.default_rng(args.seed)
N, E = args.traders, args.envs
n, e = args.small_traders, args.small_envs

big_bids, big, big_ends = setup(N, E, 2 + args.repeats, rng)
small_bids, small, small_ends = setup(n, e, 1000, rng)
check(big, big_bids)
check(small, small_bids)
step_ms, limit_ms = median_ms(stepper(big, big_ends), limit_of(big, big_bids), repeats=args.repeats)
small_ms, small_limit_ms = median_ms(
    stepper(small, small_ends), limit_of(small, small_bids), repeats=args.small_repeats, warmup=20
)
for m in (big, small):
    if m.total() != 0 or (m.balance < 0).any():
        sys.exit("deep_step: money is not conserved")

print(
    f"setup: {N} traders x {E} episodes ({args.repeats} timed steps); {n} x {e} "
    f"({args.small_repeats} timed steps); medians"
)
print("check: the market's winners and prices equal the numpy reference auction; money sums to 0")
print(f"step {N}x{E}: {step_ms:.3f} ms, limit (one capped pass over the bids): {limit_ms:.3f} ms")
print(f"ratio step/limit: {step_ms / limit_ms:.2f} (goal <= 3, moonshot <= 2)")
print(
    f"step {n}x{e}: {1000 * small_ms:.1f} us (goal <= 40), "
    f"limit {1000 * small_limit_ms:.1f} us, ratio {small_ms / small_limit_ms:.1f}"
)
