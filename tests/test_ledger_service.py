"""The Ledger gRPC service and its client: a real server on port 0, real channels."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from catallax.exchange import crypto
from catallax.exchange.ledger import (
    LEDGER_FILE,
    AccountKind,
    CorruptLedger,
    Transfer,
    TransferKind,
    leaf_hash,
    open_checkpoint,
    open_ledger,
    verify_consistency,
    verify_inclusion,
)
from catallax.node.keys import save_private_key
from catallax.node.ledger_client import (
    BadRemoteLedger,
    CallFailed,
    LedgerClient,
    verify_remote,
)
from catallax.node.ledger_service import SERVICE_NAME, serve_ledger
from catallax.v1 import ledger_pb2, ledger_pb2_grpc

ORIGIN = "catallax.test/ledger-service"
WAIT = 20.0  # a bound on every wait, never a synchronisation

WRITER = """
import sys
from catallax.exchange.ledger import Transfer, TransferKind, open_ledger
from catallax.node.keys import load_private_key

folder, key_file = sys.argv[1:3]
with open_ledger(folder, key=load_private_key(key_file)) as ledger:
    print("ready", ledger.size, flush=True)
    for line in sys.stdin:
        n = int(line)
        base = ledger.size
        ledger.commit_round(
            Transfer(f"w{base}-{i}", "mint", "treasury", 100 + i, TransferKind.ALLOWANCE)
            for i in range(n)
        )
        print("ack", ledger.size, flush=True)
"""


@pytest.fixture
def key():
    return crypto.generate_private_key()


@pytest.fixture
def folder(tmp_path: Path, key):
    """A ledger folder of 21 entries: an issuer holding the exchange's key, a treasury
    and 19 allowance transfers over 10 rounds; the key saved as ``exchange.pem``."""
    save_private_key(key, tmp_path / "exchange.pem")
    folder = tmp_path / "ledger"
    with open_ledger(folder, key=key, origin=ORIGIN, create=True, checkpoint_interval=4) as led:
        led.open_account("mint", AccountKind.ISSUER, crypto.public_key_bytes(key))
        led.open_account("treasury", "treasury")
        n = 0
        for r in range(10):
            batch = []
            for _ in range(1 + r % 3):
                batch.append(Transfer(f"t{n}", "mint", "treasury", 7 + n, TransferKind.ALLOWANCE))
                n += 1
            led.commit_round(batch)
    return folder


@pytest.fixture
def local(folder: Path):
    with open_ledger(folder) as ledger:
        yield ledger


@pytest.fixture
async def served(folder: Path):
    server, port = await serve_ledger(folder, poll_interval=0.02, page=4)
    try:
        yield server, f"127.0.0.1:{port}"
    finally:
        await server.stop(1.0)


@pytest.fixture
async def client(served):
    async with LedgerClient(served[1], timeout=WAIT) as c:
        yield c


async def test_health_and_reflection(served) -> None:
    _, address = served
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE_NAME):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=WAIT)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

    def reflect() -> tuple[set[str], list[str]]:
        with grpc.insecure_channel(address) as channel:
            db = ProtoReflectionDescriptorDatabase(channel)
            services = set(db.get_services())
            methods = [m.name for m in db.FindFileContainingSymbol(SERVICE_NAME).service[0].method]
        return services, methods

    services, methods = await asyncio.to_thread(reflect)
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= services
    assert set(methods) >= {"LatestCheckpoint", "Entries", "Tail"}


async def test_latest_checkpoint_is_the_ledgers(client, local, folder, key) -> None:
    note = await client.latest_checkpoint()
    assert note == local.checkpoint
    assert open_checkpoint(note, crypto.public_key_bytes(key)).size == local.size == 21


async def test_entries_in_pages(client, local, served) -> None:
    rows = await client.entries(0, local.size)
    assert rows == [(i, local.entry_bytes(i)) for i in range(local.size)]
    assert await client.entries(5, 9) == rows[5:9]
    assert await client.entries(3, 3) == []
    async with grpc.aio.insecure_channel(served[1]) as channel:
        stub = ledger_pb2_grpc.LedgerStub(channel)
        reply = await stub.Entries(ledger_pb2.EntriesRequest(start=18, end=99), timeout=WAIT)
        assert [e.index for e in reply.entries] == [18, 19, 20]  # cut at the log's end
        reply = await stub.Entries(ledger_pb2.EntriesRequest(start=0, end=99), timeout=WAIT)
        assert len(reply.entries) == 4  # the page size


async def test_inclusion_proofs_verify(client, local) -> None:
    for size in (1, 2, 7, 16, 21):
        root = local.root_at(size)
        for index in range(size):
            proof = await client.inclusion_proof(index, size)
            assert proof == local.inclusion_proof(index, size)
            verify_inclusion(leaf_hash(local.entry_bytes(index)), index, size, proof, root)


async def test_consistency_proofs_verify(client, local) -> None:
    for second in (1, 5, 16, 21):
        for first in range(1, second + 1):
            proof = await client.consistency_proof(first, second)
            assert proof == local.consistency_proof(first, second)
            verify_consistency(first, second, proof, local.root_at(first), local.root_at(second))


BAD = [
    ("Entries", ledger_pb2.EntriesRequest(start=5, end=2), grpc.StatusCode.INVALID_ARGUMENT),
    ("Entries", ledger_pb2.EntriesRequest(start=21, end=30), grpc.StatusCode.OUT_OF_RANGE),
    ("Entries", ledger_pb2.EntriesRequest(start=2**64 - 1, end=2**64 - 1), None),
    (
        "InclusionProof",
        ledger_pb2.InclusionProofRequest(index=0, tree_size=0),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "InclusionProof",
        ledger_pb2.InclusionProofRequest(index=5, tree_size=5),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "InclusionProof",
        ledger_pb2.InclusionProofRequest(index=0, tree_size=22),
        grpc.StatusCode.OUT_OF_RANGE,
    ),
    (
        "ConsistencyProof",
        ledger_pb2.ConsistencyProofRequest(first=0, second=3),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "ConsistencyProof",
        ledger_pb2.ConsistencyProofRequest(first=4, second=3),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        "ConsistencyProof",
        ledger_pb2.ConsistencyProofRequest(first=3, second=2**64 - 1),
        grpc.StatusCode.OUT_OF_RANGE,
    ),
]


@pytest.mark.parametrize(("method", "request_", "code"), BAD)
async def test_bad_requests_get_their_status(served, method, request_, code) -> None:
    async with grpc.aio.insecure_channel(served[1]) as channel:
        call = getattr(ledger_pb2_grpc.LedgerStub(channel), method)
        if code is None:  # an empty range is no error, even at the top of uint64
            assert not (await call(request_, timeout=WAIT)).entries
            return
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call(request_, timeout=WAIT)
        assert info.value.code() == code


async def test_tail_from_beyond_the_end_is_out_of_range(client) -> None:
    with pytest.raises(CallFailed) as info:
        async for _ in client.tail(22):
            pass
    assert info.value.code == grpc.StatusCode.OUT_OF_RANGE


async def test_client_maps_refusals(client) -> None:
    with pytest.raises(CallFailed) as info:
        await client.inclusion_proof(0, 99)
    assert info.value.code == grpc.StatusCode.OUT_OF_RANGE


async def _next(stream) -> object:
    return await asyncio.wait_for(anext(stream), WAIT)


async def _until_checkpoint(stream, size: int) -> list[tuple[int, bytes]]:
    """Entries from the stream up to the checkpoint of ``size`` (earlier ones skipped)."""
    rows = []
    while True:
        event = await _next(stream)
        if isinstance(event, str):
            if open_checkpoint_size(event) == size:
                return rows
        else:
            rows.append(event)


def open_checkpoint_size(note: str) -> int:
    return int(note.split("\n")[1])


async def test_tail_follows_a_writer_in_another_process(client, folder: Path) -> None:
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRITER,
        str(folder),
        str(folder.parent / "exchange.pem"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )

    async def ack() -> int:
        line = (await asyncio.wait_for(writer.stdout.readline(), WAIT)).decode().split()
        return int(line[1])

    stream = client.tail(19)
    try:
        assert await ack() == 21  # "ready 21"
        rows = await _until_checkpoint(stream, 21)
        assert [i for i, _ in rows] == [19, 20]
        seen, tailed = 21, []
        for n in (2, 1, 3):
            writer.stdin.write(f"{n}\n".encode())
            await writer.stdin.drain()
            size = await ack()
            assert size == seen + n
            rows = await _until_checkpoint(stream, size)
            assert [i for i, _ in rows] == list(range(seen, size))
            tailed += rows
            seen = size
        writer.stdin.close()
        assert await asyncio.wait_for(writer.wait(), WAIT) == 0
    finally:
        await stream.aclose()
        if writer.returncode is None:
            writer.kill()
            await writer.wait()
    with open_ledger(folder) as ledger:
        assert ledger.size == 27
        assert tailed == [(i, ledger.entry_bytes(i)) for i in range(21, 27)]
    assert await client.latest_checkpoint() == ledger.checkpoint


async def test_cancelled_tails_leave_the_server_healthy(client, served) -> None:
    for _ in range(3):  # the client's own cancellation
        stream = client.tail(0)
        assert await _next(stream) == (0, (await client.entries(0, 1))[0][1])
        await stream.aclose()
    for _ in range(3):  # a client that vanishes: its channel closes mid-stream
        channel = grpc.aio.insecure_channel(served[1])
        call = ledger_pb2_grpc.LedgerStub(channel).Tail(ledger_pb2.TailRequest(start=21))
        event = await asyncio.wait_for(call.read(), WAIT)
        assert event.WhichOneof("kind") == "checkpoint"  # now waiting for new entries
        await channel.close()
    async with grpc.aio.insecure_channel(served[1]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert len(await client.entries(0, 21)) == 21


async def test_verify_remote_passes_on_an_intact_ledger(served, folder, key) -> None:
    report = await verify_remote(served[1], crypto.public_key_bytes(key), timeout=WAIT)
    assert report.checkpoint.size == report.entries == 21
    assert report.inclusion == tuple(range(21))
    assert report.consistency == tuple(range(1, 21))


async def test_verify_remote_refuses_another_key(served) -> None:
    other = crypto.public_key_bytes(crypto.generate_private_key())
    with pytest.raises(BadRemoteLedger, match="checkpoint"):
        await verify_remote(served[1], other, timeout=WAIT)


async def test_verify_remote_fails_on_a_tampered_ledger(folder, key) -> None:
    with sqlite3.connect(folder / LEDGER_FILE) as db:
        (data,) = db.execute("SELECT data FROM entries WHERE idx = 5").fetchone()
        amount = (7 + 3).to_bytes(8, "big")  # entry 5 is transfer t3 of 10 units
        assert data.count(amount) == 1
        db.execute(
            "UPDATE entries SET data = ? WHERE idx = 5",
            (data.replace(amount, (10**6).to_bytes(8, "big")),),
        )
    with pytest.raises(CorruptLedger):  # a verifying server refuses to serve it
        await serve_ledger(folder)
    server, port = await serve_ledger(folder, verify=False)  # a server that lies
    try:
        with pytest.raises(BadRemoteLedger, match="do not give the signed root"):
            await verify_remote(f"127.0.0.1:{port}", crypto.public_key_bytes(key), timeout=WAIT)
    finally:
        await server.stop(1.0)
