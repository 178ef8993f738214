"""A remote trader's session with one task of one exchange: dial out, register, trade.

:class:`TraderSession` runs any population of the trader SDK (or a lone ``Trader``)
against a task served by an exchange node. It needs no open port: it dials out, reads
the task's spaces and rules (``ListTasks``), registers its identity (the key's
members, once; a re-registration grants nothing), opens a ``Trade`` stream with a
signed ``Hello``, and then, for every ``Round`` the exchange sends, first teaches its
population from the results it carries (its own statement: outcomes, balances, members
retired or born; and the task's value level, which a population with
``raise_optimism`` fits its optimism to, as in process) and then, if it opens a
round, answers with one signed ``Bids``
(every member's bid and action in every slot: bids NaN or infinite are "no bid" and
are not sent; a negative bid is an ask, to be paid for taking a state worth less than
nothing; bids are rounded to units and positive ones held to the member's balance).
Every message from the exchange must be signed by the exchange's key (pinned with
``exchange_key``, else the key the first ``ListTasks`` names) and carry a sequence
number above the last one.

When the connection fails it reconnects with capped, jittered exponential backoff and
registers again (which returns its accounts); the population, and what it learned,
stay. A refusal that trying again cannot cure (unknown task, spent budget, refused
signature, a bid the exchange calls malformed) ends the session with
:class:`SessionFailed`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np

from catallax.exchange.crypto import Ed25519PrivateKey, key_fingerprint, public_key_bytes
from catallax.exchange.money import UNITS_PER_CREDIT
from catallax.exchange.protocols import Bidders, Enumerable, Learner, Mortal
from catallax.node.errors import NodeError, Unanswered, WireError
from catallax.node.serving import channel_options
from catallax.node.wire import MemoryBook, Sequencer, open_envelope, seal
from catallax.node.wire.convert import (
    outcomes_from_proto,
    space_from_proto,
    tensor_from_proto,
)
from catallax.node.wire.mandate import member_account
from catallax.v1 import common_pb2, exchange_pb2, exchange_pb2_grpc

__all__ = ["FATAL", "Reconnecting", "SessionFailed", "SessionStats", "TraderSession"]

log = logging.getLogger("catallax.node.trader")

#: Statuses after which reconnecting cannot help.
FATAL = frozenset(
    {
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


class SessionFailed(NodeError):
    """A session ended by a refusal that reconnecting cannot cure (``.code``: its status)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SessionStats:
    """What a session did: rounds bid in, results learned from, reconnections."""

    requests: int = 0
    bids_sent: int = 0
    results: int = 0
    connects: int = 0
    balances: list[int] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    last_round: int = -1
    #: The task's value level last told to the population, credits (0: none yet).
    value_level: float = 0.0


class Reconnecting:
    """The session loop shared by deep and wide sessions: :meth:`run` calls the
    subclass's ``_connect_and_trade`` until :meth:`stop`, reconnecting after failures
    with capped, jittered exponential backoff; a status in :attr:`fatal` (one that
    reconnecting cannot cure) ends it with :class:`SessionFailed`. The subclass sets
    ``address``, ``task``, ``key``, ``sequencer``, ``exchange_key``, ``credentials``,
    ``max_backoff``, ``connected``, ``_book``, ``_stopping`` and ``_call``."""

    #: Statuses after which reconnecting cannot help.
    fatal: frozenset[grpc.StatusCode] = FATAL
    address: str
    task: str
    credentials: grpc.ChannelCredentials | None
    max_backoff: float
    connected: asyncio.Event
    _book: MemoryBook
    _stopping: bool
    _call: Any

    async def _connect_and_trade(self) -> None:
        raise NotImplementedError

    def _seal(self, body) -> common_pb2.Envelope:
        """``body`` stamped with the identity's next sequence number and signed."""
        return seal(self.key, type(body), self.sequencer.stamp(body))

    def _open(self, envelope: common_pb2.Envelope, name: str):
        """The body of a message from the exchange: its key, signature and sequence
        checked."""
        if bytes(envelope.public_key) != self.exchange_key:
            raise Unanswered(f"a {envelope.message} not signed by the exchange's key")
        body = open_envelope(envelope, name)
        self._book.accept(envelope.public_key, body, self.task)
        return body

    def _channel(self) -> grpc.aio.Channel:
        """A channel to the exchange (TLS when the session has credentials)."""
        if self.credentials is None:
            return grpc.aio.insecure_channel(self.address, options=channel_options())
        return grpc.aio.secure_channel(self.address, self.credentials, options=channel_options())

    async def run(self) -> None:
        """Trade until :meth:`stop`, reconnecting after failures; raises
        :class:`SessionFailed` on a refusal that reconnecting cannot cure."""
        backoff = 0.1
        while not self._stopping:
            try:
                await self._connect_and_trade()
                backoff = 0.1
            except SessionFailed:
                raise
            except asyncio.CancelledError:
                if not self._stopping:  # cancelled from outside: not ours to swallow
                    raise
                break  # stop() cancelled the stream: the session ends normally
            except grpc.aio.AioRpcError as exc:
                if self._stopping:
                    break
                if exc.code() in self.fatal:
                    raise SessionFailed(
                        f"{self.address}/{self.task}: {exc.code().name}: {exc.details()}",
                        exc.code(),
                    ) from None
                log.info(
                    "event=disconnected exchange=%s task=%s status=%s retry_s=%.2f",
                    self.address, self.task, exc.code().name, backoff,
                )  # fmt: skip
            except (WireError, OSError) as exc:
                if self._stopping:
                    break
                log.warning(
                    "event=disconnected exchange=%s task=%s error=%r retry_s=%.2f",
                    self.address, self.task, str(exc), backoff,
                )  # fmt: skip
            self.connected.clear()
            if self._stopping:
                break
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, self.max_backoff)
        self._book.close()

    def stop(self) -> None:
        """End the session (the stream is cancelled)."""
        self._stopping = True
        if self._call is not None:
            self._call.cancel()


class TraderSession(Reconnecting):
    """One identity trading on one task of one exchange.

    Args:
        address: the exchange's ``HOST:PORT``.
        task: the task's name.
        key: the identity's signing key.
        make_population: builds the population from ``(observation_space, action_space)``
            (called once, at the first connection).
        sequencer: the identity's sequence numbers (share one per key across sessions).
        exchange_key: the exchange's raw public key, pinned; ``None`` trusts the key the
            first ``ListTasks`` reply names, and only that key afterwards.
        credentials: TLS channel credentials (plain TCP when ``None``).
        timeout: the deadline of each unary call, seconds.
        max_backoff: the longest pause between reconnections, seconds.
    """

    def __init__(
        self,
        address: str,
        task: str,
        key: Ed25519PrivateKey,
        make_population: Callable[[Any, Any], Bidders],
        *,
        sequencer: Sequencer | None = None,
        exchange_key: bytes | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 10.0,
        max_backoff: float = 5.0,
        family: str = "",
    ) -> None:
        self.address = address
        self.task = task
        self.key = key
        self.public_key = public_key_bytes(key)
        self.make_population = make_population
        self.sequencer = sequencer or Sequencer(self.public_key)
        self.exchange_key = exchange_key
        self.credentials = credentials
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.family = family
        self.population: Bidders | None = None
        self.stats = SessionStats()
        self.origin = ""
        self.rules = b""
        self._book = MemoryBook()
        self._stopping = False
        self._call: Any = None
        self._learns = False
        self.connected = asyncio.Event()

    def __repr__(self) -> str:
        return f"TraderSession({self.address}/{self.task}, {key_fingerprint(self.public_key)})"

    # -- the loop -----------------------------------------------------------------------

    async def _connect_and_trade(self) -> None:
        async with self._channel() as channel:
            stub = exchange_pb2_grpc.ExchangeStub(channel)
            info = await self._task_info(stub)
            if self.population is None:
                obs_space = space_from_proto(info.observation_space)
                act_space = space_from_proto(info.action_space)
                self.population = self.make_population(obs_space, act_space)
                self._learns = isinstance(self.population, Learner)  # protocol checks are slow
            await self._register(stub)
            self.stats.connects += 1
            await self._trade(stub)

    async def _task_info(self, stub) -> exchange_pb2.TaskInfo:
        reply = await stub.ListTasks(exchange_pb2.ListTasksRequest(), timeout=self.timeout)
        key = bytes(reply.public_key)
        if self.exchange_key is None:
            self.exchange_key = key
        elif key != self.exchange_key:
            raise SessionFailed(
                f"{self.address}: the exchange's key is {key_fingerprint(key)}, not the "
                f"pinned {key_fingerprint(self.exchange_key)}"
            )
        self.origin = reply.exchange
        for t in reply.tasks:
            if t.name == self.task:
                if not t.HasField("action_space"):
                    raise WireError(f"task {self.task} is {t.state}; its spaces are not known yet")
                self.rules = bytes(t.rules)
                return t
        names = ", ".join(t.name for t in reply.tasks)
        raise SessionFailed(
            f"{self.address}: no task {self.task!r} (tasks: {names})", grpc.StatusCode.NOT_FOUND
        )

    async def _register(self, stub) -> None:
        pop = self.population
        assert pop is not None
        registration = exchange_pb2.Registration(
            exchange=self.origin, task=self.task, members=int(pop.size), family=self.family
        )
        reply = await stub.Register(self._seal(registration), timeout=self.timeout)
        body = self._open(reply, "Registered")
        if len(body.accounts) > pop.size:  # members born on the task while we were away
            self._grow(len(body.accounts) - pop.size)
        if len(body.accounts) < pop.size:
            raise SessionFailed(
                f"{self.task}: this key registered {len(body.accounts)} members before; the "
                f"population has {pop.size} (use another key or the same population size)"
            )
        self.stats.accounts = list(body.accounts)
        self.stats.balances = list(body.balances)
        log.info(
            "event=registered exchange=%s task=%s identity=%s members=%d",
            self.address, self.task, key_fingerprint(self.public_key), pop.size,
        )  # fmt: skip

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
                if envelope.message != "Round":
                    raise Unanswered(f"an unexpected {envelope.message!r} on the stream")
                message = self._open(envelope, "Round")
                if message.HasField("settled"):
                    self._learn(message.settled)
                if message.open:
                    await call.write(self._seal(self._bids(message)))
                    self.stats.bids_sent += 1
        finally:
            self._call = None
            call.cancel()

    # -- bids and results ---------------------------------------------------------------

    def _bids(self, request: exchange_pb2.Round) -> exchange_pb2.Bids:
        """Every member's bid and action in every requested slot, as one signed body."""
        pop = self.population
        assert pop is not None
        self.stats.requests += 1
        obs = tensor_from_proto(request.obs)
        slots = np.asarray(request.slots, dtype=np.int64)
        explore = getattr(pop, "set_exploring", None)
        if request.greedy and explore is not None:
            explore(False)
        try:
            raw = np.asarray(pop.bids(obs), dtype=np.float64)
            m, e = raw.shape
            members = np.repeat(np.arange(m), e)
            cols = np.tile(np.arange(e), m)
            ok = np.isfinite(raw.ravel())
            members, cols = members[ok], cols[ok]
            acts = np.asarray(pop.actions(obs[cols], members), dtype=np.int64) if len(cols) else []
        finally:
            if request.greedy and explore is not None:
                explore(True)
        units = np.rint(raw.ravel()[ok] * UNITS_PER_CREDIT)
        held = np.asarray(self.stats.balances or [0] * m, dtype=np.float64)
        units = np.minimum(units, held[members]).astype(np.int64)
        body = exchange_pb2.Bids(
            exchange=self.origin, task=self.task, round=request.round, rules=self.rules
        )
        for member, col, amount, action in zip(
            members.tolist(), cols.tolist(), units.tolist(), list(acts), strict=True
        ):
            body.bids.add(
                member=member,
                slot=int(slots[col]),
                amount=amount,
                action=common_pb2.Value(discrete=int(action)),
            )
        return body

    def _learn(self, settled: exchange_pb2.Settled) -> None:
        """Teach the population from this identity's statement of a settled round (a
        round settled before this session opened may have none)."""
        self._raise_optimism(settled.value_level / UNITS_PER_CREDIT)
        mine = next((s for s in settled.statements if s.identity == self.public_key), None)
        if mine is None:
            return
        pop = self.population
        self.stats.results += 1
        self.stats.last_round = int(settled.round)
        self.stats.balances = list(mine.balances)
        if mine.born:
            self.stats.accounts.extend(
                member_account(self.task, self.public_key, k)
                for k in range(len(self.stats.accounts), len(mine.balances))
            )
        if mine.HasField("outcomes") and self._learns:
            pop.learn(outcomes_from_proto(mine.outcomes))
        if mine.retired and isinstance(pop, Mortal):
            pop.retire(np.asarray(mine.retired, dtype=np.int64))
        if mine.born:
            self._grow(len(mine.born))

    def _raise_optimism(self, level: float) -> None:
        """The task's value level grew: tell a population that wants it
        (``raise_optimism(level)``, as adaptive bidders do), as the in-process training
        loop does, so its optimism fits what the task has shown it can pay."""
        if not level > self.stats.value_level:
            return
        self.stats.value_level = level
        raiser = getattr(self.population, "raise_optimism", None)
        if raiser is not None:
            raiser(level)
            log.info("event=optimism exchange=%s task=%s level=%g", self.address, self.task, level)

    def _grow(self, count: int) -> None:
        """The exchange admitted ``count`` new members of this identity (births replacing
        bankrupt ones): the population grows to match, so that member numbers agree. A
        population that cannot grow leaves them idle (they never bid)."""
        pop = self.population
        added = int(pop.grow(count)) if isinstance(pop, Enumerable) else 0
        if added != count:
            log.warning(
                "event=birth_unmatched exchange=%s task=%s born=%d grown=%d",
                self.address, self.task, count, added,
            )  # fmt: skip
