"""The wide market (paper, Definition 2.2 and Algorithm 2) over parallel episodes.

Traders own bundles of ``G`` goods and integer balances; the world (the issuer) owns
what no trader owns. One step is the forward pass :meth:`WideMarket.act` (``Equ`` and
every trader's own production; no money moves) and one iteration of CAPITALISM, which
is a value first (:meth:`WideMarket.settlement`, pure) and a change of state second
(:meth:`WideMarket.apply`), so that an exchange can commit every transfer to its ledger
before the market moves. The decisions are in ``docs/decisions/wide.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from catallax.exchange.errors import (
    ActionError,
    BidError,
    GoodsError,
    MarketConfigError,
    MarketInputError,
    MoneyError,
    StaleValue,
)
from catallax.exchange.money import to_credits, to_units
from catallax.exchange.transfers import CLEARING, ISSUER, TREASURY
from catallax.exchange.wide.clearing import clear
from catallax.exchange.wide.settlement import Rules, compute_settlement, spending_caps
from catallax.exchange.wide.values import (
    Orders,
    WideDecision,
    WideOutcome,
    WideReport,
    WideSettlement,
)

__all__ = ["WideLearner", "WideMarket", "WideTraders"]


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


#: Called with each settlement before it changes anything (e.g. a ledger commit).
Journal = Callable[[WideSettlement], object]


class WideMarket:
    """Goods, integer balances and rules of a wide market over ``n_envs`` parallel episodes.

    Money is ``int64`` units (1 credit = 10**6 units): :attr:`balance` per trader,
    :attr:`issuer_units`, :attr:`treasury_units`; their sum is exactly zero after every
    call (:meth:`total`). :attr:`wealth`, :attr:`issuer` and :attr:`treasury` are float
    views in credits.

    Args:
        populations: populations of wide-market traders (at least one member in all).
        n_goods: number of goods ``G``.
        n_envs: number of parallel episodes sharing the balances.
        allowance: credits every trader gets from the issuer when it enters (>= 0).
        depreciation: ``δ`` in ``[0, 1]``, the share of every holding lost per step.
        floor: with ``replace_bankrupt``, traders whose balance drops below this
            (credits) are replaced by newcomers running the same program.
        replace_bankrupt: replace traders below the floor.
        tol: certificate tolerance of the general equilibrium solver.
        journal: called with every settlement before :meth:`apply` changes anything;
            if it raises, nothing changes.

    Raises:
        MarketConfigError: a parameter out of range, or a population that is not one.
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
        journal: Journal | None = None,
    ) -> None:
        if not isinstance(populations, Sequence):
            populations = [populations]
        for p in populations:
            if not isinstance(p, WideTraders):
                raise MarketConfigError(
                    f"{type(p).__name__} is not a population: it needs size, orders() and produce()"
                )
        _check(isinstance(n_goods, int | np.integer) and n_goods >= 1, "n_goods", n_goods)
        _check(isinstance(n_envs, int | np.integer) and n_envs >= 1, "n_envs", n_envs)
        _check(np.isfinite(allowance) and allowance >= 0, "allowance", allowance, "must be >= 0")
        _check(0 <= depreciation <= 1, "depreciation", depreciation, "must be in [0, 1]")
        _check(np.isfinite(floor), "floor", floor, "must be finite")
        _check(np.isfinite(tol) and tol > 0, "tol", tol, "must be > 0")
        _check(journal is None or callable(journal), "journal", journal, "must be callable")
        self.populations: list[WideTraders] = list(populations)
        sizes = [int(p.size) for p in self.populations]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n = int(self._starts[-1])
        if n == 0:
            raise MarketConfigError("a market needs at least one trader, got zero")
        self.n_goods, self.n_envs = int(n_goods), int(n_envs)
        self.allowance, self.depreciation, self.tol = float(allowance), float(depreciation), tol
        self.floor, self.replace_bankrupt = float(floor), bool(replace_bankrupt)
        self.journal = journal
        self._rules = Rules(
            n_envs=self.n_envs,
            depreciation=self.depreciation,
            allowance=int(to_units(self.allowance)),
            floor=int(to_units(self.floor)),
            replace_bankrupt=self.replace_bankrupt,
        )
        self.deaths = 0
        self.steps = 0
        self._version = 0
        self._balance = np.full(n, self._rules.allowance, dtype=np.int64)
        self._issuer = -self._rules.allowance * n
        self._treasury = 0
        self._clearing = 0
        self._holdings = np.zeros((self.n_envs, n, self.n_goods))
        self._world = np.zeros((self.n_envs, self.n_goods))

    # -- state --------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of traders."""
        return len(self._balance)

    @property
    def version(self) -> int:
        """Counts the changes of state (settlements applied, endowments); a decision or
        settlement is valid only for the version it was computed at."""
        return self._version

    @property
    def balance(self) -> np.ndarray:
        """``(N,)`` int64 units each trader holds (a read-only view)."""
        return _read_only(self._balance)

    @property
    def issuer_units(self) -> int:
        """The issuer's balance in units (it alone may be below zero)."""
        return self._issuer

    @property
    def treasury_units(self) -> int:
        """The treasury's balance in units."""
        return self._treasury

    @property
    def clearing_units(self) -> int:
        """The clearing house's balance in units: zero between settlements."""
        return self._clearing

    @property
    def wealth(self) -> np.ndarray:
        """``(N,)`` the balances in credits (a copy)."""
        return to_credits(self._balance)

    @property
    def issuer(self) -> float:
        """The issuer's balance in credits."""
        return float(to_credits(self._issuer))

    @property
    def treasury(self) -> float:
        """The treasury's balance in credits."""
        return float(to_credits(self._treasury))

    @property
    def holdings(self) -> np.ndarray:
        """``(E, N, G)`` the traders' goods (a read-only view)."""
        return _read_only(self._holdings)

    @property
    def world(self) -> np.ndarray:
        """``(E, G)`` the world's (issuer's) goods (a read-only view)."""
        return _read_only(self._world)

    def rows(self, population: int) -> slice:
        """The global trader ids of one population, as a slice."""
        return slice(int(self._starts[population]), int(self._starts[population + 1]))

    def state(self) -> np.ndarray:
        """``(E, G)`` the state of the world: the sum of all holdings, the world's included."""
        return self._holdings.sum(axis=1) + self._world

    def endow(self, goods: np.ndarray, *, traders: bool = False) -> None:
        """Goods entering the economy: ``(E, G)`` to the world, or ``(E, N, G)`` to traders.

        Raises:
            GoodsError: goods of the wrong shape, negative or not finite (nothing changes).
        """
        goods = np.asarray(goods, dtype=np.float64)
        target = self._holdings if traders else self._world
        if goods.shape != target.shape or not np.all(np.isfinite(goods)) or np.any(goods < 0):
            raise GoodsError(f"goods must be finite, >= 0 and of shape {target.shape}")
        if traders:
            self._holdings = self._holdings + goods
        else:
            self._world = self._world + goods
        self._version += 1

    def total(self) -> int:
        """Sum of every balance in units: traders, issuer, treasury, clearing house (0)."""
        return int(self._balance.sum()) + self._issuer + self._treasury + self._clearing

    # -- forward pass -------------------------------------------------------------------

    def act(self) -> WideDecision:
        """The forward pass: orders, ``Equ``, and every trader's action. Moves no money.

        Raises:
            BidError: a population's orders are malformed.
            ActionError: a population produced goods of the wrong shape, negative or
                not finite.
        """
        obs = self.state()
        e, g = self.n_envs, self.n_goods
        parts = []
        for p, pop in enumerate(self.populations):
            rows = self.rows(p)
            o = pop.orders(obs.copy(), self.holdings[:, rows])
            trader = np.asarray(o.trader)
            values = np.asarray(o.values, dtype=np.float64)
            budgets = np.asarray(o.budgets, dtype=np.float64)
            k = len(trader)
            size = rows.stop - rows.start
            if values.shape != (e, k, g) or budgets.shape != (e, k) or trader.shape != (k,):
                raise BidError(
                    f"population {p}: orders must have values {(e, k, g)} and budgets "
                    f"{(e, k)}, got {values.shape} and {budgets.shape}"
                )
            if k and (trader.min() < 0 or trader.max() >= size):
                raise BidError(f"population {p}: orders.trader must index members 0..{size - 1}")
            parts.append(Orders(trader.astype(np.int64) + rows.start, values, budgets))
        orders = Orders(
            np.concatenate([o.trader for o in parts]),
            np.concatenate([o.values for o in parts], axis=1),
            np.concatenate([o.budgets for o in parts], axis=1),
        )
        cap = to_credits(spending_caps(self._balance, e))
        clearing = clear(self._holdings, self._world, orders, cap=cap, tol=self.tol)
        produced = np.empty_like(clearing.bundles)
        for p, pop in enumerate(self.populations):
            rows = self.rows(p)
            out = np.asarray(pop.produce(clearing.bundles[:, rows].copy()), dtype=np.float64)
            if out.shape != clearing.bundles[:, rows].shape:
                raise ActionError(f"population {p} produced shape {out.shape}")
            if not np.all(np.isfinite(out)) or np.any(out < -1e-9):
                raise ActionError(f"population {p} produced negative or non-finite goods")
            produced[:, rows] = np.maximum(out, 0.0)
        return WideDecision(obs=obs, clearing=clearing, produced=produced, version=self._version)

    # -- CAPITALISM ---------------------------------------------------------------------

    def settlement(
        self,
        decision: WideDecision,
        rewards: np.ndarray | None = None,
        removed: np.ndarray | None = None,
        inflow: np.ndarray | None = None,
    ) -> WideSettlement:
        """The settlement of one step after :meth:`act`, as a value; changes nothing.

        Args:
            decision: the result of :meth:`act` for the current state.
            rewards: ``(E, N)`` credits due to each trader for its transformation:
                positive ones paid by the issuer, negative ones costs paid to it (capped
                by what the trader holds).
            removed: ``(E, N, G)`` goods leaving each trader's bundle with its reward
                (bought by consumers); at most what it holds after its action.
            inflow: ``(E, G)`` goods entering the world's holdings after depreciation.

        Raises:
            StaleValue: the decision was computed for another state of the market.
            MarketInputError: rewards of the wrong shape.
            RewardError: a reward is NaN or infinite.
            GoodsError: ``removed`` or ``inflow`` malformed, or ``removed`` takes more
                than a trader holds.
        """
        if decision.version != self._version:
            raise StaleValue(
                f"decision computed at state {decision.version}; the market is at state "
                f"{self._version} (step {self.steps})"
            )
        return compute_settlement(
            decision,
            balance=self._balance,
            rules=self._rules,
            rows=[self.rows(p) for p in range(len(self.populations))],
            version=self._version,
            step=self.steps,
            rewards=rewards,
            removed=removed,
            inflow=inflow,
        )

    def apply(self, settlement: WideSettlement) -> WideReport:
        """Apply a settlement computed for the current state: journal it, move the money,
        set the goods, then let learning populations learn. Returns its report.

        Raises:
            MarketInputError: ``settlement`` is not a :class:`WideSettlement`.
            StaleValue: it was computed for another state (or has been applied already).
            MoneyError: its transfers do not lead to its balances, leave the clearing
                house non-zero or a trader below zero.
            Exception: whatever the journal raises; nothing has changed then.
        """
        if not isinstance(settlement, WideSettlement):
            raise MarketInputError(f"apply takes a WideSettlement, got {type(settlement).__name__}")
        if settlement.version != self._version:
            raise StaleValue(
                f"settlement computed at state {settlement.version} (step {settlement.step}); "
                f"the market is at state {self._version} (step {self.steps})"
            )
        t = settlement.transfers
        balance = self._balance + t.net(self.size)
        if not np.array_equal(balance, settlement.balance):
            raise MoneyError("the settlement's transfers do not lead to its balances")
        if np.any(balance < 0):
            raise MoneyError("the settlement would leave a trader below zero")
        if self._clearing + t.special(CLEARING) != 0:
            raise MoneyError("the settlement would leave money in the clearing house")
        if self.journal is not None:
            self.journal(settlement)
        self._balance = balance
        self._issuer += t.special(ISSUER)
        self._treasury += t.special(TREASURY)
        self._holdings = np.array(settlement.holdings)
        self._world = np.array(settlement.world)
        self.deaths += settlement.report.deaths
        self.steps += 1
        self._version += 1
        for pop, outcome in zip(self.populations, settlement.outcomes, strict=True):
            if isinstance(pop, WideLearner):
                pop.learn(outcome)
        return settlement.report

    def settle(
        self,
        decision: WideDecision,
        rewards: np.ndarray | None = None,
        removed: np.ndarray | None = None,
        inflow: np.ndarray | None = None,
    ) -> WideReport:
        """``apply(settlement(...))``: one step of CAPITALISM; returns its report."""
        return self.apply(self.settlement(decision, rewards, removed, inflow))


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


def _check(ok: bool, name: str, value: object, why: str = "is invalid") -> None:
    if not ok:
        raise MarketConfigError(f"{name} {why}, got {value!r}")
