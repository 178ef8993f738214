"""A client of an environment node: signed requests, verified replies, library values.

:class:`EnvironmentClient` signs each request with its key and a number from a
:class:`~catallax.node.wire.Sequencer`, sends it with a deadline, and accepts a reply
only when it is sealed by the expected node key (else ``Unanswered``), its signature
verifies, it carries the SHA-256 of the request body sent (else ``Unanswered``), and its
sequence and timestamp pass the client's :class:`~catallax.node.wire.SequenceBook`.
A refusal by the node comes back as the error class the node raised (the details start
with the class name), or as ``WireError`` for a status the client does not know.

The channel is plain TCP unless the client is given TLS ``credentials``
(:func:`ca_credentials` makes them from the CA file of a task's ``env_ca``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import gymnasium as gym
import numpy as np

from catallax.exchange.crypto import Ed25519PrivateKey, public_key_bytes
from catallax.node import errors
from catallax.node.env.economy import Production
from catallax.node.errors import Malformed, OptionError, StaleEpoch, Unanswered, WireError
from catallax.node.serving import channel_options
from catallax.node.wire import (
    MemoryBook,
    SequenceBook,
    Sequencer,
    as_evidence,
    open_envelope,
    seal,
)
from catallax.node.wire.convert import space_from_proto, tensor_from_proto, tensor_to_proto
from catallax.v1 import environment_pb2, environment_pb2_grpc

__all__ = ["EnvironmentClient", "RemoteSpec", "ca_credentials"]


def ca_credentials(ca: str | Path | None) -> grpc.ChannelCredentials | None:
    """TLS channel credentials trusting the PEM certificate(s) in ``ca``; ``None`` (plain
    TCP) when ``ca`` is ``None``. What the exchange uses for a task's ``env_ca``.

    Raises:
        OptionError: the file cannot be read, or holds no PEM certificate.
    """
    if ca is None:
        return None
    try:
        pem = Path(ca).read_bytes()
    except OSError as exc:
        raise OptionError(f"CA {str(ca)!r}: cannot read it ({exc.strerror})") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise OptionError(f"CA {str(ca)!r}: no PEM certificate in it")
    return grpc.ssl_channel_credentials(root_certificates=pem)


@dataclass(frozen=True)
class RemoteSpec:
    """What a node serves: its environment id, slots, spaces and episode limit (0: none)."""

    env_id: str
    slots: int
    observation_space: gym.Space
    action_space: gym.Space
    max_episode_steps: int
    economy_json: str = ""  # a production economy's description (wide tasks), else ""


class EnvironmentClient:
    """Calls the environment node at ``address`` as ``key``, expecting replies by ``node_key``.

    Args:
        address: ``HOST:PORT``.
        key: the caller's signing key (an exchange key the node allows).
        node_key: the node's raw 32-byte public key.
        timeout: the deadline of each call, in seconds.
        book: where replies' sequence numbers are checked and the caller's own are kept
            (default: checked in memory, numbers from the clock).
        credentials: TLS channel credentials (e.g. :func:`ca_credentials`); plain TCP
            when ``None``. With TLS the node's certificate must name the host of
            ``address``; the signed replies are checked either way.

    Use as ``async with EnvironmentClient(...) as client:`` or call :meth:`close`.
    """

    def __init__(
        self,
        address: str,
        key: Ed25519PrivateKey,
        node_key: bytes,
        *,
        timeout: float = 10.0,
        book: SequenceBook | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.address = address
        self.key = key
        self.node_key = bytes(node_key)
        self.timeout = timeout
        self.book: SequenceBook | MemoryBook = MemoryBook() if book is None else book
        self.sequencer = Sequencer(public_key_bytes(key), book=book)
        #: The node's current epoch (``EnvSpec.epoch``), named by every request that
        #: changes slots; read with :meth:`spec`, again after a ``StaleEpoch``.
        self.epoch = b""
        options = channel_options()
        self._channel = (
            grpc.aio.insecure_channel(address, options=options)
            if credentials is None
            else grpc.aio.secure_channel(address, credentials, options=options)
        )
        self._stub = environment_pb2_grpc.EnvironmentStub(self._channel)

    async def spec(self) -> RemoteSpec:
        """The node's environment id, slots and spaces."""
        reply = await self._call("Spec", environment_pb2.SpecRequest(), "EnvSpec")
        self.epoch = bytes(reply.epoch)
        return RemoteSpec(
            env_id=reply.env_id,
            slots=reply.slots,
            observation_space=space_from_proto(reply.observation_space),
            action_space=space_from_proto(reply.action_space),
            max_episode_steps=reply.max_episode_steps,
            economy_json=reply.economy_json,
        )

    async def reset(
        self, slots: list[int], seeds: list[int] | None = None
    ) -> tuple[np.ndarray, list[dict]]:
        """New episodes in ``slots`` (one seed each, or none): ``(obs, infos)``."""
        request = environment_pb2.ResetRequest(slots=slots, seeds=seeds or [])
        reply = await self._call("Reset", request, "ResetReply")
        self._check_slots(reply, slots)
        return tensor_from_proto(reply.obs), _infos(reply.info_json, len(slots))

    async def step(
        self, slots: list[int], actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """One action per slot: ``(obs, rewards, terminated, truncated, infos)``, arrays with
        a leading axis over ``slots`` (rewards float64 credits)."""
        actions = np.asarray(actions)
        if actions.ndim == 1 and np.issubdtype(actions.dtype, np.integer):
            actions = actions.astype(np.int64)
        request = environment_pb2.StepRequest(slots=slots, actions=tensor_to_proto(actions))
        reply = await self._call("Step", request, "StepReply")
        self._check_slots(reply, slots)
        n = len(slots)
        if not len(reply.reward) == len(reply.terminated) == len(reply.truncated) == n:
            raise Malformed(f"StepReply: expected {n} rewards and episode flags")
        return (
            tensor_from_proto(reply.obs),
            np.array(reply.reward, dtype=np.float64),
            np.array(reply.terminated, dtype=bool),
            np.array(reply.truncated, dtype=bool),
            _infos(reply.info_json, n),
        )

    async def produce(
        self,
        *,
        exchange: str,
        task: str,
        round_: int,
        slot: int,
        accounts: list[str],
        recipes: np.ndarray,
        runs: np.ndarray,
        bundles: np.ndarray,
        world_sold: np.ndarray,
    ) -> Production:
        """One round of a production economy's world (``ProduceRequest``; quantities in
        int64 units): the node's signed :class:`~catallax.node.env.economy.Production`."""
        request = environment_pb2.ProduceRequest(
            exchange=exchange, task=task, round=round_, slot=slot, accounts=accounts,
            recipes=np.asarray(recipes, dtype=np.int64).tolist(),
            runs=np.asarray(runs, dtype=np.float64).tolist(),
            bundles=tensor_to_proto(np.asarray(bundles, dtype=np.int64)),
            world_sold=np.asarray(world_sold, dtype=np.int64).tolist(),
        )  # fmt: skip
        reply = await self._call("Produce", request, "ProduceReply")
        n = len(accounts)
        arrays = [
            tensor_from_proto(getattr(reply, name))
            for name in ("consumed", "made", "taken", "depreciated")
        ]
        bad = [a.shape for a in arrays if a.shape[:1] != (n,) or a.dtype != np.int64]
        if bad or len(reply.payments) != n:
            raise Malformed(f"ProduceReply: expected ({n}, goods) int64 arrays, got {bad}")
        consumed, made, taken, depreciated = arrays
        return Production(
            consumed=consumed, made=made, taken=taken,
            payments=np.asarray(reply.payments, dtype=np.int64), depreciated=depreciated,
            world=np.asarray(reply.world, dtype=np.int64), welfare=float(reply.welfare),
            report=as_evidence(reply.production) if reply.HasField("production") else None,
            world_debits=tuple(as_evidence(e) for e in reply.world_debits),
        )  # fmt: skip

    async def close(self) -> None:
        """Close the channel (a book it was given stays open: its owner closes it)."""
        await self._channel.close()

    async def __aenter__(self) -> EnvironmentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the pieces --------------------------------------------------------------------

    async def _call(self, rpc: str, body: Any, reply_name: str) -> Any:
        if rpc != "Spec":
            if not self.epoch:
                await self.spec()
            body.epoch = self.epoch
        envelope = seal(self.key, type(body), self.sequencer.stamp(body))
        try:
            reply = await getattr(self._stub, rpc)(envelope, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            error = _error_of(exc)
            if isinstance(error, StaleEpoch):  # the node restarted: the next call asks
                self.epoch = b""  # its Spec again (the caller hears of this one)
            raise error from exc
        if bytes(reply.public_key) != self.node_key:
            raise Unanswered(f"{reply_name}: signed by another key than the node's")
        answer = open_envelope(reply, reply_name)
        expected = hashlib.sha256(envelope.body).digest()
        if reply_name != "EnvSpec" and answer.request_hash != expected:
            raise Unanswered(f"{reply_name}: the reply answers another request")
        self.book.accept(reply.public_key, answer)
        return answer

    @staticmethod
    def _check_slots(reply: Any, slots: list[int]) -> None:
        if list(reply.slots) != list(slots):
            raise Unanswered(f"reply for slots {list(reply.slots)}, asked for {list(slots)}")


def _infos(text: str, count: int) -> list[dict]:
    try:
        infos = json.loads(text)
    except ValueError as exc:
        raise Malformed(f"info_json: not JSON ({exc})") from exc
    if not isinstance(infos, list) or len(infos) != count:
        raise Malformed(f"info_json: expected a list of {count} objects")
    return infos


def _error_of(exc: grpc.aio.AioRpcError) -> Exception:
    """The library error a node's refusal stands for (its details name the class)."""
    details = exc.details() or ""
    name, _, what = details.partition(": ")
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, WireError):
        error = cls(what)
    else:
        error = WireError(f"{exc.code().name}: {details}")
    error.status = exc.code()  # type: ignore[attr-defined]
    return error
