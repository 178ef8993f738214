"""A client of the ``catallax.v1.Ledger`` service, and remote verification for monitors.

:class:`LedgerClient` calls a Ledger server with a deadline on every unary call
(``timeout`` seconds, default :data:`DEFAULT_TIMEOUT`); :meth:`LedgerClient.tail` is a
stream that lasts until the caller stops iterating (or its own ``timeout``), the
channel's keepalive noticing a vanished server. Replies come back as library values:
checkpoint notes as ``str``, entries as ``(index, canonical leaf bytes)`` (decode with
:func:`catallax.exchange.ledger.decode_entry`), proofs as lists of 32-byte hashes.

:func:`verify_remote` checks a remote ledger without its file: the latest checkpoint's
signature against a key the caller trusts, the root recomputed from every entry, and
inclusion and consistency proofs served for it.

Errors (in :mod:`catallax.node.errors`): :class:`~catallax.node.errors.CallFailed`, a
call refused or failed (``code``: the gRPC status), and
:class:`~catallax.node.errors.BadRemoteLedger`, what a server sent does not verify: a bad
checkpoint signature, entries that do not give the signed root, a proof that fails, a
reply that breaks the protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType

import grpc

from catallax.exchange.ledger import (
    Checkpoint,
    CompactTree,
    LedgerError,
    leaf_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from catallax.node.errors import BadRemoteLedger, CallFailed, Malformed, OptionError
from catallax.node.serving import channel_options
from catallax.node.wire.convert import checkpoint_from_proto
from catallax.v1 import ledger_pb2, ledger_pb2_grpc

__all__ = [
    "DEFAULT_TIMEOUT",
    "BadRemoteLedger",
    "CallFailed",
    "LedgerClient",
    "RemoteVerification",
    "verify_remote",
]

#: Seconds a unary call may take.
DEFAULT_TIMEOUT = 10.0
#: Inclusion proofs :func:`verify_remote` asks for, spread over the log.
PROOF_SAMPLES = 32


def _failed(what: str, exc: grpc.aio.AioRpcError) -> CallFailed:
    return CallFailed(f"{what}: {exc.code().name}: {exc.details()}", code=exc.code())


class LedgerClient:
    """Calls to one Ledger server at ``address`` (``host:port``).

    Use as ``async with LedgerClient(address) as client: ...``; ``channel`` may be given
    instead (it is then the caller's to close). ``credentials`` makes a TLS channel.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        channel: grpc.aio.Channel | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        if (address is None) == (channel is None):
            raise OptionError("LedgerClient: give an address or a channel, not both")
        self._own = channel is None
        if channel is None:
            options = channel_options()
            channel = (
                grpc.aio.insecure_channel(address, options=options)
                if credentials is None
                else grpc.aio.secure_channel(address, credentials, options=options)
            )
        self.channel = channel
        self.timeout = timeout
        self._stub = ledger_pb2_grpc.LedgerStub(channel)

    async def close(self) -> None:
        if self._own:
            await self.channel.close()

    async def __aenter__(self) -> LedgerClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def latest_checkpoint(self) -> str:
        """The newest signed checkpoint note (syntax checked, signature not: see
        :func:`catallax.exchange.ledger.open_checkpoint`)."""
        try:
            reply = await self._stub.LatestCheckpoint(
                ledger_pb2.CheckpointRequest(), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise _failed("latest checkpoint", exc) from exc
        return _note(reply)

    async def entries(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        """Entries ``start .. stop - 1`` as ``(index, bytes)``, asking page after page."""
        rows: list[tuple[int, bytes]] = []
        position = start
        while position < stop:
            try:
                reply = await self._stub.Entries(
                    ledger_pb2.EntriesRequest(start=position, end=stop), timeout=self.timeout
                )
            except grpc.aio.AioRpcError as exc:
                raise _failed(f"entries {position}..{stop}", exc) from exc
            if not reply.entries:
                raise BadRemoteLedger(f"entries: an empty page at {position} (asked to {stop})")
            for msg in reply.entries:
                if msg.index != position or position >= stop:
                    raise BadRemoteLedger(
                        f"entries: expected entry {position}, the server sent {msg.index}"
                    )
                rows.append((msg.index, bytes(msg.data)))
                position += 1
        return rows

    async def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """The audit path of entry ``index`` in the tree of ``tree_size`` entries."""
        request = ledger_pb2.InclusionProofRequest(index=index, tree_size=tree_size)
        try:
            reply = await self._stub.InclusionProof(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise _failed(f"inclusion proof {index} in {tree_size}", exc) from exc
        return [bytes(h) for h in reply.hashes]

    async def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The proof that the tree of ``second`` entries extends that of ``first``."""
        request = ledger_pb2.ConsistencyProofRequest(first=first, second=second)
        try:
            reply = await self._stub.ConsistencyProof(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise _failed(f"consistency proof {first} to {second}", exc) from exc
        return [bytes(h) for h in reply.hashes]

    async def tail(
        self, start: int = 0, *, timeout: float | None = None
    ) -> AsyncIterator[tuple[int, bytes] | str]:
        """Entries from ``start`` on as ``(index, bytes)``, each batch followed by the
        checkpoint note (``str``) that covers it, until the caller stops iterating
        (the stream is then cancelled) or ``timeout`` seconds pass."""
        call = self._stub.Tail(ledger_pb2.TailRequest(start=start), timeout=timeout)
        try:
            async for event in call:
                kind = event.WhichOneof("kind")
                if kind == "entry":
                    yield event.entry.index, bytes(event.entry.data)
                elif kind == "checkpoint":
                    yield _note(event.checkpoint)
                else:
                    raise BadRemoteLedger("tail: an event with neither entry nor checkpoint")
        except grpc.aio.AioRpcError as exc:
            raise _failed(f"tail from {start}", exc) from exc
        finally:
            call.cancel()


def _note(msg: ledger_pb2.Checkpoint) -> str:
    try:
        return checkpoint_from_proto(msg)
    except Malformed as exc:
        raise BadRemoteLedger(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class RemoteVerification:
    """What :func:`verify_remote` checked.

    Attributes:
        checkpoint: the verified tree head (origin, size, root).
        entries: how many entries were fetched and hashed (its size).
        inclusion: the indices whose inclusion proofs verified.
        consistency: the sizes from which consistency to ``checkpoint.size`` verified.
    """

    checkpoint: Checkpoint
    entries: int
    inclusion: tuple[int, ...]
    consistency: tuple[int, ...]


def _samples(size: int, count: int) -> list[int]:
    """Up to ``count`` indices spread over ``0 .. size - 1``, both ends included."""
    if size <= count:
        return list(range(size))
    return sorted({round(i * (size - 1) / (count - 1)) for i in range(count)})


async def verify_remote(
    address: str,
    public_key: bytes,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    samples: int = PROOF_SAMPLES,
    client: LedgerClient | None = None,
) -> RemoteVerification:
    """Verify the ledger served at ``address`` against the exchange's ``public_key``.

    Fetches the latest checkpoint and checks its signature; fetches its ``size``
    entries and recomputes the root from their leaf hashes; then checks the inclusion
    proofs of up to ``samples`` entries and the consistency proofs to the checkpoint
    from up to ``samples`` earlier sizes (each against the root recomputed locally at
    that size). Raises :class:`BadRemoteLedger` on the first thing that does not
    verify, :class:`CallFailed` when a call fails.
    """
    own = client is None
    client = client or LedgerClient(address, timeout=timeout)
    try:
        return await _verify(client, public_key, samples)
    finally:
        if own:
            await client.close()


async def _verify(client: LedgerClient, public_key: bytes, samples: int) -> RemoteVerification:
    note = await client.latest_checkpoint()
    try:
        head = open_checkpoint(note, public_key)
    except LedgerError as exc:
        raise BadRemoteLedger(f"checkpoint: {exc}") from exc
    rows = await client.entries(0, head.size)
    sizes = set(_samples(head.size, samples)) - {0}
    tree, roots, leaves = CompactTree(), {}, []
    for _, data in rows:
        leaves.append(leaf_hash(data))
        tree.append(leaves[-1])
        if tree.size in sizes:
            roots[tree.size] = tree.root()
    if tree.root() != head.root:
        raise BadRemoteLedger(
            f"entries: the {head.size} entries served do not give the signed root of "
            f"checkpoint {head.origin!r} at size {head.size}"
        )
    indices = _samples(head.size, samples)
    for index in indices:
        proof = await client.inclusion_proof(index, head.size)
        _check(verify_inclusion, leaves[index], index, head.size, proof, head.root)
    for size in sorted(roots):
        proof = await client.consistency_proof(size, head.size)
        _check(verify_consistency, size, head.size, proof, roots[size], head.root)
    return RemoteVerification(head, len(rows), tuple(indices), tuple(sorted(roots)))


def _check(verify: object, *args: object) -> None:
    try:
        verify(*args)  # type: ignore[operator]
    except LedgerError as exc:
        raise BadRemoteLedger(f"proof: {exc}") from exc
