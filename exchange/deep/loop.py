"""The CAPITALISM training loop (Algorithm 1) on Gymnasium environments.

:func:`train` runs a :class:`~catallax.exchange.deep.DeepMarket` on ``market.n_envs``
copies of an environment side by side (Gymnasium's ``SyncVectorEnv`` with same-step
autoreset): each step is the market's forward pass, the environment's step, and the
market's settlement. Between steps the economy grows: new traders are enumerated at
``births_per_episode`` per finished episode, and (with ``replace_dead``) one for each
trader that went bankrupt; the scale of money follows the task's (:mod:`.scale`).
:func:`evaluation` measures the market acting greedily (exploration off, no money
moving) on a fixed set of episodes, each played to its end or to a step cap.

**Seeds.** Every random stream derives from the run's seed through
``numpy.random.SeedSequence`` children (:func:`stream_seeds`): slot ``i`` of a training
run and episode ``k`` of an evaluation each get a child's own seed, so two runs with
seeds ``s`` and ``s + 1`` share no environment stream (they did when slot ``i`` used
``s + i``).

Returns are undiscounted sums of the environment's rewards, as Gymnasium reports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from catallax.exchange.deep.market import DeepMarket
from catallax.exchange.deep.scale import ScaleTracker
from catallax.exchange.envs.tabular import episode_horizon
from catallax.exchange.errors import MarketConfigError

__all__ = [
    "EVALUATION_CAP",
    "Evaluation",
    "Progress",
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

#: Steps after which an evaluation episode is cut when the environment sets no limit of
#: its own (a greedy policy may walk into a wall forever where nobody learnt better).
EVALUATION_CAP = 1000

#: A seed: an int, a ``SeedSequence`` (a child of a run's root), or ``None`` (fresh entropy).
Seed = int | np.random.SeedSequence | None


def stream_seeds(seed: Seed, n: int) -> list[int]:
    """``n`` independent 64-bit seeds, one per stream: the first word of each of ``n``
    children spawned from ``SeedSequence(seed)`` (or from ``seed`` itself)."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [int(c.generate_state(1, np.uint64)[0]) for c in root.spawn(n)]


@dataclass
class Progress:
    """What :func:`train` reports to its callback, every ``report_every`` episodes."""

    episodes: int
    steps: int
    recent_return: float
    alive: int


@dataclass
class TrainLog:
    """The history of a training run.

    Attributes:
        returns: undiscounted return of every finished training episode, in order.
        checkpoints: episode counts at which the other series were sampled.
        richest: wealth of the five richest traders at each checkpoint (credits).
        winning_bid: mean winning bid over the steps since the previous checkpoint.
        alive: traders alive at each checkpoint.
        steps: environment steps taken in total (over all parallel episodes).
        births, deaths: traders that entered and left during training.
        seeds: the environment seed of each parallel slot (its whole stream).
        scale: the scale of money at the end (:mod:`.scale`).
    """

    returns: list[float] = field(default_factory=list)
    checkpoints: list[int] = field(default_factory=list)
    richest: list[list[float]] = field(default_factory=list)
    winning_bid: list[float] = field(default_factory=list)
    alive: list[int] = field(default_factory=list)
    steps: int = 0
    births: int = 0
    deaths: int = 0
    seeds: list[int] = field(default_factory=list)
    scale: float = 1.0


def vector_env(make: Callable[[], gym.Env], n: int) -> gym.vector.SyncVectorEnv:
    """``n`` copies of an environment stepped together, resetting on the step that ends."""
    return gym.vector.SyncVectorEnv(
        [make] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP, copy=True
    )


def _final_obs(obs: np.ndarray, ended: np.ndarray, info: dict) -> np.ndarray:
    """The observations the actions reached (before the same-step reset)."""
    if not ended.any() or "final_obs" not in info:
        return obs
    out = np.array(obs, copy=True)
    for i in np.flatnonzero(ended):
        out[i] = info["final_obs"][i]
    return out


def train(
    market: DeepMarket,
    make: Callable[[], gym.Env],
    *,
    episodes: int,
    seed: Seed = None,
    births_per_episode: float = 0.0,
    replace_dead: bool = True,
    scale: bool = True,
    salvage: bool = False,
    max_steps: int | None = None,
    report_every: int = 100,
    on_progress: Callable[[Progress], None] | None = None,
) -> TrainLog:
    """Train ``market`` with CAPITALISM until ``episodes`` episodes have finished.

    Args:
        market: the market to train (its wealth and its traders change in place).
        make: builds one environment (Discrete actions of size ``market.n_actions``).
        episodes: finished episodes to train for, counted over all parallel slots.
        seed: the root of the slots' environment seeds (see :func:`stream_seeds`).
        births_per_episode: new traders enumerated per finished episode.
        replace_dead: enumerate one new trader for each that goes bankrupt.
        scale: let allowance and floor follow the task's scale of money, and tell the
            populations its value level (:mod:`.scale`).
        salvage: where a time limit cuts an episode, the world buys the state back from
            its last owner at the market's price for it (:func:`salvage_prices`): the
            market then values the task as if it went on (as Q-learning that
            bootstraps through truncation does). Off by default: the evaluated task
            ends at its limit, and with salvage the T-maze's memory was never learnt
            (dawdling costs only γ a step) and Chain's LEFT self-loop kept its optimism,
            though Duality was solved in 1 episode instead of about 390.
        max_steps: also stop after this many environment steps (over all slots).
        report_every: episodes between progress reports and checkpoints.
        on_progress: called with a :class:`Progress` at every checkpoint.
    """
    if episodes < 1:
        raise MarketConfigError(f"episodes must be >= 1, got {episodes}")
    if births_per_episode < 0 or not np.isfinite(births_per_episode):
        raise MarketConfigError(f"births_per_episode must be >= 0, got {births_per_episode}")
    envs = vector_env(make, market.n_envs)
    _set_exploring(market, True)
    log = TrainLog(seeds=stream_seeds(seed, market.n_envs))
    tracker = ScaleTracker(market.n_envs, market.discount) if scale else None
    if tracker is not None:
        tracker.scale = market.scale
    told = 1.0
    births_before, deaths_before = market.births, market.deaths
    try:
        obs, _ = envs.reset(seed=log.seeds)
        running = np.zeros(market.n_envs)
        owed = 0.0
        bid_sum, bid_n = 0.0, 0
        next_report = report_every
        while len(log.returns) < episodes and (max_steps is None or log.steps < max_steps):
            decision = market.act(obs)
            obs, reward, terminated, truncated, info = envs.step(decision.actions)
            ended = np.logical_or(terminated, truncated)
            cut = truncated & ~terminated
            reached = _final_obs(obs, ended, info) if market.consumers or cut.any() else None
            price = salvage_prices(market, reached, cut) if salvage and cut.any() else None
            report = market.settle(
                decision, reward, terminated, truncated, next_obs=reached, salvage=price
            )
            log.steps += market.n_envs
            running += reward
            won = decision.winner >= 0
            bid_sum += float(decision.top[won].sum())
            bid_n += int(won.sum())
            if ended.any():
                log.returns.extend(running[ended].tolist())
                running[ended] = 0.0
            if tracker is not None:
                if tracker.observe(reward, ended):
                    market.rescale(tracker.scale)
                if tracker.level > told:
                    told = tracker.level
                    raise_optimism(market, told)
            owed += births_per_episode * int(ended.sum())
            if replace_dead:
                owed += report.deaths
            if owed >= 1:
                market.grow(int(owed))
                owed -= int(owed)
            if len(log.returns) >= next_report:
                next_report += report_every
                _checkpoint(market, log, bid_sum / max(bid_n, 1))
                bid_sum, bid_n = 0.0, 0
                if on_progress is not None:
                    recent = log.returns[-report_every:]
                    on_progress(
                        Progress(
                            len(log.returns), log.steps, float(np.mean(recent)), market.n_alive
                        )
                    )
        if not log.checkpoints or log.checkpoints[-1] != len(log.returns):
            _checkpoint(market, log, bid_sum / max(bid_n, 1))
    finally:
        envs.close()
    del log.returns[episodes:]
    log.births = market.births - births_before
    log.deaths = market.deaths - deaths_before
    log.scale = market.scale
    return log


def _checkpoint(market: DeepMarket, log: TrainLog, mean_bid: float) -> None:
    log.checkpoints.append(len(log.returns))
    alive = market.wealth[market.alive]
    log.richest.append(sorted(alive.tolist(), reverse=True)[:5])
    log.winning_bid.append(mean_bid)
    log.alive.append(market.n_alive)


def salvage_prices(market: DeepMarket, reached: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """``(E,)`` the market's price of the state each cut episode was left in (NaN
    elsewhere): the auction's price on the observations ``reached`` (a forward pass,
    no money moved; with clones the best bid). Nobody bidding prices a state at 0."""
    out = np.full(market.n_envs, np.nan)
    where = np.flatnonzero(cut)
    decision = market.act(np.asarray(reached)[where])
    out[where] = np.where(decision.winner >= 0, decision.price, 0.0)
    return out


def raise_optimism(market: DeepMarket, level: float) -> None:
    """Tell every population that wants it (``raise_optimism(level)``) the value level
    the task has shown, in credits (see :mod:`.scale`)."""
    for pop in market.populations:
        raiser = getattr(pop, "raise_optimism", None)
        if raiser is not None:
            raiser(level)


def _set_exploring(market: DeepMarket, on: bool) -> None:
    for pop in market.populations:
        setter = getattr(pop, "set_exploring", None)
        if setter is not None:
            setter(on)


@dataclass
class Evaluation:
    """Greedy returns of a fixed set of episodes, each played to its end or to the cap.

    Attributes:
        returns: the undiscounted return of every episode started, in episode order
            (episode ``k`` is played from ``seeds[k]``), none left out: their mean is
            an unbiased estimate of the greedy policy's expected return over ``cap``
            steps.
        lengths: the steps of every episode, in episode order.
        capped: how many episodes the cap cut (the environment had not ended them).
        cap: the step cap: the environment's own limit, else :data:`EVALUATION_CAP`.
        seeds: the environment seed of each episode.
    """

    returns: np.ndarray
    lengths: np.ndarray
    capped: int
    cap: int
    seeds: list[int]

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def standard_error(self) -> float:
        """The standard error of :attr:`mean` (0 for a single episode)."""
        n = len(self.returns)
        return float(self.returns.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0


def episode_cap(env: gym.Env, cap: int | None = None) -> int:
    """The steps after which an evaluation episode of ``env`` ends: ``cap`` if given,
    else the environment's own limit (``TimeLimit`` or ``max_steps``), else
    :data:`EVALUATION_CAP`."""
    if cap is not None:
        if cap < 1:
            raise MarketConfigError(f"the evaluation cap must be >= 1 step, got {cap}")
        return int(cap)
    limit = episode_horizon(env)
    return EVALUATION_CAP if limit is None else limit


def evaluation(
    market: DeepMarket,
    make: Callable[[], gym.Env],
    *,
    episodes: int = 100,
    n_envs: int = 32,
    seed: Seed = None,
    cap: int | None = None,
) -> Evaluation:
    """The market acting greedily on ``episodes`` episodes, every one played out.

    Exploration is off and no money moves (only the forward pass runs). Episode ``k``
    starts from the ``k``-th of :func:`stream_seeds` and is played to its end or to
    ``cap`` steps (:func:`episode_cap`); ``n_envs`` episodes are played side by side,
    each slot taking the next episode when its own ends, and every episode started is
    reported, so long episodes are not dropped (keeping the first to finish biased the
    mean upwards).
    """
    if episodes < 1:
        raise MarketConfigError(f"episodes must be >= 1, got {episodes}")
    if n_envs < 1:
        raise MarketConfigError(f"n_envs must be >= 1, got {n_envs}")
    seeds = stream_seeds(seed, episodes)
    n = min(n_envs, episodes)
    slots = [make() for _ in range(n)]
    limit = episode_cap(slots[0], cap)
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    capped = 0
    _set_exploring(market, False)
    try:
        episode = [-1] * n
        steps = [0] * n
        obs: list[Any] = [None] * n
        nxt = 0
        for i in range(n):
            obs[i], _ = slots[i].reset(seed=seeds[nxt])
            episode[i], nxt = nxt, nxt + 1
        while True:
            live = [i for i in range(n) if episode[i] >= 0]
            if not live:
                break
            decision = market.act(np.stack([np.asarray(obs[i]) for i in live]))
            for j, i in enumerate(live):
                o, reward, terminated, truncated, _ = slots[i].step(int(decision.actions[j]))
                returns[episode[i]] += float(reward)
                lengths[episode[i]] += 1
                steps[i] += 1
                obs[i] = o
                if terminated or truncated or steps[i] >= limit:
                    capped += not (terminated or truncated)
                    steps[i] = 0
                    if nxt < episodes:
                        obs[i], _ = slots[i].reset(seed=seeds[nxt])
                        episode[i], nxt = nxt, nxt + 1
                    else:
                        episode[i] = -1
    finally:
        for env in slots:
            env.close()
        _set_exploring(market, True)
    return Evaluation(returns=returns, lengths=lengths, capped=capped, cap=limit, seeds=seeds)


def evaluate(market: DeepMarket, make: Callable[[], gym.Env], **options: Any) -> np.ndarray:
    """The returns of :func:`evaluation` (same options), one per episode started, in
    episode order."""
    return evaluation(market, make, **options).returns


def greedy_policy(market: DeepMarket, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the market does on each observation with exploration off.

    Returns ``(actions, owned)``: the winning trader's action per observation, and
    whether any trader bid (where none did, the world acts at random and the action
    returned is one such random draw). For a ``Discrete`` observation space pass
    ``np.arange(n)`` to get the whole policy, e.g. for exact evaluation.
    """
    _set_exploring(market, False)
    try:
        decision = market.act(np.asarray(observations))
    finally:
        _set_exploring(market, True)
    return decision.actions, decision.winner >= 0
