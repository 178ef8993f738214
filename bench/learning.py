"""How well and how fast the deep market learns, against tabular Q-learning in the same run.

The market is :class:`~catallax.exchange.deep.DeepMarket` (Vickrey auction, γ = 0.99)
over :class:`~catallax.traders.adaptive.AdaptiveBidders` (one primitive per action, two
clones, bids learnt from realised value, exploration by optimism only). The baseline is
ε-greedy tabular Q-learning written below, with the bidders' step-size schedule, on the
same parallel episodes, run twice: from Q0 = the bidders' optimism (the analogous tuning)
and from Q0 = 0 (the usual default). The speed ratio is against whichever is faster.

Measured, per environment, averaged over ``--seeds`` seeds:

* **final greedy return**, computed exactly from the environment's transition table:
  the greedy policy is the market's forward pass on every observation with exploration
  off (a state nobody bids for is played uniformly at random by the world, and valued
  so), or Q's argmax, valued by dynamic programming over the episode's horizon;
* **episodes to 95 % of optimal**: the exact greedy return is re-computed after every
  step in which an episode finished; the figure is the number of finished episodes from
  which it stays >= 95 % of the optimal return until the end of the budget (a run that
  ends below counts as the full budget and is flagged). The episode count at which it
  first reaches 95 % is printed too, for information.

Then: on Chain, the winning bids for RIGHT against Q* (Vickrey with clones, first-price,
Vickrey without clones); the T-maze with and without a message register (exact returns
through the product model); CartPole-v1 after a fixed number of steps, tile-coded,
against a random policy.

Run: ``python bench/learning.py`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
from _common import parse_args

import catallax.exchange.envs as envs
from catallax.exchange.deep import (
    EVALUATION_CAP,
    DeepMarket,
    ScaleTracker,
    evaluation,
    raise_optimism,
    salvage_prices,
    stream_seeds,
    train,
    vector_env,
)
from catallax.traders.adaptive import AdaptiveBidders


@dataclass
class Args:
    """The deep market against tabular Q-learning on the reference environments."""

    seeds: int = 5
    """number of seeds averaged for every figure"""
    discount: float = 0.99
    """γ of both learners (the market's discount tax)"""
    optimism: float = 1.0
    """the bidders' first optimism level and the initial Q of the optimistic Q-learning,
    in credits"""
    adaptive: bool = True
    """the bidders raise their optimism to the largest value realised (AdaptiveBidders'
    default); off: they keep --optimism"""
    decay: float = 0.8
    """ω of the step size max(n^-ω, lr_min) at the n-th visit, for both learners"""
    lr_min: float = 0.02
    """smallest step size, for both learners"""
    epsilon: float = 0.1
    """exploration rate of ε-greedy Q-learning while training"""
    allowance: float = 10.0
    """credits each trader gets per parallel episode, times the scale of money (the
    market caps bids by w / n_envs)"""
    floor: float = 1.0
    """wealth per parallel episode, times the scale of money, below which a trader
    leaves (a new clone replaces it)"""
    royalty: float = 0.0
    """λ, the share of its realised value a buyer pays its seller at episode end, where
    there are no memory goods (0: the paper's Algorithm 1, as catallax train)"""
    memory_royalty: float = 0.9
    """λ with memory goods (the T-maze's register), whose writers earn only through
    royalties (as catallax train --memory)"""
    bonus: float = 0.0
    """β of the bidders' count bonus β · optimism / √(1 + visits) while training
    (AdaptiveBidders' default 0: a bonus in bids is paid on in prices, and a self-loop
    feeds on its own bonus: with 0.05 Chain never learnt)"""
    noise: float = 0.0
    """Gaussian bid noise (credits) of the bidders while training"""
    prior: float = 1.0
    """pseudo-visits of the bidders' optimistic initial bid"""
    salvage: bool = False
    """at a time limit the world buys the state back at the market's price (train's
    salvage; off by default, as there)"""
    threshold: float = 0.95
    """fraction of the optimal return that counts as learnt (for a negative optimum:
    within 5 % of its size)"""
    budget_scale: float = 1.0
    """multiplies every episode budget"""
    cartpole_steps: int = 100_000
    """environment steps of CartPole-v1 training"""
    cartpole_seeds: int = 3
    """seeds of the CartPole run"""
    speed_episodes: int = 1000
    """episodes of FrozenLake8x8-v1 timed for the market and for the Q-learning loop"""
    only: str = ""
    """run only the parts whose environment id contains this (e.g. Chain, CartPole)"""
    quick: bool = False
    """smoke test: one seed, a twentieth of the episode budgets, 2,000 CartPole steps"""


#: Episode budget and parallel episodes (the same for the market and Q-learning) of each
#: tabular environment. One episode at a time where it is cheap; FrozenLake, whose episodes
#: are long and slippery (parallel slots soon differ), runs eight side by side.
TABULAR = {
    "catallax/Bandit-v0": (200, 1),
    "catallax/Chain-v0": (400, 1),
    "catallax/Duality-v0": (400, 1),
    "FrozenLake-v1": (3000, 8),
    "CliffWalking-v1": (2000, 1),
}
TMAZE_BUDGET = 1500
TMAZE_ENVS = 8
CARTPOLE_ENVS = 16
CHAIN = "catallax/Chain-v0"


# -- exact evaluation ---------------------------------------------------------------------


def horizon_of(env: gym.Env) -> int:
    """The horizon of exact evaluation: the environment's limit, else the evaluation's
    cap (``EVALUATION_CAP`` steps, as ``evaluation`` plays it)."""
    horizon = envs.episode_horizon(env)
    return EVALUATION_CAP if horizon is None else horizon


def target_of(optimal: float, threshold: float) -> float:
    """The return that counts as learnt: ``threshold`` of a positive optimum, and for a
    negative one (costs) within ``1 - threshold`` of its size (-13.65 for -13)."""
    return optimal - (1.0 - threshold) * abs(optimal)


def market_policy(market: DeepMarket, n_obs: int, n_actions: int) -> np.ndarray:
    """The market's greedy policy over observation ids, ``(n_obs, n_actions)`` probabilities.

    The forward pass with exploration off; where nobody bids the world acts uniformly.
    """
    for pop in market.populations:
        pop.set_exploring(False)
    decision = market.act(np.arange(n_obs))
    for pop in market.populations:
        pop.set_exploring(True)
    pi = np.zeros((n_obs, n_actions))
    won = decision.winner >= 0
    pi[won, decision.actions[won]] = 1.0
    pi[~won] = 1.0 / n_actions
    return pi


# -- tabular Q-learning (the baseline) ------------------------------------------------------


class QLearning:
    """ε-greedy tabular Q-learning with visit-count step sizes, over parallel episodes."""

    def __init__(self, n_obs: int, n_actions: int, args: Args, seed: int, init: float) -> None:
        self.q = np.full((n_obs, n_actions), init)
        self.visits = np.zeros((n_obs, n_actions))
        self.args = args
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """ε-greedy actions; ties between greedy actions are broken at random."""
        q = self.q[obs]
        best = q == q.max(axis=1, keepdims=True)
        greedy = (best * self.rng.random(q.shape)).argmax(axis=1)
        explore = self.rng.random(len(obs)) < self.args.epsilon
        return np.where(explore, self.rng.integers(q.shape[1], size=len(obs)), greedy)

    def learn(self, obs, actions, rewards, next_obs, terminated) -> None:
        """One Q-learning update per episode slot (slots in one step never share (s, a)
        in the tabular envs often enough to matter, but duplicates are applied in turn)."""
        target = rewards + self.args.discount * np.where(
            terminated, 0.0, self.q[next_obs].max(axis=1)
        )
        for s, a, y in zip(obs, actions, target, strict=True):
            self.visits[s, a] += 1
            rate = max(self.visits[s, a] ** -self.args.decay, self.args.lr_min)
            self.q[s, a] += rate * (y - self.q[s, a])

    def policy(self) -> np.ndarray:
        pi = np.zeros_like(self.q)
        pi[np.arange(len(pi)), self.q.argmax(axis=1)] = 1.0
        return pi


# -- training loops -------------------------------------------------------------------------


@dataclass
class Curve:
    """Exact greedy return after each step in which episodes finished."""

    episodes: list[int]
    returns: list[float]
    steps: int = 0

    def reached(self, target: float, budget: int) -> tuple[int, bool]:
        """Episodes from which the return stays >= target; (budget, False) if it ends below."""
        ok = np.asarray(self.returns) >= target
        if not ok.size or not ok[-1]:
            return budget, False
        below = np.flatnonzero(~ok)
        first = 0 if not below.size else below[-1] + 1
        return self.episodes[first], True

    def first(self, target: float, budget: int) -> int:
        """Episodes after which the return is >= target for the first time (else budget)."""
        ok = np.flatnonzero(np.asarray(self.returns) >= target)
        return self.episodes[ok[0]] if ok.size else budget


def make_market(
    env: gym.Env,
    args: Args,
    seed: int,
    n_envs: int,
    *,
    auction: str = "vickrey",
    allowance: float | None = None,
    royalty: float | None = None,
    **options: float,
) -> DeepMarket:
    """A market of adaptive bidders for ``env``; ``options`` go to :class:`AdaptiveBidders`."""
    settings = {
        "optimism": None if args.adaptive else args.optimism,
        "decay": args.decay,
        "lr_min": args.lr_min,
        "noise": args.noise,
        "prior": args.prior,
        "bonus": args.bonus,
    }
    pop = AdaptiveBidders.for_env(
        env.observation_space, env.action_space, seed=seed, **{**settings, **options}
    )
    return DeepMarket(
        pop,
        n_actions=int(env.action_space.n),
        n_envs=n_envs,
        auction=auction,
        allowance=(args.allowance if allowance is None else allowance) * n_envs,
        discount=args.discount,
        floor=args.floor * n_envs,
        royalty=args.royalty if royalty is None else royalty,
        seed=seed,
    )


def run(
    make: Callable[[], gym.Env],
    episodes: int,
    n_envs: int,
    seed: int,
    act: Callable[[np.ndarray], Any],
    actions_of: Callable[[Any], np.ndarray],
    learn: Callable[[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None],
    greedy: Callable[[], float] | None,
) -> Curve:
    """Train for ``episodes`` finished episodes, valuing the greedy policy as they finish
    (not at all when ``greedy`` is ``None``: the loop alone, for timing).

    ``learn(step, obs, reward, reached, terminated, truncated)`` gets what ``act`` returned
    and the observations the actions reached (before Gymnasium's same-step reset).
    """
    vec = vector_env(make, n_envs)
    curve = Curve([], [])
    done = 0
    obs, _ = vec.reset(seed=stream_seeds(seed, n_envs))
    while done < episodes:
        step = act(obs)
        nxt, reward, terminated, truncated, info = vec.step(actions_of(step))
        ended = terminated | truncated
        reached = nxt.copy()
        for i in np.flatnonzero(ended):
            reached[i] = info["final_obs"][i]
        learn(step, obs, reward, reached, terminated, truncated)
        obs = nxt
        curve.steps += n_envs
        if ended.any():
            done += int(ended.sum())
            if greedy is not None:
                curve.episodes.append(done)
                curve.returns.append(greedy())
    vec.close()
    return curve


def train_market(
    make: Callable[[], gym.Env],
    model: envs.TabularModel,
    horizon: int,
    episodes: int,
    n_envs: int,
    args: Args,
    seed: int,
    *,
    value: bool = True,
    **options: Any,
) -> tuple[DeepMarket, Curve]:
    """Train a market with CAPITALISM (act, step, settle; bankrupt clones replaced; the
    scale of money followed as ``train()`` does); ``value=False``: no greedy values."""
    env = make()
    market = make_market(env, args, seed, n_envs, **options)
    n_obs, n_actions = model.n_observations, int(env.action_space.n)

    tracker = ScaleTracker(n_envs, market.discount)
    told = [1.0]

    def learn(decision, obs, reward, reached, terminated, truncated) -> None:
        cut = truncated & ~terminated  # as train(salvage=True) does
        price = salvage_prices(market, reached, cut) if args.salvage and cut.any() else None
        report = market.settle(decision, reward, terminated, truncated, salvage=price)
        if tracker.observe(reward, terminated | truncated):  # as train() does
            market.rescale(tracker.scale)
        if tracker.level > told[0]:
            told[0] = tracker.level
            raise_optimism(market, told[0])
        if report.deaths:  # as train() does: each bankrupt clone is replaced by a new one
            market.grow(report.deaths)

    def greedy() -> float:
        pi = market_policy(market, n_obs, n_actions)
        return envs.policy_return(model, pi[model.observation], horizon)

    curve = run(make, episodes, n_envs, seed, market.act, lambda d: d.actions, learn,
                greedy if value else None)  # fmt: skip
    return market, curve


def train_q(
    make: Callable[[], gym.Env],
    model: envs.TabularModel,
    horizon: int,
    episodes: int,
    n_envs: int,
    args: Args,
    seed: int,
    *,
    init: float,
    value: bool = True,
) -> tuple[QLearning, Curve]:
    """Train ε-greedy Q-learning from initial values ``init`` on the same loop."""
    env = make()
    agent = QLearning(model.n_observations, int(env.action_space.n), args, seed, init)

    def learn(actions, obs, reward, reached, terminated, truncated) -> None:
        agent.learn(obs, actions, reward, reached, terminated)

    def greedy() -> float:
        return envs.policy_return(model, agent.policy()[model.observation], horizon)

    curve = run(make, episodes, n_envs, seed, agent.act, lambda a: a, learn,
                greedy if value else None)  # fmt: skip
    return agent, curve


# -- the script -----------------------------------------------------------------------------


def tabular(args: Args) -> tuple[bool, bool, DeepMarket | None]:
    """Final greedy returns and episodes to the threshold, market against Q-learning.

    Returns whether each goal held on every environment, and the seed-0 Chain market.
    """
    pct = f"{100 * args.threshold:.0f}%"
    finals_ok, ratios_ok, chain_market = True, True, None
    for env_id, (budget, n_envs) in TABULAR.items():
        if args.only not in env_id:
            continue
        budget = max(int(budget * args.budget_scale), 2 * n_envs)
        make = partial(gym.make, env_id)
        env = make()
        model, horizon = envs.transition_model(env), horizon_of(env)
        optimal = envs.optimal_return(model, horizon)
        target = target_of(optimal, args.threshold)
        common = (make, model, horizon, budget, n_envs, args)
        learners = {
            "market": (train_market, {}),
            f"Q-learning Q0={args.optimism:g}": (train_q, {"init": args.optimism}),
            "Q-learning Q0=0": (train_q, {"init": 0.0}),
        }
        final, reach, missed, first = {}, {}, {}, {}
        for name, (learner, options) in learners.items():
            rows = []
            for seed in range(args.seeds):
                trained, curve = learner(*common, seed, **options)
                if env_id == CHAIN and name == "market" and seed == 0:
                    chain_market = trained
                rows.append(
                    (curve.returns[-1], *curve.reached(target, budget), curve.first(target, budget))
                )
            final[name] = float(np.mean([r[0] for r in rows]))
            reach[name] = float(np.mean([r[1] for r in rows]))
            missed[name] = sum(not r[2] for r in rows)
            first[name] = float(np.mean([r[3] for r in rows]))
        short = env_id.split("/")[-1]
        print(
            f"{short}: optimal {optimal:.3f}, budget {budget} episodes, {n_envs} parallel; "
            "final greedy return "
            + ", ".join(f"{n} {v:.3f} ({100 * v / optimal:.1f}%)" for n, v in final.items())
            + f" (goal: market >= {target:.3f}, {pct})"
        )
        best = min((n for n in learners if n != "market"), key=lambda n: reach[n])
        ratio = reach["market"] / max(reach[best], 1.0)
        print(
            f"{short}: episodes to {pct} of optimal (mean of {args.seeds} seeds): "
            + ", ".join(
                f"{n} {reach[n]:.1f}" + (f" ({missed[n]} never)" if missed[n] else "")
                for n in learners
            )
            + f"; ratio market/best Q-learning ({best}): {ratio:.2f} (goal <= 1.5)"
        )
        print(
            f"{short}: episodes until it first reaches {pct} (not counted for the goal): "
            + ", ".join(f"{n} {v:.1f}" for n, v in first.items())
        )
        sys.stdout.flush()
        finals_ok &= final["market"] >= target
        ratios_ok &= ratio <= 1.5 and not missed["market"]
    return finals_ok, ratios_ok, chain_market


def chain_bids(args: Args, vickrey: DeepMarket | None) -> None:
    """The winning bids for RIGHT on Chain against Q*, under three auctions (seed 0)."""
    env = gym.make(CHAIN)
    model, horizon = envs.transition_model(env), horizon_of(env)
    budget = max(int(TABULAR[CHAIN][0] * args.budget_scale), 2)
    right = envs.q_star(model, args.discount)[:-1, 1]
    print("Chain Q*(s, RIGHT), s = 0..4: " + " ".join(f"{v:.3f}" for v in right))
    kinds = {
        "vickrey, 2 clones": {},
        "first-price, 2 clones": {"auction": "first-price"},
        "vickrey, 1 clone": {"clones": 1},
    }
    for label, options in kinds.items():
        if vickrey is not None and not options:
            market = vickrey
        else:
            make = partial(gym.make, CHAIN)
            market, _ = train_market(make, model, horizon, budget, 1, args, 0, **options)
        bids = market.populations[0].values(np.arange(len(right)))[1]
        error = float(np.max(np.abs(bids - right) / right))
        goal = " (goal <= 10%)" if label == "vickrey, 2 clones" else ""
        print(
            f"Chain bids for RIGHT, {label}: "
            + " ".join(f"{b:.3f}" for b in bids)
            + f"; max relative error vs Q*: {100 * error:.1f}%{goal}"
        )


def tmaze(args: Args) -> None:
    """The T-maze with and without a message register: exact greedy returns."""
    plain = gym.make("catallax/TMaze-v0")
    base, horizon = envs.transition_model(plain), envs.episode_horizon(plain)
    memoryless, _ = envs.best_memoryless_return(base, horizon)
    budget = max(int(TMAZE_BUDGET * args.budget_scale), 2)
    # The memory rule of catallax train: with memory goods royalties (their writers earn
    # only through them) and learning from settlements only (a quote prices the next
    # observation, which does not show what was written).
    memory = {"royalty": args.memory_royalty, "quotes": False}
    cases = {
        "without register": (partial(gym.make, "catallax/TMaze-v0"), base, {}),
        "with 2-message register": (
            lambda: envs.MessageRegister(gym.make("catallax/TMaze-v0"), n_messages=2),
            envs.with_message_register(base, 2),
            memory,
        ),
    }
    for label, (make, model, options) in cases.items():
        finals, solved = [], 0
        for seed in range(args.seeds):
            _, curve = train_market(
                make,
                model,
                horizon,
                budget,
                TMAZE_ENVS,
                args,
                seed,
                **options,
            )
            finals.append(curve.returns[-1])
            solved += curve.returns[-1] >= args.threshold
        print(
            f"TMaze {label}: greedy return {np.mean(finals):.3f} (seeds: "
            + " ".join(f"{f:.2f}" for f in finals)
            + f"; {solved} of {args.seeds} solved) after {budget} episodes, {TMAZE_ENVS} parallel; "
            "optimal 1.0, "
            f"best without memory {memoryless:.1f}"
        )


def cartpole(args: Args) -> None:
    """CartPole-v1 after a fixed number of steps (and halfway), against random play.

    The market has the settings of every other environment: its optimism and the scale
    of money adapt while training. Each greedy evaluation plays 100 episodes to their
    end (CartPole's limit, 500 steps), every one reported, with its standard error."""
    make = partial(gym.make, "CartPole-v1")
    checkpoints = [args.cartpole_steps // 2, args.cartpole_steps]
    curves, errors, scales = [], [], []
    for seed in range(args.cartpole_seeds):
        market = make_market(make(), args, seed, CARTPOLE_ENVS)
        curve, steps = [], 0
        streams = np.random.SeedSequence(seed).spawn(len(checkpoints) + 1)
        for k, checkpoint in enumerate(checkpoints):
            budget = checkpoint - steps
            log = train(market, make, episodes=10**9, max_steps=budget, seed=streams[k])
            steps += log.steps
            result = evaluation(market, make, episodes=100, seed=streams[-1])
            curve.append(result.mean)
        errors.append(result.standard_error)
        scales.append(market.scale)
        curves.append(curve)
    mean = np.mean(curves, axis=0)
    rng = np.random.default_rng(0)
    env = make()
    random_returns = []
    for episode_seed in stream_seeds(20_000, 100):
        env.reset(seed=episode_seed)
        total, over = 0.0, False
        while not over:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(2)))
            total += float(reward)
            over = terminated or truncated
        random_returns.append(total)
    print(
        f"CartPole-v1 after {args.cartpole_steps} steps ({CARTPOLE_ENVS} parallel, "
        f"{args.cartpole_seeds} seeds, default settings): mean greedy return over 100 "
        f"episodes {mean[-1]:.1f} (seeds: "
        + " ".join(f"{c[-1]:.0f} ± {e:.0f}" for c, e in zip(curves, errors, strict=True))
        + "; scale of money "
        + " ".join(f"{x:g}" for x in scales)
        + f"); random policy {np.mean(random_returns):.1f}; maximum 500 (goal >= 475)"
    )
    print(
        "CartPole-v1 greedy return along training: "
        + ", ".join(f"{q} steps {m:.1f}" for q, m in zip(checkpoints, mean, strict=True))
    )


def speed(args: Args) -> None:
    """Wall time per episode on FrozenLake8x8-v1: the market's loop against the tabular
    Q-learning loops (Q0 = 1, exploring by optimism as the bidders do, and Q0 = 0), the
    same episodes and parallel slots, alternated seed by seed. Per step too: episodes
    that survive longer cost more steps, so per episode also compares what was learnt."""
    env_id, n_envs = "FrozenLake8x8-v1", 8
    make = partial(gym.make, env_id)
    env = make()
    model, horizon = envs.transition_model(env), horizon_of(env)
    episodes = max(int(args.speed_episodes * args.budget_scale), 2 * n_envs)
    names = ("market", f"Q-learning Q0={args.optimism:g}", "Q-learning Q0=0")
    timing: dict[str, list[tuple[float, int]]] = {n: [] for n in names}
    for seed in range(args.seeds):
        for name in names:
            t = time.perf_counter()
            if name == "market":
                _, curve = train_market(make, model, horizon, episodes, n_envs, args, seed,
                                        value=False)  # fmt: skip
            else:
                init = 0.0 if name.endswith("=0") else args.optimism
                _, curve = train_q(make, model, horizon, episodes, n_envs, args, seed,
                                   init=init, value=False)  # fmt: skip
            timing[name].append((time.perf_counter() - t, curve.steps))
    per = {n: 1e3 * sum(t for t, _ in v) / (episodes * len(v)) for n, v in timing.items()}
    per_step = {n: 1e6 * sum(t for t, _ in v) / sum(k for _, k in v) for n, v in timing.items()}
    floor = env_floor(make, episodes, n_envs, args.seeds)
    print(
        f"FrozenLake8x8-v1 wall time per episode ({episodes} episodes, {n_envs} parallel, "
        f"{args.seeds} seeds, no evaluation in the loop): "
        + ", ".join(f"{n} {per[n]:.2f} ms ({per_step[n]:.1f} µs a step)" for n in names)
        + "; ratio market/Q-learning per episode "
        + ", ".join(f"{per['market'] / per[n]:.2f} ({n})" for n in names[1:])
        + " (goal <= 1)"
    )
    steps = {n: sum(k for _, k in v) / (episodes * len(v)) for n, v in timing.items()}
    free = floor * steps["market"] / 1e3  # ms per episode of a market that cost nothing
    print(
        f"FrozenLake8x8-v1 floor: the same loop stepping the environments alone (random "
        f"actions, nothing learnt) takes {floor:.1f} µs a step; episodes are "
        + ", ".join(f"{steps[n]:.1f} steps ({n})" for n in names)
        + f" long, so a market that cost nothing at its episode length would take "
        f"{free:.2f} ms an episode: ratio "
        + ", ".join(f"{free / per[n]:.2f} ({n})" for n in names[1:])
        + " (the least the market's ratio can be)"
    )
    sys.stdout.flush()


def _random_actions(rng: np.random.Generator, n_actions: int, obs: np.ndarray) -> np.ndarray:
    return rng.integers(n_actions, size=len(obs))


def env_floor(make: Callable[[], gym.Env], episodes: int, n_envs: int, seeds: int) -> float:
    """Microseconds a step of :func:`run`'s loop takes with random actions and no
    learning: the environments' own cost, which every learner here pays."""
    spent, steps = 0.0, 0
    n_actions = int(make().action_space.n)
    for seed in range(seeds):
        draw = partial(_random_actions, np.random.default_rng(seed), n_actions)
        t = time.perf_counter()
        curve = run(make, episodes, n_envs, seed, draw, lambda a: a, lambda *_: None, None)
        spent += time.perf_counter() - t
        steps += curve.steps
    return 1e6 * spent / steps


def _lap(since: float, what: str) -> float:
    """Print the time a section took to stderr (progress); return now."""
    now = time.perf_counter()
    print(f"{what}: {now - since:.0f} s", file=sys.stderr, flush=True)
    return now


def main(args: Args) -> None:
    """Run every measurement and print its lines."""
    if args.quick:
        args.seeds, args.budget_scale = 1, 0.05
        args.cartpole_steps, args.cartpole_seeds = 2000, 1
    started = time.perf_counter()
    optimism = "adaptive from 1" if args.adaptive else f"{args.optimism:g}"
    print(
        f"setup: one setting for every environment; {args.seeds} seeds; gamma {args.discount}; "
        f"bidders: optimism {optimism}, prior {args.prior:g}, bonus {args.bonus:g} x optimism, "
        f"step max(n^-{args.decay}, {args.lr_min}), 2 clones, Vickrey; royalty {args.royalty:g} "
        f"({args.memory_royalty:g} with memory goods); allowance {args.allowance:g} and floor "
        f"{args.floor:g} per slot x the scale of money; Q-learning: same step, epsilon "
        f"{args.epsilon}, Q0 = {args.optimism:g} (as the bidders) and Q0 = 0"
    )
    finals_ok, ratios_ok, chain_market = tabular(args)
    lap = _lap(started, "tabular")
    if args.only in CHAIN:
        chain_bids(args, chain_market)
        lap = _lap(lap, "chain bids")
    if args.only in "catallax/TMaze-v0":
        tmaze(args)
        lap = _lap(lap, "tmaze")
    if args.only in "FrozenLake8x8-v1":
        speed(args)
        lap = _lap(lap, "speed")
    if args.cartpole_steps > 0 and args.cartpole_seeds > 0 and args.only in "CartPole-v1":
        cartpole(args)
        _lap(lap, "cartpole")
    n = sum(1 for env_id in TABULAR if args.only in env_id)
    if n:
        print(
            f"goals: final greedy return >= {100 * args.threshold:.0f}% of optimal on all {n} "
            f"tabular environments measured: {'met' if finals_ok else 'NOT met'}; episodes "
            f"ratio <= 1.5 on all {n}: {'met' if ratios_ok else 'NOT met'}"
        )
    print(f"time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main(parse_args(Args))
