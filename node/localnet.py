"""A catallax network on loopback: nodes and traders as real processes, one folder.

What ``catallax demo``, the benchmarks and the tests start: an environment node
(``catallax node env``), an exchange node (``catallax node exchange``) and trader
processes (``catallax trader run``), each a subprocess of the current Python, each
logging to a file in the network's folder. A node is ready when it prints
``listening on HOST:PORT``; :func:`launch` waits for that line (never for a time).

The folder holds everything a user would want to look at afterwards::

    keys/        exchange.pem, env.pem, trader-<i>.pem (and their .pub)
    exchange/    the exchange's ledger and sequence book (audit it with catallax ledger)
    env/         the environment node's sequence book
    exchange.toml
    logs/        one file per process
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catallax.exchange.crypto import generate_private_key
from catallax.node.errors import NodeError
from catallax.node.keys import save_private_key

__all__ = [
    "LOOPBACK", "DeepNetwork", "Host", "LaunchFailed", "Network", "Proc", "catallax_command",
    "launch", "new_key", "start_deep_network", "write_toml",
]  # fmt: skip


class LaunchFailed(NodeError):
    """A process did not become ready (its log's tail is in the message)."""


def catallax_command() -> list[str]:
    """How to run the ``catallax`` CLI of this installation in a subprocess."""
    return [sys.executable, "-m", "catallax.node.cli"]


@dataclass
class Proc:
    """A started process: its handle, its address (nodes), its log file."""

    name: str
    popen: subprocess.Popen
    log: Path
    address: str = ""

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait (SIGKILL after ``timeout`` seconds); returns the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._close()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self._close()

    def _close(self) -> None:
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def launch(
    name: str,
    argv: Sequence[str],
    log: Path,
    *,
    ready: bool = True,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    prefix: Sequence[str] = (),
    command: Sequence[str] | None = None,
) -> Proc:
    """Start ``catallax <argv>`` (or ``command <argv>``; after ``prefix``, e.g. ``ip
    netns exec NS``); with ``ready``, wait until it prints ``listening on``.

    Raises:
        LaunchFailed: it exited, or printed something else, or said nothing in time.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = open(log, "ab")  # noqa: SIM115  (the child keeps it)
    environ = dict(os.environ if env is None else env)
    environ.setdefault("PYTHONUNBUFFERED", "1")
    popen = subprocess.Popen(
        [*prefix, *(catallax_command() if command is None else command), *argv],
        stdout=subprocess.PIPE if ready else handle,
        stderr=handle,
        stdin=subprocess.DEVNULL,
        env=environ,
        start_new_session=True,
    )
    handle.close()
    proc = Proc(name, popen, log)
    if not ready:
        return proc
    deadline = time.monotonic() + timeout
    assert popen.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready_fds, _, _ = select.select([popen.stdout], [], [], max(left, 0))
        if not ready_fds:
            proc.kill()
            raise LaunchFailed(f"{name} did not start within {timeout:g} s: {proc.tail()}")
        chunk = os.read(popen.stdout.fileno(), 4096)
        if not chunk:
            popen.wait()
            raise LaunchFailed(f"{name} exited with status {popen.returncode}: {proc.tail()}")
        line += chunk
    text = line.decode(errors="replace").strip().splitlines()[0]
    if not text.startswith("listening on "):
        proc.kill()
        raise LaunchFailed(f"{name} printed {text!r} instead of its address")
    proc.address = text.removeprefix("listening on ")
    return proc


@dataclass(frozen=True)
class Host:
    """Where a node of a local network runs: the address it binds (and is dialled at)
    and the command prefix that puts it there (``("ip", "netns", "exec", NS)`` for a
    network namespace; none for this host's loopback)."""

    address: str = "127.0.0.1"
    prefix: tuple[str, ...] = ()


LOOPBACK = Host()


def new_key(path: Path) -> Path:
    """A new Ed25519 key at ``path`` (and ``path.pub``); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_private_key(generate_private_key(), path)


def write_toml(path: Path, tables: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``{table: {key: value}}`` as TOML (strings, numbers, booleans, paths)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        text = str(v)
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = []
    for table, items in tables.items():
        lines.append(f"[{table}]")
        lines.extend(f"{k} = {value(v)}" for k, v in items.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


@dataclass
class Network:
    """Processes of one local network, stopped together (traders first)."""

    folder: Path
    procs: list[Proc] = field(default_factory=list)

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


@dataclass
class DeepNetwork(Network):
    """A local network serving one deep-market task: environment node, exchange, traders."""

    task: str = "task"
    origin: str = ""
    config: Path | None = None
    env: Proc | None = None
    exchange: Proc | None = None
    traders: list[Proc] = field(default_factory=list)
    hosts: Mapping[str, Host] = field(default_factory=dict)
    _argv: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ledger_dir(self) -> Path:
        return self.folder / "exchange"

    @property
    def exchange_pub(self) -> Path:
        return self.folder / "keys" / "exchange.pem.pub"

    def restart(self, name: str, *, kill: bool = True) -> Proc:
        """Stop the ``"env"`` or ``"exchange"`` node (SIGKILL with ``kill``, else SIGTERM)
        and start it again with the same arguments on the same port, so that whoever
        dials it finds it where it was."""
        old = self.env if name == "env" else self.exchange
        if old is None or name not in ("env", "exchange"):
            raise NodeError(f"no {name!r} node in this network")
        if kill:
            old.kill()
        else:
            old.stop()
        argv = [*self._argv[name], "--port", str(old.port)]
        proc = launch(name, argv, old.log, prefix=self.host(name).prefix)
        self.procs[self.procs.index(old)] = proc
        if name == "env":
            self.env = proc
        else:
            self.exchange = proc
        return proc

    def host(self, name: str) -> Host:
        """Where ``name`` (``"env"``, ``"exchange"`` or ``"traders"``) runs."""
        return self.hosts.get(name, LOOPBACK)

    def audit(self, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """``catallax ledger audit`` of the exchange's ledger against its public key, as a
        user runs it (a subprocess; text output)."""
        return subprocess.run(
            [*catallax_command(), "ledger", "audit", str(self.ledger_dir),
             "--key", str(self.exchange_pub)],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def start_trader(
        self,
        plugin: str,
        *,
        key: Path | None = None,
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
        extra: Sequence[str] = (),
        host: Host | None = None,
        exchange: str | None = None,
    ) -> Proc:
        """Start ``catallax trader run PLUGIN`` on this task (a new key unless given), on
        ``host`` (default: the network's ``"traders"`` host), dialling ``exchange``
        (default: the exchange's address; a proxy's, for example)."""
        i = len(self.traders)
        key = key or new_key(self.folder / "keys" / f"trader-{i}.pem")
        address = exchange or self.exchange.address  # type: ignore[union-attr]
        argv = ["trader", "run", plugin, "--exchange", address,
                "--task", self.task, "--key", str(key), "--seed", str(seed), *extra]  # fmt: skip
        for k, v in (options or {}).items():
            argv += ["--option", f"{k}={v}"]
        where = host or self.host("traders")
        log = self.folder / "logs" / f"trader-{i}.log"
        proc = launch(f"trader-{i}", argv, log, ready=False, prefix=where.prefix)
        self.traders.append(proc)
        return self.add(proc)


def start_deep_network(
    folder: Path,
    env_id: str,
    *,
    slots: int = 1,
    memory: int = 0,
    task: str = "task",
    origin: str = "catallax.local/demo",
    rules: Mapping[str, Any] | None = None,
    traders: Sequence[tuple[str, Mapping[str, Any]]] = (),
    seed: int = 0,
    hosts: Mapping[str, Host] | None = None,
    exchange_args: Sequence[str] = (),
) -> DeepNetwork:
    """Keys, an environment node serving ``env_id`` in ``slots`` slots, an exchange with
    one task (``rules``: keys of ``[tasks.NAME]``), and one trader process per
    ``(plugin, options)``; ports chosen by the kernel. ``hosts`` places ``"env"``,
    ``"exchange"`` and ``"traders"`` (default: all on loopback); ``exchange_args`` are more
    options of ``catallax node exchange`` (``--mqtt HOST:PORT``, say)."""
    folder = Path(folder)
    keys = folder / "keys"
    ex_key, env_key = new_key(keys / "exchange.pem"), new_key(keys / "env.pem")
    net = DeepNetwork(folder, task=task, origin=origin, hosts=dict(hosts or {}))
    try:
        argv = ["node", "env", env_id, "--key", str(env_key), "--slots", str(slots),
                "--exchange-key", str(ex_key) + ".pub", "--data-dir", str(folder / "env"),
                "--memory", str(memory), "--host", net.host("env").address]  # fmt: skip
        net._argv["env"] = argv
        net.env = net.add(
            launch("env", argv, folder / "logs" / "env.log", prefix=net.host("env").prefix)
        )
        table = {
            "env": net.env.address,
            "env_key": str(env_key) + ".pub",
            "seed": seed,
            **(rules or {}),
        }
        net.config = write_toml(
            folder / "exchange.toml",
            {
                "exchange": {"origin": origin, "key": str(ex_key),
                             "data_dir": str(folder / "exchange"), "port": 0,
                             "host": net.host("exchange").address},
                f"tasks.{task}": table,
            },
        )  # fmt: skip
        argv = ["node", "exchange", "--config", str(net.config), *exchange_args]
        net._argv["exchange"] = argv
        net.exchange = net.add(
            launch("exchange", argv, folder / "logs" / "exchange.log",
                   prefix=net.host("exchange").prefix)
        )  # fmt: skip
        for i, (plugin, options) in enumerate(traders):
            net.start_trader(plugin, seed=seed + 1000 * i, options=options)
    except BaseException:
        net.stop()
        raise
    return net
