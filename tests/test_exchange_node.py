"""The exchange and environment nodes as servers: health, reflection, graceful stop, TLS,
and ``catallax ledger serve``.

Real processes on loopback (``catallax node env``, ``catallax node exchange``,
``catallax trader run``, ``catallax ledger serve``), real channels, and the clients of
grpcio-health-checking and grpcio-reflection. TLS uses a self-signed certificate for
``localhost`` / 127.0.0.1 made here with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from catallax.exchange import crypto
from catallax.node.env import EnvironmentClient, start_server
from catallax.node.env.client import ca_credentials
from catallax.node.errors import OptionError, WireError
from catallax.node.exchange.config import ConfigError, parse_config
from catallax.node.exchange.watch import wait_task
from catallax.node.keys import load_public_key
from catallax.node.ledger_client import LedgerClient, verify_remote
from catallax.node.localnet import (
    catallax_command,
    launch,
    new_key,
    start_deep_network,
    write_toml,
)
from catallax.v1 import exchange_pb2, exchange_pb2_grpc

pytestmark = pytest.mark.timeout(300)

CHAIN = "catallax/Chain-v0"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*catallax_command(), *argv], capture_output=True, text=True, timeout=timeout
    )


def health_and_services(
    address: str, services: list[str], credentials: grpc.ChannelCredentials | None = None
) -> tuple[dict[str, int], set[str]]:
    """Each service's health status and the services reflection lists."""
    channel = (
        grpc.insecure_channel(address)
        if credentials is None
        else grpc.secure_channel(address, credentials)
    )
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        status = {
            name: stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status
            for name in services
        }
        listed = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    return status, listed


def self_signed(folder: Path, name: str = "node") -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def audit(folder: Path, key: Path) -> str:
    done = cli("ledger", "audit", str(folder), "--key", str(key))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok:"), done.stdout
    return done.stdout


# --- health and reflection ---------------------------------------------------------------


def test_health_reflection_and_the_cli_on_every_node(tmp_path):
    net = start_deep_network(
        tmp_path, CHAIN, task="chain", rules={"bid_deadline_ms": 10_000},
        traders=[("adaptive", {})],
    )  # fmt: skip
    try:
        wait_task(net.exchange.address, "chain", lambda i: i.rounds >= 3, timeout=120)
        services = ["", "catallax.v1.Exchange", "catallax.v1.Ledger"]
        status, listed = health_and_services(net.exchange.address, services)
        assert status == dict.fromkeys(services, SERVING)
        assert {"catallax.v1.Exchange", "catallax.v1.Ledger", "grpc.health.v1.Health"} <= listed
        status, listed = health_and_services(net.env.address, ["", "catallax.v1.Environment"])
        assert status == {"": SERVING, "catallax.v1.Environment": SERVING}
        assert {"catallax.v1.Environment", "grpc.health.v1.Health"} <= listed
        assert "catallax.v1.Exchange" not in listed

        for address in (net.exchange.address, net.env.address):
            done = cli("health", address)
            assert (done.returncode, done.stdout.strip()) == (0, f"{address}: SERVING")
        done = cli("health", net.exchange.address, "--service", "catallax.v1.Ledger")
        assert done.returncode == 0, done.stdout
        done = cli("health", net.exchange.address, "--service", "no.such.Service")
        assert done.returncode == 1 and "NOT_FOUND" in done.stdout, done.stdout

        done = cli("tasks", net.exchange.address, "--json")
        assert done.returncode == 0, done.stderr
        listing = json.loads(done.stdout)
        assert listing["exchange"] == net.origin
        assert bytes.fromhex(listing["public_key"]) == load_public_key(net.exchange_pub)
        (task,) = listing["tasks"]
        assert task["name"] == "chain" and int(task["rounds"]) >= 3

        env_address = net.env.address
        assert net.env.stop() == 0, net.env.tail()
        done = cli("health", env_address, "--timeout", "2")
        assert done.returncode == 1 and "UNAVAILABLE" in done.stdout, done.stdout
    finally:
        net.stop()


# --- graceful stop -----------------------------------------------------------------------


class HealthWatch(threading.Thread):
    """Follows ``Health.Watch`` of a server; records each status and whether the
    process was still running when it arrived."""

    def __init__(self, address: str, proc) -> None:
        super().__init__(daemon=True)
        self.address, self.proc = address, proc
        self.seen: list[tuple[int, bool]] = []
        self.serving = threading.Event()
        self.ended: grpc.StatusCode | None = None

    def run(self) -> None:
        with grpc.insecure_channel(self.address) as channel:
            stream = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service=""), timeout=120
            )
            try:
                for reply in stream:
                    self.seen.append((reply.status, self.proc.poll() is None))
                    if reply.status == SERVING:
                        self.serving.set()
            except grpc.RpcError as exc:
                self.ended = exc.code()


def test_sigterm_mid_trading_exits_0_not_serving_first_and_the_ledger_audits(tmp_path):
    net = start_deep_network(
        tmp_path, CHAIN, slots=2, task="chain", rules={"bid_deadline_ms": 10_000},
        traders=[("adaptive", {}), ("adaptive", {})],
    )  # fmt: skip
    try:
        before = wait_task(  # both admitted: no allowance round can come after SIGTERM
            net.exchange.address, "chain", lambda i: i.rounds >= 8 and i.identities == 2,
            timeout=120,
        )  # fmt: skip
        assert before.state == "training"
        watch = HealthWatch(net.exchange.address, net.exchange.popen)
        watch.start()
        assert watch.serving.wait(30)
        net.exchange.popen.send_signal(signal.SIGTERM)
        assert net.exchange.popen.wait(90) == 0, net.exchange.tail()
        watch.join(30)
    finally:
        net.stop()
    statuses = [s for s, _ in watch.seen]
    assert statuses[0] == SERVING and NOT_SERVING in statuses, watch.seen
    assert all(alive for s, alive in watch.seen if s == NOT_SERVING), watch.seen
    log = net.exchange.log.read_text()
    assert "event=stopping" in log and "event=stop origin=" in log

    verify = cli("ledger", "verify", str(net.ledger_dir), "--key", str(net.exchange_pub))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    audited = audit(net.ledger_dir, net.exchange_pub)
    size = int(audited.split()[1])
    tail = cli("ledger", "tail", str(net.ledger_dir), "-n", "1000000", "--json")
    entries = [json.loads(line) for line in tail.stdout.splitlines()]
    assert len(entries) == size  # the signed checkpoint covers every entry
    taxes: dict[int, int] = {}  # round -> its tax transfers: one per slot sold
    for e in entries:
        if e["type"] == "transfer":
            taxes[e["round"]] = taxes.get(e["round"], 0) + (e["kind"] == "tax")
    last = max(taxes)
    assert last + 1 >= before.rounds  # every round settled before SIGTERM is there ...
    assert sorted(taxes) == list(range(last + 1))  # ... with no gap ...
    assert set(taxes.values()) == {2}, taxes  # ... and whole, the last one too: both slots


# --- TLS ---------------------------------------------------------------------------------


async def test_env_node_serves_tls_to_a_client_trusting_its_ca(tmp_path):
    cert, key = self_signed(tmp_path / "tls")
    exchange, node_key = crypto.generate_private_key(), crypto.generate_private_key()
    creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    node = await start_server(
        CHAIN, slots=2, key=node_key, exchange_keys=[crypto.public_key_bytes(exchange)],
        data_dir=tmp_path / "node", credentials=creds,
    )  # fmt: skip
    address = f"127.0.0.1:{node.port}"
    node_pub = crypto.public_key_bytes(node_key)
    try:
        async with EnvironmentClient(
            address, exchange, node_pub, credentials=ca_credentials(cert)
        ) as client:
            spec = await client.spec()
            assert spec.env_id == CHAIN and spec.slots == 2
            obs, _ = await client.reset([0, 1], [1, 2])
            _, rewards, *_ = await client.step([0, 1], [0, 1])
            assert obs.shape == (2,) and rewards.shape == (2,)
        async with EnvironmentClient(address, exchange, node_pub, timeout=3) as plain:
            with pytest.raises(WireError) as refused:
                await plain.spec()
            assert refused.value.status == grpc.StatusCode.UNAVAILABLE
        other, _ = self_signed(tmp_path / "other")
        async with EnvironmentClient(
            address, exchange, node_pub, timeout=3, credentials=ca_credentials(other)
        ) as stranger:
            with pytest.raises(WireError):
                await stranger.spec()
    finally:
        await node.stop(0)
    with pytest.raises(OptionError, match="cannot read"):
        ca_credentials(tmp_path / "missing.pem")
    with pytest.raises(OptionError, match="no PEM certificate"):
        ca_credentials(key)


def test_env_ca_is_a_path_beside_the_config(tmp_path):
    def config(**task):
        data = {
            "exchange": {"origin": "o", "key": "k.pem", "data_dir": "d"},
            "tasks": {"t": {"env": "127.0.0.1:1", "env_key": "e.pub", **task}},
        }
        return parse_config(data, base=tmp_path, source="x.toml")

    assert config().tasks[0].env_ca is None
    assert config(env_ca="ca.pem").tasks[0].env_ca == tmp_path / "ca.pem"
    assert "env_ca" not in config(env_ca="ca.pem").tasks[0].rules()
    with pytest.raises(ConfigError, match=r"x.toml: tasks.t.env_ca: expected a non-empty string"):
        config(env_ca=3)


def test_ask_limit_defaults_to_the_allowance_and_is_part_of_the_rules(tmp_path):
    def config(**task):
        data = {
            "exchange": {"origin": "o", "key": "k.pem", "data_dir": "d"},
            "tasks": {"t": {"env": "127.0.0.1:1", "env_key": "e.pub", **task}},
        }
        return parse_config(data, base=tmp_path, source="x.toml").tasks[0]

    assert config(allowance=25.0).asks_to == 25.0
    assert config(allowance=25.0).rules()["ask_limit"] == 25.0
    assert config(allowance=25.0, ask_limit=500).asks_to == 500.0
    assert config(ask_limit=500).rules() != config().rules()  # a trader accepts it by bidding
    for bad in (-1, float("nan"), "deep"):
        with pytest.raises(ConfigError, match=r"x.toml: tasks.t.ask_limit: expected"):
            config(ask_limit=bad)


def wait_tls(address: str, credentials, task: str, rounds: int, timeout: float = 150):
    """``ListTasks`` over TLS until ``task`` has settled ``rounds`` rounds."""
    deadline = time.monotonic() + timeout
    with grpc.secure_channel(address, credentials) as channel:
        stub = exchange_pb2_grpc.ExchangeStub(channel)
        while True:
            reply = stub.ListTasks(exchange_pb2.ListTasksRequest(), timeout=10)
            info = next(t for t in reply.tasks if t.name == task)
            if info.rounds >= rounds:
                return info
            assert time.monotonic() < deadline, f"still {info.state!r} after {info.rounds} rounds"
            time.sleep(0.2)


def test_a_network_over_tls_trades_and_refuses_plain_text(tmp_path):
    cert, cert_key = self_signed(tmp_path / "tls")
    keys = tmp_path / "keys"
    ex_key, env_key, me = (new_key(keys / f"{n}.pem") for n in ("exchange", "env", "me"))
    env = launch(
        "env",
        ["node", "env", CHAIN, "--key", str(env_key), "--exchange-key", f"{ex_key}.pub",
         "--data-dir", str(tmp_path / "env"), "--tls-cert", str(cert), "--tls-key",
         str(cert_key)],
        tmp_path / "logs" / "env.log",
    )  # fmt: skip
    procs = [env]
    try:
        config = write_toml(
            tmp_path / "exchange.toml",
            {
                "exchange": {"origin": "catallax.local/tls", "key": str(ex_key),
                             "data_dir": str(tmp_path / "exchange"), "port": 0},
                "tasks.chain": {"env": env.address, "env_key": f"{env_key}.pub",
                                "env_ca": str(cert), "bid_deadline_ms": 10_000},
            },
        )  # fmt: skip
        exchange = launch(
            "exchange",
            ["node", "exchange", "--config", str(config), "--tls-cert", str(cert),
             "--tls-key", str(cert_key)],
            tmp_path / "logs" / "exchange.log",
        )  # fmt: skip
        procs.append(exchange)
        trader = launch(
            "trader",
            ["trader", "run", "adaptive", "--exchange", exchange.address, "--task", "chain",
             "--key", str(me), "--ca", str(cert), "--exchange-key", f"{ex_key}.pub"],
            tmp_path / "logs" / "trader.log", ready=False,
        )  # fmt: skip
        procs.append(trader)
        tls = grpc.ssl_channel_credentials(cert.read_bytes())
        info = wait_tls(exchange.address, tls, "chain", rounds=10)
        assert info.identities == 1

        services = ["", "catallax.v1.Exchange", "catallax.v1.Ledger"]
        status, listed = health_and_services(exchange.address, services, tls)
        assert status == dict.fromkeys(services, SERVING) and "catallax.v1.Ledger" in listed
        status, _ = health_and_services(env.address, ["catallax.v1.Environment"], tls)
        assert status == {"catallax.v1.Environment": SERVING}

        for address in (exchange.address, env.address):  # plain text is refused
            done = cli("health", address, "--timeout", "3")
            assert done.returncode == 1 and "UNAVAILABLE" in done.stdout, done.stdout
        done = cli("tasks", exchange.address, "--json", "--timeout", "3")
        assert done.returncode == 1 and "UNAVAILABLE" in done.stdout, done.stdout
        other, _ = self_signed(tmp_path / "other")
        for channel in (
            grpc.insecure_channel(exchange.address),
            grpc.secure_channel(exchange.address, grpc.ssl_channel_credentials(other.read_bytes())),
        ):  # plain text, and TLS trusting another CA
            with channel, pytest.raises(grpc.RpcError) as refused:
                exchange_pb2_grpc.ExchangeStub(channel).ListTasks(
                    exchange_pb2.ListTasksRequest(), timeout=3
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

        assert trader.stop() == 0, trader.tail()
        assert exchange.stop() == 0, exchange.tail()
    finally:
        for proc in reversed(procs):
            proc.stop()
    assert "tls=True" in (tmp_path / "logs" / "exchange.log").read_text()
    assert "tls=True" in (tmp_path / "logs" / "env.log").read_text()
    audit(tmp_path / "exchange", Path(f"{ex_key}.pub"))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (("cert",), "TLS needs both a certificate and its key"),
        (("cert", "missing"), "TLS: cannot read"),
        (("junk", "key"), "no PEM certificate in it"),
        (("cert", "junk"), "no unencrypted PEM private key in it"),
        (("cert", "other-key"), "is not the key of the certificate in"),
    ],
)
def test_bad_tls_files_are_one_line_and_exit_2(tmp_path, files, message):
    node_key = new_key(tmp_path / "node.pem")
    cert, key = self_signed(tmp_path / "tls")
    _, other_key = self_signed(tmp_path / "tls", "other")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a PEM file\n")
    paths = {"cert": cert, "key": key, "other-key": other_key, "junk": junk,
             "missing": tmp_path / "missing.pem"}  # fmt: skip
    tls = ["--tls-cert", str(paths[files[0]])]
    if len(files) > 1:
        tls += ["--tls-key", str(paths[files[1]])]
    done = cli("node", "env", CHAIN, "--key", str(node_key), "--exchange-key",
               f"{node_key}.pub", "--data-dir", str(tmp_path / "d"), *tls)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("catallax: error: TLS") and message in lines[0], lines[0]
    assert not (tmp_path / "d").exists()  # refused before anything was made


# --- catallax ledger serve ----------------------------------------------------------------


def test_ledger_serve_offers_a_folder_read_only_until_sigterm(tmp_path):
    folder = tmp_path / "ledger"
    trained = cli("train", CHAIN, "--episodes", "5", "--envs", "2", "--eval-episodes", "1",
                  "--ledger", str(folder), "--json")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    pub = tmp_path / "exchange.pem.pub"
    pub.write_bytes((folder / "exchange.pem.pub").read_bytes())
    kept = cli("ledger", "checkpoint", str(folder), "--key", str(pub))
    assert kept.returncode == 0, kept.stderr
    stored = hashlib.sha256((folder / "ledger.sqlite").read_bytes()).digest()

    server = launch("ledger", ["ledger", "serve", str(folder)], tmp_path / "serve.log")
    try:
        assert server.address.startswith("127.0.0.1:")

        async def read() -> tuple[str, int, list]:
            async with LedgerClient(server.address) as client:
                note = await client.latest_checkpoint()
                rows = await client.entries(0, 3)
            checked = await verify_remote(server.address, load_public_key(pub))
            return note, checked.entries, rows

        note, size, rows = asyncio.run(read())
        assert note == kept.stdout
        assert size == int(note.splitlines()[1]) > 3
        assert [i for i, _ in rows] == [0, 1, 2]
        status, listed = health_and_services(server.address, ["", "catallax.v1.Ledger"])
        assert status == {"": SERVING, "catallax.v1.Ledger": SERVING}
        assert "catallax.v1.Ledger" in listed and "catallax.v1.Exchange" not in listed
        server.popen.send_signal(signal.SIGTERM)
        assert server.popen.wait(30) == 0, server.tail()
    finally:
        server.stop()
    assert hashlib.sha256((folder / "ledger.sqlite").read_bytes()).digest() == stored

    missing = cli("ledger", "serve", str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert (
        missing.stderr.strip() == f"catallax: error: {tmp_path / 'nowhere'}: no such ledger folder"
    )
