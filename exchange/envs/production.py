"""``catallax/Production-v0``: a production economy of raw, intermediate and final goods.

The economy (:class:`Economy`) is the reference wide-market world:

* ``G`` goods, each ``"raw"``, ``"intermediate"`` or ``"final"``;
* ``J`` Leontief recipes: recipe ``j`` run ``k_j`` times (``0 <= k_j <= capacity_j``,
  divisible) consumes ``k_j · inputs[j]`` and makes ``k_j · outputs[j]``;
* raw goods flow in from nature each step (``inflow``, units per step);
* consumers buy every final good at the end of the step, valuing good ``f`` by a
  concave piecewise-linear schedule (``demand``: tranches of ``(value per unit,
  quantity)`` with decreasing values); **welfare** is the consumers' total value of
  what they bought, ``Σ_f U_f(Q_f)``; raw goods come free from the inflow, so welfare is
  nothing else. Consumers pay the market-clearing unit price ``U_f'(Q_f)`` (the value
  of the tranche holding the last unit bought, 0 beyond the last tranche);
* goods depreciate: after consumption every holding shrinks by ``1 − depreciation``
  (so an intermediate made at step ``t`` is worth ``1 − δ`` of itself at ``t + 1``).

One step, in order: recipes run on the state, consumers buy all final goods, the rest
depreciates, the inflow arrives. The chain raw → intermediate → final therefore takes
two steps. The welfare-optimal stationary plan is a linear programme in the run levels
(the benchmark and tests solve it with scipy).

:class:`ProductionEnv` is the planner's view as a Gymnasium environment: observation is
the total bundle ``Box(0, inf, (G,))``, action the run levels ``Box(0, capacity)``,
reward the welfare of the step. Runs the state cannot feed are scaled down: every
recipe using a good in short supply runs at the share of its demand that the stock
covers. Episodes start from a random stock of raw goods (``0.5 .. 1.5`` times one inflow) and
never end unless ``horizon`` is given. The wide market runs the same economy with
property rights: each trader runs its own recipe on its own goods, and their sum is
what this environment does with the summed runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .errors import InvalidAction, InvalidArgument, ResetNeeded

__all__ = ["Economy", "ProductionEnv", "default_economy", "lp_optimum", "random_economy"]

KINDS = ("raw", "intermediate", "final")


@dataclass(frozen=True, eq=False)
class Economy:
    """A production economy (see the module docstring). Arrays are copied read-only.

    Attributes:
        goods: names of the ``G`` goods.
        kinds: ``"raw"``, ``"intermediate"`` or ``"final"`` for each good.
        inputs: ``(J, G)`` units consumed per run of each recipe.
        outputs: ``(J, G)`` units made per run.
        capacity: ``(J,)`` most runs per step.
        inflow: ``(G,)`` raw units arriving per step (zero for other goods).
        demand_values: ``(G, T)`` consumers' value per unit of each tranche, decreasing
            along ``T`` (credits per unit; zero rows for goods that are not final).
        demand_quantities: ``(G, T)`` units in each tranche.
        depreciation: ``δ`` in ``[0, 1)``, the share of every holding lost per step.
    """

    goods: tuple[str, ...]
    kinds: tuple[str, ...]
    inputs: np.ndarray
    outputs: np.ndarray
    capacity: np.ndarray
    inflow: np.ndarray
    demand_values: np.ndarray
    demand_quantities: np.ndarray
    depreciation: float = 0.25

    def __post_init__(self) -> None:
        g = len(self.goods)
        if len(self.kinds) != g or any(k not in KINDS for k in self.kinds):
            raise InvalidArgument(f"kinds must name one of {KINDS} for each of {g} goods")
        arrays = {}
        names = ("inputs", "outputs", "capacity", "inflow")
        for name in (*names, "demand_values", "demand_quantities"):
            a = np.array(getattr(self, name), dtype=np.float64)
            if not np.all(np.isfinite(a)) or np.any(a < 0):
                raise InvalidArgument(f"{name} must be finite and >= 0")
            a.setflags(write=False)
            arrays[name] = a
        j = arrays["capacity"].shape
        if arrays["inputs"].shape != (*j, g) or arrays["outputs"].shape != (*j, g):
            raise InvalidArgument(f"inputs and outputs must have shape (recipes, {g})")
        if arrays["inflow"].shape != (g,):
            raise InvalidArgument(f"inflow must have shape ({g},)")
        dv, dq = arrays["demand_values"], arrays["demand_quantities"]
        if dv.ndim != 2 or dv.shape[0] != g or dq.shape != dv.shape:
            raise InvalidArgument(f"demand_values and demand_quantities must be ({g}, tranches)")
        if np.any(np.diff(dv, axis=1) > 0):
            raise InvalidArgument("demand_values must decrease along the tranches")
        final = np.array([k == "final" for k in self.kinds])
        raw = np.array([k == "raw" for k in self.kinds])
        if np.any(dv[~final] > 0) or np.any(arrays["inflow"][~raw] > 0):
            raise InvalidArgument("only final goods have demand and only raw goods flow in")
        if not 0 <= self.depreciation < 1:
            raise InvalidArgument(f"depreciation must be in [0, 1), got {self.depreciation}")
        for name, a in arrays.items():
            object.__setattr__(self, name, a)

    @property
    def n_goods(self) -> int:
        return len(self.goods)

    @property
    def n_recipes(self) -> int:
        return len(self.capacity)

    @property
    def final(self) -> np.ndarray:
        """``(G,)`` True for final goods."""
        return np.array([k == "final" for k in self.kinds])

    def welfare(self, bought: np.ndarray) -> np.ndarray:
        """Consumers' value ``Σ_f U_f(Q_f)`` of the final goods bought, ``(..., G) -> (...)``."""
        q = np.asarray(bought, dtype=np.float64)[..., None]
        edges = np.cumsum(self.demand_quantities, axis=1)
        filled = np.clip(q - (edges - self.demand_quantities), 0.0, self.demand_quantities)
        return np.sum(filled * self.demand_values, axis=(-1, -2))

    def unit_prices(self, bought: np.ndarray) -> np.ndarray:
        """Consumers' unit price ``U_f'(Q_f)`` per good, ``(..., G) -> (..., G)``.

        The value of the tranche that holds the last unit bought; the first tranche's
        value when nothing is bought; zero beyond the last tranche and for goods that
        are not final.
        """
        q = np.asarray(bought, dtype=np.float64)[..., None]
        starts = np.cumsum(self.demand_quantities, axis=1) - self.demand_quantities
        inside = (q > starts) | ((q <= 0) & (starts <= 0))
        inside &= q <= starts + self.demand_quantities
        inside &= self.demand_quantities > 0
        first = np.argmax(inside, axis=-1)
        price = np.take_along_axis(
            np.broadcast_to(self.demand_values, inside.shape), first[..., None], axis=-1
        )[..., 0]
        return np.where(inside.any(axis=-1), price, 0.0)

    def consume(self, bundles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Consumers buy every final good held in ``bundles (E, N, G)``.

        Returns ``(payments (E, N) credits, taken (E, N, G) units, welfare (E,))``; each
        holder is paid the unit price of the total bought, per unit it held.
        """
        taken = np.where(self.final, bundles, 0.0)
        total = taken.sum(axis=1)
        prices = self.unit_prices(total)
        return np.einsum("eng,eg->en", taken, prices), taken, self.welfare(total)

    def transition(self, state: np.ndarray, runs: np.ndarray) -> tuple[np.ndarray, float, dict]:
        """One step on a total bundle: produce, consume, depreciate, inflow (see above)."""
        made = state + runs @ (self.outputs - self.inputs)
        made = np.maximum(made, 0.0)
        bought = np.where(self.final, made, 0.0)
        welfare = float(self.welfare(bought))
        info = {"consumer_prices": self.unit_prices(bought), "bought": bought}
        nxt = (made - bought) * (1.0 - self.depreciation) + self.inflow
        return nxt, welfare, info


def default_economy() -> Economy:
    """3 raw goods, 2 intermediates, 2 final goods, 6 recipes (the default instance)."""
    goods = ("ore", "coal", "wood", "steel", "plank", "tool", "chair")
    kinds = ("raw",) * 3 + ("intermediate",) * 2 + ("final",) * 2
    inputs = np.array(
        [
            [1, 1, 0, 0, 0, 0, 0],  # blast furnace: ore + coal -> steel
            [0, 2, 1, 0, 0, 0, 0],  # charcoal forge: 2 coal + wood -> steel
            [0, 0, 2, 0, 0, 0, 0],  # sawmill: 2 wood -> plank
            [1, 0, 0, 1, 0, 0, 0],  # smithy: steel + ore -> tool
            [0, 0, 0, 1, 1, 0, 0],  # workshop: steel + plank -> chair
            [0, 0, 1, 0, 2, 0, 0],  # carpenter: 2 plank + wood -> chair
        ]
    )
    outputs = np.zeros((6, 7))
    outputs[[0, 1, 2, 3, 4, 5], [3, 3, 4, 5, 6, 6]] = [1, 1, 1, 1, 1, 1]
    values = np.zeros((7, 3))
    quantities = np.zeros((7, 3))
    values[5], quantities[5] = [12, 7, 2], [1.5, 1.5, 4]
    values[6], quantities[6] = [10, 6, 3], [1.5, 1.5, 4]
    return Economy(
        goods=goods,
        kinds=kinds,
        inputs=inputs,
        outputs=outputs,
        capacity=np.array([4.0, 4.0, 4.0, 3.0, 3.0, 2.0]),
        inflow=np.array([5.0, 7.0, 6.0, 0, 0, 0, 0]),
        demand_values=values,
        demand_quantities=quantities,
        depreciation=0.25,
    )


def random_economy(
    n_raw: int, n_intermediate: int, n_final: int, n_recipes: int, *, seed: int = 0
) -> Economy:
    """A random layered economy (raw -> intermediate -> final) for larger instances.

    Every intermediate and final good has at least one recipe; recipes use one or two
    goods of the layers below as inputs.
    """
    if min(n_raw, n_intermediate, n_final) < 1 or n_recipes < n_intermediate + n_final:
        raise InvalidArgument("need >= 1 good per layer and a recipe for every made good")
    rng = np.random.default_rng(seed)
    g = n_raw + n_intermediate + n_final
    kinds = ("raw",) * n_raw + ("intermediate",) * n_intermediate + ("final",) * n_final
    made = list(range(n_raw, g)) + list(rng.integers(n_raw, g, n_recipes - (g - n_raw)))
    inputs = np.zeros((n_recipes, g))
    outputs = np.zeros((n_recipes, g))
    for j, out in enumerate(made):
        below = (
            np.arange(n_raw) if out < n_raw + n_intermediate else np.arange(n_raw + n_intermediate)
        )
        picks = rng.choice(below, size=min(2, len(below)), replace=False)
        inputs[j, picks] = rng.integers(1, 3, len(picks))
        outputs[j, out] = 1.0
    values = np.zeros((g, 3))
    quantities = np.zeros((g, 3))
    for f in range(n_raw + n_intermediate, g):
        values[f] = np.sort(rng.uniform(2, 14, 3))[::-1]
        quantities[f] = rng.uniform(1, 3, 3)
    inflow = np.zeros(g)
    inflow[:n_raw] = rng.uniform(4, 9, n_raw)
    return Economy(
        goods=tuple(f"g{i}" for i in range(g)),
        kinds=kinds,
        inputs=inputs,
        outputs=outputs,
        capacity=rng.uniform(2, 5, n_recipes).round(1),
        inflow=inflow,
        demand_values=values,
        demand_quantities=quantities,
        depreciation=0.25,
    )


def lp_optimum(economy: Economy) -> tuple[float, np.ndarray]:
    """The welfare-optimal stationary plan: ``(welfare per step, runs per recipe)``.

    Variables: runs ``k`` (J), consumer tranches bought ``y`` (G·T), stock at the start of
    a step ``s`` (G). Constraints, per good: inputs come from the stock (``Aᵀk <= s``),
    consumers buy from what is there after production (``Σ_t y <= s + (O − A)ᵀk``), and
    the stock is stationary with depreciation and inflow
    (``s <= (1 − δ)(s + (O − A)ᵀk − Σ_t y) + inflow``), with free disposal. Maximise
    ``Σ value·y``.
    Raises:
        InvalidArgument: the programme has no optimum (HiGHS says why).
    """
    from scipy.optimize import linprog  # imported on first use: the economy needs none

    a, o = economy.inputs, economy.outputs
    j, g = a.shape
    t = economy.demand_values.shape[1]
    net = (o - a).T
    keep = 1.0 - economy.depreciation
    tranche_sum = np.kron(np.eye(g), np.ones((1, t)))
    cost = np.concatenate([np.zeros(j), -economy.demand_values.ravel(), np.zeros(g)])
    eye, zy = np.eye(g), np.zeros((g, g * t))
    a_ub = np.block(
        [
            [a.T, zy, -eye],
            [-net, tranche_sum, -eye],
            [-keep * net, keep * tranche_sum, (1 - keep) * eye],
        ]
    )
    b_ub = np.concatenate([np.zeros(g), np.zeros(g), economy.inflow])
    bounds = (
        [(0.0, c) for c in economy.capacity]
        + [(0.0, q) for q in economy.demand_quantities.ravel()]
        + [(0.0, None)] * g
    )
    result = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if result.status != 0:
        raise InvalidArgument(f"the welfare LP has no optimum: {result.message}")
    return -float(result.fun), result.x[:j]


class ProductionEnv(gym.Env):
    """The planner's view of an :class:`Economy` (see the module docstring).

    Args:
        economy: the economy; :func:`default_economy` when omitted.
        horizon: steps before truncation, or ``None`` for an endless episode.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium's convention)

    def __init__(self, *, economy: Economy | None = None, horizon: int | None = None) -> None:
        if horizon is not None and (not isinstance(horizon, int) or horizon < 1):
            raise InvalidArgument(f"horizon must be a positive int or None, got {horizon!r}")
        self.economy = economy if economy is not None else default_economy()
        self.horizon = horizon
        g, j = self.economy.n_goods, self.economy.n_recipes
        self.observation_space = spaces.Box(0.0, np.inf, (g,), dtype=np.float64)
        self.action_space = spaces.Box(
            np.zeros(j), self.economy.capacity.astype(np.float64), dtype=np.float64
        )
        self._state: np.ndarray | None = None
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        raw = np.array([k == "raw" for k in self.economy.kinds])
        scale = self.np_random.uniform(0.5, 1.5, self.economy.n_goods)
        self._state = np.where(raw, self.economy.inflow * scale, 0.0)
        self._t = 0
        return self._state.copy(), {}

    def step(self, action):
        if self._state is None:
            raise ResetNeeded("call reset() before step()")
        runs = np.asarray(action, dtype=np.float64)
        if runs.shape != self.action_space.shape or not np.all(np.isfinite(runs)):
            raise InvalidAction(f"action must be {self.action_space.shape} finite run levels")
        runs = np.clip(runs, 0.0, self.economy.capacity)
        need = runs @ self.economy.inputs
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(need > self._state, self._state / need, 1.0)
        uses = self.economy.inputs > 0
        runs = runs * np.min(np.where(uses, room, 1.0), axis=1)
        self._state, welfare, info = self.economy.transition(self._state, runs)
        info["runs"] = runs
        self._t += 1
        truncated = self.horizon is not None and self._t >= self.horizon
        return self._state.copy(), welfare, False, truncated, info
