"""One deep-market task of an exchange: the round loop, registration, sessions.

A :class:`DeepTask` owns a :class:`~catallax.exchange.deep.DeepMarket` whose one
population is every remote member (:class:`~.remote.RemoteMembers`), a client of its
environment node, and its part of the exchange's ledger. All changes of the market
happen in its round loop (:meth:`DeepTask.run`), one round at a time:

1. admissions queued by ``Register`` are committed (allowances, as one ledger round
   each) and applied;
2. one signed ``Round`` goes to every connected session, the same bytes to each: the
   previous round's results (awards, the checkpoint, one statement per identity) and the
   request for bids on this one (the observations of every slot, a deadline); the round
   waits until each session has answered or the deadline passes (a trader that misses
   it has no bid this round);
3. the signed ``Bids`` offered meanwhile were checked as they arrived
   (:meth:`DeepTask.offer`; their sequence numbers in memory: a replay across a restart
   is refused because a session needs a fresh ``Hello``, whose number is on disk before
   the session opens, and every ``Bids`` must be above it);
4. the auction (``DeepMarket.decide``: bids capped by ledger balances; a negative bid is
   an ask, and one deeper than the task's ``ask_limit`` is no bid), the settlement,
   its commit to the ledger as one round with every trader debit carrying the payer's
   signed ``Bids`` as evidence (an ask, a royalty: the ``Bids`` of the purchase it
   sells or settles) and
   the round's balances checked against the ledger (:mod:`.journal`, in a worker
   thread, one commit at a time for the exchange), then ``apply``;
5. ended episodes are reset, and the round's results wait for the next ``Round``
   message (or for a last one that opens no round, when the loop pauses or ends): every
   slot's award, each identity's members' outcomes and balances, the new checkpoint.
   Results go out only once the round is on the ledger.

A refusal raises the :mod:`catallax.node.errors` class that the servicer maps to a
status; nothing refused reaches the market or the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from catallax.exchange.crypto import Ed25519PrivateKey, public_key_bytes
from catallax.exchange.deep import EVALUATION_CAP, DeepMarket, ScaleTracker
from catallax.exchange.ledger import Ledger, LedgerUnavailable
from catallax.exchange.money import UNITS_PER_CREDIT, to_units
from catallax.exchange.protocols import Outcomes
from catallax.node.env.client import EnvironmentClient, ca_credentials
from catallax.node.errors import (
    BudgetExhausted,
    TaskPaused,
    WireError,
)
from catallax.node.exchange.admissions import Admitting
from catallax.node.exchange.bidding import Bidding, Hosting, Session
from catallax.node.exchange.config import TaskConfig
from catallax.node.exchange.episodes import EpisodeLog, read_episodes
from catallax.node.exchange.journal import LedgerMismatch, TaskJournal
from catallax.node.exchange.progress import ProgressBook
from catallax.node.exchange.remote import Identity, RemoteMembers
from catallax.node.exchange.restore import TaskHistory, special_accounts
from catallax.node.wire import (
    Envelope,
    SequenceBook,
    Sequencer,
    as_evidence,
    now_ms,
    seal,
)
from catallax.node.wire.convert import (
    checkpoint_to_proto,
    outcomes_to_proto,
    space_to_proto,
    tensor_to_proto,
)
from catallax.v1 import common_pb2, exchange_pb2

__all__ = ["DeepTask", "ExchangeContext", "LedgerMismatch"]

log = logging.getLogger("catallax.node.exchange")

#: Training episodes whose returns make the mean a task reports.
RECENT_EPISODES = 100
#: Rounds whose wall times a task reports (``TaskInfo.recent_round_ms``).
RECENT_ROUNDS = 1024


@dataclass
class ExchangeContext:
    """What every task of one exchange shares: its name, key, ledger and sequence book."""

    origin: str
    key: Ed25519PrivateKey
    ledger: Ledger
    book: SequenceBook
    sequencer: Sequencer = field(init=False)
    #: One commit at a time: the tasks share the ledger (commits run in worker threads).
    ledger_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Where finished episodes are recorded beside the ledger (none: not recorded).
    episodes: EpisodeLog | None = None
    #: How far each task has trained, beside the ledger (none: a restart starts over).
    progress: ProgressBook | None = None
    #: Set when the ledger is lost (:class:`LedgerUnavailable`): this ledger object can
    #: no longer be used, and the node restarts its tasks from a reopened one.
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    #: Why the ledger was lost (the first failure's message).
    why_lost: str = ""

    def __post_init__(self) -> None:
        self.public_key = public_key_bytes(self.key)
        self.sequencer = Sequencer(self.public_key)

    def note_failure(self, exc: BaseException) -> None:
        """If ``exc`` says the ledger is lost, say so to the node (once)."""
        if isinstance(exc, LedgerUnavailable) and not self.lost.is_set():
            self.why_lost = str(exc)
            self.lost.set()

    def seal(self, body) -> Envelope:
        """``body`` stamped with the exchange's next sequence number and signed."""
        return seal(self.key, type(body), self.sequencer.stamp(body))


class DeepTask(Admitting, Hosting):
    """A deep-market task served to remote traders (see the module docstring)."""

    def __init__(
        self,
        cfg: TaskConfig,
        ctx: ExchangeContext,
        env_key: bytes,
        history: TaskHistory,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.ctx = ctx
        self.env = EnvironmentClient(
            cfg.env,
            ctx.key,
            env_key,
            timeout=cfg.env_timeout_ms / 1000,
            credentials=ca_credentials(cfg.env_ca),
        )
        self.history = history
        self.rules_json = cfg.rules_json()
        self.rules = hashlib.sha256(self.rules_json.encode()).digest()
        self.issuer_id, self.treasury_id = special_accounts(self.name)
        self.remote = RemoteMembers(self.name)
        self.journal = TaskJournal(
            self.name, ctx.ledger, ctx.public_key, self.remote, ctx.ledger_lock
        )
        self.sessions: dict[bytes, Session] = {}
        self.state = "starting"
        self.round = history.last_round + 1
        self.rounds = 0
        self.episodes = 0
        self.recent: deque[float] = deque(maxlen=RECENT_EPISODES)
        self.returns: list[float] = []
        self.greedy_returns: list[float] = []
        #: The greedy returns of an evaluation finished before a restart (None: none).
        self._evaluated: list[float] | None = None
        #: The task's value level in credits (:mod:`catallax.exchange.deep.scale`): what
        #: its finished training episodes have shown they can pay, told to the traders.
        self.value_level = 1.0
        self._tracker: ScaleTracker | None = None
        self.market: DeepMarket | None = None
        self.slots = 0
        self.n_actions = 0
        self.observation_space: gym.Space | None = None
        self.action_space: gym.Space | None = None
        self.allowance_given = history.allowances
        self.removed = 0  # members removed at the floor, and born, since this start
        self.born = 0
        #: Registrations waiting for the round loop: (key, members, the reply's future).
        self._pending: list[tuple[bytes, int, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self.bidding = Bidding(self.name, ctx.origin, ctx.book)
        self._stopping = False
        self._running: asyncio.Task | None = None
        self.on_round: list[Callable[[DeepTask], None]] = []
        #: Called with the task after each change of :attr:`state` (health, logs).
        self.on_state: list[Callable[[DeepTask], None]] = []
        self.round_seconds: deque[float] = deque(maxlen=10_000)
        self._running_return = np.zeros(0)
        self._eval_quota = 0
        self._eval_done = np.zeros(0, dtype=np.int64)
        self._eval_steps = np.zeros(0, dtype=np.int64)
        #: Steps after which a greedy evaluation episode is cut: the environment's own
        #: limit, else ``EVALUATION_CAP`` (as in process: a greedy policy may loop).
        self.eval_cap = EVALUATION_CAP
        #: Evaluation episodes the cap cut (their returns are reported as they stood).
        self.eval_capped = 0
        self._evaluated_capped = 0
        #: The last settled round's results, until a ``Round`` message carries them.
        self._settled: exchange_pb2.Settled | None = None
        self._restore_progress()

    # -- set-up -----------------------------------------------------------------------

    def _restore_progress(self) -> None:
        """Go on from the progress record of this task's ledger (:mod:`.progress`): the
        rounds and episodes trained, the returns of the episodes the log has, and a
        finished evaluation's returns."""
        book = self.ctx.progress
        if book is None:
            return
        got = book.restore(self.name, self.rules.hex(), self.ctx.ledger)
        self.rounds, self.episodes, self._evaluated = got.rounds, got.episodes, got.evaluated
        self.value_level = max(1.0, float(got.value_level))
        self._evaluated_capped = int(got.eval_capped)
        if self.ctx.episodes is not None and got.episodes:
            mine = [
                float(e["return"])
                for e in read_episodes(self.ctx.episodes.path.parent)
                if e["task"] == self.name and e["round"] < self.round
            ][-got.episodes :]
            self.returns = mine
            self.recent.extend(mine)

    def _note_progress(self, *, now: bool = False) -> None:
        """Record how far the task has trained (after a commit, or a change of state)."""
        book = self.ctx.progress
        if book is None:
            return
        evaluated = list(self.greedy_returns) if self.state == "done" else None
        size, root = self.journal.committed
        book.note(self.name, size, root, now=now, rounds=self.rounds, episodes=self.episodes,
                  evaluated=evaluated, value_level=self.value_level,
                  eval_capped=self.eval_capped)  # fmt: skip

    @property
    def allowance_units(self) -> int:
        """Units each new member gets: the per-slot allowance times the slots."""
        return int(to_units(self.cfg.allowance * max(self.slots, 1)))

    @property
    def budget_left(self) -> int:
        return max(0, int(to_units(self.cfg.allowance_budget)) - self.allowance_given)

    async def _connect(self) -> None:
        """Read the environment node's spec and build (or check) the market."""
        spec = await self.env.spec()
        space = spec.action_space
        if not isinstance(space, gym.spaces.Discrete) or int(space.start) != 0:
            raise TaskPaused(
                f"environment {spec.env_id} has {space}; a deep market needs Discrete(n) actions"
            )
        self.eval_cap = spec.max_episode_steps or EVALUATION_CAP
        if self.market is None:
            self.slots, self.n_actions = spec.slots, int(space.n)
            self.observation_space, self.action_space = spec.observation_space, space
            self._build_market()
        elif spec.slots != self.slots or int(space.n) != self.n_actions:
            raise TaskPaused(
                f"the environment node now serves {spec.slots} slots of {space}, not "
                f"{self.slots} of Discrete({self.n_actions})"
            )

    def _build_market(self) -> None:
        cfg = self.cfg
        e = self.slots
        self.market = DeepMarket(
            [self.remote],
            n_actions=self.n_actions,
            n_envs=e,
            auction=cfg.auction,
            allowance=self.allowance_units / UNITS_PER_CREDIT,
            rent=cfg.rent,
            discount=cfg.discount,
            floor=cfg.floor * e,
            royalty=cfg.royalty,
            seed=cfg.seed,
            journal=None,  # the task commits each value itself, off the loop
        )
        ledger = self.ctx.ledger
        ids, members, balances = [], [], []
        for key, count in self.history.identities:
            ident = self.remote.add(key, count)
            for account, number in zip(ident.accounts, ident.numbers, strict=True):
                ids.append(account)
                members.append(number)
                balances.append(ledger.balance(account))
        issuer = ledger.balance(self.issuer_id) if self.history.opened else 0
        treasury = ledger.balance(self.treasury_id) if self.history.opened else 0
        self.market.restore(
            ids, np.zeros(len(ids), np.int64), np.asarray(members, np.int64),
            np.asarray(balances, np.int64), issuer=issuer, treasury=treasury,
        )  # fmt: skip
        self.journal.new_episodes(e)

    async def _reset(self, slots: list[int], first: bool = False) -> np.ndarray:
        seeds = None
        if first:
            seq = np.random.SeedSequence(self.cfg.seed).spawn(len(slots))
            seeds = [int(s.generate_state(1)[0]) for s in seq]
        obs, _ = await self.env.reset(slots, seeds)
        return obs

    # -- registration -----------------------------------------------------------------

    def identity(self, public_key: bytes) -> Identity | None:
        return self.remote.identities.get(bytes(public_key))

    def _accepting(self) -> bool:
        return self.market is not None

    async def _admit(self, public_key: bytes, members: int) -> Identity:
        known = self.identity(public_key)
        if known is not None:
            return known
        if members * self.allowance_units > self.budget_left:
            raise BudgetExhausted(f"task {self.name}: the allowance budget is spent")
        ident = self.remote.add(public_key, members, publish=False)
        try:
            await self._endow(ident.numbers, ident.accounts, self.round)
        except BaseException:
            self.remote.drop_last(ident)
            raise
        self.remote.publish(ident)  # known by key (Hello, bids) once it is on the ledger
        log.info("task=%s event=registered identity=%s members=%d", self.name, ident.name, members)
        return ident

    async def _endow(self, numbers: list[int], accounts: list[str], round_: int) -> None:
        """Admit market members ``numbers`` with their ``accounts`` and the allowance from
        the budget: committed to the ledger (labelled ``round_``), then applied."""
        market = self.market
        assert market is not None
        value = market.admission(0, numbers, accounts)
        await self.journal.commit(market, value, round_)
        market.apply(value)
        self.allowance_given += len(accounts) * self.allowance_units

    async def _births(self, rows: np.ndarray, round_: int) -> None:
        """Replace each member removed at the floor (``rows``) by a new member of the same
        identity, endowed with the allowance from the task's budget while it lasts, as
        ``train`` does in process: an identity's population keeps its size. Each new
        member's account is the identity's next; the trader hears of it in the round's
        statement of the next ``Round`` (``born``) and grows its population to match."""
        market = self.market
        assert market is not None
        owners: dict[bytes, int] = {}
        for row in np.asarray(rows).tolist():
            ident = self.remote.owner_of(int(market.accounts.member[row]))
            owners[ident.public_key] = owners.get(ident.public_key, 0) + 1
        for key, count in owners.items():
            ident = self.remote.identities[key]
            count = min(count, self.budget_left // max(self.allowance_units, 1))
            if count <= 0:
                log.info("task=%s event=no_birth identity=%s why=budget", self.name, ident.name)
                continue
            numbers, accounts = self.remote.extend(ident, count)
            try:
                await self._endow(numbers, accounts, round_)
            except BaseException:
                self.remote.drop_newest(ident, count)
                raise
            ident.born.extend(range(ident.members - count, ident.members))
            self.born += count
            log.info("task=%s event=born identity=%s members=%d", self.name, ident.name, count)

    # -- sessions and bids ------------------------------------------------------------

    def offer(self, session: Session, envelope: Envelope, body: exchange_pb2.Bids) -> bool:
        """Take a signed, verified ``Bids`` of ``session``'s identity for the open round
        (:meth:`.Bidding.offer`); False for a late one."""
        return self.bidding.offer(
            session.identity, envelope, body, current=self.round, rules=self.rules,
            slots=self.slots, n_actions=self.n_actions,
        )  # fmt: skip

    # -- the round loop -----------------------------------------------------------------

    async def run(self) -> None:
        """Serve rounds until :meth:`stop`; pauses (and says why) while the environment
        node cannot be reached, and resumes by itself."""
        backoff = 0.2
        obs = None
        while not self._stopping:
            try:
                await self._admit_pending()  # needs only the ledger: also while paused
                if obs is None:
                    await self._connect()
                    obs = await self._reset(list(range(self.slots)), first=self.rounds == 0)
                    # Episodes under way were lost with the pause: nobody owns a slot
                    # and their royalty chains are dropped, as after a restart.
                    assert self.market is not None
                    self.market.new_episodes()
                    self.journal.new_episodes(self.slots)
                    self._tracker = ScaleTracker(self.slots, self.cfg.discount)
                    self._tracker.level = self.value_level
                    self._running_return = np.zeros(self.slots)
                    if self._done_training() and self._evaluated is not None:
                        # done before a restart: its evaluation stands
                        self.greedy_returns = list(self._evaluated)
                        self.eval_capped = self._evaluated_capped
                        self._set_state("done")
                    elif self._done_training():
                        self._start_evaluation()
                    else:
                        self._evaluated = None  # training goes on: evaluate again after
                        self._set_state("training")
                    backoff = 0.2
                await self._admit_pending()
                if self.state == "done" or not self._ready():
                    self._flush_results()
                    if self.state not in ("done",):
                        self._set_state("waiting")
                    self._wake.clear()
                    await self._wake.wait()
                    if self.state == "waiting":
                        self._set_state("evaluating" if self._eval_quota else "training")
                    continue
                obs = await self._one_round(obs)
            except WireError as exc:
                obs = None
                self._set_state(f"paused: environment node {self.cfg.env}: {exc}")
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception as exc:  # nothing was applied; begin new episodes after a pause
                log.exception("task=%s event=round_failed round=%d", self.name, self.round)
                self.ctx.note_failure(exc)
                obs = None
                self._set_state(f"paused: {type(exc).__name__}: {exc}")
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _done_training(self) -> bool:
        cfg = self.cfg
        return (cfg.episodes > 0 and self.episodes >= cfg.episodes) or (
            cfg.rounds > 0 and self.rounds >= cfg.rounds
        )

    def _set_state(self, state: str) -> None:
        if state != self.state:
            level = logging.WARNING if state.startswith("paused") else logging.INFO
            log.log(level, "task=%s event=state state=%r round=%d", self.name, state, self.round)
            self.state = state
            self._note_progress(now=True)
            for hook in self.on_state:
                hook(self)

    @property
    def healthy(self) -> bool:
        """Whether the task serves rounds (or has served them all): not while it is
        starting or paused."""
        return not (self.state == "starting" or self.state.startswith("paused"))

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def stopping(self) -> None:
        """Ask the loop to end after the round under way (which it finishes whole)."""
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

    async def _one_round(self, obs: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        greedy = self.state == "evaluating"
        sessions = self.live_sessions()
        r = self.round
        deadline = now_ms() + self.cfg.bid_deadline_ms
        message = exchange_pb2.Round(
            exchange=self.ctx.origin, task=self.name, open=True, round=r,
            slots=range(self.slots), obs=tensor_to_proto(np.asarray(obs)),
            deadline_ms=deadline, greedy=greedy,
        )  # fmt: skip
        open_ = self.bidding.open_round(r, {s.identity.public_key for s in sessions})
        self._broadcast(message, sessions)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(open_.done.wait(), self.cfg.bid_deadline_ms / 1000)
        offers = self.bidding.close_round()
        market = self.market
        assert market is not None
        bids = np.full((market.size, self.slots), np.nan)
        actions = np.zeros((market.size, self.slots), dtype=np.int64)
        self.journal.bids = {}
        deepest = -to_units(self.cfg.asks_to)
        for o in offers:
            ident = self.remote.identities[o.key]
            rows = [market.accounts.index[ident.accounts[m]] for m in o.members.tolist()]
            amounts = o.amounts / UNITS_PER_CREDIT
            amounts[o.amounts < deepest] = np.nan  # an ask beyond the task's limit: no bid
            bids[rows, o.slots] = amounts
            actions[rows, o.slots] = o.actions
            self.journal.bids[o.key] = as_evidence(o.envelope)
        decision = market.decide(obs, bids, actions)
        slots = list(range(self.slots))
        if greedy:  # slots that played their share of the evaluation rest
            slots = [e for e in slots if self._eval_done[e] < self._eval_quota]
        step = await self.env.step(slots, decision.actions[slots])
        next_obs, rewards, terminated, truncated, _ = step
        if greedy:
            return await self._greedy_step(obs, slots, next_obs, rewards, terminated | truncated)
        ended = terminated | truncated
        self._running_return += rewards
        value = market.settlement(decision, rewards, terminated, truncated, next_obs)
        if self._tracker is not None:  # (a failed commit begins new episodes and a tracker)
            self._tracker.observe(rewards, ended)
            self.value_level = self._tracker.level
        done = np.flatnonzero(ended).tolist()
        cfg = self.cfg
        finishing = (cfg.episodes > 0 and self.episodes + len(done) >= cfg.episodes) or (
            cfg.rounds > 0 and self.rounds + 1 >= cfg.rounds
        )
        # The ended slots' new episodes begin on the environment node while the round
        # commits (nothing of the market waits on them; a failed commit pauses the task,
        # which begins new episodes everywhere anyway).
        fresh = None if finishing or not done else asyncio.ensure_future(self._reset(done))
        try:
            next_obs = await self._committed(market, value, decision, r, done, fresh, next_obs)
        except BaseException:
            if fresh is not None and not fresh.done():
                fresh.cancel()
                with contextlib.suppress(BaseException):
                    await fresh
            raise
        self.round_seconds.append(time.perf_counter() - started)
        for hook in self.on_round:
            hook(self)
        return next_obs

    async def _committed(
        self, market, value, decision, r: int, done: list[int], fresh, next_obs
    ) -> np.ndarray:
        """The rest of a training round: commit, apply, account for ended episodes and
        births, the next observations (``fresh``: the ended slots' resets under way)."""
        await self.journal.commit(market, value, self.round)  # the ledger first, then
        market.apply(value)  # the market
        self.journal.bought(market, decision.winner, done)
        if self.ctx.episodes is not None:
            self.ctx.episodes.add(self.name, r, [(e, self._running_return[e]) for e in done])
        for e in done:
            self.returns.append(float(self._running_return[e]))
            self.recent.append(float(self._running_return[e]))
            self._running_return[e] = 0.0
        self.episodes += len(done)
        self.rounds += 1
        self.round += 1
        self._note_progress()
        self.removed += len(value.deaths)
        if len(value.deaths) and self.cfg.births:  # the round is whole: now the newborn
            await self._births(value.deaths, self.round - 1)
        if self._done_training():
            self._start_evaluation()
            if self.cfg.eval_episodes:
                next_obs = await self._reset(list(range(self.slots)))
        elif fresh is not None:
            next_obs = np.array(next_obs, copy=True)
            next_obs[done] = await fresh
        self._settled = self._results(decision)
        return next_obs

    def _start_evaluation(self) -> None:
        """Training is over: play ``eval_episodes`` greedy episodes (each slot its share,
        every episode started is played to its end and reported), then be done."""
        self._eval_quota = -(-self.cfg.eval_episodes // max(self.slots, 1))
        self._eval_done = np.zeros(self.slots, dtype=np.int64)
        self._eval_steps = np.zeros(self.slots, dtype=np.int64)
        self.eval_capped = 0
        self._running_return[:] = 0.0
        self._set_state("evaluating" if self.cfg.eval_episodes else "done")

    async def _greedy_step(self, obs, slots, next_obs, rewards, ended) -> np.ndarray:
        """An evaluation round: no money moved; each slot plays its quota of episodes,
        every one of them to its end or to :attr:`eval_cap` steps, and only those are
        reported (a cut one with its return so far; :attr:`eval_capped` counts them)."""
        self.round += 1
        obs = np.array(obs, copy=True)
        obs[slots] = next_obs
        self._running_return[slots] += rewards
        self._eval_steps[slots] += 1
        cut = ~ended & (self._eval_steps[slots] >= self.eval_cap)
        self.eval_capped += int(cut.sum())
        restart = []
        for i in np.flatnonzero(ended | cut).tolist():
            e = slots[i]
            self._eval_steps[e] = 0
            self.greedy_returns.append(float(self._running_return[e]))
            self._eval_done[e] += 1
            self._running_return[e] = 0.0
            if self._eval_done[e] < self._eval_quota:
                restart.append(e)
        if restart:
            obs[restart] = await self._reset(restart)
        if (self._eval_done >= self._eval_quota).all():
            self._set_state("done")
        for hook in self.on_round:
            hook(self)
        return obs

    # -- results --------------------------------------------------------------------------

    def _results(self, decision) -> exchange_pb2.Settled:
        """The round just committed: every slot's award and the checkpoint covering it
        (the statements are added when it is sent)."""
        market = self.market
        assert market is not None
        settled = exchange_pb2.Settled(
            round=self.round - 1, checkpoint=checkpoint_to_proto(self.ctx.ledger.checkpoint),
            value_level=int(to_units(self.value_level)),
        )  # fmt: skip
        prices = to_units(np.asarray(decision.price, dtype=np.float64))
        for e in range(self.slots):
            w = int(decision.winner[e])
            settled.awards.add(
                slot=e,
                account=market.accounts.ids[w] if w >= 0 else "",
                price=int(prices[e]) if w >= 0 else 0,
                action=common_pb2.Value(discrete=int(decision.actions[e])),
            )
        return settled

    def _broadcast(self, message: exchange_pb2.Round, sessions: list[Session]) -> None:
        """Sign ``message`` once, with the results waiting (if any) and a statement for
        each identity in ``sessions``, and send it to each of them."""
        settled, self._settled = self._settled, None
        if settled is not None:
            market = self.market
            assert market is not None
            balances = market.accounts.balance
            index = market.accounts.index
            for session in sessions:
                ident = session.identity
                outcomes, retired, born = ident.take_mail()
                statement = settled.statements.add(
                    identity=ident.public_key, retired=retired, born=born
                )
                statement.balances.extend(balances[[index[a] for a in ident.accounts]].tolist())
                if outcomes:
                    statement.outcomes.CopyFrom(outcomes_to_proto(_concat(outcomes)))
            message.settled.CopyFrom(settled)
            listening = {s.identity.public_key for s in sessions}
            for ident in self.remote.identities.values():
                if ident.public_key not in listening:
                    ident.take_mail()  # an absent trader misses what it would have learned
        envelope = self.ctx.seal(message)
        for session in sessions:
            session.send(envelope)

    def _flush_results(self) -> None:
        """Send the results waiting in a ``Round`` that opens no round (the loop waits,
        pauses or ends before the next round)."""
        if self._settled is not None:
            sessions = self.live_sessions()
            self._broadcast(exchange_pb2.Round(exchange=self.ctx.origin, task=self.name), sessions)

    # -- what ListTasks reports ---------------------------------------------------------

    def info(self) -> exchange_pb2.TaskInfo:
        msg = exchange_pb2.TaskInfo(
            name=self.name, market="deep", auction=self.cfg.auction, slots=self.slots,
            allowance=self.allowance_units if self.slots else 0,
            bid_deadline_ms=self.cfg.bid_deadline_ms, env_id=self.cfg.env,
            rules_json=self.rules_json, rules=self.rules, max_members=self.cfg.max_members,
            allowance_left=self.budget_left, state=self.state, rounds=self.rounds,
            episodes=self.episodes, sessions=len(self.sessions),
            identities=len(self.remote.identities), removed=self.removed, born=self.born,
            value_level=int(to_units(self.value_level)), eval_cap=self.eval_cap,
            eval_capped=self.eval_capped,
        )  # fmt: skip
        if self.recent:
            msg.mean_return = float(np.mean(self.recent))
        if self.observation_space is not None:
            msg.observation_space.CopyFrom(space_to_proto(self.observation_space))
            msg.action_space.CopyFrom(space_to_proto(self.action_space))
        if self.state == "done":
            msg.greedy_returns.extend(self.greedy_returns)
        recent = list(self.round_seconds)[-RECENT_ROUNDS:]
        msg.recent_round_ms.extend(1000.0 * t for t in recent)
        return msg


def _concat(parts: list[Outcomes]) -> Outcomes:
    if len(parts) == 1:
        return parts[0]
    provisional = None
    if any(p.provisional is not None for p in parts):
        provisional = np.concatenate(
            [p.provisional if p.provisional is not None else np.zeros(len(p), bool) for p in parts]
        )
    return Outcomes(
        members=np.concatenate([p.members for p in parts]),
        obs=np.concatenate([np.asarray(p.obs) for p in parts]),
        actions=np.concatenate([np.asarray(p.actions) for p in parts]),
        price=np.concatenate([p.price for p in parts]),
        reward=np.concatenate([p.reward for p in parts]),
        receipt=np.concatenate([p.receipt for p in parts]),
        ended=np.concatenate([p.ended for p in parts]),
        provisional=provisional,
    )
