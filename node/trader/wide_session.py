"""A remote wide-market trader's session with one wide task of one exchange.

:class:`WideSession` runs a population of wide-market producers (any object with
``size`` and ``orders(obs, holdings)``, and optionally ``plans()`` and ``learn(outcome)``,
as :class:`~catallax.traders.producers.LeontiefProducers` has) against a wide task. It
reads the task (``Exchange.ListTasks``: its goods and economy are in the rules),
builds its population from the economy, registers (``Exchange.Register``), opens a
``WideExchange.Trade`` stream with a signed ``Hello``, and then for every
``WideRound`` first learns from the results it carries (this identity's statement of
the last round teaches the population, as a :class:`~catallax.exchange.wide.WideOutcome`,
and brings its balances in every asset) and then, if it opens a round, answers one
signed ``Orders``: each order of the population as a valuation over the goods it
values, its budget rounded down to credit units and, per member, scaled down to what
the member holds (the exchange refuses budgets above a balance), and each member's
production plan. Reconnection and its backoff are those of the deep session.

In a task of mode ``interactive`` (its rules' ``mode``) the session sends no ``Orders``:
it answers every ``PriceProposal`` with one signed ``Demand`` (:func:`demand_body`),
what the population's ``demand(prices, supply, holdings, balances)`` wants at those
prices, bound to the proposal's digest and round.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np

from catallax.exchange.crypto import Ed25519PrivateKey, key_fingerprint, public_key_bytes
from catallax.exchange.envs.production import Economy
from catallax.exchange.ledger import UNITS_PER_GOOD
from catallax.exchange.money import UNITS_PER_CREDIT
from catallax.exchange.wide import WideOutcome
from catallax.node.env.economy import economy_from_json
from catallax.node.errors import Unanswered, WireError
from catallax.node.trader.session import FATAL, Reconnecting, SessionFailed, SessionStats
from catallax.node.wire import MemoryBook, Sequencer
from catallax.node.wire.convert import tensor_from_proto
from catallax.v1 import exchange_pb2, exchange_pb2_grpc, wide_pb2, wide_pb2_grpc

__all__ = ["WideSession", "demand_body", "orders_body"]

log = logging.getLogger("catallax.node.trader")


class WideSession(Reconnecting):
    """One identity trading on one wide task of one exchange.

    Args:
        address: the exchange's ``HOST:PORT``.
        task: the wide task's name.
        key: the identity's signing key.
        make_population: builds the population from the task's :class:`Economy`.
        sequencer: the identity's sequence numbers (share one per key across sessions).
        exchange_key: the exchange's raw public key, pinned (else the first one seen).
        credentials: TLS channel credentials (plain TCP when ``None``).
        timeout: the deadline of each unary call, seconds.
        max_backoff: the longest pause between reconnections, seconds.
    """

    #: A wide task's refusal of a stale plan or price vector cannot be cured by retrying.
    fatal = FATAL | {grpc.StatusCode.FAILED_PRECONDITION}

    def __init__(
        self,
        address: str,
        task: str,
        key: Ed25519PrivateKey,
        make_population: Callable[[Economy], Any],
        *,
        sequencer: Sequencer | None = None,
        exchange_key: bytes | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 10.0,
        max_backoff: float = 5.0,
        family: str = "",
    ) -> None:
        self.address, self.task, self.key = address, task, key
        self.public_key = public_key_bytes(key)
        self.make_population = make_population
        self.sequencer = sequencer or Sequencer(self.public_key)
        self.exchange_key = exchange_key
        self.credentials = credentials
        self.timeout, self.max_backoff, self.family = timeout, max_backoff, family
        self.population: Any = None
        self.economy: Economy | None = None
        self.goods: tuple[str, ...] = ()
        self.rules = b""
        self.mode = "orders"
        self.origin = ""
        self.stats = SessionStats()
        self.balances: dict[str, int] = {}
        self.refused: list[str] = []
        self.connected = asyncio.Event()
        self._book = MemoryBook()
        self._stopping = False
        self._call: Any = None

    def __repr__(self) -> str:
        return f"WideSession({self.address}/{self.task}, {key_fingerprint(self.public_key)})"

    async def _connect_and_trade(self) -> None:
        async with self._channel() as channel:
            stub = exchange_pb2_grpc.ExchangeStub(channel)
            await self._task_info(stub)
            if self.population is None:
                assert self.economy is not None
                self.population = self.make_population(self.economy)
            if self.mode == "interactive" and not hasattr(self.population, "demand"):
                raise SessionFailed(
                    f"task {self.task} clears by demand queries; the population has no demand()"
                )
            await self._register(stub)
            self.stats.connects += 1
            await self._trade(wide_pb2_grpc.WideExchangeStub(channel))

    async def _task_info(self, stub) -> None:
        reply = await stub.ListTasks(exchange_pb2.ListTasksRequest(), timeout=self.timeout)
        key = bytes(reply.public_key)
        if self.exchange_key is None:
            self.exchange_key = key
        elif key != self.exchange_key:
            raise SessionFailed(f"{self.address}: the exchange's key is {key_fingerprint(key)}")
        self.origin = reply.exchange
        for t in reply.tasks:
            if t.name != self.task:
                continue
            if t.market != "wide":
                raise SessionFailed(f"task {self.task} is a {t.market} task, not a wide one")
            if not t.rules_json:
                raise WireError(f"task {self.task} is {t.state}; its economy is not known yet")
            rules = json.loads(t.rules_json)
            self.rules = bytes(t.rules)
            self.economy = economy_from_json(json.dumps(rules["economy"]))
            self.goods = tuple(rules["goods"])
            self.mode = rules.get("mode", "orders")
            return
        raise SessionFailed(f"{self.address}: no task {self.task!r}", grpc.StatusCode.NOT_FOUND)

    async def _register(self, stub) -> None:
        size = int(self.population.size)
        registration = exchange_pb2.Registration(
            exchange=self.origin, task=self.task, members=size, family=self.family
        )
        reply = await stub.Register(self._seal(registration), timeout=self.timeout)
        body = self._open(reply, "Registered")
        if len(body.accounts) != size:
            raise SessionFailed(
                f"{self.task}: this key registered {len(body.accounts)} members; the "
                f"population has {size}"
            )
        self.stats.accounts = list(body.accounts)
        for account, units in zip(body.accounts, body.balances, strict=True):
            self.balances.setdefault(account, int(units))

    async def _trade(self, stub) -> None:
        call = stub.Trade()
        self._call = call
        try:
            await call.write(self._seal(exchange_pb2.Hello(exchange=self.origin, task=self.task)))
            self.connected.set()
            while True:
                envelope = await call.read()
                if envelope is grpc.aio.EOF:
                    return
                if envelope.message == "WideRound":
                    message = self._open(envelope, "WideRound")
                    if message.HasField("settled"):
                        self._learn(message.settled)
                    if not message.open:
                        continue
                    self.stats.requests += 1
                    if self.mode == "interactive":  # the proposals follow
                        continue
                    await call.write(self._seal(self._orders(message)))
                    self.stats.bids_sent += 1
                elif envelope.message == "PriceProposal" and self.mode == "interactive":
                    proposal = self._open(envelope, "PriceProposal")
                    await call.write(self._seal(self._demand(proposal)))
                    self.stats.bids_sent += 1
                else:
                    raise Unanswered(f"an unexpected {envelope.message!r} on the stream")
        finally:
            self._call = None
            call.cancel()

    # -- orders and results -------------------------------------------------------------

    def holdings(self) -> np.ndarray:
        """``(1, size, G)`` the goods each member holds, in units of a good (float)."""
        rows = [[self.balances.get(f"{a}/{g}", 0) for g in self.goods] for a in self.stats.accounts]
        return np.asarray(rows, dtype=np.float64)[None] / UNITS_PER_GOOD

    def _orders(self, request: wide_pb2.WideRound) -> wide_pb2.Orders:
        obs = np.asarray(request.supply, dtype=np.float64)[None] / UNITS_PER_GOOD
        orders = self.population.orders(obs, self.holdings())
        held = np.asarray([self.balances.get(a, 0) for a in self.stats.accounts], np.int64)
        plans = getattr(self.population, "plans", None)
        recipes, runs = plans() if plans is not None else (np.zeros(0), np.zeros(0))
        body = orders_body(
            orders, held, recipes, runs, goods=self.goods, exchange=self.origin,
            task=self.task, round_=request.round, rules=self.rules,
        )  # fmt: skip
        return body

    def _demand(self, proposal: wide_pb2.PriceProposal) -> wide_pb2.Demand:
        prices = np.asarray(proposal.prices, dtype=np.float64)
        supply = np.asarray(proposal.supply, dtype=np.float64) / UNITS_PER_GOOD
        held = np.asarray([self.balances.get(a, 0) for a in self.stats.accounts], np.int64)
        bundles, budgets = self.population.demand(
            prices, supply, self.holdings()[0], held / UNITS_PER_CREDIT
        )
        plans = getattr(self.population, "plans", None)
        recipes, runs = plans() if plans is not None else (np.zeros(0), np.zeros(0))
        return demand_body(
            bundles, budgets, held, prices, recipes, runs, goods=self.goods,
            exchange=self.origin, task=self.task, round_=proposal.round,
            digest=bytes(proposal.digest), rules=self.rules,
        )  # fmt: skip

    def _learn(self, settled: wide_pb2.WideSettled) -> None:
        """Teach the population from this identity's statement of a settled round (a
        round settled before this session opened may have none); a refused round
        teaches nothing and is kept in :attr:`refused`."""
        result = next((s for s in settled.statements if s.identity == self.public_key), None)
        if result is None and not settled.refused:
            return
        self.stats.results += 1
        self.stats.last_round = int(settled.round)
        if settled.refused:
            self.refused.append(settled.refused)
            return
        for account, units in zip(result.accounts, result.balances, strict=True):
            self.balances[account] = int(units)
        self.stats.balances = [self.balances.get(a, 0) for a in self.stats.accounts]
        learn = getattr(self.population, "learn", None)
        if learn is None:
            return
        g = UNITS_PER_GOOD
        outcome = WideOutcome(
            prices=np.asarray(settled.prices, dtype=np.float64)[None],
            supply=np.asarray(settled.supply, dtype=np.float64)[None] / g,
            bought=tensor_from_proto(result.bought)[None] / g,
            produced=tensor_from_proto(result.produced)[None] / g,
            rewards=np.asarray(result.rewards, dtype=np.float64)[None] / UNITS_PER_CREDIT,
            removed=tensor_from_proto(result.removed)[None] / g,
        )
        learn(outcome)


def orders_body(
    orders: Any,
    balances: np.ndarray,
    recipes: np.ndarray,
    runs: np.ndarray,
    *,
    goods: tuple[str, ...],
    exchange: str,
    task: str,
    round_: int,
    rules: bytes,
    valuation: str = "linear",
) -> wide_pb2.Orders:
    """A population's :class:`~catallax.exchange.wide.Orders` (episode 0) as an ``Orders``
    body: each order over the goods it values, budgets in credit units rounded down and
    scaled so that a member's sum is at most its balance; orders valuing nothing, or
    with a budget that is not a finite number >= 0, are left out."""
    values = np.asarray(orders.values, dtype=np.float64)[0]
    budgets = np.asarray(orders.budgets, dtype=np.float64)[0]
    members = np.asarray(orders.trader, dtype=np.int64)
    ok = np.isfinite(budgets) & (budgets >= 0) & np.all(np.isfinite(values), axis=1)
    ok &= np.any(values > 0, axis=1)
    units = np.where(ok, np.floor(np.where(ok, budgets, 0) * UNITS_PER_CREDIT), 0.0)
    total = np.zeros(len(balances))
    np.add.at(total, members, units)
    scale = np.where(total > balances, balances / np.maximum(total, 1), 1.0)
    units = np.floor(units * scale[members]).astype(np.int64)
    body = wide_pb2.Orders(exchange=exchange, task=task, round=round_, rules=rules, goods=goods)
    for k in np.flatnonzero(ok).tolist():
        which = np.flatnonzero(values[k] > 0)
        order = body.orders.add(member=int(members[k]), budget=int(units[k]))
        order.valuation.goods.extend(which.tolist())
        order.valuation.values.extend(values[k, which].tolist())
        getattr(order.valuation, valuation).SetInParent()
    _add_plans(body, recipes, runs)
    return body


def demand_body(
    bundles: np.ndarray,
    budgets: np.ndarray,
    balances: np.ndarray,
    prices: np.ndarray,
    recipes: np.ndarray,
    runs: np.ndarray,
    *,
    goods: tuple[str, ...],
    exchange: str,
    task: str,
    round_: int,
    digest: bytes,
    rules: bytes,
) -> wide_pb2.Demand:
    """A population's demand at a proposal's ``prices`` as a ``Demand`` body: bundles
    ``(N, G)`` (units of goods) rounded down to integer units, budgets (credits) rounded
    down to credit units and at most each member's ``balances`` (units); a bundle that
    would then cost more than its budget is scaled down to it; a quantity or budget
    that is not a finite number >= 0 counts as zero."""
    b = np.asarray(bundles, dtype=np.float64)
    b = np.where(np.isfinite(b) & (b > 0), b, 0.0)
    units = np.floor(b * UNITS_PER_GOOD)
    money = np.asarray(budgets, dtype=np.float64)
    money = np.where(np.isfinite(money) & (money > 0), money, 0.0)
    budget = np.minimum(np.floor(money * UNITS_PER_CREDIT), balances).astype(np.int64)
    p = np.asarray(prices, dtype=np.float64)
    cost = (units / UNITS_PER_GOOD) @ p * UNITS_PER_CREDIT
    scale = np.where(cost > budget, budget / np.maximum(cost, 1.0), 1.0)
    units = np.floor(units * scale[:, None]).astype(np.int64)
    body = wide_pb2.Demand(
        exchange=exchange, task=task, round=round_, digest=digest, rules=rules, goods=goods
    )
    for member in range(len(units)):
        body.demands.add(member=member, bundle=units[member].tolist(), budget=int(budget[member]))
    _add_plans(body, recipes, runs)
    return body


def _add_plans(body: wide_pb2.Orders | wide_pb2.Demand, recipes, runs) -> None:
    """Each member's production plan (members whose recipe is -1 run none)."""
    for member, (recipe, run) in enumerate(zip(recipes, runs, strict=True)):
        if recipe >= 0:
            body.plans.add(member=member, recipe=int(recipe), runs=float(run))
