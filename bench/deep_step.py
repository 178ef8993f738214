"""One deep-market step at scale: the market against the bare numpy arithmetic of that step.

A population of ``traders`` members bids in ``envs`` parallel episodes. Its bids are a
fixed precomputed array (with NaN and negative entries, which are "no bid"), so the work
timed is the market's, not the traders'. One step is :meth:`DeepMarket.act` (cap bids by
wealth, second-price auction per episode, the winners' actions) followed by
:meth:`DeepMarket.settle` (winners pay, previous owners are paid less the discount tax,
winners collect the reward, finished episodes close, bankruptcy check).

The baseline is the same arithmetic written inline with numpy: cap, top two bids,
payments with ``bincount`` to winners and previous owners, reward, owners, wealth floor.
Both run the same sequence of steps from the same state, and their wealth is checked to
agree afterwards. The figure is the median step time, market over bare.

Run: ``python bench/deep_step.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from _common import median_ms, parse_args

from catallax.exchange.deep import DeepMarket


@dataclass
class Args:
    """Time one deep-market step (act + settle) against inline numpy."""

    traders: int = 10_000
    """number of traders bidding in every episode"""
    envs: int = 256
    """number of parallel episodes settled in one step"""
    actions: int = 4
    """size of the action space (member k takes action k % actions)"""
    repeats: int = 40
    """timed steps of each kind, alternating market and bare; the median is reported"""
    no_bid: float = 0.05
    """fraction of bids that are NaN, and the same fraction that are negative"""
    end_rate: float = 0.02
    """probability that an episode ends at a step (its ownership closes)"""
    discount: float = 0.99
    """γ: the previous owner receives γ times the price"""
    seed: int = 0
    """seed of the bids and of the episode ends"""
    quick: bool = False
    """smoke test: 500 traders, 16 episodes, 5 repeats"""


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


args = parse_args(Args)
if args.quick:
    args.traders, args.envs, args.repeats = 500, 16, 5
N, E, A = args.traders, args.envs, args.actions
rng = np.random.default_rng(args.seed)

# Bids in [0, 10) credits, some missing or negative; wealth caps at 9 per episode, so the
# cap binds for about a tenth of the bids.
bids = rng.uniform(0.0, 10.0, size=(N, E))
holes = rng.random((N, E))
bids[holes < args.no_bid] = np.nan
bids[(holes >= args.no_bid) & (holes < 2 * args.no_bid)] *= -1.0
allowance = 9.0 * E
floor = 0.0
steps = 2 + args.repeats  # median_ms warms up with two calls
ends = rng.random((steps, E)) < args.end_rate
rewards = np.ones(E)
no_trunc = np.zeros(E, dtype=bool)
obs = np.arange(E)

# -- the market -------------------------------------------------------------------------
market = DeepMarket(
    FixedBids(bids, A),
    n_actions=A,
    n_envs=E,
    auction="vickrey",
    allowance=allowance,
    discount=args.discount,
    floor=floor,
    seed=args.seed,
)
market_t = 0


def market_step() -> None:
    global market_t
    decision = market.act(obs)
    market.settle(decision, rewards, ends[market_t], no_trunc)
    market_t += 1


# -- the same step in bare numpy --------------------------------------------------------
wealth = np.full(N, allowance)
alive = np.ones(N, dtype=bool)
owner = np.full(E, -1)
scratch = np.empty_like(bids)
cols = np.arange(E)
bare_t = 0


def bare_step() -> None:
    global owner, bare_t
    cap = np.where(alive & (wealth > 0), wealth / E, -1.0)
    capped = np.minimum(bids, cap[:, None], out=scratch)
    np.copyto(capped, -1.0, where=~(bids < np.inf))
    winner = capped.argmax(axis=0)
    top = capped[winner, cols]
    capped[winner, cols] = -np.inf
    second = np.maximum(capped.max(axis=0), 0.0)
    won = top >= 0
    winner = np.where(won, winner, -1)
    actions = np.where(won, winner % A, rng.integers(A, size=E))
    price = np.where(won, second, 0.0)
    w = winner[won]
    wealth[:] -= np.bincount(w, weights=price[won], minlength=N)
    paid = owner >= 0
    wealth[:] += np.bincount(owner[paid], weights=args.discount * price[paid], minlength=N)
    wealth[:] += np.bincount(w, weights=rewards[won], minlength=N)
    owner = winner.copy()
    owner[ends[bare_t]] = -1
    alive[:] &= wealth >= floor
    bare_t += 1
    del actions


market_ms, bare_ms = median_ms(market_step, bare_step, repeats=args.repeats)

if not np.allclose(market.wealth, wealth, rtol=1e-9, atol=1e-6):
    worst = float(np.abs(market.wealth - wealth).max())
    sys.exit(f"deep_step: market and bare numpy disagree on wealth (max gap {worst:.3g})")
print(f"setup: {N} traders x {E} parallel episodes, {args.repeats} timed steps each (median)")
print(f"check: market and bare numpy agree on every trader's wealth after {steps} steps")
ratio = market_ms / bare_ms
print(
    f"market step: {market_ms:.2f} ms, bare numpy: {bare_ms:.2f} ms, "
    f"ratio market/bare: {ratio:.2f} (goal <= 2)"
)
