"""Leontief producers: wide-market traders that hold a recipe and learn from prices.

Member ``j`` owns recipe ``j``: one run consumes ``inputs[j]`` and makes ``outputs[j]``
(fixed proportions, at most ``capacity[j]`` runs per step). Its behaviour follows the
paper's section 2 ("if prices are sufficiently stable that it makes sense to speak of
a prevailing price ``p``, then it can compute its offered prices via the chain rule"):

* **Prevailing prices.** The population keeps one estimate ``p̂`` per good (prices are
  public), an exponential average of realised prices: the clearing prices of goods that
  were on offer, for goods that consumers bought what they paid per unit (read from the
  rewards), and for goods some member wants but nobody offered the best bid for them.
  Goods with no signal in a step keep their estimate. Consumers' posted price for a
  first unit of each final good is the starting estimate (:meth:`for_economy`).
* **Offered prices (equation 1).** The value of a run is ``outputs[j]·p̂``; the most
  member ``j`` pays for a unit of input ``g`` is that value less the other inputs at
  prevailing prices, per unit of ``g``: ``v_jg = (o_j·p̂ − Σ_{h≠g} a_jh p̂_h) / a_jg``
  (for a Leontief recipe, the backpropagated price of equation 1 with the others held
  at their prices). It places one order per input with that limit.
* **Plan.** Each member plans ``k_j`` runs and budgets ``a_jg·k_j·max(p̂_g, floor)`` per
  input, i.e. the inputs of its plan at prevailing prices; the plan moves towards
  capacity while the unit margin ``m_j = (o_j − a_j)·p̂`` is positive and towards zero
  while it is negative (by ``plan_rate·capacity·clip(m_j / (o_j·p̂), −1, 1)`` per step),
  never below ``probe`` of capacity so that every good keeps a price signal.
* **Action.** Its production function runs as many times as its inputs allow, up to
  capacity (inputs are bought and would only depreciate). Learning is shared across
  the ``E`` parallel episodes.

Wealth does the rest: an order's budget is capped by the member's wealth, so members
whose plans lose money buy less and less (the CAPITALISM selection).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from catallax.exchange.wide import Orders, WideOutcome
from catallax.traders.errors import TraderConfigError

__all__ = ["LeontiefProducers"]


class LeontiefProducers:
    """One member per Leontief recipe, learning prevailing prices and run plans.

    Args:
        inputs: ``(J, G)`` units of each good one run consumes.
        outputs: ``(J, G)`` units one run makes.
        capacity: ``(J,)`` most runs per step.
        price_rate: weight of a new price observation in the prevailing price (0, 1].
        plan_rate: largest plan change per step, as a share of capacity.
        initial_plan: initial runs planned, as a share of capacity.
        probe: smallest plan, as a share of capacity.
        floor: smallest price used for budgets, credits per unit (> 0).
        initial_prices: ``(G,)`` prevailing prices before any trade (default zero).
        anneal: both rates are multiplied by ``anneal / (anneal + t)`` at step ``t``, so
            that plans settle (stochastic-approximation steps); ``None`` keeps them fixed.
    """

    def __init__(
        self,
        inputs: np.ndarray,
        outputs: np.ndarray,
        capacity: np.ndarray,
        *,
        price_rate: float = 0.3,
        plan_rate: float = 0.1,
        initial_plan: float = 0.5,
        probe: float = 0.02,
        floor: float = 0.01,
        anneal: float | None = 100.0,
        initial_prices: np.ndarray | None = None,
    ) -> None:
        a = np.array(inputs, dtype=np.float64)
        o = np.array(outputs, dtype=np.float64)
        c = np.array(capacity, dtype=np.float64)
        if a.ndim != 2 or o.shape != a.shape or c.shape != a.shape[:1]:
            raise TraderConfigError("inputs and outputs must be (J, G) and capacity (J,)")
        if np.any(a < 0) or np.any(o < 0) or np.any(c < 0):
            raise TraderConfigError("inputs, outputs and capacity must be >= 0")
        if not np.all(a.sum(axis=1) > 0):
            raise TraderConfigError("every recipe needs at least one input")
        for name, v, lo in (("price_rate", price_rate, 0), ("plan_rate", plan_rate, 0)):
            if not lo < v <= 1:
                raise TraderConfigError(f"{name} must be in (0, 1], got {v}")
        if not (0 <= probe <= initial_plan <= 1 and floor > 0):
            raise TraderConfigError("need 0 <= probe <= initial_plan <= 1 and floor > 0")
        self.inputs, self.outputs, self.capacity = a, o, c
        self.price_rate, self.plan_rate = float(price_rate), float(plan_rate)
        self.probe, self.floor = float(probe), float(floor)
        self.anneal = None if anneal is None else float(anneal)
        self.steps = 0
        self.prices = np.zeros(a.shape[1])
        if initial_prices is not None:
            start = np.asarray(initial_prices, dtype=np.float64)
            if (
                start.shape != self.prices.shape
                or np.any(start < 0)
                or not np.all(np.isfinite(start))
            ):
                raise TraderConfigError(
                    f"initial_prices must be {self.prices.shape} finite and >= 0"
                )
            self.prices = start.copy()
        self.plan = c * float(initial_plan)
        self.runs = np.zeros((0, len(c)))
        #: The economy's recipe each member runs (its row of ``inputs`` by default).
        self.recipe_ids = np.arange(len(c))
        self._uses = a > 0
        self._pairs = np.argwhere(self._uses)  # (member, good) of every order

    @classmethod
    def for_economy(cls, economy: Any, *, recipes: Any = None, **options: Any) -> LeontiefProducers:
        """One producer per recipe of a :class:`~catallax.exchange.envs.production.Economy`,
        or one per entry of ``recipes`` (recipe indices, repeats allowed: a share of the
        economy's producers, as a trader process on the network runs them).

        Unless ``initial_prices`` is given, prevailing prices start at the consumers'
        posted price for a first unit of each final good (their top tranche) and at zero
        for every other good.

        Raises:
            TraderConfigError: ``recipes`` names a recipe the economy does not have.
        """
        if "initial_prices" not in options:
            options["initial_prices"] = economy.demand_values[:, 0]
        ids = np.arange(economy.n_recipes) if recipes is None else np.asarray(recipes)
        if (
            ids.ndim != 1
            or not len(ids)
            or not np.issubdtype(ids.dtype, np.integer)
            or ids.min() < 0
            or ids.max() >= economy.n_recipes
        ):
            raise TraderConfigError(
                f"recipes: expected indices 0 .. {economy.n_recipes - 1}, got {recipes!r}"
            )
        made = cls(economy.inputs[ids], economy.outputs[ids], economy.capacity[ids], **options)
        made.recipe_ids = ids.astype(np.int64)
        return made

    @property
    def size(self) -> int:
        return len(self.capacity)

    def margins(self) -> np.ndarray:
        """``(J,)`` unit margin of each recipe at prevailing prices, credits per run."""
        return (self.outputs - self.inputs) @ self.prices

    def offered_prices(self) -> np.ndarray:
        """``(J, G)`` the most each member pays per unit of each input (equation 1)."""
        value = self.outputs @ self.prices
        cost = self.inputs @ self.prices
        others = cost[:, None] - self.inputs * self.prices
        with np.errstate(divide="ignore", invalid="ignore"):
            v = (value[:, None] - others) / self.inputs
        return np.where(self._uses, np.maximum(v, self.floor), 0.0)

    # -- the wide-market protocol ---------------------------------------------------

    def orders(self, obs: np.ndarray, holdings: np.ndarray) -> Orders:
        e, g = obs.shape[0], self.inputs.shape[1]
        members, goods = self._pairs[:, 0], self._pairs[:, 1]
        k = len(members)
        offered = self.offered_prices()[members, goods]
        values = np.zeros((e, k, g))
        values[:, np.arange(k), goods] = offered
        unit = np.maximum(self.prices[goods], self.floor)
        budget = self.inputs[members, goods] * self.plan[members] * unit
        return Orders(members, values, np.broadcast_to(budget, (e, k)).copy())

    def demand(
        self,
        prices: np.ndarray,
        supply: np.ndarray,
        holdings: np.ndarray,
        balances: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each member's demand at proposed ``prices (G,)`` (the interactive clearing):
        the inputs of the runs it buys, and its budget.

        Member ``j`` budgets what its orders would (its plan's inputs at prevailing
        prices, each at least ``floor``; at most its balance) and buys the inputs
        ``a_j·k_j`` of ``k_j = min(plan_j, budget_j / (a_j·p))`` runs: a Leontief buyer
        with a budget, whose demand falls continuously as prices rise (what a
        tâtonnement needs). Whether its recipe pays is its plan's business (:meth:`learn`
        moves the plan by the margin). A member one of whose inputs nobody offers
        (``supply`` zero) demands nothing: it could not run.

        Args:
            prices: credits per unit of each good.
            supply: ``(G,)`` units of each good on offer.
            holdings: ``(J, G)`` units each member holds (it offers them all: the
                bundle is gross, and a producer keeps only inputs it will run).
            balances: ``(J,)`` credits each member holds.

        Returns:
            ``(bundles (J, G), budgets (J,))``: units each member wants to hold after
            the clearing, and the most it pays for them, credits.
        """
        p = np.asarray(prices, dtype=np.float64)
        supply = np.asarray(supply, dtype=np.float64)
        del holdings
        unit = np.maximum(self.prices, self.floor)
        budget = np.minimum(self.inputs @ unit * self.plan, np.maximum(balances, 0.0))
        cost = self.inputs @ p
        with np.errstate(divide="ignore", invalid="ignore"):
            runs = np.where(cost > 0, np.minimum(self.plan, budget / cost), self.plan)
        able = ~np.any(self._uses & (supply <= 0), axis=1)
        runs = np.where(able, runs, 0.0)
        return self.inputs * runs[:, None], budget

    def plans(self) -> tuple[np.ndarray, np.ndarray]:
        """Each member's production on the network: ``(recipe (J,), most runs (J,))``;
        member ``j`` runs recipe ``j`` as often as its inputs allow, up to capacity (what
        :meth:`produce` does in process)."""
        return self.recipe_ids.copy(), self.capacity.copy()

    def produce(self, bundles: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            feed = np.where(self._uses, bundles / self.inputs, np.inf)
        runs = np.minimum(feed.min(axis=-1), self.capacity)
        self.runs = runs
        return bundles + runs[..., None] * (self.outputs - self.inputs)

    def learn(self, outcome: WideOutcome) -> None:
        """Update prevailing prices from realised prices, then the plans from margins."""
        signal = np.full(len(self.prices), np.nan)
        offered = outcome.supply > 0
        with np.errstate(invalid="ignore"):
            seen = np.where(offered, outcome.prices, 0.0).sum(0) / offered.sum(0)
        signal = np.where(offered.any(axis=0), seen, signal)
        # A good nobody offered has no clearing price; its prevailing price is then the
        # best bid for it (the most any member offers), so that a chain no one has
        # started yet still tells its first link what its output would fetch.
        best_bid = np.max(self.offered_prices(), axis=0, initial=0.0)
        wanted = self._uses.any(axis=0) & ~offered.any(axis=0)
        signal = np.where(wanted, best_bid, signal)
        # Unit prices paid by consumers, per good, from rewards and the goods removed.
        removed = outcome.removed.sum(axis=-1)
        share = np.zeros_like(outcome.removed)
        np.divide(outcome.removed, removed[..., None], out=share, where=removed[..., None] > 0)
        units = outcome.removed.sum(axis=(0, 1))
        paid = np.einsum("en,eng->g", outcome.rewards, share)
        sold = units > 0
        signal = np.where(sold, paid / np.where(sold, units, 1.0), signal)
        known = np.isfinite(signal)
        slow = 1.0 if self.anneal is None else self.anneal / (self.anneal + self.steps)
        self.steps += 1
        self.prices[known] += self.price_rate * slow * (signal[known] - self.prices[known])
        value = self.outputs @ self.prices
        rel = np.clip(self.margins() / np.maximum(value, 1e-12), -1.0, 1.0)
        self.plan = np.clip(
            self.plan + self.plan_rate * slow * self.capacity * rel,
            self.probe * self.capacity,
            self.capacity,
        )

    def describe(self) -> dict[str, Any]:
        return {"family": type(self).__name__, "size": self.size, "plan": self.plan.tolist()}
