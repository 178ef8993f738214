"""``catallax health`` and ``catallax tasks``: look at a running node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from catallax.node.cli._common import fail, out

Address = Annotated[str, typer.Argument(help="The node's HOST:PORT.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the answer.")]
Ca = Annotated[Path | None, typer.Option("--ca", help="Connect with TLS, trusting this CA (PEM).")]


def _channel(target: str, ca: Path | None):
    import grpc

    if ca is None:
        return grpc.insecure_channel(target)
    try:
        return grpc.secure_channel(target, grpc.ssl_channel_credentials(ca.read_bytes()))
    except OSError as exc:
        fail(f"--ca {str(ca)!r}: {exc.strerror}")


def _address(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"expected HOST:PORT, got {address!r}")
    return address


def health(
    address: Address,
    service: Annotated[
        str, typer.Option("--service", help="A service name; empty: the whole server.")
    ] = "",
    timeout: Timeout = 5.0,
    ca: Ca = None,
) -> int:
    """Ask a node's gRPC health service: prints SERVING (exit 0) or why not (exit 1)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = _address(address)
    with _channel(target, ca) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            out.print(f"{target}: {exc.code().name}: {exc.details()}", markup=False)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    out.print(f"{target}: {status}", markup=False)
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


def tasks(
    address: Address,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    timeout: Timeout = 5.0,
    ca: Ca = None,
) -> int:
    """List the tasks of an exchange: rules, state, rounds, traders, returns."""
    import grpc
    from google.protobuf.json_format import MessageToDict

    from catallax.exchange.crypto import key_fingerprint
    from catallax.v1 import exchange_pb2, exchange_pb2_grpc

    target = _address(address)
    with _channel(target, ca) as channel:
        stub = exchange_pb2_grpc.ExchangeStub(channel)
        try:
            reply = stub.ListTasks(exchange_pb2.ListTasksRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            out.print(f"{target}: {exc.code().name}: {exc.details()}", markup=False)
            return 1
    if json_out:
        data = MessageToDict(reply, preserving_proto_field_name=True)
        data["public_key"] = bytes(reply.public_key).hex()
        for t, msg in zip(data.get("tasks", []), reply.tasks, strict=True):
            t["rules"] = bytes(msg.rules).hex()
        print(json.dumps(data))
        return 0
    title = f"{reply.exchange} (key {key_fingerprint(bytes(reply.public_key))}) at {target}"
    table = Table(title=title)
    for col in ("task", "state", "auction", "slots", "rounds", "episodes", "return",
                "traders", "identities", "budget left"):  # fmt: skip
        table.add_column(col, overflow="fold")
    for t in reply.tasks:
        table.add_row(
            t.name, t.state, t.auction, str(t.slots), str(t.rounds), str(t.episodes),
            f"{t.mean_return:.3f}", str(t.sessions), str(t.identities),
            f"{t.allowance_left / 1e6:g}",
        )  # fmt: skip
    out.print(table, width=max(out.width, 120))
    return 0
