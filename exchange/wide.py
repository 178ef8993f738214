"""The wide market (paper, Definition 2.2 and Algorithm 2) over parallel episodes.

The state is split into ``G`` goods. Each trader ``α`` owns a bundle ``ω[α]`` (its
property) and wealth ``w[α]``; the world (the issuer account, i.e. the environment)
owns what no trader owns, such as raw goods that have just entered the economy. The
state of the world is the sum of all holdings. One step is two calls:

* :meth:`WideMarket.act` is the forward pass (``MARKET``): every trader's orders are
  capped by its budget, ``Equ`` gives prices ``p`` and new bundles ``ω'[α]``
  (:func:`~catallax.exchange.wide_clearing.clear`), and each trader's action transforms
  its new bundle and nothing else (its production function, ``x[α] = α̂(ω'[α])``). It
  moves no money.
* :meth:`WideMarket.settle` is one iteration of ``CAPITALISM``: buyers are charged
  ``p·ω'[α]``, sellers paid ``p·ω[α]``, each trader's goods become what its action made
  of them, each trader receives the reward of its own transformation (paid by the
  issuer, e.g. consumers buying final goods, which then leave the economy), goods
  depreciate, and new goods from the environment enter the world's holdings.

Details the paper leaves open, decided here (see ``docs/decisions/wide.md``):

* **Bids are orders.** A trader's valuation is a set of orders, each a linear per-unit
  valuation with its own budget (one quasi-linear Fisher buyer each); the orders of a
  trader share its budget cap. ``Equ`` is the quasi-linear Fisher equilibrium.
* **Budget over parallel episodes.** As in the deep market, a trader's wealth is shared
  by the ``E`` episodes: its orders in each episode spend at most ``max(w, 0) / E``. With
  the paper's accounting a trader then never goes below zero.
* **The world sells.** Goods the world holds are supplied to ``Equ`` like anyone's and
  its proceeds go to the issuer; what nobody buys returns to its holders.
* **Rewards** are per trader, computed by the caller from the bundles the actions made
  (:attr:`WideDecision.produced`), paid by the issuer; goods bought by consumers leave.
* **Depreciation** ``δ``: after the step every holding shrinks by the factor ``1 − δ``
  (perishable goods; ``δ = 0`` keeps goods forever).
* **Entry and exit.** By default the trader set is fixed and a broke trader can only
  sell. With ``replace_bankrupt`` a trader whose wealth falls below ``floor`` leaves (its
  wealth is written off to the treasury) and a newcomer running the same program takes
  its place and its goods with a fresh allowance from the issuer: the wide market's
  version of enumerating new traders.

Conservation: ``Σ w + issuer + treasury = 0`` after every call (to float rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from catallax.exchange.errors import ActionError, MarketConfigError, RewardError
from catallax.exchange.wide_clearing import Clearing, Orders, clear

__all__ = [
    "WideDecision",
    "WideLearner",
    "WideMarket",
    "WideOutcome",
    "WideReport",
    "WideTraders",
]


@runtime_checkable
class WideTraders(Protocol):
    """A population of wide-market traders as the market sees it."""

    @property
    def size(self) -> int:
        """Number of members; member ids are ``0 .. size-1``."""
        ...

    def orders(self, obs: np.ndarray, holdings: np.ndarray) -> Orders:
        """Orders of the members given the total bundle ``obs (E, G)`` and their own
        holdings ``(E, size, G)``; ``Orders.trader`` holds member ids."""
        ...

    def produce(self, bundles: np.ndarray) -> np.ndarray:
        """Each member's action on its own bundle: ``(E, size, G)`` in, ``(E, size, G)``
        out (the production function; it may use only the member's own goods)."""
        ...


@runtime_checkable
class WideLearner(Protocol):
    """A population that learns from the outcome of each settled step."""

    def learn(self, outcome: WideOutcome) -> None: ...


@dataclass(frozen=True, slots=True)
class WideOutcome:
    """What one population's members saw in a settled step (arrays over ``E`` episodes).

    Attributes:
        prices: ``(E, G)`` clearing prices, credits per unit.
        supply: ``(E, G)`` units offered in the clearing.
        bought: ``(E, size, G)`` the members' bundles after the clearing.
        produced: ``(E, size, G)`` their bundles after their actions.
        rewards: ``(E, size)`` credits each member received for its transformation.
        removed: ``(E, size, G)`` goods taken from each member with its reward.
    """

    prices: np.ndarray
    supply: np.ndarray
    bought: np.ndarray
    produced: np.ndarray
    rewards: np.ndarray
    removed: np.ndarray


@dataclass(frozen=True, slots=True)
class WideDecision:
    """The forward pass: the clearing and every trader's action, per episode."""

    obs: np.ndarray
    clearing: Clearing
    produced: np.ndarray

    @property
    def prices(self) -> np.ndarray:
        """``(E, G)`` clearing prices."""
        return self.clearing.prices


@dataclass(frozen=True, slots=True)
class WideReport:
    """Every flow of money in one settled step, in credits (sums over episodes)."""

    traded: float
    world_sales: float
    rewards: float
    spent: np.ndarray
    deaths: int = 0
    written_off: float = 0.0


class WideMarket:
    """Holdings, wealth and rules of a wide market over ``n_envs`` parallel episodes.

    Args:
        populations: populations of wide-market traders (at least one member in all).
        n_goods: number of goods ``G``.
        n_envs: number of parallel episodes sharing wealth.
        allowance: credits every trader gets from the issuer when it enters (>= 0).
        depreciation: ``δ`` in ``[0, 1]``, the share of every holding lost per step.
        floor: with ``replace_bankrupt``, traders whose wealth drops below this (credits)
            are replaced (see above).
        replace_bankrupt: replace traders below the floor by newcomers with the same program.
        tol: certificate tolerance of the general equilibrium solver.
    """

    def __init__(
        self,
        populations: Sequence[WideTraders] | WideTraders,
        *,
        n_goods: int,
        n_envs: int = 1,
        allowance: float = 1.0,
        depreciation: float = 0.0,
        floor: float = 0.0,
        replace_bankrupt: bool = False,
        tol: float = 1e-6,
    ) -> None:
        if not isinstance(populations, Sequence):
            populations = [populations]
        for p in populations:
            if not isinstance(p, WideTraders):
                raise TypeError(f"{type(p).__name__} needs size, orders() and produce()")
        _check(isinstance(n_goods, int | np.integer) and n_goods >= 1, "n_goods", n_goods)
        _check(isinstance(n_envs, int | np.integer) and n_envs >= 1, "n_envs", n_envs)
        _check(np.isfinite(allowance) and allowance >= 0, "allowance", allowance, "must be >= 0")
        _check(0 <= depreciation <= 1, "depreciation", depreciation, "must be in [0, 1]")
        _check(np.isfinite(floor), "floor", floor, "must be finite")
        _check(np.isfinite(tol) and tol > 0, "tol", tol, "must be > 0")
        self.populations: list[WideTraders] = list(populations)
        sizes = [int(p.size) for p in self.populations]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n = int(self._starts[-1])
        if n == 0:
            raise MarketConfigError("a market needs at least one trader, got zero")
        self.n_goods, self.n_envs = int(n_goods), int(n_envs)
        self.allowance, self.depreciation, self.tol = float(allowance), float(depreciation), tol
        self.floor, self.replace_bankrupt = float(floor), bool(replace_bankrupt)
        self.deaths = 0
        self.wealth = np.full(n, self.allowance)
        self.issuer = -self.allowance * n
        self.treasury = 0.0
        self.holdings = np.zeros((self.n_envs, n, self.n_goods))
        self.world = np.zeros((self.n_envs, self.n_goods))
        self.steps = 0

    @property
    def size(self) -> int:
        """Number of traders."""
        return len(self.wealth)

    def rows(self, population: int) -> slice:
        """The global trader ids of one population, as a slice."""
        return slice(int(self._starts[population]), int(self._starts[population + 1]))

    def state(self) -> np.ndarray:
        """``(E, G)`` the state of the world: the sum of all holdings, the world's included."""
        return self.holdings.sum(axis=1) + self.world

    def endow(self, goods: np.ndarray, *, traders: bool = False) -> None:
        """Goods entering the economy: ``(E, G)`` to the world, or ``(E, N, G)`` to traders."""
        goods = np.asarray(goods, dtype=np.float64)
        target = self.holdings if traders else self.world
        if goods.shape != target.shape or not np.all(np.isfinite(goods)) or np.any(goods < 0):
            raise ValueError(f"goods must be finite, >= 0 and of shape {target.shape}")
        target += goods

    # -- forward pass -------------------------------------------------------------------

    def act(self) -> WideDecision:
        """The forward pass: orders, ``Equ``, and every trader's action. Moves no money."""
        obs = self.state()
        parts = []
        for p, pop in enumerate(self.populations):
            rows = self.rows(p)
            o = pop.orders(obs, self.holdings[:, rows])
            parts.append(Orders(np.asarray(o.trader) + rows.start, o.values, o.budgets))
        orders = Orders(
            np.concatenate([o.trader for o in parts]).astype(np.int64),
            np.concatenate([np.asarray(o.values, dtype=float) for o in parts], axis=1),
            np.concatenate([np.asarray(o.budgets, dtype=float) for o in parts], axis=1),
        )
        clearing = clear(self.holdings, self.world, orders, self.wealth, tol=self.tol)
        produced = np.empty_like(clearing.bundles)
        for p, pop in enumerate(self.populations):
            rows = self.rows(p)
            out = np.asarray(pop.produce(clearing.bundles[:, rows].copy()), dtype=np.float64)
            if out.shape != clearing.bundles[:, rows].shape:
                raise ActionError(f"population {p} produced shape {out.shape}")
            if not np.all(np.isfinite(out)) or np.any(out < -1e-9):
                raise ActionError(f"population {p} produced negative or non-finite goods")
            produced[:, rows] = np.maximum(out, 0.0)
        return WideDecision(obs=obs, clearing=clearing, produced=produced)

    # -- training loop ------------------------------------------------------------------

    def settle(
        self,
        decision: WideDecision,
        rewards: np.ndarray | None = None,
        removed: np.ndarray | None = None,
        inflow: np.ndarray | None = None,
    ) -> WideReport:
        """Settle one step of CAPITALISM after :meth:`act`.

        Args:
            decision: the result of :meth:`act` for this step.
            rewards: ``(E, N)`` credits the issuer pays each trader for its transformation.
            removed: ``(E, N, G)`` goods leaving each trader's bundle with its reward
                (bought by consumers); at most what it holds after its action.
            inflow: ``(E, G)`` goods entering the world's holdings after depreciation.

        Raises:
            RewardError: a reward is NaN or infinite; nothing has been changed.
            ValueError: shapes disagree or ``removed`` takes more than a trader holds.
        """
        e, n, g = self.n_envs, self.size, self.n_goods
        rewards = np.zeros((e, n)) if rewards is None else np.asarray(rewards, dtype=float)
        removed = np.zeros((e, n, g)) if removed is None else np.asarray(removed, dtype=float)
        if rewards.shape != (e, n) or removed.shape != (e, n, g):
            raise ValueError(f"rewards must be {(e, n)} and removed {(e, n, g)}")
        bad = ~np.isfinite(rewards)
        if bad.any():
            slot, who = (int(i) for i in np.argwhere(bad)[0])
            raise RewardError(
                f"reward {rewards[slot, who]} of trader {who} at step {self.steps} in "
                f"episode slot {slot} is not a finite number",
                step=self.steps,
                slot=slot,
            )
        after = decision.produced - removed
        if np.any(after < -1e-9 * np.maximum(1.0, decision.produced)) or np.any(removed < 0):
            raise ValueError("removed must be >= 0 and at most what each trader produced")
        c = decision.clearing
        # Charge buyers p·ω'[α], pay sellers p·ω[α]; the world's net proceeds to the issuer.
        spent = c.charged - c.paid
        self.wealth -= spent.sum(axis=0)
        self.issuer += float(c.world_net.sum())
        # Per-trader rewards of their own transformations.
        self.wealth += rewards.sum(axis=0)
        self.issuer -= float(rewards.sum())
        # Goods: what each action made, less what consumers took; then depreciation.
        self.holdings = np.maximum(after, 0.0) * (1.0 - self.depreciation)
        self.world = c.world * (1.0 - self.depreciation)
        if inflow is not None:
            self.endow(inflow)
        deaths, written_off = self._replace_bankrupt()
        self.steps += 1
        for p, pop in enumerate(self.populations):
            if isinstance(pop, WideLearner):
                rows = self.rows(p)
                pop.learn(
                    WideOutcome(
                        prices=c.prices,
                        supply=decision.obs,
                        bought=c.bundles[:, rows],
                        produced=decision.produced[:, rows],
                        rewards=rewards[:, rows],
                        removed=removed[:, rows],
                    )
                )
        return WideReport(
            traded=float(c.charged.sum()),
            world_sales=float(c.world_net.sum()),
            rewards=float(rewards.sum()),
            spent=spent,
            deaths=deaths,
            written_off=written_off,
        )

    def _replace_bankrupt(self) -> tuple[int, float]:
        """Traders below the floor leave; newcomers take their places if so configured."""
        if not self.replace_bankrupt:
            return 0, 0.0
        dying = self.wealth < self.floor
        n = int(dying.sum())
        if n == 0:
            return 0, 0.0
        written = float(self.wealth[dying].sum())
        self.treasury += written
        self.wealth[dying] = self.allowance
        self.issuer -= self.allowance * n
        self.deaths += n
        return n, written

    # -- accounting ---------------------------------------------------------------------

    def total(self) -> float:
        """Sum of every balance: traders, issuer and treasury (0 up to rounding)."""
        return float(self.wealth.sum()) + self.issuer + self.treasury


def _check(ok: bool, name: str, value: object, why: str = "is invalid") -> None:
    if not ok:
        raise MarketConfigError(f"{name} {why}, got {value!r}")
