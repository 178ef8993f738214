"""The environment node's gRPC server: one Gymnasium environment in parallel episode slots.

:class:`EnvironmentServicer` answers ``Spec``, ``Reset`` and ``Step`` (``grpc.aio``).
Each request is an :class:`~catallax.v1.common_pb2.Envelope`, handled in this order:

1. the name and signature verify (:func:`~catallax.node.wire.envelope.open_envelope`);
2. the signer is one of the exchange keys the node was started with;
3. a ``Reset``, ``Step`` or ``Produce`` names the node's current *epoch* (16 random
   bytes drawn at start and told in ``EnvSpec``; else ``StaleEpoch``), and its sequence
   and timestamp pass the node's check, in memory (the number is spent even if a later
   check refuses the request). So a request captured before the node restarted is
   refused after it, for its epoch, without a durable write per request; a ``Spec``
   only reads, so it needs no epoch;
4. the slots exist (and appear once), the actions are in the action space, and every
   slot stepped has a running episode; only then is any environment touched: a refused
   request steps nothing.

Every reply is sealed with the node's key and carries the SHA-256 of the request body
it answers. Episodes never reset by themselves: a slot that terminated or truncated
(or never began) must be Reset before it is stepped again.

Status codes, mapped in one place (:data:`STATUS`, :func:`status_of`); the details are
``<ErrorClass>: <what>`` so that a client raises the same class
(:mod:`catallax.node.env.client`), cut to :data:`~catallax.node.serving.MAX_DETAILS`
characters (longer details, a list of 5000 unknown slots say, would reach the client as
``RESOURCE_EXHAUSTED``):

======================================  =======================
refused because                         status
======================================  =======================
missing or bad signature                ``UNAUTHENTICATED``
signer not in the allow-list            ``PERMISSION_DENIED``
replayed sequence (``Replayed``)        ``ALREADY_EXISTS``
a request of an earlier run of the
node (``StaleEpoch``)                   ``FAILED_PRECONDITION``
stale timestamp (``Stale``)             ``OUT_OF_RANGE``
bytes that do not parse, unknown slot,
action outside space, a negative seed,
malformed body, wrong message name      ``INVALID_ARGUMENT``
step in an ended slot (``SlotEnded``),
Produce on a node that serves no
production economy (``NotAnEconomy``)   ``FAILED_PRECONDITION``
no time left before the deadline        ``DEADLINE_EXCEEDED``
the environment itself fails            ``INTERNAL``
======================================  =======================

Blocking work runs off the event loop: each Reset or Step of the slots runs in
``asyncio.to_thread`` (the signature check, some tens of microseconds, runs on the
loop); the environment work holds one lock, so slots are stepped by one request at a
time. The node's own sequence numbers are reserved a minute at a time in its
:class:`~catallax.node.wire.SequenceBook` (a SQLite file in the data folder), so they
keep growing across restarts.

The server is set up as every catallax server is (:func:`catallax.node.serving.start_server`:
health for the server and ``catallax.v1.Environment``, reflection, keepalive, 16 MiB
message limits, a graceful stop that reports ``NOT_SERVING`` first); plain TCP on
loopback by default, TLS when :func:`start_server` is given server credentials
(``catallax node env --tls-cert --tls-key``).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import gymnasium as gym
import numpy as np

from catallax.exchange.crypto import (
    Ed25519PrivateKey,
    SignedEnvelope,
    key_fingerprint,
    public_key_bytes,
)
from catallax.exchange.envs.production import Economy
from catallax.node.env.economy import EconomyWorld, economy_to_json
from catallax.node.errors import (
    BadSignature,
    Malformed,
    NodeError,
    NotAnEconomy,
    OptionError,
    OutsideSpace,
    Replayed,
    SlotEnded,
    Stale,
    StaleEpoch,
    Unanswered,
    UnknownSigner,
    UnknownSlot,
    WireError,
    WrongMessage,
)
from catallax.node.serving import (
    DEFAULT_GRACE,
    MAX_MESSAGE_BYTES,
    Server,
    Service,
    clip_details,
    run_until_signal,
)
from catallax.node.serving import start_server as start_shared_server
from catallax.node.wire import MemoryBook, SequenceBook, Sequencer, open_envelope, seal
from catallax.node.wire.convert import space_to_proto, tensor_from_proto, tensor_to_proto
from catallax.v1 import common_pb2, environment_pb2, environment_pb2_grpc

__all__ = [
    "MAX_MESSAGE_BYTES",
    "SERVICE_NAME",
    "STATUS",
    "EnvironmentServicer",
    "NodeServer",
    "make_env",
    "serve",
    "start_server",
    "status_of",
]

log = logging.getLogger("catallax.node.env")

#: Each refusal's status code; the most specific class listed wins (see :func:`status_of`).
STATUS: dict[type[BaseException], grpc.StatusCode] = {
    BadSignature: grpc.StatusCode.UNAUTHENTICATED,
    UnknownSigner: grpc.StatusCode.PERMISSION_DENIED,
    Unanswered: grpc.StatusCode.PERMISSION_DENIED,
    Replayed: grpc.StatusCode.ALREADY_EXISTS,
    Stale: grpc.StatusCode.OUT_OF_RANGE,
    Malformed: grpc.StatusCode.INVALID_ARGUMENT,
    WrongMessage: grpc.StatusCode.INVALID_ARGUMENT,
    SlotEnded: grpc.StatusCode.FAILED_PRECONDITION,
    StaleEpoch: grpc.StatusCode.FAILED_PRECONDITION,
    WireError: grpc.StatusCode.INVALID_ARGUMENT,
}


def status_of(
    exc: BaseException, table: dict[type[BaseException], grpc.StatusCode] | None = None
) -> grpc.StatusCode:
    """The status code for a refusal: the entry of ``table`` (default :data:`STATUS`)
    nearest in ``exc``'s MRO; anything else (the environment failing) is ``INTERNAL``."""
    table = STATUS if table is None else table
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return grpc.StatusCode.INTERNAL


# --- environments ----------------------------------------------------------------------


def make_env(env_id: str, *, memory: int = 0) -> gym.Env:
    """One instance of ``env_id``: a registered Gymnasium id (the catallax ids included),
    ``module:Env-v0`` (import the module, then ``gym.make``) or ``module:Class``
    (instantiate). With ``memory`` > 0, wrapped in a
    :class:`~catallax.exchange.envs.MessageRegister` of that many messages.

    Raises:
        OptionError: the id cannot be made (one-line message).
    """
    import catallax.exchange.envs as envs  # registers the catallax ids

    try:
        module_name, sep, name = env_id.rpartition(":")
        if sep and name.isidentifier():
            module = importlib.import_module(module_name)
            factory = getattr(module, name, None)
            if not callable(factory):
                raise OptionError(f"{env_id}: {module_name} has no class {name}")
            env = factory()
        else:
            if sep:
                importlib.import_module(module_name)
            env = gym.make(name if sep else env_id)
        if not isinstance(env, gym.Env):
            raise OptionError(f"{env_id}: made a {type(env).__name__}, not a gymnasium.Env")
        if memory:
            env = envs.MessageRegister(env, memory)
    except OptionError:
        raise
    except Exception as exc:  # any failure to import or make the environment
        raise OptionError(f"{env_id}: cannot make this environment ({exc})") from exc
    return env


def _max_episode_steps(env: gym.Env) -> int:
    spec = getattr(env, "spec", None)
    steps = getattr(spec, "max_episode_steps", None) if spec is not None else None
    return int(steps) if steps else 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _batch(values: list[Any], space: gym.Space) -> np.ndarray:
    """Observations of several slots with a leading axis; Discrete as int64."""
    if isinstance(space, gym.spaces.Discrete):
        return np.array([int(v) for v in values], dtype=np.int64)
    dtype = space.dtype if space.dtype is not None else None
    if not values:
        return np.zeros((0, *(space.shape or ())), dtype=dtype)
    return np.stack([np.asarray(v, dtype=dtype) for v in values])


# --- the servicer ----------------------------------------------------------------------


@dataclass
class _Request:
    body: Any
    signer: bytes
    hash: bytes


class EnvironmentServicer(environment_pb2_grpc.EnvironmentServicer):
    """Serves ``envs`` (one instance per slot) to the signers in ``allowed``.

    Args:
        env_id: the id the instances were made from (reported in the spec).
        envs: one independent environment per slot, all with the same spaces.
        key: the node's signing key; every reply is sealed with it.
        allowed: raw public keys whose requests are served.
        book: the node's sequence book (its own sent numbers, reserved ahead).
    """

    def __init__(
        self,
        env_id: str,
        envs: list[gym.Env],
        key: Ed25519PrivateKey,
        allowed: list[bytes],
        book: SequenceBook,
    ) -> None:
        if not envs:
            raise OptionError("slots: expected at least 1")
        if not allowed:
            raise OptionError("no exchange key: the node would serve nobody")
        self.env_id = env_id
        self.envs = envs
        self.key = key
        self.public_key = public_key_bytes(key)
        self.allowed = frozenset(bytes(k) for k in allowed)
        self.book = book
        self.sequencer = Sequencer(self.public_key, book=book)
        #: This run's epoch: requests that change slots must name it (see the module).
        self.epoch = os.urandom(16)
        self.received = MemoryBook(window_ms=book.window_ms)
        self.running = [False] * len(envs)
        self.observation_space = envs[0].observation_space
        self.action_space = envs[0].action_space
        economy = getattr(envs[0].unwrapped, "economy", None)
        self.economy = economy if isinstance(economy, Economy) else None
        #: A production economy's world per slot (wide-market tasks), else None.
        self.worlds = [
            EconomyWorld(e.unwrapped.economy) if self.economy is not None else None for e in envs
        ]
        self._lock = asyncio.Lock()

    # --- the rpcs ----------------------------------------------------------------------

    async def Spec(self, request: common_pb2.Envelope, context: Any) -> common_pb2.Envelope:
        async def work(req: _Request) -> environment_pb2.EnvSpec:
            return environment_pb2.EnvSpec(
                env_id=self.env_id,
                slots=len(self.envs),
                observation_space=space_to_proto(self.observation_space),
                action_space=space_to_proto(self.action_space),
                max_episode_steps=_max_episode_steps(self.envs[0]),
                economy_json=economy_to_json(self.economy) if self.economy is not None else "",
                epoch=self.epoch,
            )

        return await self._handle("Spec", "SpecRequest", "EnvSpec", request, context, work)

    async def Reset(self, request: common_pb2.Envelope, context: Any) -> common_pb2.Envelope:
        async def work(req: _Request) -> environment_pb2.ResetReply:
            slots = self._slots(req.body.slots)
            seeds = list(req.body.seeds)
            if seeds and len(seeds) != len(slots):
                raise Malformed(f"seeds: expected none or {len(slots)}, got {len(seeds)}")
            if any(seed < 0 for seed in seeds):  # Gymnasium's seeds are >= 0
                raise Malformed(f"seeds: expected integers >= 0, got {min(seeds)}")
            async with self._lock:
                _check_time(context)
                obs, infos = await asyncio.to_thread(self._reset, slots, seeds)
            return environment_pb2.ResetReply(
                request_hash=req.hash,
                slots=slots,
                obs=tensor_to_proto(obs),
                info_json=json.dumps(infos, default=_jsonable),
            )

        return await self._handle("Reset", "ResetRequest", "ResetReply", request, context, work)

    async def Step(self, request: common_pb2.Envelope, context: Any) -> common_pb2.Envelope:
        async def work(req: _Request) -> environment_pb2.StepReply:
            slots = self._slots(req.body.slots)
            actions = self._actions(req.body.actions, len(slots))
            async with self._lock:
                ended = [s for s in slots if not self.running[s]]
                if ended:
                    raise SlotEnded(f"slots {ended}: the episode ended (or never began); Reset")
                _check_time(context)
                obs, rewards, terminated, truncated, infos = await asyncio.to_thread(
                    self._step, slots, actions
                )
            return environment_pb2.StepReply(
                request_hash=req.hash,
                slots=slots,
                obs=tensor_to_proto(obs),
                reward=rewards,
                terminated=terminated,
                truncated=truncated,
                info_json=json.dumps(infos, default=_jsonable),
            )

        return await self._handle("Step", "StepRequest", "StepReply", request, context, work)

    async def Produce(self, request: common_pb2.Envelope, context: Any) -> common_pb2.Envelope:
        async def work(req: _Request) -> environment_pb2.ProduceReply:
            body = req.body
            if self.economy is None:
                raise NotAnEconomy(f"{self.env_id} is not a production economy; Produce needs one")
            (slot,) = self._slots([body.slot])
            world = self.worlds[slot]
            assert world is not None
            async with self._lock:
                if not self.running[slot]:
                    raise SlotEnded(f"slot {slot}: the episode ended (or never began); Reset")
                _check_time(context)
                out = await asyncio.to_thread(
                    world.produce, self.key, exchange=body.exchange, task=body.task,
                    round_=int(body.round), accounts=list(body.accounts),
                    recipes=np.asarray(body.recipes, dtype=np.int64),
                    runs=np.asarray(body.runs, dtype=np.float64),
                    bundles=tensor_from_proto(body.bundles),
                    world_sold=np.asarray(body.world_sold, dtype=np.int64),
                )  # fmt: skip
            reply = environment_pb2.ProduceReply(
                request_hash=req.hash, consumed=tensor_to_proto(out.consumed),
                made=tensor_to_proto(out.made), taken=tensor_to_proto(out.taken),
                payments=out.payments.tolist(), depreciated=tensor_to_proto(out.depreciated),
                world=out.world.tolist(), welfare=out.welfare,
                world_debits=[envelope_to_proto(d) for d in out.world_debits],
            )  # fmt: skip
            if out.report is not None:
                reply.production.CopyFrom(envelope_to_proto(out.report))
            return reply

        return await self._handle(
            "Produce", "ProduceRequest", "ProduceReply", request, context, work
        )

    # --- the pieces --------------------------------------------------------------------

    async def _handle(
        self,
        rpc: str,
        request_name: str,
        reply_name: str,
        envelope: common_pb2.Envelope,
        context: Any,
        work: Callable[[_Request], Any],
    ) -> common_pb2.Envelope:
        start = time.perf_counter()
        signer = "-"
        try:
            _check_time(context)
            req = self._receive(envelope, request_name)
            signer = key_fingerprint(req.signer)
            body = await work(req)
            self.sequencer.stamp(body)
            reply = seal(self.key, reply_name, body)
        except Exception as exc:
            code = status_of(exc)
            _log(rpc, signer, code, start, error=f"{type(exc).__name__}: {exc}")
            await context.abort(code, clip_details(f"{type(exc).__name__}: {exc}"))
            raise  # abort raises; this line is never reached
        _log(rpc, signer, grpc.StatusCode.OK, start)
        return reply

    def _receive(self, envelope: common_pb2.Envelope, name: str) -> _Request:
        body = open_envelope(envelope, name)
        signer = bytes(envelope.public_key)
        if signer not in self.allowed:
            raise UnknownSigner(f"{key_fingerprint(signer)} is not an exchange this node serves")
        if name != "SpecRequest" and body.epoch != self.epoch:
            raise StaleEpoch(
                f"a request for epoch {bytes(body.epoch).hex() or '(none)'}; this run of the "
                f"node is epoch {self.epoch.hex()}: read its Spec again"
            )
        self.received.accept(signer, body)
        return _Request(body, signer, hashlib.sha256(envelope.body).digest())

    def _slots(self, slots: Any) -> list[int]:
        slots = [int(s) for s in slots]
        unknown = [s for s in slots if s >= len(self.envs)]
        if unknown:
            raise UnknownSlot(f"slots {unknown}: this node has slots 0 .. {len(self.envs) - 1}")
        if len(set(slots)) != len(slots):
            raise UnknownSlot(f"slots {slots}: a slot appears twice")
        return slots

    def _actions(self, msg: common_pb2.Tensor, count: int) -> list[Any]:
        array = tensor_from_proto(msg)
        space = self.action_space
        if array.ndim == 0 or array.shape[0] != count:
            raise Malformed(f"actions: expected a leading axis of {count}, got {array.shape}")
        if isinstance(space, gym.spaces.Discrete):
            if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
                raise OutsideSpace(f"actions: {space} takes integers, got {array.dtype}")
            actions = [int(a) for a in array]
        else:
            actions = list(array)
        outside = [i for i, a in enumerate(actions) if not space.contains(a)]
        if outside:
            shown = [
                _jsonable(actions[i]) if not isinstance(actions[i], int) else actions[i]
                for i in outside
            ]
            raise OutsideSpace(f"actions {shown} are not in {space}")
        return actions

    def _reset(self, slots: list[int], seeds: list[int]) -> tuple[np.ndarray, list[dict]]:
        observations, infos = [], []
        for i, slot in enumerate(slots):
            obs, info = self.envs[slot].reset(seed=seeds[i] if seeds else None)
            self.running[slot] = True
            world = self.worlds[slot]
            if world is not None:  # the world holds the episode's first stock
                world.reset(obs)
            observations.append(obs)
            infos.append(info)
        return _batch(observations, self.observation_space), infos

    def _step(self, slots: list[int], actions: list[Any]) -> tuple:
        observations, rewards, terminated, truncated, infos = [], [], [], [], []
        for slot, action in zip(slots, actions, strict=True):
            obs, reward, term, trunc, info = self.envs[slot].step(action)
            self.running[slot] = not (term or trunc)
            observations.append(obs)
            rewards.append(float(reward))
            terminated.append(bool(term))
            truncated.append(bool(trunc))
            infos.append(info)
        obs = _batch(observations, self.observation_space)
        return obs, rewards, terminated, truncated, infos


def _check_time(context: Any) -> None:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise _DeadlinePassed("the call's deadline passed before the work began")


class _DeadlinePassed(NodeError):
    pass


def envelope_to_proto(envelope: SignedEnvelope) -> common_pb2.Envelope:
    """A signed ledger evidence envelope as the wire's ``Envelope``."""
    return common_pb2.Envelope(
        body=envelope.data, public_key=envelope.public_key,
        signature=envelope.signature, message=envelope.message,
    )  # fmt: skip


STATUS[NotAnEconomy] = grpc.StatusCode.FAILED_PRECONDITION


STATUS[_DeadlinePassed] = grpc.StatusCode.DEADLINE_EXCEEDED


def _log(rpc: str, signer: str, code: grpc.StatusCode, start: float, error: str = "") -> None:
    ms = (time.perf_counter() - start) * 1000
    line = f"event=rpc rpc={rpc} signer={signer} status={code.name} ms={ms:.2f}"
    if error:
        line += f" error={json.dumps(error)}"
    log.log(logging.INFO if code == grpc.StatusCode.OK else logging.WARNING, line)


# --- the server ------------------------------------------------------------------------

#: The full proto name of the Environment service.
SERVICE_NAME = environment_pb2.DESCRIPTOR.services_by_name["Environment"].full_name


@dataclass
class NodeServer:
    """A started node: the shared :class:`~catallax.node.serving.Server`, its port, the
    servicer, and how to stop it."""

    server: Server
    port: int
    servicer: EnvironmentServicer

    @property
    def health(self) -> Any:
        """The server's health servicer (``grpc_health.v1.health.aio.HealthServicer``)."""
        return self.server.health

    async def stop(self, grace: float | None = DEFAULT_GRACE) -> None:
        """Report NOT_SERVING, let running calls finish for ``grace`` seconds, close the book."""
        await self.server.stop(grace)


async def start_server(
    env_id: str,
    *,
    slots: int,
    key: Ed25519PrivateKey,
    exchange_keys: list[bytes],
    data_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    memory: int = 0,
    credentials: grpc.ServerCredentials | None = None,
) -> NodeServer:
    """Make ``slots`` instances of ``env_id``, open the book in ``data_dir``, and start a
    server (:func:`catallax.node.serving.start_server`: health, reflection, keepalive,
    message limits) with the Environment service; TLS when given ``credentials``
    (``grpc.ssl_server_credentials``), plain TCP otherwise.

    Raises:
        OptionError: bad ``slots`` or ``memory``, an environment that cannot be made, a
            data folder that cannot be created, or an address that cannot be bound.
    """
    if slots < 1:
        raise OptionError(f"--slots: expected at least 1, got {slots}")
    if memory < 0:
        raise OptionError(f"--memory: expected 0 or more messages, got {memory}")
    envs = [make_env(env_id, memory=memory) for _ in range(slots)]
    folder = Path(data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptionError(f"--data-dir {folder}: cannot create it ({exc.strerror})") from exc
    book = SequenceBook(folder / "env-sequences.sqlite")
    try:
        servicer = EnvironmentServicer(env_id, envs, key, exchange_keys, book)
        service = Service(
            SERVICE_NAME,
            lambda s: environment_pb2_grpc.add_EnvironmentServicer_to_server(servicer, s),
        )
        try:
            server, bound = await start_shared_server(
                [service], host, port, credentials=credentials
            )
        except RuntimeError as exc:
            raise OptionError(f"cannot listen on {host}:{port} ({exc})") from exc
    except BaseException:
        book.close()
        raise
    server.on_stop(book.close)
    log.info(
        "event=start env_id=%s slots=%d host=%s port=%d node=%s exchanges=%d tls=%s",
        env_id, slots, host, bound, key_fingerprint(servicer.public_key), len(servicer.allowed),
        credentials is not None,
    )  # fmt: skip
    return NodeServer(server, bound, servicer)


async def serve(*, grace: float = DEFAULT_GRACE, **options: Any) -> int:
    """Run a node until SIGTERM or SIGINT, then stop gracefully; returns the exit status.

    Prints ``listening on HOST:PORT`` on stdout (flushed) once the server accepts calls.
    ``options`` are those of :func:`start_server`.
    """
    node = await start_server(**options)
    print(f"listening on {options.get('host', '127.0.0.1')}:{node.port}", flush=True)
    await run_until_signal(node.server, grace)
    log.info("event=stop grace_s=%g", grace)
    return 0
