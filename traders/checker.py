"""``check_trader``: what a plugin author runs on a family before publishing it.

Like Gymnasium's ``check_env``, it exercises the contract the market relies on and
raises :class:`~catallax.traders.errors.TraderCheckError` with a specific message at
the first breach: sizes and shapes of bids, action ranges, ``learn`` and ``grow`` when
offered, and a short real training run in a :class:`~catallax.exchange.deep.DeepMarket`
with conservation checked after every step.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from catallax.exchange.deep import DeepMarket, vector_env
from catallax.exchange.protocols import Bidders, Enumerable, Learner, Outcomes, as_bidders
from catallax.traders.errors import TraderCheckError

__all__ = ["check_trader"]


def _fail(message: str) -> TraderCheckError:
    return TraderCheckError(message)


def check_trader(family: Any, env: gym.Env, *, steps: int = 64, seed: int = 0) -> Bidders:
    """Check a family (a class with ``for_env``), a population or a lone trader on ``env``.

    Returns the population that was checked.

    Raises:
        TraderCheckError: at the first broken rule, saying which.
    """
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise _fail(f"the deep market needs Discrete actions, env has {env.action_space}")
    n_actions = int(env.action_space.n)
    builds = callable(getattr(family, "for_env", None)) and not hasattr(family, "bids")
    if isinstance(family, type) or builds:
        try:
            made = family.for_env(env.observation_space, env.action_space, seed=seed)
        except Exception as exc:
            raise _fail(f"for_env raised {type(exc).__name__}: {exc}") from exc
    else:
        made = family
    try:
        pop = as_bidders(made)
    except TypeError as exc:
        raise _fail(str(exc)) from exc
    size = pop.size
    if not isinstance(size, int | np.integer) or size < 1:
        raise _fail(f"size must be a positive int, got {size!r}")

    env.observation_space.seed(seed)
    obs = np.stack([np.asarray(env.observation_space.sample()) for _ in range(8)])
    bids = np.asarray(pop.bids(obs))
    if bids.shape != (size, len(obs)):
        raise _fail(f"bids returned shape {bids.shape}; expected (size, E) = ({size}, {len(obs)})")
    if not np.issubdtype(bids.dtype, np.floating):
        raise _fail(f"bids must be floating point (NaN means no bid), got {bids.dtype}")
    members = np.arange(len(obs)) % size
    acts = np.asarray(pop.actions(obs, members))
    if acts.shape != (len(obs),) or not np.issubdtype(acts.dtype, np.integer):
        raise _fail(f"actions returned {acts.shape} {acts.dtype}; expected ({len(obs)},) ints")
    if ((acts < 0) | (acts >= n_actions)).any():
        raise _fail(f"actions outside 0..{n_actions - 1}: {sorted(set(acts.tolist()))}")
    if isinstance(pop, Learner):
        k = len(obs)
        pop.learn(
            Outcomes(members, obs, acts, np.zeros(k), np.ones(k), np.zeros(k), np.zeros(k, bool))
        )
    if isinstance(pop, Enumerable):
        added = pop.grow(1)
        if not isinstance(added, int | np.integer) or pop.size != size + added:
            raise _fail(f"grow(1) returned {added!r} but size went {size} -> {pop.size}")

    # A fresh copy of the environment per slot when it has a spec; else the instance.
    spec = env.spec
    n_envs = 2 if spec is not None else 1
    market = DeepMarket(pop, n_actions=n_actions, n_envs=n_envs, allowance=1.0, seed=seed)
    envs = vector_env((lambda: gym.make(spec)) if spec is not None else (lambda: env), n_envs)
    try:
        o, _ = envs.reset(seed=seed)
        for _ in range(steps):
            d = market.act(o)
            o, r, te, tr, _ = envs.step(d.actions)
            market.settle(d, r, te, tr)
            if abs(market.total()) > 1e-6 * (1 + np.abs(market.wealth).sum()):
                raise _fail(f"money was created or destroyed: balances sum to {market.total()}")
    finally:
        envs.close()
    return pop
