"""Property-based fuzzing of the network edge: every RPC of every server gets random and
mutated messages; each answer is a documented status (never UNKNOWN or INTERNAL, never a
hang: every call has a deadline), and nothing of it reaches the exchange's ledger.

Real servers, started once for the module on 127.0.0.1, port 0, on an event loop in a
thread of their own: an exchange (whose server also hosts the Ledger service) with two
Chain-v0 tasks, each with its environment node. ``done`` trains for three rounds (one
trader bids in them) and is ``done`` before any fuzz; ``live`` has no trader until the
last test, which fuzzes while it runs. The tests are plain functions with blocking
channels (generic methods, no serializers: they send bytes as they are), so that
Hypothesis (derandomized, no database) drives them.

What is sent:

- to every RPC (``Exchange``, ``Environment``, ``Ledger``, health and reflection):
  random bytes; truncated, bit-flipped, spliced and cut copies of a fresh valid request;
  valid messages of other types; requests with huge repeated fields (at most 1 MiB);
  well-formed requests with random fields (signed by a key the server knows, mostly);
  and, for one method of each kind on each server, a request of exactly the servers'
  limit and one a byte over it (``RESOURCE_EXHAUSTED``);
- for each signed message (Registration, the environment's three requests, Hello,
  Bids): envelopes without a signature, with a key of the wrong length, a signature
  over other bytes or with a wrong domain prefix, another key, a body that does not
  parse, another message's name, a stale timestamp, a sequence of 0 or beyond 2**63-1,
  a replayed or a lower sequence;
- Trade streams of garbage frames then valid ones, valid ones then garbage or random
  Bids, a Bids of thousands of bids, streams that end before their first frame, that
  their trader cancels, or whose channel closes.

Each answer is checked against what the documented rules (the servicers' status
tables, common.proto's envelope rules) say for those very bytes: a model of the checks
in their documented order, exact where the inputs decide (envelopes, places, sequence
numbers and windows, known identities, ledger ranges, accounts), a set of documented
statuses where the environment's dynamics decide (a step in an ended slot). After each
test the ledger (size, checkpoint, every balance: read in process and through the
Ledger and Exchange services), the identities and the budgets are as before, no
session is left open, and every service of every server answers health checks
``SERVING``. The last test fuzzes while ``live`` runs rounds (see its docstring).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catallax.exchange import crypto
from catallax.exchange.ledger import Opening, Transfer
from catallax.exchange.money import UNITS_PER_CREDIT
from catallax.node.env import start_server as start_env_node
from catallax.node.exchange import ExchangeNode
from catallax.node.exchange.config import parse_config
from catallax.node.keys import save_private_key
from catallax.node.localnet import catallax_command
from catallax.node.serving import MAX_MESSAGE_BYTES, channel_options
from catallax.node.wire import (
    DEFAULT_WINDOW_MS,
    MAX_SEQUENCE,
    Sequencer,
    message_class,
    now_ms,
    open_envelope,
    scoped,
    seal,
)
from catallax.node.wire.convert import DTYPES, tensor_to_proto
from catallax.v1 import common_pb2, environment_pb2, exchange_pb2, exchange_pb2_grpc, ledger_pb2

pytestmark = pytest.mark.timeout(240)

Code = grpc.StatusCode
OK, IA, UNAUTH, DENIED = (
    Code.OK,
    Code.INVALID_ARGUMENT,
    Code.UNAUTHENTICATED,
    Code.PERMISSION_DENIED,
)
NOT_FOUND, PRECOND, EXISTS = Code.NOT_FOUND, Code.FAILED_PRECONDITION, Code.ALREADY_EXISTS
RANGE, EXHAUSTED = Code.OUT_OF_RANGE, Code.RESOURCE_EXHAUSTED

CHAIN = "catallax/Chain-v0"
ORIGIN = "test.local/fuzz"
DONE, LIVE = "done", "live"
TASKS = (DONE, LIVE)
SLOTS = 2
#: Rounds the ``done`` task trains before it is done (no evaluation).
ROUNDS = 3
MAX_MEMBERS = 4
#: The deadline of every call the fuzz makes (seconds): an answer, or the test fails.
DEADLINE = 10.0
#: How long the set-up and the checks wait for what the servers should do soon.
PATIENCE = 60.0
#: Fresh timestamps are drawn at most this far from the servers' clock, stale ones at
#: least this far (ms): 20 s either side of the window's edge, which no example may come
#: within 10 s of by the time the servers read it.
FRESH_MS, STALE_MS = DEFAULT_WINDOW_MS - 20_000, DEFAULT_WINDOW_MS + 20_000
EXAMPLES = 100
#: The servers' message limit; requests of exactly this size pass the transport.
LIMIT = MAX_MESSAGE_BYTES
#: The most any net request holds, but for the limit's own test (bytes).
BOUND = 1 << 20

EXCHANGE_SERVICE = "catallax.v1.Exchange"
ENV_SERVICE = "catallax.v1.Environment"
LEDGER_SERVICE = "catallax.v1.Ledger"
HEALTH = "/grpc.health.v1.Health"
#: The services of each server (besides health and reflection).
SERVICES = {
    "exchange": [EXCHANGE_SERVICE, LEDGER_SERVICE],
    "env": [ENV_SERVICE],
    "live_env": [ENV_SERVICE],
}
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


# --- keys -------------------------------------------------------------------------------


class Signer:
    """A key that signs what the tests make, with its own growing sequence numbers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = crypto.generate_private_key()
        self.public_key = crypto.public_key_bytes(self.key)
        self.sequencer = Sequencer(self.public_key)

    def __repr__(self) -> str:
        return self.name

    def seal(self, body: Message, **fields: Any) -> common_pb2.Envelope:
        """``body`` stamped, ``fields`` set over the stamp, sealed as its own type."""
        self.sequencer.stamp(body)
        for name, value in fields.items():
            setattr(body, name, value)
        return seal(self.key, type(body), body)


EXCHANGE_KEY = crypto.generate_private_key()
ENV_KEY = crypto.generate_private_key()
#: Registered on both tasks; trades in ``done`` before the fuzz and in ``live`` in the end.
TRADER = Signer("trader")
#: Registered on ``done`` only: signs the fuzz's Hello and Bids there.
PROBE = Signer("probe")
#: Registered on ``live`` only: its sessions fuzz the running task.
LIVE_PROBE = Signer("live-probe")
#: Allowed by the ``done`` task's environment node (besides the exchange).
ENV_PROBE = Signer("env-probe")
#: Known to nobody.
STRANGERS = [Signer(f"stranger-{i}") for i in range(3)]


# --- the servers, on their own loop -----------------------------------------------------


@dataclass(repr=False)
class Net:
    """The servers, their loop, and blocking channels to them."""

    folder: Path
    loop: asyncio.AbstractEventLoop
    envs: dict[str, Any]
    node: ExchangeNode
    channels: dict[str, grpc.Channel]
    rules: dict[str, bytes]
    accounts: dict[str, list[str]] = field(default_factory=dict)
    #: The last sequence accepted from (key, task) on the task's Trade channel, as the
    #: fuzz predicts it (the exchange keeps it in memory between rounds).
    trade_last: dict[tuple[bytes, str], int] = field(default_factory=dict)
    #: Every account on the ledger (none opens during the fuzz).
    ledger_accounts: frozenset[str] = frozenset()
    _calls: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    def run(self, coro: Coroutine, timeout: float = PATIENCE) -> Any:
        """Run ``coro`` on the servers' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def task(self, name: str):
        return self.node.tasks[name]

    @property
    def ledger(self):
        return self.node.ctx.ledger

    def snapshot(self) -> tuple:
        """The ledger's size, checkpoint and balances (between commits), each task's
        identities and budget left."""

        async def read():
            async with self.node.ctx.ledger_lock:
                ledger = self.ledger
                tasks = tuple(
                    (t.name, frozenset(t.remote.identities), t.budget_left)
                    for t in self.node.tasks.values()
                )
                return ledger.size, ledger.checkpoint, ledger.balances(), tasks

        return self.run(read())

    def ledger_size(self) -> int:
        async def read() -> int:
            return self.ledger.size

        return self.run(read())

    # -- the calls: bytes in, a status out ------------------------------------------

    def _method(self, server: str, kind: str, path: str) -> Any:
        key = (server, kind, path)
        if key not in self._calls:
            channel = self.channels[server]
            self._calls[key] = getattr(channel, kind)(path)
        return self._calls[key]

    def ask(self, server: str, path: str, raw: bytes) -> bytes:
        """A unary call that must succeed; its reply's bytes."""
        return self._method(server, "unary_unary", path)(raw, timeout=DEADLINE)

    def remote_state(self) -> tuple[bytes, list[int], bytes]:
        """The latest checkpoint (the Ledger service's), and every account's balance with
        the checkpoint they were read at (the Exchange's Balances)."""
        note = ledger_pb2.Checkpoint.FromString(
            self.ask("exchange", f"/{LEDGER_SERVICE}/LatestCheckpoint", b"")
        ).note
        request = exchange_pb2.BalancesRequest(accounts=sorted(self.ledger_accounts))
        reply = exchange_pb2.BalancesReply.FromString(
            self.ask("exchange", f"/{EXCHANGE_SERVICE}/Balances", request.SerializeToString())
        )
        return note, list(reply.balances), reply.checkpoint.note

    def unary(self, server: str, path: str, raw: bytes) -> tuple[Code, str]:
        try:
            self._method(server, "unary_unary", path)(raw, timeout=DEADLINE)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
        return OK, ""

    def server_stream(
        self, server: str, path: str, raw: bytes, enough: Callable[[bytes], bool]
    ) -> tuple[Code, str]:
        """A server stream read until ``enough`` of a reply (then cancelled: OK) or its end."""
        call = self._method(server, "unary_stream", path)(raw, timeout=DEADLINE)
        try:
            for reply in call:
                if enough(reply):
                    call.cancel()
                    return OK, ""
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
        return call.code(), call.details() or ""

    def bidi(self, server: str, path: str, frames: Iterable[bytes]) -> tuple[Code, str]:
        """Send ``frames``, close the sending side, read every reply until the status."""
        call = self._method(server, "stream_stream", path)(iter(list(frames)), timeout=DEADLINE)
        try:
            for _ in call:
                pass
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
        return call.code(), call.details() or ""

    # -- health -----------------------------------------------------------------------

    def health(self) -> dict[tuple[str, str], int]:
        """Each server's and service's health status (blocking Check calls)."""
        out = {}
        for server, names in SERVICES.items():
            for name in ["", *names]:
                raw = health_pb2.HealthCheckRequest(service=name).SerializeToString()
                reply = self._method(server, "unary_unary", f"{HEALTH}/Check")(
                    raw, timeout=DEADLINE
                )
                out[server, name] = health_pb2.HealthCheckResponse.FromString(reply).status
        return out


def _keys(folder: Path) -> tuple[Path, Path]:
    keys = folder / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    ex, env = keys / "exchange.pem", keys / "env.pem"
    save_private_key(EXCHANGE_KEY, ex)
    save_private_key(ENV_KEY, env)
    return ex, Path(str(env) + ".pub")


async def _until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def _start(folder: Path, started: list[Any]) -> tuple[dict[str, Any], ExchangeNode]:
    """An environment node per task (the one of ``done`` also serves the env probe), and
    the exchange; each appended to ``started`` (the exchange first) once it runs."""
    envs: dict[str, Any] = {}
    allowed = {DONE: [ENV_PROBE.public_key], LIVE: []}
    for name in TASKS:
        envs[name] = await start_env_node(
            CHAIN, slots=SLOTS, key=ENV_KEY,
            exchange_keys=[crypto.public_key_bytes(EXCHANGE_KEY), *allowed[name]],
            data_dir=folder / f"env-{name}",
        )  # fmt: skip
        started.append(envs[name])
        EPOCHS.append(envs[name].servicer.epoch)
    ex_key, env_pub = _keys(folder)
    common = {
        "env_key": str(env_pub), "auction": "first-price", "allowance": 10.0,
        "discount": 1.0, "floor": 0.0, "bid_deadline_ms": 5000, "max_members": MAX_MEMBERS,
    }  # fmt: skip
    cfg = parse_config(
        {
            "exchange": {"origin": ORIGIN, "key": str(ex_key), "data_dir": "exchange", "port": 0},
            "tasks": {
                DONE: {**common, "env": f"127.0.0.1:{envs[DONE].port}", "rounds": ROUNDS},
                LIVE: {**common, "env": f"127.0.0.1:{envs[LIVE].port}"},
            },
        },
        base=folder,
    )
    node = await ExchangeNode.start(cfg)
    started.insert(0, node)
    await _until(lambda: all(t.market is not None for t in node.tasks.values()), "the tasks")
    return envs, node


async def _register(stub, signer: Signer, task: str, members: int) -> list[str]:
    body = exchange_pb2.Registration(exchange=ORIGIN, task=task, members=members)
    reply = await stub.Register(signer.seal(body), timeout=PATIENCE)
    return list(open_envelope(reply, "Registered").accounts)


async def _trade(stub, signer: Signer, task: str, rules: bytes, until: Callable[[], bool]) -> int:
    """A trader's session: bid a little in each round until ``until()`` after a round
    (or until cancelled); returns the rounds it saw settle."""
    call = stub.Trade(timeout=4 * PATIENCE)
    rounds = 0
    try:
        await call.write(signer.seal(exchange_pb2.Hello(exchange=ORIGIN, task=task)))
        while True:
            envelope = await call.read()
            assert envelope is not grpc.aio.EOF, f"the {task} session ended"
            message = open_envelope(envelope, "Round")
            if message.HasField("settled"):
                rounds += 1
                if until():
                    return rounds
            if message.open:
                request = message
                body = exchange_pb2.Bids(
                    exchange=ORIGIN, task=task, round=request.round, rules=rules
                )
                for member, slot in ((0, 0), (1, 1)):
                    body.bids.add(
                        member=member, slot=slot, amount=UNITS_PER_CREDIT // 100,
                        action=common_pb2.Value(discrete=(request.round + slot) % 2),
                    )  # fmt: skip
                await call.write(signer.seal(body))
    finally:
        call.cancel()


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Iterable[Net]:
    """The servers, started on a loop of their own; ``done`` trained and done."""
    folder = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-servers", daemon=True)
    thread.start()
    started: list[Any] = []  # what to stop, in order
    channels: dict[str, grpc.Channel] = {}

    def run(coro, timeout=PATIENCE):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    try:
        envs, node = run(_start(folder, started))
        options = channel_options(64 << 20)  # more than the servers take: to be refused
        for name, address in (
            ("exchange", node.address),
            ("env", f"127.0.0.1:{envs[DONE].port}"),
            ("live_env", f"127.0.0.1:{envs[LIVE].port}"),
        ):
            channels[name] = grpc.insecure_channel(address, options=options)
        rules = {name: node.tasks[name].rules for name in TASKS}
        net = Net(folder, loop, envs, node, channels, rules)
        run(_prepare(net))
        net.ledger_accounts = frozenset(net.snapshot()[2])
        assert node.tasks[DONE].state == "done" and node.tasks[DONE].rounds == ROUNDS
        assert node.tasks[LIVE].rounds == 0
        yield net
    finally:
        for channel in channels.values():
            channel.close()

        async def stop():
            for server in started:
                with contextlib.suppress(Exception):
                    await server.stop(0)

        with contextlib.suppress(Exception):
            run(stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(PATIENCE)
        with contextlib.suppress(RuntimeError):
            loop.close()


async def _prepare(net: Net) -> None:
    """Register the trader and the probes; the trader trades ``done`` until it is done."""
    channel = grpc.aio.insecure_channel(net.node.address)
    stub = exchange_pb2_grpc.ExchangeStub(channel)
    try:
        for signer, task, members in (
            (TRADER, DONE, 2), (TRADER, LIVE, 2), (PROBE, DONE, 1), (LIVE_PROBE, LIVE, 1),
        ):  # fmt: skip
            net.accounts[f"{signer}/{task}"] = await _register(stub, signer, task, members)
        done = net.task(DONE)
        await _trade(stub, TRADER, DONE, net.rules[DONE], lambda: done.state == "done")
        await _until(lambda: not done.sessions, "the trader's session to close")
    finally:
        await channel.close()


@pytest.fixture
def unchanged(net: Net) -> Iterable[None]:
    """The fuzz of a test leaves the ledger, identities and budgets as they were, and
    every server SERVING."""
    before, remote = net.snapshot(), net.remote_state()
    yield
    deadline = time.monotonic() + PATIENCE
    while net.task(DONE).sessions or net.task(LIVE).sessions:
        assert time.monotonic() < deadline, "a fuzz session stayed open"
        time.sleep(0.01)
    assert net.snapshot() == before
    assert net.remote_state() == remote
    serving = health_pb2.HealthCheckResponse.SERVING
    assert all(status == serving for status in net.health().values()), net.health()


# --- the documented rules, as a model ----------------------------------------------------


def _parse(cls: type[Message], raw: bytes) -> Message | None:
    try:
        return cls.FromString(raw)
    except DecodeError:
        return None


def _verifies(envelope: common_pb2.Envelope, name: str) -> bool:
    """Ed25519 over ``catallax/v1/`` + name + NUL + body (common.proto), checked here
    with ``cryptography`` itself."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes(envelope.public_key))
        key.verify(
            bytes(envelope.signature), b"catallax/v1/" + name.encode() + b"\x00" + envelope.body
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def envelope_verdict(
    envelope: common_pb2.Envelope, name: str, *, first_frame: bool = False
) -> tuple[Code | None, Message | None]:
    """What an envelope's own checks answer (a status), or its body once they pass."""
    if envelope.message != name:  # WrongMessage; HelloMissing first on a Trade stream
        return (PRECOND if first_frame else IA), None
    if not envelope.signature:
        return UNAUTH, None
    if len(envelope.public_key) != 32:
        return IA, None
    if not _verifies(envelope, name):
        return UNAUTH, None
    body = _parse(message_class(name), envelope.body)
    return (IA, None) if body is None else (None, body)


def _stale(timestamp_ms: int) -> bool:
    gap = abs(timestamp_ms - now_ms())
    assert not FRESH_MS + 10_000 < gap < STALE_MS - 10_000, "a timestamp near the window's edge"
    return gap > DEFAULT_WINDOW_MS


def book_verdict(last: int | None, sequence: int, timestamp_ms: int) -> Code | None:
    """A sequence book's check: the range, the window, then replay."""
    if not 1 <= sequence <= MAX_SEQUENCE:
        return IA
    if _stale(timestamp_ms):
        return RANGE
    if last is not None and sequence <= last:
        return EXISTS
    return None


def channel_verdict(last: int, sequence: int, timestamp_ms: int) -> Code | None:
    """A task's Trade channel's check: the range, replay, then the window."""
    if not 1 <= sequence <= MAX_SEQUENCE:
        return IA
    if sequence <= last:
        return EXISTS
    if _stale(timestamp_ms):
        return RANGE
    return None


def _last(book, key: bytes) -> int | None:
    got = book.last(key)
    return None if got is None else got[0]


def _identities(net: Net, task: str) -> set[bytes]:
    return set(net.task(task).remote.identities)


def register_verdict(net: Net, raw: bytes) -> frozenset[Code]:
    envelope = _parse(common_pb2.Envelope, raw)
    if envelope is None:
        return frozenset({IA})
    code, body = envelope_verdict(envelope, "Registration")
    if code is not None:
        return frozenset({code})
    if body.exchange != ORIGIN:
        return frozenset({IA})
    if body.task not in TASKS:
        return frozenset({NOT_FOUND})
    key = bytes(envelope.public_key)
    last = _last(net.node.ctx.book, scoped(key, f"register/{body.task}"))
    code = book_verdict(last, body.sequence, body.timestamp_ms)
    if code is not None:
        return frozenset({code})
    if key in _identities(net, body.task):
        return frozenset({OK})  # registering again grants nothing
    assert not 1 <= body.members <= MAX_MEMBERS, "the fuzz would register a new identity"
    return frozenset({IA})


def tensor_ok(msg: common_pb2.Tensor) -> np.ndarray | None:
    """The array a Tensor makes, or None where the documented rules refuse it."""
    if msg.dtype not in DTYPES:
        return None
    shape = tuple(msg.shape)
    if any(n < 0 for n in shape):
        return None
    dtype = np.dtype(msg.dtype)
    if len(msg.data) != math.prod(shape) * dtype.itemsize:
        return None
    try:
        flat = np.frombuffer(msg.data, dtype=dtype.newbyteorder("<"))
        if dtype == np.bool_ and np.any(flat.view(np.uint8) > 1):
            return None
        return flat.astype(dtype).reshape(shape)
    except ValueError:  # more axes than numpy has, or an array too big to describe
        return None


def env_verdict(net: Net, server: str, name: str, raw: bytes) -> frozenset[Code]:
    envelope = _parse(common_pb2.Envelope, raw)
    if envelope is None:
        return frozenset({IA})
    code, body = envelope_verdict(envelope, name)
    if code is not None:
        return frozenset({code})
    key = bytes(envelope.public_key)
    node = net.envs[DONE if server == "env" else LIVE]
    if key not in node.servicer.allowed:
        return frozenset({DENIED})
    if name != "SpecRequest" and body.epoch != node.servicer.epoch:
        return frozenset({PRECOND})  # StaleEpoch: a request of another run of the node
    code = book_verdict(_last(node.servicer.received, key), body.sequence, body.timestamp_ms)
    if code is not None:
        return frozenset({code})
    if name == "SpecRequest":
        return frozenset({OK})
    slots = list(body.slots)
    if any(s >= SLOTS for s in slots) or len(set(slots)) != len(slots):
        return frozenset({IA})
    if name == "ResetRequest":
        seeds = list(body.seeds)
        if (seeds and len(seeds) != len(slots)) or any(s < 0 for s in seeds):
            return frozenset({IA})
        return frozenset({OK})
    actions = tensor_ok(body.actions)
    if (
        actions is None
        or actions.ndim != 1
        or actions.shape[0] != len(slots)
        or not np.issubdtype(actions.dtype, np.integer)
        or not all(0 <= int(a) < 2 for a in actions)
    ):
        return frozenset({IA})
    return frozenset({OK, PRECOND})  # PRECOND: a slot whose episode ended (its dynamics)


def balances_verdict(net: Net, raw: bytes) -> frozenset[Code]:
    request = _parse(exchange_pb2.BalancesRequest, raw)
    if request is None or len(request.accounts) > 4096:
        return frozenset({IA})
    known = net.ledger_accounts
    return frozenset({OK if all(a in known for a in request.accounts) else NOT_FOUND})


def ledger_verdict(net: Net, method: str, raw: bytes, sizes: tuple[int, int]) -> frozenset[Code]:
    """The Ledger service's table, for every log size in ``sizes`` (the log may grow)."""
    cls = LEDGER_REQUESTS[method]
    request = _parse(cls, raw)
    if request is None:
        return frozenset({IA})
    out = set()
    for size in sizes:
        if method == "LatestCheckpoint":
            out.add(OK)
        elif method == "Entries":
            start, end = request.start, request.end
            out.add(IA if start > end else OK if start == end else RANGE if start >= size else OK)
        elif method == "InclusionProof":
            index, tree = request.index, request.tree_size
            out.add(IA if tree == 0 or index >= tree else RANGE if tree > size else OK)
        elif method == "ConsistencyProof":
            first, second = request.first, request.second
            out.add(IA if first == 0 or first > second else RANGE if second > size else OK)
        else:  # Tail
            out.add(RANGE if request.start > size else OK)
    return frozenset(out)


def health_verdict(net: Net, server: str, method: str, raw: bytes) -> frozenset[Code]:
    request = _parse(health_pb2.HealthCheckRequest, raw)
    if request is None:
        return frozenset({IA})
    if method == "Watch":  # an unknown service is SERVICE_UNKNOWN, in an OK stream
        return frozenset({OK})
    names = {"", *SERVICES[server]}
    if request.service in names:
        return frozenset({OK})
    if request.service.startswith(f"{EXCHANGE_SERVICE}/"):  # a task's own health, maybe
        return frozenset({OK, NOT_FOUND})
    return frozenset({NOT_FOUND})


def reflection_verdict(frames: list[bytes]) -> frozenset[Code]:
    parsed = [_parse(reflection_pb2.ServerReflectionRequest, f) for f in frames]
    return frozenset({IA if any(p is None for p in parsed) else OK})


def trade_verdict(net: Net, frames: list[bytes]) -> frozenset[Code]:
    """A Trade stream's status on ``done``: its Hello, then each Bids, in the documented
    order. No round opens there, so a Bids that passes the channel's checks and is not
    for a future round is late, never an error; the stream then ends when the trader
    closes it (``OK``: the trader ended its session)."""
    if not frames:
        return frozenset({OK})
    session: tuple[bytes, str] | None = None
    for i, raw in enumerate(frames):
        envelope = _parse(common_pb2.Envelope, raw)
        if envelope is None:
            return frozenset({IA})
        name = "Hello" if session is None else "Bids"
        code, body = envelope_verdict(envelope, name, first_frame=i == 0)
        if code is not None:
            return frozenset({code})
        key = bytes(envelope.public_key)
        if session is not None and key != session[0]:
            return frozenset({DENIED})  # NotYourMember: not the session's key
        if body.exchange != ORIGIN:
            return frozenset({IA})
        if body.task not in TASKS:
            return frozenset({IA if session is not None else NOT_FOUND})
        if session is None and key not in _identities(net, body.task):
            return frozenset({DENIED})
        if session is not None and body.task != session[1]:
            return frozenset({IA})
        task = body.task
        if (key, task) not in net.trade_last:
            net.trade_last[key, task] = _last(net.node.ctx.book, scoped(key, task)) or 0
        code = channel_verdict(net.trade_last[key, task], body.sequence, body.timestamp_ms)
        if code is not None:
            return frozenset({code})
        net.trade_last[key, task] = body.sequence
        if session is None:
            session = (key, task)
            continue
        if body.round > net.task(task).round:
            return frozenset({RANGE})  # FutureRound
    return frozenset({OK})  # the trader closed its stream


LEDGER_REQUESTS: dict[str, type[Message]] = {
    "LatestCheckpoint": ledger_pb2.CheckpointRequest,
    "Entries": ledger_pb2.EntriesRequest,
    "InclusionProof": ledger_pb2.InclusionProofRequest,
    "ConsistencyProof": ledger_pb2.ConsistencyProofRequest,
    "Tail": ledger_pb2.TailRequest,
}


# --- what the fuzz sends ----------------------------------------------------------------

uint32s = st.one_of(
    st.sampled_from([0, 1, 2, 3, 4, 5, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1)
)
uint64s = st.one_of(
    st.sampled_from([0, 1, 2, 3, 2**31, 2**63 - 1, 2**63, 2**64 - 1]), st.integers(0, 2**64 - 1)
)
int64s = st.one_of(
    st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63)]), st.integers(-(2**63), 2**63 - 1)
)
names = st.one_of(
    st.sampled_from([ORIGIN, DONE, LIVE, "", "nowhere", ORIGIN + " ", DONE.upper()]),
    st.text(max_size=24),
)


@st.composite
def places(draw) -> str:
    """This exchange's origin (mostly), or any name."""
    return ORIGIN if _often(draw, 75) else draw(names)


@st.composite
def task_names(draw, task: str = DONE) -> str:
    """``task`` (mostly), or any name."""
    return task if _often(draw, 75) else draw(st.one_of(st.sampled_from(TASKS), names))


def _often(draw, percent: int) -> bool:
    """True in about ``percent`` of the examples (Hypothesis's own choices among
    alternatives are far from even)."""
    return draw(st.integers(0, 99)) < percent


@st.composite
def timestamps(draw) -> int:
    """Fresh ones (mostly), stale ones either way, and the extremes; never near the
    window's edge."""
    if _often(draw, 70):
        return now_ms() + draw(st.integers(-FRESH_MS, FRESH_MS))
    offset = draw(st.one_of(st.integers(STALE_MS, 10**12), st.integers(-(10**12), -STALE_MS)))
    extreme = draw(st.sampled_from([None, 0, -(2**63), 2**63 - 1]))
    return max(-(2**63), min(2**63 - 1, now_ms() + offset)) if extreme is None else extreme


@st.composite
def sequences(draw, signer: Signer) -> int:
    """The signer's next number (mostly), 0, beyond 2**63-1, and small ones (replays,
    or first numbers of a channel never used). Never a huge valid one, which would
    spend the channel for good."""
    if _often(draw, 70):
        return signer.sequencer.next()
    return draw(
        st.one_of(st.just(0), st.integers(MAX_SEQUENCE + 1, 2**64 - 1), st.integers(1, 10**6))
    )


#: The epochs of the running environment nodes (filled as they start): requests name one
#: of them, mostly, or none, or one no node has.
EPOCHS: list[bytes] = []


def epochs(draw) -> bytes:
    if _often(draw, 80) and EPOCHS:
        return draw(st.sampled_from(EPOCHS))
    return draw(st.sampled_from([b"", b"\x00" * 16]))


def _stamped(body: Message, signer: Signer, draw) -> Message:
    body.sequence = draw(sequences(signer))
    body.timestamp_ms = draw(timestamps())
    return body


@st.composite
def registrations(draw) -> bytes:
    """Registrations with random fields, signed by the trader (known on both tasks:
    nothing it sends can register anyone)."""
    body = exchange_pb2.Registration(
        exchange=draw(places()), task=draw(task_names()), members=draw(uint32s),
        family=draw(st.text(max_size=8)),
    )  # fmt: skip
    return seal(TRADER.key, "Registration", _stamped(body, TRADER, draw)).SerializeToString()


@st.composite
def tensors(draw) -> common_pb2.Tensor:
    dtype = draw(st.one_of(st.sampled_from(sorted(DTYPES)), st.sampled_from(["", "int128", "O"])))
    how = draw(st.sampled_from(["actions", "actions", "shaped", "random"]))
    if how == "actions" and dtype in DTYPES:
        values = draw(st.lists(st.integers(-1, 2), max_size=3))
        with np.errstate(all="ignore"):
            array = np.array(values).astype(dtype)
        return tensor_to_proto(array)
    shape = draw(
        st.one_of(
            st.lists(st.integers(-2, 4), max_size=4),
            st.lists(st.sampled_from([0, 1, 2**31, 2**62, -(2**63)]), max_size=4),
            st.just([1] * 65),
        )
    )
    itemsize = np.dtype(dtype).itemsize if dtype in DTYPES else 1
    size = math.prod(shape) * itemsize if how == "shaped" and all(n >= 0 for n in shape) else -1
    data = draw(st.binary(min_size=size, max_size=size)) if 0 <= size <= 64 else b""
    if how == "random":
        data = draw(st.binary(max_size=32))
    return common_pb2.Tensor(shape=shape, dtype=dtype, data=data)


@st.composite
def slot_lists(draw) -> list[int]:
    """Slots of the node (mostly: each once), or any numbers."""
    if _often(draw, 70):
        return draw(st.lists(st.sampled_from(range(SLOTS)), unique=True, max_size=SLOTS))
    return draw(st.lists(uint32s, max_size=4))


@st.composite
def env_requests(draw, name: str) -> bytes:
    """Environment requests with random fields, signed by the allowed probe (mostly) or
    a stranger."""
    signer = ENV_PROBE if _often(draw, 75) else draw(st.sampled_from(STRANGERS))
    if name == "SpecRequest":
        body = environment_pb2.SpecRequest()
    elif name == "ResetRequest":
        slots = draw(slot_lists())
        if _often(draw, 70):
            seeds = draw(st.lists(int64s, min_size=len(slots), max_size=len(slots)))
        else:
            seeds = draw(st.one_of(st.just([]), st.lists(int64s, max_size=3)))
        body = environment_pb2.ResetRequest(slots=slots, seeds=seeds, epoch=epochs(draw))
    else:
        body = environment_pb2.StepRequest(
            slots=draw(slot_lists()), actions=draw(tensors()), epoch=epochs(draw)
        )
    return seal(signer.key, name, _stamped(body, signer, draw)).SerializeToString()


def hello(signer: Signer, task: str = DONE) -> bytes:
    """A valid Hello of ``signer`` on ``task``, serialized."""
    return signer.seal(exchange_pb2.Hello(exchange=ORIGIN, task=task)).SerializeToString()


def bids_body(net: Net, task: str, round_: int, offers=((0, 0, 1000, 1),)) -> exchange_pb2.Bids:
    """A valid Bids body: ``(member, slot, amount, action)`` each."""
    body = exchange_pb2.Bids(exchange=ORIGIN, task=task, round=round_, rules=net.rules[task])
    for member, slot, amount, action in offers:
        body.bids.add(
            member=member, slot=slot, amount=amount, action=common_pb2.Value(discrete=action)
        )
    return body


@st.composite
def hellos(draw, signers: list[Signer], task: str) -> bytes:
    signer = signers[0] if _often(draw, 75) else draw(st.sampled_from(signers[1:]))
    body = exchange_pb2.Hello(exchange=draw(places()), task=draw(task_names(task)))
    return seal(signer.key, "Hello", _stamped(body, signer, draw)).SerializeToString()


@st.composite
def bid_lists(draw) -> list[exchange_pb2.Bid]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        bid = exchange_pb2.Bid(
            member=draw(st.one_of(st.sampled_from([0, 0, 1]), uint32s)),
            slot=draw(st.one_of(st.sampled_from([0, 1, 2]), uint32s)),
            amount=draw(st.one_of(st.sampled_from([0, 1000, -1, 2**63 - 1]), int64s)),
        )
        action = draw(st.sampled_from(["discrete", "discrete", "odd", "tensor", "none"]))
        if action == "discrete":
            bid.action.discrete = draw(st.sampled_from([0, 1]))
        elif action == "odd":
            bid.action.discrete = draw(int64s)
        elif action == "tensor":
            bid.action.tensor.CopyFrom(draw(tensors()))
        out.append(bid)
    return out


@st.composite
def stamps(draw, signer: Signer) -> Callable[[Message], Message]:
    """What :func:`sequences` and :func:`timestamps` draw, applied when the body is made
    (a message made later than it is drawn, after a Hello say, is numbered after it)."""
    fresh_number, fresh_time = _often(draw, 70), _often(draw, 70)
    number = None if fresh_number else draw(sequences(signer))
    offset = draw(st.integers(-FRESH_MS, FRESH_MS)) if fresh_time else None
    stale = None if fresh_time else draw(timestamps())

    def stamp(body: Message) -> Message:
        body.sequence = signer.sequencer.next() if number is None else number
        body.timestamp_ms = now_ms() + offset if offset is not None else stale
        return body

    return stamp


#: Faults that refuse a Bids at the task's channel, whether or not its round is open ...
CHANNEL_FAULTS = ["future", "stale", "zero", "exchange", "task"]
#: ... and faults that the open round's checks refuse (a Bids with them that is late, for
#: a round already closed, is not counted either).
ROUND_FAULTS = ["rules", "amount", "action", "slot", "member", "twice"]


@st.composite
def bid_makers(
    draw, net: Net, signer: Signer, task: str, *, defect: bool = False
) -> Callable[[int], bytes]:
    """Bids with random fields, signed by ``signer`` (mostly), made for the round the
    exchange asks for (or another). With ``defect``, each has at least one fault that
    refuses it whether its round is open or not (or makes it late), so that none can
    ever be counted; then its other fields are mostly right, so that many reach the
    checks of the open round."""
    tidy = 90 if defect else 75
    exchange = ORIGIN if _often(draw, tidy) else draw(names)
    task_name = task if _often(draw, tidy) else draw(st.one_of(st.sampled_from(TASKS), names))
    rules = net.rules[task] if _often(draw, 80) else draw(st.sampled_from([b"", b"\x01" * 32]))
    asked = _often(draw, 85 if defect else 60)
    other = draw(st.one_of(st.sampled_from([-1, 1, 10**6]), uint64s))
    bid_list = draw(bid_lists())
    stamp = draw(stamps(signer))
    faults = ROUND_FAULTS if _often(draw, 60) else CHANNEL_FAULTS
    fault = draw(st.sampled_from(faults))
    key = signer.key if _often(draw, tidy) else draw(st.sampled_from([STRANGERS[0].key, PROBE.key]))

    def make(round_: int) -> bytes:
        number = other if other > 10**6 else max(round_ + other, 0)
        number = round_ if asked else number
        body = exchange_pb2.Bids(exchange=exchange, task=task_name, round=number, rules=rules)
        body.bids.extend(bid_list)
        stamp(body)
        if defect:
            _fault(body, fault, round_, task)
        return seal(key, "Bids", body).SerializeToString()

    return make


def _fault(body: exchange_pb2.Bids, fault: str, round_: int, task: str) -> None:
    def bid(member: int = 0, slot: int = 0, amount: int = 1000, action: int = 0) -> None:
        body.bids.add(
            member=member, slot=slot, amount=amount, action=common_pb2.Value(discrete=action)
        )

    if fault == "future":
        body.round = round_ + 10**6
    elif fault == "stale":
        body.timestamp_ms = now_ms() - STALE_MS - 1000
    elif fault == "zero":
        body.sequence = 0
    elif fault == "exchange":
        body.exchange = "elsewhere"
    elif fault == "task":
        body.task = DONE if task == LIVE else LIVE
    elif fault == "rules":
        body.rules = b"\x02" * 32
    elif fault == "amount":
        bid(amount=-1)
    elif fault == "action":
        bid(action=2)
    elif fault == "slot":
        bid(slot=SLOTS)
    elif fault == "member":
        bid(member=1)  # the live probe has one member
    else:  # two bids for one member and slot
        bid(slot=1)
        bid(slot=1, amount=5)


def bids(net: Net, signer: Signer, task: str) -> st.SearchStrategy[bytes]:
    """:func:`bid_makers` for the task's current round."""
    return bid_makers(net, signer, task).map(lambda make: make(net.task(task).round))


def _flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


@st.composite
def mutated(draw, valid: Callable[[], bytes]) -> bytes:
    """A fresh valid request, truncated, bit-flipped, spliced, cut, or as it is."""
    data = valid()
    how = draw(st.sampled_from(["truncate", "flip", "flip", "splice", "cut", "append", "same"]))
    if how == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "flip" and data:
        return _flip(data, draw(st.integers(0, 8 * len(data) - 1)))
    if how == "splice":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if how == "cut" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + data[draw(st.integers(i + 1, len(data))) :]
    if how == "append":
        return data + draw(st.binary(min_size=1, max_size=16))
    return data


def other_messages(net: Net) -> list[bytes]:
    """Valid messages of many types, each to be sent where another is expected."""
    note = net.ledger.checkpoint.encode()
    some = [
        exchange_pb2.ListTasksReply(exchange=ORIGIN, public_key=TRADER.public_key),
        exchange_pb2.Registration(exchange=ORIGIN, task=DONE, members=1, sequence=5),
        exchange_pb2.BalancesRequest(accounts=net.accounts[f"{TRADER}/{DONE}"]),
        exchange_pb2.Hello(exchange=ORIGIN, task=DONE, sequence=7, timestamp_ms=now_ms()),
        bids_body(net, DONE, 1),
        environment_pb2.StepRequest(slots=[0], actions=tensor_to_proto(np.array([1]))),
        environment_pb2.ResetRequest(slots=[0, 1], seeds=[1, 2]),
        ledger_pb2.EntriesRequest(start=1, end=3),
        ledger_pb2.InclusionProofRequest(index=2, tree_size=2**40),
        ledger_pb2.ConsistencyProofRequest(first=2, second=1),
        ledger_pb2.TailRequest(start=2**63),
        ledger_pb2.TailEvent(checkpoint=ledger_pb2.Checkpoint(note=note)),
        ledger_pb2.Proof(hashes=[b"\x00" * 32] * 3),
        common_pb2.Tensor(shape=[2], dtype="float32", data=b"\x00" * 8),
        health_pb2.HealthCheckRequest(service=EXCHANGE_SERVICE),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=EXCHANGE_SERVICE),
    ]
    sealed = [
        TRADER.seal(exchange_pb2.Hello(exchange=ORIGIN, task=DONE)),
        ENV_PROBE.seal(environment_pb2.SpecRequest()),
        PROBE.seal(exchange_pb2.Registration(exchange=ORIGIN, task=DONE, members=1)),
    ]
    return [m.SerializeToString() for m in some + sealed]


def others(net: Net) -> st.SearchStrategy[bytes]:
    """One of :func:`other_messages`, made when drawn (the signed ones are fresh)."""
    count = len(other_messages(net))
    return st.integers(0, count - 1).map(lambda i: other_messages(net)[i])


# --- the RPCs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rpc:
    """One RPC as the fuzz sees it: where, how it is called, what is valid, what its
    answer to some bytes must be, and strategies of its own."""

    name: str
    server: str
    path: str
    kind: str  # "unary", "server_stream" or "bidi"
    valid: Callable[[Net], bytes]
    verdict: Callable[[Net, bytes], frozenset[Code]]
    fields: Callable[[Net], st.SearchStrategy[bytes]] | None = None
    #: Examples per test (gRPC's own health and reflection services get fewer).
    examples: int = EXAMPLES
    huge: Callable[[Net], st.SearchStrategy[bytes]] | None = None
    #: For a server stream: enough of its replies once one is (then it is cancelled).
    enough: Callable[[bytes], bool] = lambda reply: True


def _send(net: Net, rpc: Rpc, raw: bytes) -> tuple[Code, str]:
    if rpc.kind == "unary":
        return net.unary(rpc.server, rpc.path, raw)
    if rpc.kind == "server_stream":
        return net.server_stream(rpc.server, rpc.path, raw, rpc.enough)
    return net.bidi(rpc.server, rpc.path, [raw])


def _size(net: Net) -> tuple[int, int]:
    size = net.ledger_size()
    return size, size


def _tail_enough(reply: bytes) -> bool:
    return ledger_pb2.TailEvent.FromString(reply).HasField("checkpoint")


def _epoch(net: Net, server: str) -> bytes:
    return net.envs[DONE if server == "env" else LIVE].servicer.epoch


def _env_rpc(server: str, method: str) -> Rpc:
    name = f"{method}Request"

    def valid(net: Net) -> bytes:
        if method == "Spec":
            body = environment_pb2.SpecRequest()
        elif method == "Reset":
            body = environment_pb2.ResetRequest(slots=[0], seeds=[7], epoch=_epoch(net, server))
        else:
            body = environment_pb2.StepRequest(
                slots=[0], actions=tensor_to_proto(np.array([1])), epoch=_epoch(net, server)
            )
        return ENV_PROBE.seal(body).SerializeToString()

    def huge(net: Net) -> st.SearchStrategy[bytes]:
        def make(n: int, seeds: bool) -> bytes:
            slots = list(range(n)) if seeds else [0] * n
            body = (
                environment_pb2.ResetRequest(
                    slots=slots, seeds=[1] * n if seeds else [], epoch=_epoch(net, server)
                )
                if method != "Step"
                else environment_pb2.StepRequest(
                    slots=slots, actions=tensor_to_proto(np.ones(n, dtype=np.int64)),
                    epoch=_epoch(net, server),
                )
            )  # fmt: skip
            return ENV_PROBE.seal(body).SerializeToString()

        return st.builds(make, st.integers(1000, 50_000), st.booleans())

    return Rpc(
        f"{server}:{method}", server, f"/{ENV_SERVICE}/{method}", "unary", valid,
        lambda net, raw: env_verdict(net, server, name, raw),
        fields=lambda net: env_requests(name),
        huge=huge if method != "Spec" else None,
    )  # fmt: skip


def _ledger_rpc(method: str) -> Rpc:
    cls = LEDGER_REQUESTS[method]

    def valid(net: Net) -> bytes:
        size = net.ledger_size()
        fields = {
            "LatestCheckpoint": {},
            "Entries": {"start": 0, "end": size},
            "InclusionProof": {"index": size - 1, "tree_size": size},
            "ConsistencyProof": {"first": 1, "second": size},
            "Tail": {"start": max(size - 2, 0)},
        }[method]
        return cls(**fields).SerializeToString()

    def fields(net: Net) -> st.SearchStrategy[bytes]:
        size = net.ledger_size()
        near = st.one_of(st.integers(0, size + 2), uint64s)
        names = [f.name for f in cls.DESCRIPTOR.fields]
        return st.fixed_dictionaries({n: near for n in names}).map(
            lambda kw: cls(**kw).SerializeToString()
        )

    return Rpc(
        f"ledger:{method}", "exchange", f"/{LEDGER_SERVICE}/{method}",
        "server_stream" if method == "Tail" else "unary", valid,
        lambda net, raw: ledger_verdict(net, method, raw, _size(net)),
        fields=fields, enough=_tail_enough,
    )  # fmt: skip


def _health_rpcs(server: str) -> list[Rpc]:
    def valid(net: Net) -> bytes:
        return health_pb2.HealthCheckRequest(service="").SerializeToString()

    def fields(net: Net) -> st.SearchStrategy[bytes]:
        services = st.one_of(st.sampled_from(["", *SERVICES[server]]), names)
        return services.map(lambda s: health_pb2.HealthCheckRequest(service=s).SerializeToString())

    return [
        Rpc(
            f"{server}:health.{method}",
            server,
            f"{HEALTH}/{method}",
            "server_stream" if method == "Watch" else "unary",
            valid,
            lambda net, raw, m=method: health_verdict(net, server, m, raw),
            fields=fields,
            examples=EXAMPLES // 2,
        )
        for method in ("Check", "Watch")
    ]


def _reflection_rpc(server: str) -> Rpc:
    R = reflection_pb2.ServerReflectionRequest

    def valid(net: Net) -> bytes:
        return R(list_services="").SerializeToString()

    def fields(net: Net) -> st.SearchStrategy[bytes]:
        symbol = st.one_of(
            st.sampled_from([EXCHANGE_SERVICE, ENV_SERVICE, "catallax.v1.Bids"]), names
        )
        return st.one_of(
            st.builds(lambda s: R(file_containing_symbol=s), symbol),
            st.builds(lambda s: R(file_by_filename=s), st.one_of(
                st.just("catallax/v1/exchange.proto"), names)),
            st.builds(lambda s: R(all_extension_numbers_of_type=s), symbol),
            st.builds(
                lambda s, n: R(file_containing_extension=reflection_pb2.ExtensionRequest(
                    containing_type=s, extension_number=n)), symbol, st.integers(-5, 2**31 - 1)),
            st.builds(lambda h: R(host=h), names),
        ).map(lambda m: m.SerializeToString())  # fmt: skip

    return Rpc(
        f"{server}:reflection", server, REFLECTION, "bidi", valid,
        lambda net, raw: reflection_verdict([raw]), fields=fields, examples=EXAMPLES // 2,
    )  # fmt: skip


def _exchange_rpcs() -> list[Rpc]:
    def register_valid(net: Net) -> bytes:
        body = exchange_pb2.Registration(exchange=ORIGIN, task=DONE, members=1)
        return TRADER.seal(body).SerializeToString()

    def balances_valid(net: Net) -> bytes:
        return exchange_pb2.BalancesRequest(
            accounts=net.accounts[f"{TRADER}/{DONE}"]
        ).SerializeToString()

    def balances_fields(net: Net) -> st.SearchStrategy[bytes]:
        known = sorted(net.ledger_accounts)
        account = st.one_of(st.sampled_from(known), st.sampled_from(known), names)
        return st.lists(account, max_size=6).map(
            lambda a: exchange_pb2.BalancesRequest(accounts=a).SerializeToString()
        )

    def balances_huge(net: Net) -> st.SearchStrategy[bytes]:
        known = sorted(net.ledger_accounts)

        def make(n: int, unknown: bool) -> bytes:
            accounts = (known * (n // len(known) + 1))[:n]
            if unknown:
                accounts[-1] = "x" * 1000
            return exchange_pb2.BalancesRequest(accounts=accounts).SerializeToString()

        return st.builds(make, st.sampled_from([4095, 4096, 4097, 10_000]), st.booleans())

    return [
        Rpc(
            "exchange:Register", "exchange", f"/{EXCHANGE_SERVICE}/Register", "unary",
            register_valid, register_verdict, fields=lambda net: registrations(),
        ),
        Rpc(
            "exchange:ListTasks", "exchange", f"/{EXCHANGE_SERVICE}/ListTasks", "unary",
            lambda net: b"",
            lambda net, raw: frozenset({OK if _parse(exchange_pb2.ListTasksRequest, raw)
                                        is not None else IA}),
        ),
        Rpc(
            "exchange:Balances", "exchange", f"/{EXCHANGE_SERVICE}/Balances", "unary",
            balances_valid, balances_verdict, fields=balances_fields, huge=balances_huge,
        ),
        Rpc(
            "exchange:Trade", "exchange", f"/{EXCHANGE_SERVICE}/Trade", "bidi",
            lambda net: hello(PROBE), lambda net, raw: trade_verdict(net, [raw]),
            fields=lambda net: hellos([PROBE, *STRANGERS], DONE),
        ),
    ]  # fmt: skip


RPCS: list[Rpc] = [
    *_exchange_rpcs(),
    *(_ledger_rpc(m) for m in LEDGER_REQUESTS),
    *(_env_rpc("env", m) for m in ("Spec", "Reset", "Step")),
    *_health_rpcs("exchange"),
    *_health_rpcs("env"),
    _reflection_rpc("exchange"),
    _reflection_rpc("env"),
]
BY_NAME = {rpc.name: rpc for rpc in RPCS}


@st.composite
def requests(draw, net: Net, rpc: Rpc) -> bytes:
    """Any request the fuzz sends to ``rpc``: random bytes, a mutated valid one, another
    message, random fields, or huge repeated fields."""
    if rpc.fields is not None and _often(draw, 40):
        kind = "fields"
    elif rpc.huge is not None and _often(draw, 10):
        kind = "huge"
    else:
        kind = draw(st.sampled_from(["random", "mutated", "mutated", "other"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "mutated":
        return draw(mutated(lambda: rpc.valid(net)))
    if kind == "other":
        return draw(others(net))
    if kind == "fields":
        return draw(rpc.fields(net))
    raw = draw(rpc.huge(net))
    assert len(raw) <= BOUND
    return raw


def _check(rpc: Rpc, raw: bytes, expected: frozenset[Code], got: tuple[Code, str]) -> None:
    code, details = got
    assert code not in (Code.UNKNOWN, Code.INTERNAL), (rpc.name, code, details, raw[:200])
    assert code in expected, (rpc.name, code, details, sorted(c.name for c in expected), raw[:200])


# --- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BY_NAME))
def test_every_rpc_answers_random_and_mutated_requests_with_a_documented_status(
    net: Net, unchanged: None, name: str
) -> None:
    rpc = BY_NAME[name]

    @settings(FUZZ, max_examples=rpc.examples)
    @given(data=st.data())
    def fuzz(data) -> None:
        raw = data.draw(requests(net, rpc), label="request")
        expected = rpc.verdict(net, raw)
        _check(rpc, raw, expected, _send(net, rpc, raw))

    fuzz()


#: One RPC of each kind (unary, server stream, bidirectional) on each server: the limit
#: is the server's, whatever the method.
AT_LIMIT = [
    "exchange:Register", "ledger:Tail", "exchange:Trade",
    "env:Step", "env:health.Watch", "env:reflection",
]  # fmt: skip


def test_a_request_just_over_the_limit_is_resource_exhausted(net: Net, unchanged: None) -> None:
    """A request one byte over the servers' limit is refused by gRPC itself
    (RESOURCE_EXHAUSTED); one of exactly the limit passes the transport (and is found
    not to parse)."""
    at_limit = b"\xff" * LIMIT  # a varint that never ends: no message parses it
    over = at_limit + b"\xff"
    for name in AT_LIMIT:
        rpc = BY_NAME[name]
        assert rpc.verdict(net, at_limit) == {IA}, name
        _check(rpc, at_limit, frozenset({IA}), _send(net, rpc, at_limit))
        code, details = _send(net, rpc, over)
        assert code == EXHAUSTED, (rpc.name, code, details)


# --- bad envelopes ----------------------------------------------------------------------

DEFECTS = [
    "no signature", "a key of the wrong length", "a signature over other bytes",
    "a wrong domain prefix", "a flipped signature bit", "another key", "a body that does not parse",
    "another message's name", "a stale timestamp", "a sequence of 0",
    "a sequence beyond 2**63-1", "a replayed sequence", "a lower sequence",
]  # fmt: skip

#: The signed messages, who signs them well, and the RPC that takes them (on a Trade
#: stream a Bids follows a valid Hello).
SIGNED: dict[str, tuple[Signer, str]] = {
    "Registration": (TRADER, "exchange:Register"),
    "SpecRequest": (ENV_PROBE, "env:Spec"),
    "ResetRequest": (ENV_PROBE, "env:Reset"),
    "StepRequest": (ENV_PROBE, "env:Step"),
    "Hello": (PROBE, "exchange:Trade"),
    "Bids": (PROBE, "exchange:Trade"),
}


def _good_body(net: Net, message: str) -> Message:
    return {
        "Registration": lambda: exchange_pb2.Registration(exchange=ORIGIN, task=DONE, members=1),
        "SpecRequest": environment_pb2.SpecRequest,
        "ResetRequest": lambda: environment_pb2.ResetRequest(
            slots=[1], seeds=[3], epoch=_epoch(net, "env")
        ),
        "StepRequest": lambda: environment_pb2.StepRequest(
            slots=[1], actions=tensor_to_proto(np.array([0])), epoch=_epoch(net, "env")
        ),
        "Hello": lambda: exchange_pb2.Hello(exchange=ORIGIN, task=DONE),
        "Bids": lambda: bids_body(net, DONE, net.task(DONE).round),
    }[message]()


def _signed(key, name: str, body: bytes) -> common_pb2.Envelope:
    """An envelope of ``body`` as it is, well signed as ``name``."""
    return common_pb2.Envelope(
        body=body, public_key=crypto.public_key_bytes(key),
        signature=crypto.sign(key, name, body), message=name,
    )  # fmt: skip


def _defective(draw, net: Net, message: str, defect: str) -> tuple[list[common_pb2.Envelope], Code]:
    """Envelopes to send (the last one defective, earlier ones valid) and the status
    the defect must get."""
    signer, _ = SIGNED[message]
    body = signer.sequencer.stamp(_good_body(net, message))
    data = body.SerializeToString()
    good = seal(signer.key, message, body)
    other_names = [m for m in SIGNED if m != message]
    if defect == "no signature":
        return [_with(good, signature=b"")], UNAUTH
    if defect == "a key of the wrong length":
        size = draw(st.one_of(st.integers(0, 31), st.integers(33, 64)))
        return [_with(good, public_key=draw(st.binary(min_size=size, max_size=size)))], IA
    if defect == "a signature over other bytes":
        other = draw(st.binary(max_size=64).filter(lambda b: b != data))
        return [_with(good, signature=crypto.sign(signer.key, message, other))], UNAUTH
    if defect == "a wrong domain prefix":
        name = message.encode()
        prefix = draw(
            st.sampled_from(
                [b"", b"catallax/v2/" + name + b"\x00", b"catallax/v1/" + name,
                 b"catallax/v1/" + draw(st.sampled_from(other_names)).encode() + b"\x00",
                 b"catallax/v1/" + name.lower() + b"\x00", b"catallax/v1/" + name + b"\x00\x00"]
            )
        )  # fmt: skip
        return [_with(good, signature=signer.key.sign(prefix + data))], UNAUTH
    if defect == "a flipped signature bit":
        return [_with(good, signature=_flip(good.signature, draw(st.integers(0, 511))))], UNAUTH
    if defect == "another key":
        key = draw(st.one_of(st.sampled_from([s.public_key for s in STRANGERS]),
                             st.binary(min_size=32, max_size=32)))  # fmt: skip
        return [_with(good, public_key=key)], UNAUTH
    if defect == "a body that does not parse":
        cls = message_class(message)
        garbage = draw(st.binary(min_size=1, max_size=64).filter(lambda b: _parse(cls, b) is None))
        return [_signed(signer.key, message, garbage)], IA
    if defect == "another message's name":
        name = draw(st.sampled_from([*other_names, "Envelope", "Registered", "StepReply"]))
        first = message == "Hello"
        return [_signed(signer.key, name, data)], PRECOND if first else IA
    if defect == "a stale timestamp":
        body.timestamp_ms = now_ms() + draw(st.sampled_from([-1, 1])) * draw(
            st.integers(STALE_MS, 10**12)
        )
        return [seal(signer.key, message, body)], RANGE
    if defect == "a sequence of 0":
        body.sequence = 0
        return [seal(signer.key, message, body)], IA
    if defect == "a sequence beyond 2**63-1":
        body.sequence = draw(st.integers(MAX_SEQUENCE + 1, 2**64 - 1))
        return [seal(signer.key, message, body)], IA
    if defect == "a replayed sequence":
        return [good, good], EXISTS
    # a lower sequence: a valid message, then a fresh one numbered below it
    later = signer.sequencer.stamp(_good_body(net, message))
    later.sequence = body.sequence - draw(st.integers(0, 10**6))
    return [good, seal(signer.key, message, later)], EXISTS


def _with(envelope: common_pb2.Envelope, **fields: Any) -> common_pb2.Envelope:
    out = common_pb2.Envelope()
    out.CopyFrom(envelope)
    for name, value in fields.items():
        setattr(out, name, value)
    return out


@pytest.mark.parametrize("message", list(SIGNED))
def test_bad_envelopes_get_their_documented_status(net: Net, unchanged: None, message: str) -> None:
    """Each defect, its status: the same for every signed message (one exception: on a
    Trade stream, a first frame that is not a Hello is FAILED_PRECONDITION)."""
    _, rpc_name = SIGNED[message]
    rpc = BY_NAME[rpc_name]

    @FUZZ
    @given(data=st.data())
    def fuzz(data) -> None:
        defect = data.draw(st.sampled_from(DEFECTS), label="defect")
        opening = hello(PROBE)  # for Bids: numbered before them
        envelopes, code = _defective(data.draw, net, message, defect)
        raws = [e.SerializeToString() for e in envelopes]
        if message in ("Hello", "Bids"):
            if message == "Hello" and len(raws) == 2:  # a valid session first, then the replay
                assert trade_verdict(net, raws[:1]) == {OK}
                got = net.bidi("exchange", rpc.path, raws[:1])
                _check(rpc, raws[0], frozenset({OK}), got)
                raws = raws[1:]
            frames = raws if message == "Hello" else [opening, *raws]
            assert trade_verdict(net, frames) == {code}, (defect, code)
            _check(rpc, frames[-1], frozenset({code}), net.bidi("exchange", rpc.path, frames))
            return
        *first, last = raws
        for raw in first:  # the valid one the replay repeats: OK (a step may find its
            _check(rpc, raw, rpc.verdict(net, raw), _send(net, rpc, raw))  # slot ended)
        assert rpc.verdict(net, last) == {code}, (defect, code)
        _check(rpc, last, frozenset({code}), _send(net, rpc, last))

    fuzz()


# --- Trade streams ----------------------------------------------------------------------


@st.composite
def garbage_frames(draw, net: Net) -> bytes:
    """A frame that is no good as what it stands for: random bytes, another message, a
    mutated valid one."""
    kind = draw(st.sampled_from(["random", "other", "hello", "bids"]))
    if kind == "random":
        return draw(st.binary(max_size=120))
    if kind == "other":
        return draw(others(net))
    if kind == "hello":
        return draw(mutated(lambda: hello(PROBE)))
    return draw(
        mutated(lambda: PROBE.seal(bids_body(net, DONE, net.task(DONE).round)).SerializeToString())
    )


@st.composite
def valid_frames(draw, net: Net) -> list[bytes]:
    """A valid Hello of the probe on ``done``, then Bids (late there: never counted)."""
    frames = [hello(PROBE)]
    for _ in range(draw(st.integers(0, 3))):
        round_ = draw(st.integers(0, net.task(DONE).round))
        frames.append(PROBE.seal(bids_body(net, DONE, round_)).SerializeToString())
    return frames


@st.composite
def streams(draw, net: Net) -> list[bytes]:
    how = draw(
        st.sampled_from(["garbage, then valid", "valid, then garbage", "valid, then bids", "huge"])
    )
    if how == "huge":  # a Hello, then a Bids of thousands of bids (all fine, and late)
        frames = [hello(PROBE)]
        count = draw(st.integers(1000, 30_000))
        many = [(0, e % SLOTS, 1000, e % 2) for e in range(count)]
        body = bids_body(net, DONE, net.task(DONE).round, many)
        return [*frames, PROBE.seal(body).SerializeToString()]
    if how == "garbage, then valid":
        return draw(st.lists(garbage_frames(net), min_size=1, max_size=3)) + draw(valid_frames(net))
    frames = draw(valid_frames(net))
    if how == "valid, then garbage":
        return frames + draw(st.lists(garbage_frames(net), min_size=1, max_size=3))
    return frames + draw(st.lists(bids(net, PROBE, DONE), min_size=1, max_size=3))


def test_trade_streams_of_garbage_and_valid_frames(net: Net, unchanged: None) -> None:
    """The first frame that is refused decides the status; a stream whose every frame
    passes ends, once the trader closes it, with OK (late bids: no error)."""
    rpc = BY_NAME["exchange:Trade"]

    @FUZZ
    @given(data=st.data())
    def fuzz(data) -> None:
        frames = data.draw(streams(net), label="frames")
        expected = trade_verdict(net, frames)
        got = net.bidi("exchange", rpc.path, frames)
        _check(rpc, b"".join(frames), expected, got)

    fuzz()


def test_trade_streams_that_end_early(net: Net, unchanged: None) -> None:
    """A stream closed before its first frame ends OK; a session cancelled by its
    trader, or cut before the Hello was read, leaves no session behind."""
    path = BY_NAME["exchange:Trade"].path
    assert net.bidi("exchange", path, []) == (OK, "")
    method = net._method("exchange", "stream_stream", path)
    for wait in (0.0, 0.05, 0.3):
        release = threading.Event()

        def frames(release: threading.Event = release):
            yield hello(PROBE)
            release.wait(DEADLINE)

        call = method(frames(), timeout=DEADLINE)
        deadline = time.monotonic() + PATIENCE
        while wait and not net.task(DONE).sessions:
            assert time.monotonic() < deadline, "the session did not open"
            time.sleep(0.01)
        time.sleep(wait)
        call.cancel()
        release.set()
        assert call.code() == Code.CANCELLED
        deadline = time.monotonic() + PATIENCE
        while net.task(DONE).sessions:
            assert time.monotonic() < deadline, "a cancelled session stayed open"
            time.sleep(0.01)
    # and a client that vanishes mid-frame: a channel closed under a stream
    channel = grpc.insecure_channel(net.node.address)
    call = channel.stream_stream(path)(iter([hello(PROBE)]), timeout=DEADLINE)
    channel.close()
    with contextlib.suppress(grpc.RpcError):
        list(call)
    deadline = time.monotonic() + PATIENCE
    while net.task(DONE).sessions:
        assert time.monotonic() < deadline, "a session of a closed channel stayed open"
        time.sleep(0.01)


# --- while a task runs ------------------------------------------------------------------


def test_fuzz_while_a_task_runs_leaves_no_entry_of_an_unknown_key(net: Net) -> None:
    """The trader plays ``live`` while the fuzz runs: sessions of the live probe, each
    answering the exchange's request for bids (the round waits for it) with Bids that
    all have a fault, and random and mutated requests to the other RPCs. Every answer is
    documented; rounds go on; no entry since names an account of another key than the
    trader's (or the task's own accounts), or carries evidence of any other key than the
    trader's, the environment node's or the exchange's; the probes' balances did not
    move, nobody registered; ``catallax ledger audit`` passes."""
    task = net.task(LIVE)
    known_keys = {
        TRADER.public_key,
        crypto.public_key_bytes(ENV_KEY),
        crypto.public_key_bytes(EXCHANGE_KEY),
    }
    own = {f"{LIVE}.issuer", f"{LIVE}.treasury"}
    trader_accounts = set(net.accounts[f"{TRADER}/{LIVE}"])
    probes = net.accounts[f"{LIVE_PROBE}/{LIVE}"] + net.accounts[f"{PROBE}/{DONE}"]
    start_size = net.ledger_size()
    probe_balances = {a: net.ledger.balance(a) for a in probes}
    identities = {t: _identities(net, t) for t in TASKS}

    stop = threading.Event()
    seen: collections.Counter = collections.Counter()

    async def play() -> int:
        channel = grpc.aio.insecure_channel(net.node.address)
        try:
            stub = exchange_pb2_grpc.ExchangeStub(channel)
            return await _trade(stub, TRADER, LIVE, net.rules[LIVE], stop.is_set)
        finally:
            await channel.close()

    trading = asyncio.run_coroutine_threadsafe(play(), net.loop)
    deadline = time.monotonic() + PATIENCE
    while task.rounds < 2:
        assert time.monotonic() < deadline and not trading.done(), task.state
        time.sleep(0.01)
    rounds = task.rounds
    trade = BY_NAME["exchange:Trade"]

    method = net._method("exchange", "stream_stream", trade.path)
    #: What a Trade stream may end with while a round may be open: every refusal of a
    #: Bids (the channel's, the round's, each bid's), or the end of a late one's stream.
    live_codes = frozenset({IA, UNAUTH, DENIED, EXISTS, RANGE, PRECOND, OK})

    def session(makers: list[Callable[[int], bytes]]) -> tuple[Code, str]:
        """A session of the live probe: its Hello, then (once the exchange asks for bids,
        which it waits for) its Bids for the round asked."""
        asked: queue.Queue[int] = queue.Queue()

        def frames():
            yield hello(LIVE_PROBE, LIVE)
            round_ = asked.get(timeout=DEADLINE)
            for make in makers:
                yield make(round_)

        call = method(frames(), timeout=DEADLINE)
        try:
            for reply in call:
                envelope = common_pb2.Envelope.FromString(reply)
                message = open_envelope(envelope, "Round")
                if message.open:
                    asked.put(message.round)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
        return call.code(), call.details() or ""

    @settings(FUZZ, max_examples=EXAMPLES // 2)
    @given(data=st.data())
    def sessions_of_the_live_probe(data) -> None:
        makers = data.draw(
            st.lists(bid_makers(net, LIVE_PROBE, LIVE, defect=True), min_size=1, max_size=3)
        )
        code, details = session(makers)
        assert code in live_codes, (code, details)
        seen[code, details] += 1

    targets = {
        **{name: BY_NAME[name] for name in (
            "exchange:Register", "exchange:Balances", "exchange:ListTasks", "ledger:Entries",
            "ledger:Tail", "ledger:InclusionProof", "ledger:ConsistencyProof", "env:Step")},
        **{rpc.name: rpc for rpc in (_env_rpc("live_env", m) for m in ("Spec", "Reset", "Step"))},
    }  # fmt: skip

    @settings(FUZZ, max_examples=EXAMPLES)
    @given(data=st.data())
    def random_requests(data) -> None:
        rpc = targets[data.draw(st.sampled_from(sorted(targets)), label="rpc")]
        kind = data.draw(st.sampled_from(["random", "mutated", "other"]))
        if kind == "random":
            raw = data.draw(st.binary(max_size=300))
        elif kind == "mutated":
            raw = data.draw(mutated(lambda: rpc.valid(net)))
        else:
            raw = data.draw(others(net))
        if rpc.name.startswith("ledger:"):  # the log grows meanwhile
            lo = net.ledger_size()
            got = _send(net, rpc, raw)
            expected = ledger_verdict(net, rpc.name.split(":")[1], raw, (lo, net.ledger_size()))
        else:
            expected = rpc.verdict(net, raw)
            got = _send(net, rpc, raw)
        _check(rpc, raw, expected, got)

    try:
        sessions_of_the_live_probe()
        # some of the probe's Bids got past the channel's checks to those of an open round
        round_checks = (
            "RulesChanged", "DuplicateBids", "OutsideSpace", "UnknownSlot", "Malformed: bids",
            "Malformed: two bids", "NotYourMember: a bid",
        )  # fmt: skip
        reached = [details for _, details in seen if details.startswith(round_checks)]
        assert reached, "\n".join(details for _, details in seen)
        random_requests()
        assert task.rounds > rounds, "no round settled during the fuzz"
        assert not task.state.startswith("paused"), task.state
    finally:
        stop.set()
        trading.result(PATIENCE)
    deadline = time.monotonic() + PATIENCE
    while task.sessions or task.bidding.open is not None:
        assert time.monotonic() < deadline, "the task did not come to rest"
        time.sleep(0.01)

    async def entries_since() -> list:
        async with net.node.ctx.ledger_lock:
            return list(net.ledger.entries(start_size))

    entries = net.run(entries_since())
    assert entries, "the running task wrote nothing"

    def unknown(entry) -> bool:
        if isinstance(entry, Opening):
            return entry.account.public_key not in known_keys | {None}
        assert isinstance(entry, Transfer)
        accounts_ok = {entry.payer, entry.payee} <= trader_accounts | own
        evidence_ok = entry.evidence is None or entry.evidence.public_key in known_keys
        return not (accounts_ok and evidence_ok)

    assert [e for _, e in entries if unknown(e)] == []
    assert {a: net.ledger.balance(a) for a in probes} == probe_balances
    assert {t: _identities(net, t) for t in TASKS} == identities
    audit = subprocess.run(
        [*catallax_command(), "ledger", "audit", str(net.folder / "exchange"),
         "--key", str(net.folder / "keys" / "exchange.pem.pub")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert audit.returncode == 0 and audit.stdout.startswith("ok:"), audit.stdout + audit.stderr
    serving = health_pb2.HealthCheckResponse.SERVING
    assert all(status == serving for status in net.health().values()), net.health()
