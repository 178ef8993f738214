"""Bad input on the exchange node: each refusal is one specific gRPC status, and nothing
it carried reaches the ledger.

Real servers in this process, on port 0: an environment node serving Chain in two
slots and an exchange node with one first-price task (a bid that counted would be a
debit). The tests talk to the exchange through a raw ``grpc.aio`` channel and seal
every body themselves (``seal`` and a ``Sequencer``), so that they can craft what a
well-behaved trader never sends. For each refusal they compare the ledger's size and
balances before and after; on a Trade stream the round under way goes on without the
offender, and the test waits for it to settle and finds no debit of the offender in it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import Transfer
from catallax.exchange.money import UNITS_PER_CREDIT
from catallax.node.env import start_server as start_env_node
from catallax.node.exchange import ExchangeNode
from catallax.node.exchange.config import parse_config
from catallax.node.exchange.task import DeepTask
from catallax.node.keys import save_private_key
from catallax.node.serving import channel_options
from catallax.node.trader.session import TraderSession
from catallax.node.wire import Sequencer, now_ms, open_envelope, scoped, seal
from catallax.node.wire.convert import tensor_from_proto, tensor_to_proto
from catallax.v1 import common_pb2, exchange_pb2, exchange_pb2_grpc

pytestmark = pytest.mark.timeout(240)

ORIGIN = "test.local/bad-input"
TASK = "chain"
SLOTS = 2
#: Credits per member and slot (the config's ``allowance``).
ALLOWANCE = 10.0
#: What a first registration gives each member: the allowance of every slot, in units.
MEMBER_UNITS = int(ALLOWANCE * SLOTS * UNITS_PER_CREDIT)
#: How long a test waits for anything the exchange should do soon (seconds; generous,
#: the machine is shared).
PATIENCE = 60.0
#: Over 16 MiB, the servers' message limit ...
OVERSIZED = 16 * 1024 * 1024 + 1024
#: ... which gRPC itself enforces, with these details.
GRPC_TOO_LARGE = "SERVER: Received message larger than max"

Code = grpc.StatusCode
#: The tests' channel may send more than a server accepts (to see it refused).
_OPTIONS = channel_options(64 << 20)


# --- the network ------------------------------------------------------------------------


@dataclass
class Net:
    """An environment node and an exchange node, and a channel to the exchange."""

    folder: Path
    envs: dict[str, Any]
    node: ExchangeNode
    channel: grpc.aio.Channel
    stub: exchange_pb2_grpc.ExchangeStub
    task_keys: dict[str, Any]
    rounds: asyncio.Queue = field(default_factory=asyncio.Queue)

    @property
    def task(self) -> DeepTask:
        return self.node.tasks[TASK]

    @property
    def ledger(self):
        return self.node.ctx.ledger

    def snapshot(self) -> tuple[int, dict[str, int]]:
        """The ledger's size and every balance."""
        return self.ledger.size, dict(self.ledger.balances())

    async def settled(self, round_: int) -> None:
        """Wait until the task has settled round ``round_`` (its results are sent)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PATIENCE
        while self.task.round <= round_:
            left = deadline - loop.time()
            assert left > 0, f"round {round_} did not settle (task state {self.task.state!r})"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.rounds.get(), left)

    async def restart(self) -> None:
        """Stop the exchange and start it again on the same data folder."""
        await self.channel.close()
        await self.node.stop(0)
        ports = {name: env.port for name, env in self.envs.items()}
        self.node = await _start_exchange(self.folder, ports, **self.task_keys)
        self.node.tasks[TASK].on_round.append(lambda t: self.rounds.put_nowait(t.round))
        self.channel = grpc.aio.insecure_channel(self.node.address, options=_OPTIONS)
        self.stub = exchange_pb2_grpc.ExchangeStub(self.channel)

    def debits_since(self, size: int, accounts: list[str]) -> list[Transfer]:
        """Transfers paid by any of ``accounts`` in the ledger entries from ``size`` on."""
        mine = set(accounts)
        return [
            e for _, e in self.ledger.entries(size) if isinstance(e, Transfer) and e.payer in mine
        ]


ENV_KEY = crypto.generate_private_key()
EXCHANGE_KEY = crypto.generate_private_key()


def _keys(folder: Path) -> tuple[Path, Path]:
    keys = folder / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    ex = keys / "exchange.pem"
    env = keys / "env.pem"
    if not ex.exists():
        save_private_key(EXCHANGE_KEY, ex)
        save_private_key(ENV_KEY, env)
    return ex, Path(str(env) + ".pub")


async def _start_exchange(folder: Path, env_ports: dict[str, int], **task: Any) -> ExchangeNode:
    """An exchange serving one task per environment node in ``env_ports`` (same keys)."""
    ex_key, env_pub = _keys(folder)
    tables = {
        name: {
            "env": f"127.0.0.1:{port}",
            "env_key": str(env_pub),
            "auction": "first-price",
            "allowance": ALLOWANCE,
            "discount": 1.0,
            "floor": 0.0,
            "bid_deadline_ms": 120_000,
            **task,
        }
        for name, port in env_ports.items()
    }
    cfg = parse_config(
        {
            "exchange": {"origin": ORIGIN, "key": str(ex_key), "data_dir": "exchange", "port": 0},
            "tasks": tables,
        },
        base=folder,
    )
    node = await ExchangeNode.start(cfg)
    await _until(
        lambda: all(t.market is not None for t in node.tasks.values()),
        "the tasks to reach their environment nodes",
    )
    return node


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (it reads in-process state) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def network(folder: Path, *, tasks: tuple[str, ...] = (TASK,), **task: Any):
    """Start an environment node per task and the exchange (``task``: keys of every
    ``[tasks.NAME]``); stop them after."""
    envs: dict[str, Any] = {}
    try:
        for name in tasks:
            envs[name] = await start_env_node(
                "catallax/Chain-v0",
                slots=SLOTS,
                key=ENV_KEY,
                exchange_keys=[crypto.public_key_bytes(EXCHANGE_KEY)],
                data_dir=folder / f"env-{name}",
            )
        node = await _start_exchange(folder, {n: e.port for n, e in envs.items()}, **task)
        channel = grpc.aio.insecure_channel(node.address, options=_OPTIONS)
        net = Net(folder, envs, node, channel, exchange_pb2_grpc.ExchangeStub(channel), task)
        node.tasks[TASK].on_round.append(lambda t: net.rounds.put_nowait(t.round))
        try:
            yield net
        finally:
            await net.channel.close()
            await net.node.stop(0)
    finally:
        for env in envs.values():
            await env.stop(0)


# --- a hand-made trader -----------------------------------------------------------------


class Trader:
    """A trader key that seals what the tests tell it to (bad messages included)."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.key = crypto.generate_private_key()
        self.public_key = crypto.public_key_bytes(self.key)
        self.sequencer = Sequencer(self.public_key)
        self.accounts: list[str] = []

    def seal(self, body: Any, **fields: Any) -> common_pb2.Envelope:
        """``body`` stamped, then ``fields`` set (any, ``sequence`` and ``timestamp_ms``
        included), then signed."""
        self.sequencer.stamp(body)
        for name, value in fields.items():
            setattr(body, name, value)
        return seal(self.key, type(body), body)

    def registration(self, members: int = 1, **fields: Any) -> common_pb2.Envelope:
        body = exchange_pb2.Registration(exchange=ORIGIN, task=TASK, members=members)
        return self.seal(body, **fields)

    async def register(self, members: int = 1) -> exchange_pb2.Registered:
        reply = await self.net.stub.Register(self.registration(members), timeout=PATIENCE)
        body = open_envelope(reply, "Registered")
        assert bytes(reply.public_key) == crypto.public_key_bytes(EXCHANGE_KEY)
        self.accounts = list(body.accounts)
        return body

    def hello(self, **fields: Any) -> common_pb2.Envelope:
        return self.seal(exchange_pb2.Hello(exchange=ORIGIN, task=TASK), **fields)

    def bids(
        self,
        round_: int,
        bids: list[tuple[int, int, int, int]] = ((0, 0, UNITS_PER_CREDIT, 1),),
        *,
        rules: bytes | None = None,
        **fields: Any,
    ) -> common_pb2.Envelope:
        """A Bids body for ``round_``: ``(member, slot, amount units, action)`` each."""
        body = exchange_pb2.Bids(
            exchange=ORIGIN, task=TASK, round=round_,
            rules=self.net.task.rules if rules is None else rules,
        )  # fmt: skip
        for member, slot, amount, action in bids:
            body.bids.add(
                member=member, slot=slot, amount=amount,
                action=common_pb2.Value(discrete=action),
            )  # fmt: skip
        return self.seal(body, **fields)

    async def trade(self, hello: common_pb2.Envelope | None = None) -> Stream:
        """Open a Trade stream and send ``hello`` (a fresh Hello by default)."""
        stream = Stream(self.net.stub.Trade(timeout=4 * PATIENCE))
        await stream.call.write(hello or self.hello())
        return stream


class Stream:
    """A Trade call, read message by message."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self._held: Any = None  # a Round whose results were read, not yet its request

    async def read(self, what: str) -> Any:
        """The next ``"request"`` (a ``Round`` that opens a round) or ``"result"`` (the
        ``Settled`` part of the next ``Round`` that carries one), opened. A ``Round``
        carrying both serves a ``"result"`` and then a ``"request"``."""
        if what == "request" and self._held is not None:
            message, self._held = self._held, None
            return message
        envelope = await asyncio.wait_for(self.call.read(), PATIENCE)
        assert envelope is not grpc.aio.EOF, "the stream ended"
        assert envelope.message == "Round", envelope.message
        message = open_envelope(envelope, "Round")
        if what == "request":
            assert message.open, "a Round that opens no round"
            return message
        assert what == "result", what
        assert message.HasField("settled"), "a Round without results"
        if message.open:
            self._held = message
        return message.settled

    async def status(self) -> grpc.StatusCode:
        """Read until the call ends; its status code (messages meanwhile are skipped)."""
        with contextlib.suppress(grpc.aio.AioRpcError):
            while await asyncio.wait_for(self.call.read(), PATIENCE) is not grpc.aio.EOF:
                pass
        return await self.call.code()


async def _refused(call) -> tuple[grpc.StatusCode, str]:
    """The status and details of a unary call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details()


def _flip(data: bytes, at: int = -1) -> bytes:
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)


def _with(envelope: common_pb2.Envelope, **fields: Any) -> common_pb2.Envelope:
    """A copy of ``envelope`` with some fields replaced."""
    out = common_pb2.Envelope()
    out.CopyFrom(envelope)
    for name, value in fields.items():
        setattr(out, name, value)
    return out


def _signed(key: crypto.Ed25519PrivateKey, message: str, body: bytes) -> common_pb2.Envelope:
    """An envelope of ``body`` bytes as they are, correctly signed as ``message``."""
    return common_pb2.Envelope(
        body=body, public_key=crypto.public_key_bytes(key),
        signature=crypto.sign(key, message, body), message=message,
    )  # fmt: skip


# --- Register ---------------------------------------------------------------------------


async def test_first_registration_grants_the_allowance_once(tmp_path):
    async with network(tmp_path, max_members=4) as net:
        trader = Trader(net)
        left = net.task.budget_left
        size, balances = net.snapshot()
        first = await trader.register(members=3)
        assert len(first.accounts) == 3
        assert list(first.balances) == [MEMBER_UNITS] * 3
        assert [net.ledger.balance(a) for a in first.accounts] == [MEMBER_UNITS] * 3
        assert net.task.budget_left == left - 3 * MEMBER_UNITS
        after = net.snapshot()
        assert after[0] > size and set(after[1]) - set(balances) >= set(first.accounts)
        for members in (3, 1, 4):  # new sequence numbers: not replays; any member count
            again = await trader.register(members=members)
            assert list(again.accounts) == list(first.accounts)
            assert list(again.balances) == [MEMBER_UNITS] * 3
            assert net.snapshot() == after
            assert net.task.budget_left == left - 3 * MEMBER_UNITS


async def test_register_refusals_write_nothing(tmp_path):
    """Each bad Registration, its status; the ledger and the budget never move."""
    async with network(tmp_path, max_members=4) as net:
        trader = Trader(net)
        good = trader.registration()
        # (case, envelope, status, what the details begin with)
        cases: list[tuple[str, common_pb2.Envelope, grpc.StatusCode, str]] = [
            ("body byte flipped", _with(good, body=_flip(good.body)), Code.UNAUTHENTICATED,
             "BadSignature"),
            ("signature byte flipped", _with(good, signature=_flip(good.signature, 3)),
             Code.UNAUTHENTICATED, "BadSignature"),
            ("no signature", _with(good, signature=b""), Code.UNAUTHENTICATED,
             "MissingSignature"),
            ("another key's signature", _with(good, public_key=Trader(net).public_key),
             Code.UNAUTHENTICATED, "BadSignature"),
            ("unknown task", trader.registration(task="nowhere"), Code.NOT_FOUND, "UnknownTask"),
            ("another exchange", trader.registration(exchange="elsewhere"),
             Code.INVALID_ARGUMENT, "WrongPlace"),
            ("ten minutes old", trader.registration(timestamp_ms=now_ms() - 600_000),
             Code.OUT_OF_RANGE, "Stale"),
            ("a sequence of 0", trader.registration(sequence=0), Code.INVALID_ARGUMENT,
             "Malformed: sequence"),
            ("more members than max_members", trader.registration(members=5),
             Code.INVALID_ARGUMENT, "Malformed: members"),
            ("no members", trader.registration(members=0), Code.INVALID_ARGUMENT,
             "Malformed: members"),
            ("garbage body", _signed(trader.key, "Registration", b"\xff" * 16),
             Code.INVALID_ARGUMENT, "Malformed: Registration: the body does not parse"),
            ("another message", trader.hello(), Code.INVALID_ARGUMENT, "WrongMessage"),
            ("oversized", _signed(trader.key, "Registration", b"\x00" * OVERSIZED),
             Code.RESOURCE_EXHAUSTED, GRPC_TOO_LARGE),
        ]  # fmt: skip
        before = net.snapshot()
        left = net.task.budget_left
        for what, envelope, code, why in cases:
            got, details = await _refused(net.stub.Register(envelope, timeout=PATIENCE))
            assert (got, details.startswith(why)) == (code, True), (what, got, details)
            assert net.snapshot() == before, what
            assert net.task.budget_left == left, what
            assert net.task.identity(trader.public_key) is None, what
        # the key itself is still good: its real registration goes through
        assert len((await trader.register()).accounts) == 1


async def test_a_replayed_registration_is_already_exists(tmp_path):
    async with network(tmp_path) as net:
        trader = Trader(net)
        envelope = trader.registration()
        await net.stub.Register(envelope, timeout=PATIENCE)
        before = net.snapshot()
        code, details = await _refused(net.stub.Register(envelope, timeout=PATIENCE))
        assert code == Code.ALREADY_EXISTS, details
        assert net.snapshot() == before


async def test_replays_are_refused_after_a_restart(tmp_path):
    """The sequence book is on disk: the Registration and the Hello accepted before the
    exchange stopped are replays after it starts again on the same data folder."""
    async with network(tmp_path) as net:
        trader = Trader(net)
        registration = trader.registration()
        await net.stub.Register(registration, timeout=PATIENCE)
        hello = trader.hello()
        stream = await trader.trade(hello)
        request = await stream.read("request")
        await stream.call.write(trader.bids(request.round, []))
        await stream.read("result")
        stream.call.cancel()
        await net.restart()
        assert net.task.identity(trader.public_key) is not None  # restored from the ledger
        before = net.snapshot()
        code, details = await _refused(net.stub.Register(registration, timeout=PATIENCE))
        assert code == Code.ALREADY_EXISTS, details
        call = net.stub.Trade(timeout=PATIENCE)
        await call.write(hello)
        assert await Stream(call).status() == Code.ALREADY_EXISTS
        assert net.snapshot() == before
        # a fresh Hello of the same key opens a session
        stream = await trader.trade()
        assert (await stream.read("request")).round >= request.round + 1
        stream.call.cancel()


async def test_a_spent_allowance_budget_is_resource_exhausted(tmp_path):
    # room for three members: two register, the third asks for two and is refused
    budget = 3 * ALLOWANCE * SLOTS
    async with network(tmp_path, allowance_budget=budget, max_members=2) as net:
        first = Trader(net)
        await first.register(members=2)
        before = net.snapshot()
        second = Trader(net)
        code, details = await _refused(
            net.stub.Register(second.registration(members=2), timeout=PATIENCE)
        )
        assert code == Code.RESOURCE_EXHAUSTED, details
        assert net.snapshot() == before
        assert net.task.identity(second.public_key) is None
        assert net.task.budget_left == MEMBER_UNITS
        # what is left still endows one member
        assert list((await second.register(members=1)).balances) == [MEMBER_UNITS]
        assert net.task.budget_left == 0
        third = Trader(net)
        code, _ = await _refused(net.stub.Register(third.registration(), timeout=PATIENCE))
        assert code == Code.RESOURCE_EXHAUSTED


# --- Trade: the Hello -------------------------------------------------------------------


async def test_hello_refusals_open_no_session(tmp_path):
    async with network(tmp_path) as net:
        trader, stranger = Trader(net), Trader(net)
        await trader.register()
        good = trader.hello()
        # (case, envelope, status, what the details begin with)
        cases: list[tuple[str, common_pb2.Envelope, grpc.StatusCode, str]] = [
            ("unregistered key", stranger.hello(), Code.PERMISSION_DENIED, "NotRegistered"),
            ("body byte flipped", _with(good, body=_flip(good.body)), Code.UNAUTHENTICATED,
             "BadSignature"),
            ("signature byte flipped", _with(good, signature=_flip(good.signature, 7)),
             Code.UNAUTHENTICATED, "BadSignature"),
            ("no signature", _with(good, signature=b""), Code.UNAUTHENTICATED,
             "MissingSignature"),
            ("unknown task", trader.hello(task="nowhere"), Code.NOT_FOUND, "UnknownTask"),
            ("another exchange", trader.hello(exchange="elsewhere"), Code.INVALID_ARGUMENT,
             "WrongPlace"),
            ("ten minutes old", trader.hello(timestamp_ms=now_ms() - 600_000),
             Code.OUT_OF_RANGE, "Stale"),
            ("garbage body", _signed(trader.key, "Hello", b"\xff" * 16), Code.INVALID_ARGUMENT,
             "Malformed: Hello: the body does not parse"),
            ("Bids first", trader.bids(0), Code.FAILED_PRECONDITION, "HelloMissing"),
            ("a sequence beyond 2**63-1", trader.hello(sequence=2**63), Code.INVALID_ARGUMENT,
             "Malformed: sequence"),
            ("oversized", _signed(trader.key, "Hello", b"\x00" * OVERSIZED),
             Code.RESOURCE_EXHAUSTED, GRPC_TOO_LARGE),
        ]  # fmt: skip
        before = net.snapshot()
        for what, envelope, code, why in cases:
            call = net.stub.Trade(timeout=PATIENCE)
            await call.write(envelope)
            got, details = await Stream(call).status(), await call.details()
            assert (got, details.startswith(why)) == (code, True), (what, got, details)
            assert net.snapshot() == before, what
            assert not net.task.sessions, what
            assert net.task.rounds == 0, what
        stream = await trader.trade(good)  # the good Hello still opens a session
        assert (await stream.read("request")).round == 0
        stream.call.cancel()


async def test_a_replayed_hello_is_refused_and_the_live_session_goes_on(tmp_path):
    async with network(tmp_path) as net:
        trader = Trader(net)
        await trader.register()
        hello = trader.hello()
        stream = await trader.trade(hello)
        request = await stream.read("request")
        replay = net.stub.Trade(timeout=PATIENCE)
        await replay.write(hello)
        assert await Stream(replay).status() == Code.ALREADY_EXISTS
        assert "Replayed" in await replay.details()
        # the replay did not supersede the session: it bids, and the bid is settled
        size = net.ledger.size
        await stream.call.write(trader.bids(request.round, [(0, 0, UNITS_PER_CREDIT, 1)]))
        result = await stream.read("result")
        assert result.round == request.round
        assert result.awards[0].account == trader.accounts[0]
        assert [d.amount for d in net.debits_since(size, trader.accounts)] == [UNITS_PER_CREDIT]
        stream.call.cancel()


# --- Trade: the Bids --------------------------------------------------------------------

#: One credit for member 0 in slot 0: a first-price bid that wins, if it counts.
WINNING = [(0, 0, UNITS_PER_CREDIT, 1)]


def _bad_bids() -> list[tuple[str, Callable[[Trader, Trader, int], Any], grpc.StatusCode, str]]:
    """``(case, make(trader, other, round) -> envelope, status, what the details begin
    with)`` for bad Bids."""

    def flipped(field_: str, at: int) -> Callable:
        def make(t: Trader, _o: Trader, r: int):
            good = t.bids(r, WINNING)
            return _with(good, **{field_: _flip(getattr(good, field_), at)})

        return make

    def one(member: int = 0, slot: int = 0, amount: int = UNITS_PER_CREDIT, action=1):
        def make(t: Trader, _o: Trader, r: int):
            body = exchange_pb2.Bids(exchange=ORIGIN, task=TASK, round=r, rules=t.net.task.rules)
            bid = body.bids.add(member=member, slot=slot, amount=amount)
            if action is not None:
                bid.action.CopyFrom(action if isinstance(action, common_pb2.Value)
                                    else common_pb2.Value(discrete=action))  # fmt: skip
            return t.seal(body)

        return make

    tensor = common_pb2.Value(tensor=tensor_to_proto(np.array([1], dtype=np.int64)))
    stale = now_ms() - 600_000
    return [
        ("body byte flipped", flipped("body", -1), Code.UNAUTHENTICATED, "BadSignature"),
        ("signature byte flipped", flipped("signature", 5), Code.UNAUTHENTICATED,
         "BadSignature"),
        ("no signature", lambda t, o, r: _with(t.bids(r, WINNING), signature=b""),
         Code.UNAUTHENTICATED, "MissingSignature"),
        ("signed by another registered key", lambda t, o, r: o.bids(r, WINNING),
         Code.PERMISSION_DENIED, "NotYourMember"),
        ("a member the identity does not have", one(member=1), Code.PERMISSION_DENIED,
         "NotYourMember"),
        ("another task", lambda t, o, r: t.bids(r, WINNING, task="other"),
         Code.INVALID_ARGUMENT, "WrongPlace"),
        ("another exchange", lambda t, o, r: t.bids(r, WINNING, exchange="elsewhere"),
         Code.INVALID_ARGUMENT, "WrongPlace"),
        ("a future round", lambda t, o, r: t.bids(r + 1, WINNING), Code.OUT_OF_RANGE,
         "FutureRound"),
        ("ten minutes old", lambda t, o, r: t.bids(r, WINNING, timestamp_ms=stale),
         Code.OUT_OF_RANGE, "Stale"),
        ("wrong rules digest", lambda t, o, r: t.bids(r, WINNING, rules=b"\x01" * 32),
         Code.FAILED_PRECONDITION, "RulesChanged"),
        ("no rules digest", lambda t, o, r: t.bids(r, WINNING, rules=b""),
         Code.FAILED_PRECONDITION, "RulesChanged"),
        ("an action outside Discrete(2)", one(action=2), Code.INVALID_ARGUMENT, "OutsideSpace"),
        ("a negative action", one(action=-1), Code.INVALID_ARGUMENT, "OutsideSpace"),
        ("a tensor action", one(action=tensor), Code.INVALID_ARGUMENT, "OutsideSpace"),
        ("no action", one(action=None), Code.INVALID_ARGUMENT, "Malformed: bids: bid 0 has no"),
        ("an unknown slot", one(slot=SLOTS), Code.INVALID_ARGUMENT, "UnknownSlot"),
        ("two bids for one member and slot",
         lambda t, o, r: t.bids(r, [*WINNING, (0, 0, 2 * UNITS_PER_CREDIT, 0)]),
         Code.INVALID_ARGUMENT, "Malformed: two bids"),
        ("garbage body", lambda t, o, r: _signed(t.key, "Bids", b"\xff" * 16),
         Code.INVALID_ARGUMENT, "Malformed: Bids: the body does not parse"),
        ("another message", lambda t, o, r: t.hello(), Code.INVALID_ARGUMENT, "WrongMessage"),
        ("a sequence beyond 2**63-1", lambda t, o, r: t.bids(r, WINNING, sequence=2**63),
         Code.INVALID_ARGUMENT, "Malformed: sequence"),
        ("oversized", lambda t, o, r: _signed(t.key, "Bids", b"\x00" * OVERSIZED),
         Code.RESOURCE_EXHAUSTED, GRPC_TOO_LARGE),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "make", "code", "why"), _bad_bids(), ids=[c[0] for c in _bad_bids()]
)
async def test_bad_bids_end_the_session_and_are_never_charged(tmp_path, case, make, code, why):
    async with network(tmp_path) as net:
        trader, other = Trader(net), Trader(net)
        await trader.register()
        await other.register()
        await _refused_bids(net, trader, other, case, make, code, why)


async def _refused_bids(net: Net, trader: Trader, other: Trader, case: str, make, code, why):
    """``trader`` opens a session and sends ``make(...)``'s Bids: the stream ends with
    ``code`` (details beginning ``why``), the round goes on without the offender and
    settles with nothing of it."""
    stream = await trader.trade()
    request = await stream.read("request")
    size, balances = net.snapshot()
    envelope = make(trader, other, request.round)
    await stream.call.write(envelope)
    got, details = await stream.status(), await stream.call.details()
    assert (got, details.startswith(why)) == (code, True), (case, got, details)
    await net.settled(request.round)
    assert not net.task.state.startswith("paused"), (case, net.task.state)
    assert net.debits_since(size, trader.accounts + other.accounts) == [], case
    after = net.ledger.balances()
    for account in trader.accounts + other.accounts:
        assert after[account] == balances[account], case
    assert all(
        e.evidence is None or e.evidence.data != envelope.body
        for _, e in net.ledger.entries(size)
        if isinstance(e, Transfer)
    ), case


async def test_bad_bids_are_refused_the_same_after_a_restart(tmp_path):
    """Across an exchange restart (identities, balances and sequence books read back from
    disk), every bad Bids case above gets the same status, each in a session of its own,
    and nothing of any of them is charged."""
    async with network(tmp_path) as net:
        trader, other = Trader(net), Trader(net)
        await trader.register()
        await other.register()
        await net.restart()
        for case, make, code, why in _bad_bids():
            await _refused_bids(net, trader, other, case, make, code, why)


async def test_bids_for_a_past_round_are_late_not_an_error(tmp_path):
    async with network(tmp_path) as net:
        trader = Trader(net)
        await trader.register()
        stream = await trader.trade()
        first = await stream.read("request")
        await stream.call.write(trader.bids(first.round, WINNING))
        assert (await stream.read("result")).round == first.round
        request = await stream.read("request")
        assert request.round == first.round + 1
        size = net.ledger.size
        late = trader.bids(first.round, [(0, 0, 3 * UNITS_PER_CREDIT, 0)])
        await stream.call.write(late)  # not counted; the stream goes on
        await stream.call.write(trader.bids(request.round, []))
        result = await stream.read("result")
        assert result.round == request.round
        assert [a.account for a in result.awards] == ["", ""]  # the late bid did not win
        assert net.debits_since(size, trader.accounts) == []
        assert all(
            e.evidence is None or e.evidence.data != late.body
            for _, e in net.ledger.entries(size)
            if isinstance(e, Transfer)
        )
        assert (await stream.read("request")).round == request.round + 1
        stream.call.cancel()


@pytest.mark.parametrize("again", ["the same envelope", "a second Bids"])
async def test_a_second_bids_in_a_round_is_already_exists(tmp_path, again):
    """A second Bids ends the session, and nothing of the offender counts in the round
    still open (another trader has not answered yet), not even its valid first Bids."""
    async with network(tmp_path, min_traders=2) as net:
        a, b, sa, sb, r = await _two_in_round_zero(net)
        size = net.ledger.size
        first = a.bids(r, WINNING)
        await sa.call.write(first)
        await _until(lambda: a.public_key in net.task.bidding.open.offers, "the offer")
        second = first if again == "the same envelope" else a.bids(
            r, [(0, 0, 5 * UNITS_PER_CREDIT, 0)]
        )  # fmt: skip
        await sa.call.write(second)
        assert await sa.status() == Code.ALREADY_EXISTS
        cls = "Replayed" if again == "the same envelope" else "DuplicateBids"
        assert (await sa.call.details()).startswith(cls)
        await sb.call.write(b.bids(r, []))
        await net.settled(r)
        assert net.debits_since(size, a.accounts) == []
        sb.call.cancel()


async def _two_in_round_zero(net: Net) -> tuple[Trader, Trader, Stream, Stream, int]:
    """Two registered traders with a session each, both asked for bids in round 0."""
    a, b = Trader(net), Trader(net)
    await a.register()
    await b.register()
    sa, sb = await a.trade(), await b.trade()
    ra, rb = await sa.read("request"), await sb.read("request")
    assert ra.round == rb.round == 0
    return a, b, sa, sb, ra.round


async def test_a_bid_that_grows_stale_while_the_round_waits_still_counts(tmp_path):
    """A Bids fresh when it arrived (its signer's clock 29 s behind) is not refused
    when the round closes more than the 30 s window after its timestamp."""
    async with network(tmp_path, min_traders=2) as net:
        a, b, sa, sb, r = await _two_in_round_zero(net)
        size = net.ledger.size
        stamp = now_ms() - 29_000
        bids = a.bids(r, WINNING, timestamp_ms=stamp)
        await sa.call.write(bids)
        await _until(lambda: a.public_key in net.task.bidding.open.offers, "the offer")
        await _until(lambda: now_ms() - stamp > net.node.ctx.book.window_ms + 500, "the clock")
        await sb.call.write(b.bids(r, []))
        assert (await sa.read("result")).round == r
        assert (await sb.read("result")).round == r
        assert not net.task.state.startswith("paused"), net.task.state
        debits = net.debits_since(size, a.accounts)
        assert [(d.amount, d.evidence.data) for d in debits] == [(UNITS_PER_CREDIT, bids.body)]
        sa.call.cancel()
        sb.call.cancel()


async def test_a_trader_reconnecting_after_its_bid_does_not_break_the_round(tmp_path):
    """A new session (a Hello numbered above the Bids already offered) while the round
    waits for others: the round settles, the first session's bid counts once."""
    async with network(tmp_path, min_traders=2) as net:
        a, b, sa, sb, r = await _two_in_round_zero(net)
        size = net.ledger.size
        bids = a.bids(r, WINNING)
        await sa.call.write(bids)
        await _until(lambda: a.public_key in net.task.bidding.open.offers, "the offer")
        again = await a.trade()
        assert await sa.status() == Code.ABORTED
        await sb.call.write(b.bids(r, []))
        assert (await again.read("result")).round == r
        assert (await sb.read("result")).round == r
        assert not net.task.state.startswith("paused"), net.task.state
        debits = net.debits_since(size, a.accounts)
        assert [(d.amount, d.evidence.data) for d in debits] == [(UNITS_PER_CREDIT, bids.body)]
        assert (await again.read("request")).round == r + 1
        again.call.cancel()
        sb.call.cancel()


async def test_two_tasks_one_key(tmp_path):
    """Registrations of one key on two tasks may arrive out of order (each task is its
    own channel); a Bids for the other task on a session is INVALID_ARGUMENT."""
    async with network(tmp_path, tasks=(TASK, "other")) as net:
        trader = Trader(net)
        early = trader.registration()
        late = trader.registration(task="other")
        for envelope in (late, early):  # the later number first
            body = open_envelope(await net.stub.Register(envelope, timeout=PATIENCE), "Registered")
            assert list(body.balances) == [MEMBER_UNITS]
        trader.accounts = list(net.task.identity(trader.public_key).accounts)
        stream = await trader.trade()
        request = await stream.read("request")
        size = net.ledger.size
        await stream.call.write(trader.bids(request.round, WINNING, task="other"))
        assert await stream.status() == Code.INVALID_ARGUMENT
        assert "WrongPlace" in await stream.call.details()
        await net.settled(request.round)
        other = net.node.tasks["other"].identity(trader.public_key).accounts
        assert net.debits_since(size, trader.accounts + other) == []


@pytest.mark.parametrize("amount", [2**62, 2**63 - 1])
async def test_an_over_wealth_bid_wins_and_pays_at_most_its_cap(tmp_path, amount):
    """A bid beyond the member's means is capped at ``balance // slots`` units in each
    slot: it wins both slots and pays exactly its cap in each, never more than it has."""
    async with network(tmp_path) as net:
        trader = Trader(net)
        await trader.register()
        stream = await trader.trade()
        request = await stream.read("request")
        size, balances = net.snapshot()
        held = balances[trader.accounts[0]]
        cap = held // SLOTS
        await stream.call.write(trader.bids(request.round, [(0, 0, amount, 1), (0, 1, amount, 0)]))
        result = await stream.read("result")
        assert [a.account for a in result.awards] == trader.accounts * SLOTS
        assert [a.price for a in result.awards] == [cap] * SLOTS
        debits = net.debits_since(size, trader.accounts)
        assert sorted(d.amount for d in debits) == [cap] * SLOTS
        assert sum(d.amount for d in debits) <= held
        assert net.ledger.balance(trader.accounts[0]) >= 0
        report = await asyncio.to_thread(net.ledger.audit)  # every debit within its mandate
        assert report.balances == net.ledger.balances()
        stream.call.cancel()


async def test_a_newer_session_of_the_same_identity_aborts_the_older(tmp_path):
    async with network(tmp_path) as net:
        trader = Trader(net)
        await trader.register()
        old = await trader.trade()
        await old.read("request")
        before = net.snapshot()
        new = await trader.trade()
        assert await old.status() == Code.ABORTED
        assert (await new.read("result")).round == 0  # closed without the old session
        assert (await new.read("request")).round == 1
        assert net.snapshot()[1] == before[1]
        new.call.cancel()


async def test_registering_again_while_the_first_is_queued_is_not_a_spent_budget(tmp_path):
    """Admissions wait for the round under way. A key that registers again meanwhile (a
    client retrying after its deadline) joins its queued admission: the budget that
    endows it once is not spent twice, and nothing is given twice."""
    async with network(tmp_path, allowance_budget=2 * ALLOWANCE * SLOTS) as net:
        trader, late = Trader(net), Trader(net)
        await trader.register()
        stream = await trader.trade()
        request = await stream.read("request")  # the round is open until it bids
        size = net.ledger.size
        first = asyncio.ensure_future(net.stub.Register(late.registration(), timeout=PATIENCE))
        await _until(lambda: net.task._pending, "the registration to be queued")
        again = late.registration()
        second = asyncio.ensure_future(net.stub.Register(again, timeout=PATIENCE))
        sequence = open_envelope(again, "Registration").sequence
        book, key = net.node.ctx.book, scoped(late.public_key, f"register/{TASK}")
        await _until(lambda: book.last(key)[0] == sequence, "the second registration")
        # a refusal would follow at once; give it time to show (a pass cannot hang here)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(second), 2.0)
        assert net.ledger.size == size
        await stream.call.write(trader.bids(request.round, []))
        replies = [open_envelope(r, "Registered") for r in await asyncio.gather(first, second)]
        assert [list(r.balances) for r in replies] == [[MEMBER_UNITS], [MEMBER_UNITS]]
        assert replies[0].accounts == replies[1].accounts
        assert net.task.budget_left == 0
        stream.call.cancel()


async def test_the_budget_counts_admissions_still_queued(tmp_path):
    """Two newcomers while a round is open and the budget endows one: the second is
    refused at once (RESOURCE_EXHAUSTED), not admitted, and the first gets its allowance."""
    async with network(tmp_path, allowance_budget=2 * ALLOWANCE * SLOTS) as net:
        trader, first, second = Trader(net), Trader(net), Trader(net)
        await trader.register()
        stream = await trader.trade()
        request = await stream.read("request")  # the round is open until it bids
        size, balances = net.snapshot()
        queued = asyncio.ensure_future(net.stub.Register(first.registration(), timeout=PATIENCE))
        await _until(lambda: net.task._pending, "the registration to be queued")
        code, details = await _refused(net.stub.Register(second.registration(), timeout=PATIENCE))
        assert code == Code.RESOURCE_EXHAUSTED, details
        assert net.task.bidding.open is not None and net.task.bidding.open.round == request.round
        assert net.snapshot() == (size, balances)
        await stream.call.write(trader.bids(request.round, []))
        reply = open_envelope(await queued, "Registered")
        assert list(reply.balances) == [MEMBER_UNITS]
        assert net.task.identity(second.public_key) is None
        assert net.task.budget_left == 0
        stream.call.cancel()


async def test_a_registration_while_the_environment_node_is_down_is_admitted(tmp_path):
    """Admissions need only the ledger: a task paused because its environment node is
    unreachable still admits a newcomer (it does not wait for the node to return)."""
    async with network(tmp_path, env_timeout_ms=2000) as net:
        trader, newcomer = Trader(net), Trader(net)
        await trader.register()
        stream = await trader.trade()
        request = await stream.read("request")
        await net.envs.pop(TASK).stop(0)
        await stream.call.write(trader.bids(request.round, []))
        await _until(lambda: net.task.state.startswith("paused"), "the task to pause")
        size = net.ledger.size
        reply = await newcomer.register()
        assert list(reply.balances) == [MEMBER_UNITS]
        assert net.ledger.size > size
        assert net.task.state.startswith("paused"), net.task.state
        stream.call.cancel()


async def test_balances_of_unknown_accounts_or_too_many_are_refused(tmp_path):
    async with network(tmp_path) as net:
        trader = Trader(net)
        await trader.register()
        reply = await net.stub.Balances(
            exchange_pb2.BalancesRequest(accounts=trader.accounts), timeout=PATIENCE
        )
        assert list(reply.balances) == [MEMBER_UNITS]
        for accounts, code in (
            ([*trader.accounts, f"{TASK}.nobody.0"], Code.NOT_FOUND),
            (trader.accounts * 4097, Code.INVALID_ARGUMENT),
        ):
            request = exchange_pb2.BalancesRequest(accounts=accounts)
            got, details = await _refused(net.stub.Balances(request, timeout=PATIENCE))
            assert got == code, details


# --- the trader runner's bids -----------------------------------------------------------


class _FixedBids:
    """A population whose bids are given (credits; a row per member, a column per slot)
    and whose members act ``member % 2``."""

    def __init__(self, bids: np.ndarray) -> None:
        self._bids = np.asarray(bids, dtype=np.float64)
        self.size = len(self._bids)

    def bids(self, obs: np.ndarray) -> np.ndarray:
        return self._bids

    def actions(self, obs: np.ndarray, members: np.ndarray) -> np.ndarray:
        return np.asarray(members, dtype=np.int64) % 2


def test_the_trader_runner_drops_nan_and_inf_bids_sends_asks_and_holds_huge_ones():
    """NaN and infinite bids have no wire form (amounts are int64 units): the runner
    drops them as "no bid"; a negative bid is an ask and leaves as it is; every positive
    bid is held to the member's balance, so a huge bid leaves as the whole balance."""
    raw = np.array([[np.nan, 1.5], [np.inf, -np.inf], [-2.0, 1e300]])  # members x slots
    pop = _FixedBids(raw)
    session = TraderSession("127.0.0.1:1", TASK, crypto.generate_private_key(), lambda o, a: pop)
    session.population = pop
    session.origin, session.rules = ORIGIN, b"\x07" * 32
    balances = [5 * UNITS_PER_CREDIT, 7 * UNITS_PER_CREDIT, 9 * UNITS_PER_CREDIT]
    session.stats.balances = balances
    request = exchange_pb2.Round(
        exchange=ORIGIN, task=TASK, open=True, round=4, slots=[3, 5],
        obs=tensor_to_proto(np.array([0, 1], dtype=np.int64)),
    )  # fmt: skip
    body = session._bids(request)
    assert (body.exchange, body.task, body.round, body.rules) == (ORIGIN, TASK, 4, b"\x07" * 32)
    got = [(b.member, b.slot, b.amount, b.action.discrete) for b in body.bids]
    assert got == [
        (0, 5, int(1.5 * UNITS_PER_CREDIT), 0),
        (2, 3, -2 * UNITS_PER_CREDIT, 0),
        (2, 5, balances[2], 0),
    ]
    # and what it sends, the exchange reads back unchanged
    envelope = seal(session.key, "Bids", body)
    assert open_envelope(envelope, "Bids").bids == body.bids
    session._book.close()


async def test_an_ask_is_paid_by_the_seller_on_the_bids_of_its_purchase(tmp_path):
    """Member 1 buys slot 0 in round 0 at a positive bid; in round 1 only member 0
    bids, an ask of -2 credits (it wants to be paid to take the state), and wins at that
    price. The seller, member 1, pays it γ x 2 credits (kind ``ask``) on its round-0
    Bids, the purchase it sells; the round settles, nothing pauses, the ledger audits,
    and member 0's award tells it the negative price. An ask beyond the task's limit is
    no bid."""
    async with network(tmp_path) as net:
        trader = Trader(net)
        await trader.register(members=2)
        stream = await trader.trade()
        request = await stream.read("request")
        size = net.ledger.size
        first = trader.bids(request.round, [(1, 0, UNITS_PER_CREDIT, 1)])
        await stream.call.write(first)
        await stream.read("result")
        request = await stream.read("request")
        assert int(tensor_from_proto(request.obs)[0]) != 0, "slot 0's episode ended at once"
        second = trader.bids(request.round, [(0, 0, -2 * UNITS_PER_CREDIT, 0)])
        await stream.call.write(second)
        result = await stream.read("result")
        award = next(a for a in result.awards if a.slot == 0)
        assert (award.account, award.price) == (trader.accounts[0], -2 * UNITS_PER_CREDIT)
        asks = [d for d in net.debits_since(size, trader.accounts) if d.kind.value == "ask"]
        gamma = net.task.cfg.discount
        assert [(d.payer, d.payee, d.amount, d.round) for d in asks] == [
            (
                trader.accounts[1],
                trader.accounts[0],
                round(gamma * 2 * UNITS_PER_CREDIT),
                request.round,
            )
        ]
        assert asks[0].evidence.data == first.body  # the purchase's bids, of the round before
        # An ask deeper than the task's ask_limit (its allowance by default) is no bid:
        # the world acts, and member 0 pays nothing to be rid of the state.
        request = await stream.read("request")
        deep = -int((net.task.cfg.asks_to + 1) * UNITS_PER_CREDIT)
        size = net.ledger.size
        await stream.call.write(trader.bids(request.round, [(1, 0, deep, 0)]))
        result = await stream.read("result")
        award = next(a for a in result.awards if a.slot == 0)
        assert (award.account, award.price) == ("", 0)
        assert not [d for d in net.debits_since(size, trader.accounts) if d.kind.value == "ask"]
        assert not net.task.state.startswith("paused"), net.task.state
        async with net.node.between_commits() as ledger:
            ledger.audit()
        stream.call.cancel()


async def test_a_royalty_is_paid_on_the_bids_of_the_purchase_it_settles(tmp_path):
    """Member 1 buys slot 0 in round 0; from round 1 only member 0 bids (and buys it
    from member 1, then from itself). At the episode's end member 1 pays the royalty of
    its round-0 purchase: its evidence is round 0's Bids, the only one naming member 1;
    the round settles and the ledger audits."""
    async with network(tmp_path, royalty=0.9) as net:
        trader = Trader(net)
        await trader.register(members=2)
        stream = await trader.trade()
        request = await stream.read("request")
        size = net.ledger.size
        first = trader.bids(request.round, [(1, 0, UNITS_PER_CREDIT, 1)])
        await stream.call.write(first)
        ended = False
        for _ in range(12):
            await stream.read("result")
            request = await stream.read("request")
            if int(tensor_from_proto(request.obs)[0]) == 0:  # slot 0 began a new episode
                ended = True
                break
            await stream.call.write(trader.bids(request.round, [(0, 0, 2 * UNITS_PER_CREDIT, 1)]))
        assert ended, "slot 0's episode did not end"
        royalties = [
            d for d in net.debits_since(size, trader.accounts[1:]) if d.kind.value == "royalty"
        ]
        assert royalties and all(d.evidence.data == first.body for d in royalties), royalties
        assert not net.task.state.startswith("paused"), net.task.state
        async with net.node.between_commits() as ledger:
            ledger.audit()
        stream.call.cancel()
