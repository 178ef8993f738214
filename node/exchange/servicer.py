"""The ``catallax.v1.Exchange`` gRPC service: Register, ListTasks, Trade, Balances.

Every refusal is one status, mapped in one place (:data:`STATUS`, :func:`status_of`),
with details ``<ErrorClass>: <what>`` so that a client raises the same class (cut to
:data:`~catallax.node.serving.MAX_DETAILS` characters, so that a long one still arrives):

==============================================  =======================
refused because                                 status
==============================================  =======================
missing or bad signature                        ``UNAUTHENTICATED``
a key not registered on the task; a bid for a   ``PERMISSION_DENIED``
member the signer does not have, or signed by
another key than the session's
replayed sequence; a second Bids in a round     ``ALREADY_EXISTS``
stale timestamp; a bid for a future round       ``OUT_OF_RANGE``
unknown task                                    ``NOT_FOUND``
bytes that do not parse (a request, a frame),   ``INVALID_ARGUMENT``
malformed body, wrong message, another
exchange or task, unknown slot, an action
outside the action space
bids accepting rules the task no longer has;    ``FAILED_PRECONDITION``
a Trade stream that does not begin with Hello;
orders whose budgets exceed a member's balance
(``OverBudget``); a clearing whose certificate
fails (``Uncertified``: the round is not
settled)
an environment's production report making      ``DATA_LOSS``
goods from nothing (``ForgedProduction``: the
round is not settled)
the allowance budget is spent                   ``RESOURCE_EXHAUSTED``
a session replaced by a newer one               ``ABORTED``
the task cannot serve now (environment node     ``UNAVAILABLE``
unreachable, exchange stopping)
==============================================  =======================

A message larger than the server's limit (16 MiB) is refused by gRPC itself with
``RESOURCE_EXHAUSTED``. Bids are not an error when late (for a round already closed):
they are not counted, and the stream goes on. Over-wealth bids are capped by the
market at ``balance // slots`` units, as in process; NaN and infinite bids cannot be
sent (amounts are int64 units; the trader runner drops them as "no bid"). A negative
bid is an ask (to be paid for taking the state); one deeper than the task's
``ask_limit`` (default: its allowance) is no bid, so a lone asker cannot take the whole
balance of the state's seller. A session
refused for cause ends, and its bids are withdrawn from the round if it is still open.
A Trade stream its trader closes ends ``OK``, before the first frame or after its
Hello: the trader ended its session, nothing was refused. A stream that breaks (the
trader went away) ends its session with ``UNAVAILABLE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc

from catallax.exchange.crypto import key_fingerprint
from catallax.exchange.ledger import LedgerError, LedgerUnavailable
from catallax.node.env.server import STATUS as _ENV_STATUS
from catallax.node.env.server import status_of as _status_in
from catallax.node.errors import (
    BudgetExhausted,
    DuplicateBids,
    ForgedProduction,
    FutureRound,
    HelloMissing,
    LateDemand,
    Malformed,
    NotRegistered,
    NotYourMember,
    OverBudget,
    RulesChanged,
    StalePrices,
    Superseded,
    TaskPaused,
    Uncertified,
    UnknownTask,
    WireError,
    WrongPlace,
)
from catallax.node.exchange.bidding import Session
from catallax.node.exchange.task import DeepTask, ExchangeContext
from catallax.node.exchange.wide.task import WideTask
from catallax.node.serving import clip_details
from catallax.node.wire import open_envelope
from catallax.node.wire.convert import checkpoint_to_proto
from catallax.v1 import common_pb2, exchange_pb2, exchange_pb2_grpc, wide_pb2_grpc

__all__ = ["STATUS", "ExchangeServicer", "WideExchangeServicer", "status_of"]

log = logging.getLogger("catallax.node.exchange")

#: Each refusal's status code; the most specific class listed wins.
STATUS: dict[type[BaseException], grpc.StatusCode] = {
    **_ENV_STATUS,
    UnknownTask: grpc.StatusCode.NOT_FOUND,
    NotRegistered: grpc.StatusCode.PERMISSION_DENIED,
    NotYourMember: grpc.StatusCode.PERMISSION_DENIED,
    WrongPlace: grpc.StatusCode.INVALID_ARGUMENT,
    FutureRound: grpc.StatusCode.OUT_OF_RANGE,
    HelloMissing: grpc.StatusCode.FAILED_PRECONDITION,
    RulesChanged: grpc.StatusCode.FAILED_PRECONDITION,
    DuplicateBids: grpc.StatusCode.ALREADY_EXISTS,
    BudgetExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Superseded: grpc.StatusCode.ABORTED,
    TaskPaused: grpc.StatusCode.UNAVAILABLE,
    LedgerUnavailable: grpc.StatusCode.UNAVAILABLE,
    OverBudget: grpc.StatusCode.FAILED_PRECONDITION,
    Uncertified: grpc.StatusCode.FAILED_PRECONDITION,
    ForgedProduction: grpc.StatusCode.DATA_LOSS,
    LateDemand: grpc.StatusCode.DEADLINE_EXCEEDED,
    StalePrices: grpc.StatusCode.FAILED_PRECONDITION,
}


def status_of(exc: BaseException) -> grpc.StatusCode:
    """The status of a refusal (nearest class in :data:`STATUS`), else ``INTERNAL``."""
    return _status_in(exc, STATUS)


def _details(exc: BaseException) -> str:
    return clip_details(f"{type(exc).__name__}: {exc}")


class ExchangeServicer(exchange_pb2_grpc.ExchangeServicer):
    """Serves the tasks of one exchange."""

    def __init__(self, ctx: ExchangeContext, tasks: dict[str, DeepTask]) -> None:
        self.ctx = ctx
        self.tasks = tasks

    def _task(self, name: str) -> DeepTask:
        task = self.tasks.get(name)
        if task is None:
            raise UnknownTask(f"no task {name!r} here (tasks: {', '.join(sorted(self.tasks))})")
        return task

    def _place(self, body: Any) -> DeepTask:
        if body.exchange != self.ctx.origin:
            raise WrongPlace(
                f"a message for exchange {body.exchange!r}; this is {self.ctx.origin!r}"
            )
        return self._task(body.task)

    async def _fail(self, context: Any, rpc: str, exc: BaseException, who: str = "-") -> None:
        self.ctx.note_failure(exc)
        code = status_of(exc)
        if code is grpc.StatusCode.INTERNAL:
            log.exception("event=rpc rpc=%s signer=%s status=INTERNAL", rpc, who, exc_info=exc)
        else:
            log.warning(
                "event=rpc rpc=%s signer=%s status=%s error=%r", rpc, who, code.name, str(exc)
            )
        await context.abort(code, _details(exc))

    # -- Register ---------------------------------------------------------------------

    async def Register(self, request: common_pb2.Envelope, context: Any) -> common_pb2.Envelope:
        who = "-"
        try:
            body = open_envelope(request, "Registration")
            who = key_fingerprint(bytes(request.public_key))
            task = self._place(body)
            # one channel per task: a key registering on several tasks at once (one
            # sequencer, several sessions) must not race its own numbers
            await asyncio.to_thread(
                self.ctx.book.accept, bytes(request.public_key), body, f"register/{task.name}"
            )
            ident = await task.register(bytes(request.public_key), int(body.members))
            if isinstance(task, WideTask):
                balances = task.balances_of(ident)
            else:
                market = task.market
                assert market is not None
                rows = [market.accounts.index[a] for a in ident.accounts]
                balances = [int(b) for b in market.accounts.balance[rows]]
            reply = exchange_pb2.Registered(
                exchange=self.ctx.origin, task=task.name, accounts=ident.accounts,
                balances=balances,
            )  # fmt: skip
            return self.ctx.seal(reply)
        except (WireError, LedgerError) as exc:
            await self._fail(context, "Register", exc, who)
            raise

    # -- ListTasks and Balances -------------------------------------------------------

    async def ListTasks(self, request: Any, context: Any) -> exchange_pb2.ListTasksReply:
        return exchange_pb2.ListTasksReply(
            tasks=[t.info() for t in self.tasks.values()],
            exchange=self.ctx.origin,
            public_key=self.ctx.public_key,
        )

    async def Balances(self, request: Any, context: Any) -> exchange_pb2.BalancesReply:
        ledger = self.ctx.ledger
        if len(request.accounts) > 4096:
            await self._fail(context, "Balances", Malformed("at most 4096 accounts per call"))
        async with self.ctx.ledger_lock:  # between commits: balances and checkpoint agree
            try:
                unknown = [a for a in request.accounts if ledger.account(a) is None]
                if not unknown:
                    return exchange_pb2.BalancesReply(
                        accounts=list(request.accounts),
                        balances=[ledger.balance(a) for a in request.accounts],
                        checkpoint=checkpoint_to_proto(ledger.checkpoint),
                    )
            except LedgerError as exc:
                await self._fail(context, "Balances", exc)
        await context.abort(
            grpc.StatusCode.NOT_FOUND, clip_details(f"UnknownAccount: {unknown[0]!r}")
        )

    # -- Trade ------------------------------------------------------------------------

    async def Trade(
        self,
        request_iterator: AsyncIterator[common_pb2.Envelope],
        context: Any,
        market: str = "deep",
    ) -> AsyncIterator[common_pb2.Envelope]:
        """One session: a Hello, then Bids; the exchange sends one Round per round."""
        who = "-"
        session: Session | None = None
        task: DeepTask | None = None
        reader: asyncio.Task | None = None
        try:
            first = await anext(aiter(request_iterator), None)
            if first is None:
                return
            if first.message != "Hello":
                raise HelloMissing(f"a Trade stream begins with Hello, not {first.message!r}")
            hello = open_envelope(first, "Hello")
            key = bytes(first.public_key)
            who = key_fingerprint(key)
            task = self._place(hello)
            kind = getattr(task, "market", "deep") if isinstance(task, WideTask) else "deep"
            if kind != market:
                service = "WideExchange" if kind == "wide" else "Exchange"
                raise WrongPlace(f"task {task.name} is a {kind} task: trade on {service}.Trade")
            ident = task.identity(key)
            if ident is None:
                raise NotRegistered(f"key {who} is not registered on task {task.name}; Register")
            task.check_sequence(key, hello.sequence, hello.timestamp_ms)
            await asyncio.to_thread(self.ctx.book.accept, key, hello, task.name)
            session = task.open_session(ident, context.peer())
            reader = asyncio.ensure_future(self._read(request_iterator, task, session))
            while True:
                item = await session.outbox.get()
                if item is None:  # the trader closed its stream: the session ends, OK
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        except (WireError, LedgerError) as exc:
            await self._fail(context, "Trade", exc, who)
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
            if session is not None and task is not None:
                session.closed = True
                task.close_session(session)

    async def _read(
        self, requests: AsyncIterator[common_pb2.Envelope], task: DeepTask, session: Session
    ) -> None:
        """Offer every Bids of the stream; a refusal ends the session with its status."""
        try:
            answer = getattr(task, "answer", "Bids")
            async for envelope in requests:
                body = open_envelope(envelope, answer)
                task.offer(session, envelope, body)
            session.finish()  # the trader closed its stream
        except WireError as exc:
            task.withdraw(session)  # nothing of a session refused for cause counts
            session.close(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream broke (the trader went away)
            session.close(_StreamEnded(f"the stream broke: {exc}"))


class WideExchangeServicer(wide_pb2_grpc.WideExchangeServicer):
    """The ``WideExchange`` service: trading sessions on the exchange's wide tasks (the
    same session machinery as ``Exchange.Trade``; registration and the task list are
    the ``Exchange`` service's)."""

    def __init__(self, exchange: ExchangeServicer) -> None:
        self.exchange = exchange

    async def Trade(
        self, request_iterator: AsyncIterator[common_pb2.Envelope], context: Any
    ) -> AsyncIterator[common_pb2.Envelope]:
        """One session: a Hello, then Orders; the exchange sends one WideRound a round
        (the last round's results and the next request)."""
        async for envelope in self.exchange.Trade(request_iterator, context, "wide"):
            yield envelope


class _StreamEnded(TaskPaused):
    pass
