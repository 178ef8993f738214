"""One wide-market task of an exchange: goods cleared by equilibrium, remote producers.

A :class:`WideTask` serves the wide market (paper, Algorithm 2) of a production economy
whose world an environment node holds (:mod:`catallax.node.env.economy`). Each member of
a registered identity holds credits and one account per good on the exchange's ledger;
the task keeps their balances in memory, equal to the ledger's after every commit. All
changes happen in its round loop (:meth:`WideTask.run`), one round at a time:

1. admissions queued by ``Register`` are committed (the accounts of credits and of
   every good, the allowance) and applied;
2. one signed ``WideRound`` goes to every session: the last round's results (below)
   and the request (the state, the world's stock, the last prices, a deadline); the
   round waits until each session has answered with its signed ``Orders`` (checked as
   they arrive, :mod:`.orders`) or the deadline passes;
3. ``Equ`` (:func:`.rounds.clear_round`): the holdings of every member the orders name
   and the world's stock are pooled and cleared; the certificate is checked, and an
   uncertified clearing is not settled (every session hears why in the results;
   nothing is written, the next round goes on);
4. the environment node runs the round of the world (``Produce``: recipe runs,
   consumers, depreciation, the world's sales and inflow), and the exchange refuses a
   report that makes goods from nothing (:func:`.rounds.check_production`; the episode
   then starts again, nothing written);
5. the settlement, one ledger round: trades, rewards, deliveries, productions, each
   trader debit with the payer's signed ``Orders`` as its evidence, each production
   with the environment's signed report, each world delivery with its signed
   ``Debits``; balances are compared with the task's after the commit;
6. the results wait for the next ``WideRound`` (or one that opens no round, when the
   task waits, ends or stops): the prices, the checkpoint and one statement per
   identity (its members' fills, production, rewards and every balance). One message
   signed once per round, as the deep task's ``Round``: before, each session got a
   ``WideResult`` of its own, 8 more signatures and stream messages a round at 8
   producers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from catallax.exchange.crypto import SignedEnvelope
from catallax.exchange.envs.production import Economy
from catallax.exchange.ledger import (
    UNITS_PER_GOOD,
    Account,
    AccountKind,
    Opening,
    Transfer,
    TransferKind,
)
from catallax.exchange.money import to_units
from catallax.exchange.wide import Tatonnement, clear, demand_certificate
from catallax.node.env.client import EnvironmentClient, ca_credentials
from catallax.node.env.economy import economy_from_json
from catallax.node.errors import (
    BudgetExhausted,
    DuplicateBids,
    ForgedProduction,
    FutureRound,
    NotYourMember,
    RulesChanged,
    TaskPaused,
    Uncertified,
    WireError,
    WrongPlace,
)
from catallax.node.exchange.admissions import Admitting
from catallax.node.exchange.bidding import Bidding, Hosting, Session
from catallax.node.exchange.config import TaskConfig
from catallax.node.exchange.remote import Identity, RemoteMembers
from catallax.node.exchange.restore import TaskHistory, special_accounts
from catallax.node.exchange.task import ExchangeContext
from catallax.node.exchange.wide.demands import DemandBook, Queries, check_demand
from catallax.node.exchange.wide.orders import OrderBook, check_orders
from catallax.node.exchange.wide.rounds import (
    RoundClearing,
    check_production,
    clear_round,
    demand_round,
    settlement_entries,
)
from catallax.node.recording import LedgerMismatch
from catallax.node.wire import Envelope, now_ms
from catallax.node.wire.convert import checkpoint_to_proto, space_to_proto, tensor_to_proto
from catallax.v1 import exchange_pb2, wide_pb2

__all__ = ["WideTask"]

log = logging.getLogger("catallax.node.exchange")

#: Rounds whose welfare makes the mean a task reports (``TaskInfo.mean_return``).
RECENT_ROUNDS = 100


class WideTask(Admitting, Hosting):
    """A wide-market task served to remote traders (see the module docstring)."""

    #: The message a session answers with.
    answer = "Orders"
    market = "wide"

    def __init__(
        self, cfg: TaskConfig, ctx: ExchangeContext, env_key: bytes, history: TaskHistory
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.ctx = ctx
        self.env_key = bytes(env_key)
        self.env = EnvironmentClient(
            cfg.env, ctx.key, env_key, timeout=cfg.env_timeout_ms / 1000,
            credentials=ca_credentials(cfg.env_ca),
        )  # fmt: skip
        self.history = history
        self.issuer_id, self.treasury_id = special_accounts(self.name)
        self.remote = RemoteMembers(self.name)
        self.sessions: dict[bytes, Session] = {}
        self.bidding = Bidding(self.name, ctx.origin, ctx.book)
        self.interactive = cfg.mode == "interactive"
        if self.interactive:  # sessions answer price proposals with Demands
            self.answer = "Demand"
        self.queries = Queries()
        #: Queries each settled or refused interactive round took.
        self.query_counts: deque[int] = deque(maxlen=10_000)
        self.state = "starting"
        self.round = history.last_round + 1
        self.rounds = 0
        self.refused: list[str] = []  # why each round that was not settled was refused
        self.welfare: list[float] = []
        self.round_seconds: deque[float] = deque(maxlen=10_000)
        self.allowance_given = history.allowances
        #: The ledger's size and root right after this task's last commit (see
        #: :mod:`catallax.node.exchange.progress`).
        self.committed: tuple[int, bytes] = (ctx.ledger.size, ctx.ledger.root)
        if ctx.progress is not None:  # go on from the rounds cleared before a restart
            digest = hashlib.sha256(cfg.rules_json().encode()).hexdigest()
            self.rounds = ctx.progress.restore(self.name, digest, ctx.ledger).rounds
        self.economy: Economy | None = None
        self.goods: tuple[str, ...] = ()
        self.rules_json, self.rules = "", b""
        self.observation_space: gym.Space | None = None
        self.action_space: gym.Space | None = None
        self.balance = np.zeros(0, dtype=np.int64)
        self.holdings = np.zeros((0, 0), dtype=np.int64)
        self.world: np.ndarray | None = None
        self.prices = np.zeros(0)
        #: ``Equ``: :func:`catallax.exchange.wide.clear` (tests wrap it to tamper).
        self.equ = clear
        self._pending: list[tuple[bytes, int, asyncio.Future]] = []
        #: The last round's results, until the next WideRound carries them.
        self._settled: wide_pb2.WideSettled | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self.on_round: list[Callable[[WideTask], None]] = []
        self.on_state: list[Callable[[WideTask], None]] = []

    # -- set-up -----------------------------------------------------------------------

    @property
    def allowance_units(self) -> int:
        """Credit units each new member gets."""
        return int(to_units(self.cfg.allowance))

    @property
    def budget_left(self) -> int:
        return max(0, int(to_units(self.cfg.allowance_budget)) - self.allowance_given)

    async def _connect(self) -> None:
        """Read the environment node's economy and build (or check) the task's goods."""
        spec = await self.env.spec()
        if not spec.economy_json:
            raise TaskPaused(f"environment {spec.env_id} is not a production economy")
        economy = economy_from_json(spec.economy_json)
        if self.economy is not None:
            if economy.goods != self.goods:
                raise TaskPaused(f"the environment node now serves goods {economy.goods}")
            return
        self.economy, self.goods = economy, economy.goods
        self.observation_space, self.action_space = spec.observation_space, spec.action_space
        rules = {
            **self.cfg.rules(), "goods": list(self.goods), "env_id": spec.env_id,
            "economy": json.loads(spec.economy_json),
        }  # fmt: skip
        self.rules_json = json.dumps(rules, sort_keys=True, separators=(",", ":"))
        self.rules = hashlib.sha256(self.rules_json.encode()).digest()
        g = len(self.goods)
        self.prices = np.zeros(g)
        ledger = self.ctx.ledger
        balances, holdings = [], []
        for key, count in self.history.identities:
            ident = self.remote.add(key, count)
            for account in ident.accounts:
                balances.append(ledger.balance(account))
                holdings.append([self._held(f"{account}/{good}") for good in self.goods])
        self.balance = np.asarray(balances, dtype=np.int64)
        self.holdings = np.asarray(holdings, dtype=np.int64).reshape(len(balances), g)

    def _held(self, account: str) -> int:
        return self.ctx.ledger.balance(account) if self.ctx.ledger.account(account) else 0

    async def _reset(self) -> None:
        """A new episode: the world's first stock (the goods members hold stay theirs)."""
        seed = None
        if self.rounds == 0:
            seed = [int(np.random.SeedSequence(self.cfg.seed).generate_state(1)[0])]
        obs, _ = await self.env.reset([0], seed)
        self.world = np.rint(np.maximum(obs[0], 0) * UNITS_PER_GOOD).astype(np.int64)

    def _special_openings(self) -> list[Opening]:
        """The task's own accounts, opened with its first commit: the issuer of credits
        (the exchange's key), the treasury, each good's issuer (the environment's key)
        and clearing house (the exchange's key; it holds nothing between rounds)."""
        if self.ctx.ledger.account(self.issuer_id) is not None:
            return []
        key = self.ctx.public_key
        out = [
            Opening(Account(self.issuer_id, AccountKind.ISSUER, key)),
            Opening(Account(self.treasury_id, AccountKind.TREASURY)),
        ]
        for good in self.goods:
            asset = f"good:{good}"
            out.append(Opening(Account(f"{self.issuer_id}/{good}", "issuer", self.env_key, asset)))
            out.append(Opening(Account(f"{self.name}.clearing/{good}", "issuer", key, asset)))
        return out

    # -- registration -----------------------------------------------------------------

    def identity(self, public_key: bytes) -> Identity | None:
        return self.remote.identities.get(bytes(public_key))

    def balances_of(self, ident: Identity) -> list[int]:
        """The credit balances of an identity's members (what ``Registered`` reports)."""
        return [int(self.balance[n]) for n in ident.numbers]

    def _accepting(self) -> bool:
        return self.economy is not None

    async def _admit(self, public_key: bytes, members: int) -> Identity:
        known = self.identity(public_key)
        if known is not None:
            return known
        units = self.allowance_units
        if members * units > self.budget_left:
            raise BudgetExhausted(f"task {self.name}: the allowance budget is spent")
        ident = self.remote.add(public_key, members, publish=False)
        entries: list = self._special_openings()
        for k, account in enumerate(ident.accounts):
            entries.append(Opening(Account(account, AccountKind.TRADER, ident.public_key)))
            for good in self.goods:
                entries.append(
                    Opening(
                        Account(f"{account}/{good}", "trader", ident.public_key, f"good:{good}")
                    )
                )
            if units:
                entries.append(
                    Transfer(
                        id=f"{self.name}.join.{ident.name}.{k}", payer=self.issuer_id,
                        payee=account, amount=units, kind=TransferKind.ALLOWANCE,
                        task=self.name, round=self.round,
                    )
                )  # fmt: skip
        expected = {a: units for a in ident.accounts}
        try:
            await self._commit(entries, expected)
        except BaseException:
            self.remote.drop_last(ident)
            raise
        self.balance = np.concatenate([self.balance, np.full(members, units, dtype=np.int64)])
        self.holdings = np.concatenate(
            [self.holdings, np.zeros((members, len(self.goods)), dtype=np.int64)]
        )
        self.allowance_given += members * units
        self.remote.publish(ident)
        log.info("task=%s event=registered identity=%s members=%d", self.name, ident.name, members)
        return ident

    async def _commit(self, entries: list, expected: dict[str, int]) -> None:
        """Commit one ledger round and compare the balances it touched with ``expected``."""

        def work() -> None:
            self.ctx.ledger.commit_round(entries)
            self.committed = (self.ctx.ledger.size, self.ctx.ledger.root)
            for account, units in expected.items():
                held = self.ctx.ledger.balance(account)
                if held != units:
                    raise LedgerMismatch(
                        f"account {account!r}: the ledger holds {held} units, the task {units}"
                    )

        async with self.ctx.ledger_lock:
            await asyncio.to_thread(work)

    # -- sessions and orders ----------------------------------------------------------

    def _forget(self, public_key: bytes) -> None:
        self.queries.left(public_key)

    def offer(self, session: Session, envelope: Envelope, body) -> bool:
        """Take a signed, verified ``Orders`` for the open round (a ``Demand`` for the
        open query in an interactive task); False for late orders. Raises the refusal
        otherwise (:func:`.orders.check_orders`, :mod:`.demands`)."""
        ident = session.identity
        if bytes(envelope.public_key) != ident.public_key:
            raise NotYourMember("the body is signed by another key than this session's")
        if body.exchange != self.ctx.origin or body.task != self.name:
            raise WrongPlace(f"a body for {body.exchange!r}/{body.task!r}, this is {self.name}")
        self.check_sequence(envelope.public_key, body.sequence, body.timestamp_ms)
        if self.interactive:
            return self._answer(session, envelope, body)
        open_ = self.bidding.open
        latest = open_.round if open_ is not None else self.round
        if body.round > latest:
            raise FutureRound(f"orders for round {body.round}; round {latest} is the latest")
        if open_ is None or body.round < open_.round:
            return False
        if bytes(body.rules) != self.rules:
            raise RulesChanged(f"the orders accept other rules than task {self.name}'s")
        if ident.public_key in open_.offers:
            raise DuplicateBids(f"this identity already sent orders in round {open_.round}")
        assert self.economy is not None
        book = check_orders(
            envelope, body, members=ident.members, goods=self.goods,
            recipes=self.economy.n_recipes, valuation=self.cfg.valuation, rho=self.cfg.rho,
            balances=self.balance[ident.numbers],
        )  # fmt: skip
        open_.offers[ident.public_key] = book
        open_.answered(ident.public_key)
        return True

    def _answer(self, session: Session, envelope: Envelope, body: wide_pb2.Demand) -> bool:
        """Take a ``Demand`` for the open query (see :mod:`.demands` for the refusals)."""
        ident = session.identity
        latest = self.round if self.queries.current is None else self.queries.current.round
        if body.round > latest:
            raise FutureRound(f"a demand for round {body.round}; round {latest} is the latest")
        proposal = self.queries.check(ident.public_key, body)
        if bytes(body.rules) != self.rules:
            raise RulesChanged(f"the demand accepts other rules than task {self.name}'s")
        assert self.economy is not None
        book = check_demand(
            envelope, body, members=ident.members, goods=self.goods,
            recipes=self.economy.n_recipes, balances=self.balance[ident.numbers],
            prices=proposal.prices,
        )  # fmt: skip
        proposal.answers[ident.public_key] = book
        proposal.answered(ident.public_key)
        return True

    # -- the round loop -----------------------------------------------------------------

    async def run(self) -> None:
        """Serve rounds until :meth:`stopping`; pauses (and says why) while the
        environment node cannot be reached, and resumes by itself."""
        backoff = 0.2
        while not self._stopping:
            try:
                if self.economy is None or self.world is None:
                    await self._connect()
                    await self._admit_pending()
                    await self._reset()
                    self._set_state("clearing")
                    backoff = 0.2
                await self._admit_pending()
                done = self.cfg.rounds > 0 and self.rounds >= self.cfg.rounds
                if done or not self._ready():
                    self._flush_results()
                    self._set_state("done" if done else "waiting")
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self._set_state("clearing")
                await self._one_round()
            except WireError as exc:
                self.world = None
                self._set_state(f"paused: environment node {self.cfg.env}: {exc}")
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception as exc:  # nothing was applied; a new episode after a pause
                log.exception("task=%s event=round_failed round=%d", self.name, self.round)
                self.ctx.note_failure(exc)
                self.world = None
                self._set_state(f"paused: {type(exc).__name__}: {exc}")
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            level = logging.WARNING if state.startswith("paused") else logging.INFO
            log.log(level, "task=%s event=state state=%r round=%d", self.name, state, self.round)
            self.state = state
            self._note_progress(now=True)
            for hook in self.on_state:
                hook(self)

    def _note_progress(self, *, now: bool = False) -> None:
        """Record the rounds cleared (after a commit, or a change of state)."""
        if self.ctx.progress is not None:
            size, root = self.committed
            self.ctx.progress.note(self.name, size, root, now=now, rounds=self.rounds)

    @property
    def healthy(self) -> bool:
        return not (self.state == "starting" or self.state.startswith("paused"))

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def stopping(self) -> None:
        self._stopping = True
        self._wake.set()

    async def stop(self) -> None:
        """After the loop has ended: deliver the last results, end every session and
        close the environment client."""
        self.stopping()
        self._flush_results()
        for session in list(self.sessions.values()):
            session.close(TaskPaused(f"the exchange is stopping; task {self.name} ends"))
        await self.env.close()

    async def _one_round(self) -> None:
        started = time.perf_counter()
        assert self.economy is not None and self.world is not None
        r, g = self.round, len(self.goods)
        sessions = self.live_sessions()
        deadline_ms = now_ms() + self.cfg.clearing_deadline_ms
        request = wide_pb2.WideRound(
            exchange=self.ctx.origin, task=self.name, open=True, round=r,
            supply=(self.holdings.sum(axis=0) + self.world).tolist(), world=self.world.tolist(),
            prices=self.prices.tolist(), deadline_ms=deadline_ms, rules=self.rules,
        )  # fmt: skip
        if self.interactive:
            self._broadcast(request, sessions)
            await self._interactive_round(r, sessions, deadline_ms)
            self.round_seconds.append(time.perf_counter() - started)
            for hook in self.on_round:
                hook(self)
            return
        open_ = self.bidding.open_round(r, {s.identity.public_key for s in sessions})
        self._broadcast(request, sessions)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(open_.done.wait(), self.cfg.clearing_deadline_ms / 1000)
        books: list[OrderBook] = self.bidding.close_round()  # type: ignore[assignment]
        n = len(self.balance)
        offers = np.zeros(n, dtype=bool)
        recipes = np.full(n, -1, dtype=np.int64)
        runs = np.zeros(n)
        owner, values, budgets = [], [], []
        evidence: dict[int, SignedEnvelope] = {}
        for book in books:
            rows = np.asarray(self.remote.identities[book.key].numbers, dtype=np.int64)
            named = rows[sorted(book.named)]
            offers[named] = True
            signed = book.signed()
            evidence.update({int(row): signed for row in named})
            owner.append(rows[book.members])
            values.append(book.values)
            budgets.append(book.budgets)
            recipes[rows[book.plan_members]] = book.recipes
            runs[rows[book.plan_members]] = book.runs
        owner_a = np.concatenate(owner) if owner else np.zeros(0, dtype=np.int64)
        values_a = np.concatenate(values) if values else np.zeros((0, g))
        budgets_a = np.concatenate(budgets) if budgets else np.zeros(0, dtype=np.int64)
        # The orders' sequence numbers stay in memory: a session's Hello is accepted
        # durably before the session opens and every later body of its signer must be
        # above it, so an Orders captured before a restart stays refused after it.
        try:
            rc = clear_round(
                self.holdings, self.world, offers, owner_a, values_a, budgets_a, self.balance,
                utility=self.cfg.valuation, rho=self.cfg.rho, tol=self.cfg.tol, equ=self.equ,
            )  # fmt: skip
        except Uncertified as exc:
            self._refuse(r, str(exc))
        else:
            await self._settle(r, rc, recipes, runs, evidence)
        self.round_seconds.append(time.perf_counter() - started)
        for hook in self.on_round:
            hook(self)

    async def _interactive_round(self, r: int, sessions: list[Session], deadline_ms: int) -> None:
        """Round ``r`` of an interactive task: price proposals, each answered by every
        session's ``Demand``, moved by tâtonnement until the demands clear within ``tol``
        or the deadline passes (then the round is refused, uncertified, nothing
        written); a converged round settles as a round of orders."""
        assert self.economy is not None and self.world is not None
        g = len(self.goods)
        tat = Tatonnement(self.prices)
        keys = {s.identity.public_key for s in sessions}
        query, cert = 0, None
        while True:
            live = {k for k in keys if k in self.sessions and not self.sessions[k].closed}
            offers = np.zeros(len(self.balance), dtype=bool)
            for k in live:
                offers[self.remote.identities[k].numbers] = True
            supply = np.where(offers[:, None], self.holdings, 0).sum(axis=0) + self.world
            prices = tat.prices.copy()
            proposal = self.queries.propose(r, query, prices, deadline_ms, live)
            envelope = self.ctx.seal(wide_pb2.PriceProposal(
                exchange=self.ctx.origin, task=self.name, round=r, query=query,
                prices=prices.tolist(), digest=proposal.digest, deadline_ms=deadline_ms,
                supply=supply.tolist(), rules=self.rules,
            ))  # fmt: skip
            for k in live:
                self.sessions[k].send(envelope)
            left = max(0.0, (deadline_ms - now_ms()) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proposal.done.wait(), left)
            answers: dict[bytes, DemandBook] = self.queries.close()
            query += 1
            if proposal.waiting:  # the deadline passed before every session answered
                break
            offers[:] = False
            demands = np.zeros((len(self.balance), g), dtype=np.int64)
            budgets = np.zeros(len(self.balance), dtype=np.int64)
            for k, book in answers.items():
                rows = self.remote.identities[k].numbers
                offers[rows] = True
                demands[rows], budgets[rows] = book.bundles, book.budgets
            supply = np.where(offers[:, None], self.holdings, 0).sum(axis=0) + self.world
            units = UNITS_PER_GOOD
            cert = demand_certificate(
                supply / units,
                prices,
                demands[offers] / units,
                budgets[offers] / 1e6,
                floor=tat.floor,
            )
            if cert.holds(self.cfg.tol):
                break
            if now_ms() >= deadline_ms:
                break
            tat.step(supply / units, demands[offers].sum(axis=0) / units, budgets.sum() / 1e6)
        self.query_counts.append(query)
        if cert is None or not cert.holds(self.cfg.tol):
            why = "not every session answered" if cert is None else str(cert)
            self._refuse(r, f"uncertified: the clearing deadline passed after {query} "
                            f"queries ({why}; tolerance {self.cfg.tol:g})")  # fmt: skip
            return
        n = len(self.balance)
        recipes = np.full(n, -1, dtype=np.int64)
        runs = np.zeros(n)
        evidence: dict[int, SignedEnvelope] = {}
        for k, book in answers.items():
            rows = np.asarray(self.remote.identities[k].numbers, dtype=np.int64)
            signed = book.signed()
            evidence.update({int(row): signed for row in rows})
            recipes[rows[book.plan_members]] = book.recipes
            runs[rows[book.plan_members]] = book.runs
        rc = demand_round(
            self.holdings, self.world, offers, demands, budgets, self.balance, prices, cert
        )
        await self._settle(r, rc, recipes, runs, evidence)

    async def _settle(self, r: int, rc: RoundClearing, recipes, runs, evidence) -> None:
        """Produce and commit round ``r``'s clearing (see the module docstring, 4 to 6)."""
        assert self.economy is not None and self.world is not None
        n = len(self.balance)
        accounts = [self.remote.owner_of(m).accounts[self.remote.local(m)] for m in range(n)]
        production = await self.env.produce(
            exchange=self.ctx.origin, task=self.name, round_=r, slot=0, accounts=accounts,
            recipes=recipes, runs=runs, bundles=rc.bundles, world_sold=self.world - rc.world,
        )  # fmt: skip
        try:
            check_production(self.economy, production, rc.bundles, recipes, runs)
        except ForgedProduction as exc:
            self.world = None  # the environment's world moved on: a new episode
            self._refuse(r, f"production: {exc}")
            return
        entries = settlement_entries(
            task=self.name, round_=r, goods=self.goods, accounts=accounts, rc=rc,
            holdings=self.holdings, world=self.world, production=production,
            orders_of=evidence.get,
        )  # fmt: skip
        balance = self.balance - rc.pay + rc.receive + production.payments
        p = production
        holdings = rc.bundles - p.consumed + p.made - p.taken - p.depreciated
        touched = {t.payee for t in entries} | {t.payer for t in entries}
        expected = {}
        for row, account in enumerate(accounts):
            if account in touched:
                expected[account] = int(balance[row])
            for j, good in enumerate(self.goods):
                if f"{account}/{good}" in touched:
                    expected[f"{account}/{good}"] = int(holdings[row, j])
        if entries:  # a round where nothing moved (no goods anywhere) writes nothing
            await self._commit(entries, expected)
        self.balance, self.holdings, self.world = balance, holdings, production.world
        self.prices = rc.prices.copy()
        self.welfare.append(production.welfare)
        self.rounds += 1
        self.round += 1
        self._note_progress()
        self._send_results(r, rc, production, holdings)

    def _refuse(self, round_: int, why: str) -> None:
        """A round not settled: nothing written; every session hears why."""
        log.warning("task=%s event=round_refused round=%d why=%r", self.name, round_, why)
        self.refused.append(why)
        self.round += 1
        self._settled = wide_pb2.WideSettled(round=round_, refused=why)

    def _send_results(self, round_: int, rc, production, holdings: np.ndarray) -> None:
        """Round ``round_`` is committed: its results, with a statement for every
        identity with a session, wait for the next broadcast."""
        produced = rc.bundles - production.consumed + production.made
        # What was on offer: the offered holdings and the world's stock (conserved).
        offered = rc.clearing.bundles[0].sum(axis=0) + rc.clearing.world[0]
        settled = wide_pb2.WideSettled(
            round=round_, prices=rc.prices.tolist(),
            supply=np.rint(offered * UNITS_PER_GOOD).astype(np.int64).tolist(),
            checkpoint=checkpoint_to_proto(self.ctx.ledger.checkpoint),
        )  # fmt: skip
        for session in self.live_sessions():
            rows = session.identity.numbers
            accounts, balances = [], []
            for row, account in zip(rows, session.identity.accounts, strict=True):
                accounts.append(account)
                balances.append(int(self.balance[row]))
                for j, good in enumerate(self.goods):
                    accounts.append(f"{account}/{good}")
                    balances.append(int(holdings[row, j]))
            settled.statements.add(
                identity=session.identity.public_key, bought=tensor_to_proto(rc.bundles[rows]),
                produced=tensor_to_proto(produced[rows]),
                removed=tensor_to_proto(production.taken[rows]),
                rewards=production.payments[rows].tolist(), accounts=accounts,
                balances=balances,
            )  # fmt: skip
        self._settled = settled

    def _broadcast(self, message: wide_pb2.WideRound, sessions: list[Session]) -> None:
        """Sign ``message`` once, with the results waiting (if any), and send it to each
        of ``sessions``."""
        settled, self._settled = self._settled, None
        if settled is not None:
            message.settled.CopyFrom(settled)
        envelope = self.ctx.seal(message)
        for session in sessions:
            session.send(envelope)

    def _flush_results(self) -> None:
        """Send the results waiting in a ``WideRound`` that opens no round (the task
        waits, ends or stops before the next round)."""
        if self._settled is not None:
            message = wide_pb2.WideRound(exchange=self.ctx.origin, task=self.name)
            self._broadcast(message, self.live_sessions())

    # -- what ListTasks reports ---------------------------------------------------------

    def info(self) -> exchange_pb2.TaskInfo:
        msg = exchange_pb2.TaskInfo(
            name=self.name, market="wide", slots=1, allowance=self.allowance_units,
            bid_deadline_ms=self.cfg.clearing_deadline_ms, env_id=self.cfg.env,
            rules_json=self.rules_json, rules=self.rules, max_members=self.cfg.max_members,
            allowance_left=self.budget_left, state=self.state, rounds=self.rounds,
            sessions=len(self.sessions), identities=len(self.remote.identities),
        )  # fmt: skip
        if self.welfare:
            msg.mean_return = float(np.mean(self.welfare[-RECENT_ROUNDS:]))
        if self.observation_space is not None:
            msg.observation_space.CopyFrom(space_to_proto(self.observation_space))
            msg.action_space.CopyFrom(space_to_proto(self.action_space))
        recent = list(self.round_seconds)[-1024:]
        msg.recent_round_ms.extend(1000.0 * t for t in recent)
        return msg
