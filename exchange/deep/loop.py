"""The CAPITALISM training loop (Algorithm 1) on Gymnasium environments.

:func:`train` runs a :class:`~catallax.exchange.deep.DeepMarket` on ``market.n_envs``
copies of an environment side by side (Gymnasium's ``SyncVectorEnv`` with same-step
autoreset): each step is the market's forward pass, the environment's step, and the
market's settlement. Between steps the economy grows: new traders are enumerated at
``births_per_episode`` per finished episode, and (with ``replace_dead``) one for each
trader that went bankrupt. :func:`evaluate` measures the market acting greedily
(exploration off, no money moving).

Returns are undiscounted sums of the environment's rewards, as Gymnasium reports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from catallax.exchange.deep.market import DeepMarket
from catallax.exchange.errors import MarketConfigError

__all__ = ["Progress", "TrainLog", "evaluate", "greedy_policy", "train", "vector_env"]


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
    """

    returns: list[float] = field(default_factory=list)
    checkpoints: list[int] = field(default_factory=list)
    richest: list[list[float]] = field(default_factory=list)
    winning_bid: list[float] = field(default_factory=list)
    alive: list[int] = field(default_factory=list)
    steps: int = 0
    births: int = 0
    deaths: int = 0


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
    seed: int | None = None,
    births_per_episode: float = 0.0,
    replace_dead: bool = True,
    max_steps: int | None = None,
    report_every: int = 100,
    on_progress: Callable[[Progress], None] | None = None,
) -> TrainLog:
    """Train ``market`` with CAPITALISM until ``episodes`` episodes have finished.

    Args:
        market: the market to train (its wealth and its traders change in place).
        make: builds one environment (Discrete actions of size ``market.n_actions``).
        episodes: finished episodes to train for, counted over all parallel slots.
        seed: seeds the environments' first reset.
        births_per_episode: new traders enumerated per finished episode.
        replace_dead: enumerate one new trader for each that goes bankrupt.
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
    log = TrainLog()
    births_before, deaths_before = market.births, market.deaths
    try:
        obs, _ = envs.reset(seed=seed)
        running = np.zeros(market.n_envs)
        owed = 0.0
        bid_sum, bid_n = 0.0, 0
        next_report = report_every
        while len(log.returns) < episodes and (max_steps is None or log.steps < max_steps):
            decision = market.act(obs)
            obs, reward, terminated, truncated, info = envs.step(decision.actions)
            ended = np.logical_or(terminated, truncated)
            reached = _final_obs(obs, ended, info) if market.consumers else None
            report = market.settle(decision, reward, terminated, truncated, next_obs=reached)
            log.steps += market.n_envs
            running += reward
            won = decision.winner >= 0
            bid_sum += float(decision.top[won].sum())
            bid_n += int(won.sum())
            if ended.any():
                log.returns.extend(running[ended].tolist())
                running[ended] = 0.0
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
    return log


def _checkpoint(market: DeepMarket, log: TrainLog, mean_bid: float) -> None:
    log.checkpoints.append(len(log.returns))
    alive = market.wealth[market.alive]
    log.richest.append(sorted(alive.tolist(), reverse=True)[:5])
    log.winning_bid.append(mean_bid)
    log.alive.append(market.n_alive)


def _set_exploring(market: DeepMarket, on: bool) -> None:
    for pop in market.populations:
        setter = getattr(pop, "set_exploring", None)
        if setter is not None:
            setter(on)


def evaluate(
    market: DeepMarket,
    make: Callable[[], gym.Env],
    *,
    episodes: int = 100,
    n_envs: int = 32,
    seed: int | None = None,
) -> np.ndarray:
    """Returns of ``episodes`` episodes of the market acting greedily.

    Exploration is off and no money moves (only the forward pass runs). Each of the
    ``n_envs`` slots plays the same number of episodes, so short episodes are not
    over-represented. Returns the undiscounted returns, one per episode.
    """
    if episodes < 1:
        raise MarketConfigError(f"episodes must be >= 1, got {episodes}")
    n = min(n_envs, episodes)
    quota = -(-episodes // n)
    envs = vector_env(make, n)
    _set_exploring(market, False)
    results: list[float] = []
    try:
        obs, _ = envs.reset(seed=seed)
        done = np.zeros(n, dtype=np.int64)
        running = np.zeros(n)
        while (done < quota).any():
            decision = market.act(obs)
            obs, reward, terminated, truncated, _ = envs.step(decision.actions)
            running += reward
            for i in np.flatnonzero(np.logical_or(terminated, truncated)):
                if done[i] < quota:
                    results.append(float(running[i]))
                    done[i] += 1
                running[i] = 0.0
    finally:
        envs.close()
        _set_exploring(market, True)
    return np.asarray(results[:episodes])


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
