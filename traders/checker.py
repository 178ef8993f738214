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
from catallax.exchange.envs.production import Economy, default_economy
from catallax.exchange.protocols import Bidders, Enumerable, Learner, Outcomes, as_bidders
from catallax.exchange.wide import Orders, WideMarket, run_economy
from catallax.traders.errors import TraderCheckError

__all__ = ["check_trader", "check_wide_trader"]


def _fail(message: str) -> TraderCheckError:
    return TraderCheckError(message)


def check_trader(family: Any, env: gym.Env, *, steps: int = 64, seed: int = 0) -> Bidders:
    """Check a family (a class with ``for_env``), a population or a lone trader on ``env``;
    a wide-market family (``for_economy`` only) on ``env``'s production economy (the
    default economy when ``env`` has none) with :func:`check_wide_trader`.

    Returns the population that was checked.

    Raises:
        TraderCheckError: at the first broken rule, saying which.
    """
    if callable(getattr(family, "for_economy", None)) and not callable(
        getattr(family, "for_env", None)
    ):
        economy = getattr(env.unwrapped, "economy", None)
        return check_wide_trader(family, economy or default_economy(), steps=steps, seed=seed)
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


def check_wide_trader(family: Any, economy: Economy, *, steps: int = 64, seed: int = 0) -> Any:
    """Check a wide-market family (``for_economy(economy)``) or population: ``size``,
    orders of the right shapes (values and budgets finite and >= 0, members in range),
    production plans naming the economy's recipes with runs finite and >= 0, ``learn``
    when offered, ``demand`` when offered (the interactive clearing:
    :func:`_check_demand`), and a short real run of a :class:`~catallax.exchange.wide.WideMarket`
    on ``economy`` (production by the plans, as the environment node runs it on the
    network) with money conserved after every step. Returns the population.

    Raises:
        TraderCheckError: at the first broken rule, saying which.
    """
    if isinstance(family, type) and callable(getattr(family, "for_economy", None)):
        try:
            pop = family.for_economy(economy)
        except Exception as exc:
            raise _fail(f"for_economy raised {type(exc).__name__}: {exc}") from exc
    else:
        pop = family
    size = getattr(pop, "size", None)
    if not isinstance(size, int | np.integer) or size < 1:
        raise _fail(f"size must be a positive int, got {size!r}")
    g = economy.n_goods
    orders = pop.orders(np.ones((1, g)), np.zeros((1, size, g)))
    if not isinstance(orders, Orders):
        raise _fail(f"orders must return catallax.exchange.wide.Orders, got {type(orders)}")
    k = len(orders.trader)
    values, budgets = np.asarray(orders.values), np.asarray(orders.budgets)
    if values.shape != (1, k, g) or budgets.shape != (1, k):
        raise _fail(f"orders must have values (1, {k}, {g}) and budgets (1, {k}), got "
                    f"{values.shape} and {budgets.shape}")  # fmt: skip
    for name, a in (("values", values), ("budgets", budgets)):
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise _fail(f"orders.{name} must be finite and >= 0")
    if k and (np.min(orders.trader) < 0 or np.max(orders.trader) >= size):
        raise _fail(f"orders.trader must name members 0 .. {size - 1}")
    plans = getattr(pop, "plans", None)
    recipes, runs = plans() if callable(plans) else (np.full(size, -1), np.zeros(size))
    recipes, runs = np.asarray(recipes), np.asarray(runs, dtype=np.float64)
    if recipes.shape != (size,) or runs.shape != (size,):
        raise _fail(f"plans() must return (recipes ({size},), runs ({size},))")
    if np.any((recipes < -1) | (recipes >= economy.n_recipes)):
        raise _fail(f"plans() names recipes outside -1 .. {economy.n_recipes - 1}")
    if not np.all(np.isfinite(runs)) or np.any(runs < 0):
        raise _fail("plans() must give runs finite and >= 0")
    if callable(getattr(pop, "demand", None)):
        _check_demand(pop, size, g, seed)
    market = WideMarket(_Planned(pop, economy, recipes, runs), n_goods=g, allowance=100.0,
                        depreciation=economy.depreciation)  # fmt: skip
    log = run_economy(market, economy, steps=steps, seed=seed)
    if any(total != 0 for total in log.conservation):
        raise _fail("money was created or destroyed in the wide market")
    return pop


def _check_demand(pop: Any, size: int, g: int, seed: int) -> None:
    """``demand(prices, supply, holdings, balances)`` at a few random prices: bundles
    ``(size, G)`` and budgets ``(size,)``, finite and >= 0, each budget at most the
    member's balance, each bundle costing at most its budget, and nothing asked of a
    good nobody offers (such a demand could never clear)."""
    rng = np.random.default_rng(seed)
    for _ in range(8):
        prices = rng.uniform(0.01, 5.0, g)
        supply = rng.uniform(0.0, 5.0, g) * (rng.random(g) < 0.7)
        holdings = rng.uniform(0.0, 2.0, (size, g))
        balances = rng.uniform(0.0, 100.0, size)
        try:
            got = pop.demand(prices, supply, holdings, balances)
            bundles, budgets = (np.asarray(a, dtype=np.float64) for a in got)
        except Exception as exc:
            raise _fail(f"demand raised {type(exc).__name__}: {exc}") from exc
        if bundles.shape != (size, g) or budgets.shape != (size,):
            raise _fail(f"demand must return (bundles ({size}, {g}), budgets ({size},)), got "
                        f"{bundles.shape} and {budgets.shape}")  # fmt: skip
        for name, a in (("bundles", bundles), ("budgets", budgets)):
            if not np.all(np.isfinite(a)) or np.any(a < 0):
                raise _fail(f"demand's {name} must be finite and >= 0")
        if np.any(budgets > balances * (1 + 1e-9)):
            raise _fail("demand's budgets must be at most each member's balance")
        if np.any(bundles @ prices > budgets * (1 + 1e-9) + 1e-9):
            raise _fail("demand's bundles must cost at most their budgets at the prices")
        if np.any(bundles[:, supply <= 0] > 0):
            raise _fail("demand asks for a good nobody offers (supply 0)")


class _Planned:
    """A wide population whose production is its plans run on the economy's recipes (what
    the environment node does on the network), learning when the population learns."""

    def __init__(self, pop: Any, economy: Economy, recipes: np.ndarray, runs: np.ndarray):
        self.pop, self.size = pop, int(pop.size)
        use = recipes >= 0
        r = np.maximum(recipes, 0)
        self.a = np.where(use[:, None], economy.inputs[r], 0.0)
        self.o = np.where(use[:, None], economy.outputs[r], 0.0)
        self.cap = np.where(use, np.minimum(economy.capacity[r], runs), 0.0)

    def orders(self, obs: np.ndarray, holdings: np.ndarray) -> Orders:
        return self.pop.orders(obs, holdings)

    def produce(self, bundles: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            feed = np.where(self.a > 0, bundles / self.a, np.inf).min(axis=-1)
        k = np.minimum(np.where(np.isfinite(feed), feed, 0.0), self.cap)
        return bundles + k[..., None] * (self.o - self.a)

    def learn(self, outcome: Any) -> None:
        learn = getattr(self.pop, "learn", None)
        if callable(learn):
            learn(outcome)
