"""Shared fixtures."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

Runner = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def run_bench(request: pytest.FixtureRequest) -> Runner:
    """Run the test module's benchmark (``SCRIPT`` in ``bench/``) in a real subprocess.

    ``run_bench(*argv, timeout=240)`` returns the completed process with text output.
    """
    script = BENCH / request.module.SCRIPT

    def run(*argv: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(script), *argv], capture_output=True, text=True, timeout=timeout
        )

    return run


# --- PostgreSQL --------------------------------------------------------------------------

#: Servers tried in turn: $CATALLAX_TEST_POSTGRES, then the usual local ones.
POSTGRES_CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/root",
    "postgresql://postgres@127.0.0.1:5432/test",
)


def _answers(url: str) -> str | None:
    """None if ``url`` connects and may create a schema; else why not (one line)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as db:
            (ok,) = db.execute(
                "SELECT has_database_privilege(current_database(), 'CREATE')"
            ).fetchone()
    except psycopg.Error as exc:
        return " ".join(str(exc).split())
    return None if ok else "no CREATE privilege on the database"


@pytest.fixture(scope="session")
def postgres_server():
    """The URL of a PostgreSQL server the tests may create schemas on.

    A local server on 127.0.0.1:5432 if one answers (or $CATALLAX_TEST_POSTGRES, a URL;
    ``CATALLAX_TEST_POSTGRES=pgserver`` skips the local ones); otherwise one started here
    from the ``pgserver`` wheel (dev extra: PostgreSQL's own binaries; as root it runs the
    server as the system user ``pgserver``), listening on a Unix socket only, stopped and
    removed at the end of the session. Its folder is not under pytest's temporary root,
    which pytest keeps at mode 0700 (the server's user could not reach it).
    """
    import os
    import shutil
    import tempfile
    import warnings

    chosen = os.environ.get("CATALLAX_TEST_POSTGRES", "")
    tried = ["CATALLAX_TEST_POSTGRES=pgserver"]
    candidates = () if chosen == "pgserver" else (chosen, *POSTGRES_CANDIDATES)
    for url in filter(None, candidates):
        why = _answers(url)
        if why is None:
            yield url
            return
        tried.append(why)
    try:
        with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR is not set
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError:
        pytest.skip(f"no PostgreSQL server answers ({tried[-1]}) and pgserver is not installed")
    folder = Path(tempfile.mkdtemp(prefix="catallax-pg-"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(folder / "data", cleanup_mode="delete")
        try:
            url = server.get_uri()
            why = _answers(url)
            if why is not None:
                pytest.skip(
                    f"no PostgreSQL server answers ({tried[-1]}); pgserver's neither: {why}"
                )
            yield url
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_schema(postgres_server: str):
    """A fresh schema name on :func:`postgres_server`, dropped (with all in it) afterwards."""
    import secrets

    import psycopg

    name = f"test_{secrets.token_hex(6)}"
    yield name
    with psycopg.connect(postgres_server, autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def postgres_url(postgres_server: str, postgres_schema: str) -> str:
    """A ledger URL naming a fresh schema (see :func:`postgres_schema`)."""
    sep = "&" if "?" in postgres_server else "?"
    return f"{postgres_server}{sep}schema={postgres_schema}"


# --- raw messages to a running exchange -------------------------------------------------


class Wire:
    """Hand-made messages for a running exchange, as a misbehaving client sends them."""

    @staticmethod
    def hello(key_file: Path, origin: str, task: str, sequence: int):
        """A ``Hello`` of ``key_file``'s identity with ``sequence``, stamped and signed now."""
        import time

        from catallax.node.keys import load_private_key
        from catallax.node.wire import seal
        from catallax.v1 import exchange_pb2

        body = exchange_pb2.Hello(exchange=origin, task=task, sequence=sequence)
        body.timestamp_ms = int(time.time() * 1000)
        return seal(load_private_key(key_file), exchange_pb2.Hello, body)

    @staticmethod
    def first_frame(address: str, envelope, timeout: float = 30.0):
        """Open a ``Trade`` stream with ``envelope`` as its first message; the call's
        status code once it ends."""
        import contextlib

        import grpc

        from catallax.v1 import exchange_pb2_grpc

        with grpc.insecure_channel(address) as channel:
            call = exchange_pb2_grpc.ExchangeStub(channel).Trade(iter([envelope]), timeout=timeout)
            with contextlib.suppress(grpc.RpcError):
                for _ in call:
                    pass
            return call.code()


@pytest.fixture
def wire() -> type[Wire]:
    """:class:`Wire`: raw Hello envelopes and first-frame statuses."""
    return Wire


@pytest.fixture
def catallax_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``catallax_cli(*argv)`` runs ``catallax argv...`` in this process and returns
    ``(exit status, stdout, stderr)``."""
    from catallax.node.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        captured = capsys.readouterr()
        return exit_info.value.code, captured.out, captured.err

    return run


# --- MQTT ------------------------------------------------------------------------------

#: The broker tried first (the machine's Mosquitto).
MQTT_DEFAULT = ("127.0.0.1", 1883)


def mqtt_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """True if an MQTT broker at ``host:port`` accepts a CONNECT (CONNACK, return code 0)."""
    import socket

    connect = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 10, 0, 0])
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(connect)
            reply = b""
            while len(reply) < 4:
                chunk = sock.recv(4 - len(reply))
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    return reply[0] == 0x20 and reply[3] == 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    """An MQTT broker process of the tests' own on 127.0.0.1: ``mosquitto`` if installed,
    else amqtt's (dev extra); no persistence, so a :meth:`restart` forgets every session
    and retained message. :meth:`start` returns once it accepts a CONNECT."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        import shutil

        self.folder = folder
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen | None = None
        self.mosquitto = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> Broker:
        import time

        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "broker.log", "ab")  # noqa: SIM115  (the child keeps it)
        if self.mosquitto:
            conf = self.folder / "mosquitto.conf"
            conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
            argv = [self.mosquitto, "-c", str(conf)]
        else:
            conf = self.folder / "amqtt.yaml"
            conf.write_text(
                f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{self.port}\n"
                "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
                "    allow_anonymous: true\n"
            )
            argv = [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(conf)]
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while not mqtt_answers(self.host, self.port, timeout=1.0):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.folder / "broker.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the test broker did not start: {tail}")
            time.sleep(0.05)  # polling the port: a broker says nothing else when it is ready
        return self

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its persistence file) and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory):
    """``(host, port)`` of an MQTT broker: the Mosquitto on 127.0.0.1:1883 if it answers,
    otherwise one started here (:class:`Broker`) for the session.
    ``CATALLAX_REQUIRE_MQTT=1`` (``.ci/run``) makes a missing 1883 broker a failure."""
    import os

    if mqtt_answers(*MQTT_DEFAULT):
        yield MQTT_DEFAULT
        return
    if os.environ.get("CATALLAX_REQUIRE_MQTT") == "1":
        pytest.fail("CATALLAX_REQUIRE_MQTT=1 but no MQTT broker answers on 127.0.0.1:1883")
    broker = Broker(tmp_path_factory.mktemp("mqtt")).start()
    try:
        yield (broker.host, broker.port)
    finally:
        broker.stop()


@pytest.fixture
def own_broker(tmp_path: Path):
    """A :class:`Broker` of this test's own (to restart), stopped afterwards."""
    broker = Broker(tmp_path / "broker").start()
    try:
        yield broker
    finally:
        broker.stop()
