"""Monitors and ``catallax ledger watch`` following real exchanges (processes) over MQTT
and gRPC, through a broker restart and an exchange restart; alarms on a rollback and a
split view; discovery of exchanges from their status; ``catallax demo --mqtt``.

The monitor (``--json``) and the watchers (``--entries``) print each entry they are
given; every index must come exactly once, in order, whatever restarted meanwhile.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from catallax.exchange.ledger import open_ledger
from catallax.node.exchange.watch import wait_task
from catallax.node.localnet import (
    DeepNetwork,
    catallax_command,
    launch,
    new_key,
    start_deep_network,
)

pytestmark = pytest.mark.timeout(300)

TASK = "chain"
RULES = {"bid_deadline_ms": 1500, "env_timeout_ms": 3000, "min_traders": 1}
PATIENCE = 90.0


class Lines:
    """A ``catallax`` subprocess whose stdout is read line by line in a thread."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [*catallax_command(), *argv], stdout=subprocess.PIPE, stderr=err,
                stdin=subprocess.DEVNULL, text=True, env=_unbuffered(),
            )  # fmt: skip
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait(self, pred: Callable[[str], bool], what: str, timeout: float = PATIENCE) -> str:
        """The first line that ``pred`` accepts (waiting for it); AssertionError if the
        process ends or the time runs out first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if pred(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._thread.is_alive()):
                    tail = "\n".join(self.lines[-5:])
                    errors = self.log.read_text(errors="replace")[-1500:]
                    raise AssertionError(f"{what}: not seen; last lines:\n{tail}\n{errors}")
                self._cond.wait(left)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(30)
        self._thread.join(10)
        return code


def _unbuffered() -> dict[str, str]:
    import os

    return dict(os.environ, PYTHONUNBUFFERED="1")


def cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*catallax_command(), *argv], capture_output=True, text=True, timeout=timeout
    )


def network(folder: Path, broker: str, traders: int = 2, **rules) -> DeepNetwork:
    return start_deep_network(
        folder, "catallax/Chain-v0", task=TASK, origin="catallax.local/monitor",
        rules={**RULES, **rules}, seed=5, traders=[("adaptive", {})] * traders,
        exchange_args=["--mqtt", broker],
    )  # fmt: skip


def rounds_at_least(net: DeepNetwork, n: int) -> None:
    wait_task(net.exchange.address, TASK, lambda i: i.rounds >= n, timeout=PATIENCE)


def more_rounds(net: DeepNetwork, n: int) -> None:
    """``n`` rounds more than the task reports now (its counts go on across an exchange
    restart, from the progress record beside the ledger)."""
    now = wait_task(net.exchange.address, TASK, lambda i: True, timeout=PATIENCE).rounds
    rounds_at_least(net, now + n)


def ledger_size(net: DeepNetwork) -> int:
    with open_ledger(net.ledger_dir, verify=False) as ledger:
        return ledger.size


def watch_indices(lines: list[str]) -> list[int]:
    return [int(line.split()[2]) for line in lines if line.startswith("entry ")]


def checkpoint_of_size(size: int) -> Callable[[str], bool]:
    return lambda line: line.startswith("checkpoint ") and f" size {size} " in line


def test_monitor_and_watch_report_every_index_once_through_broker_and_exchange_restarts(
    tmp_path, own_broker
):
    net = network(tmp_path / "net", own_broker.address)
    key = str(net.exchange_pub)
    logs = tmp_path / "logs"
    logs.mkdir()
    followers = {
        "monitor": Lines(["monitor", "--mqtt", own_broker.address, "--key", key, "--json"],
                         logs / "monitor.log"),
        "watch-mqtt": Lines(["ledger", "watch", "--mqtt", own_broker.address, "--key", key,
                             "--entries"], logs / "watch-mqtt.log"),
        "watch-grpc": Lines(["ledger", "watch", "--exchange", net.exchange.address, "--key",
                             key, "--entries"], logs / "watch-grpc.log"),
    }  # fmt: skip
    try:
        rounds_at_least(net, 10)
        own_broker.restart()  # the broker goes, and comes back on its port
        more_rounds(net, 15)
        net.restart("exchange")  # SIGKILL, then started again on its port
        more_rounds(net, 15)
        for trader in net.traders:
            trader.stop()
        size = ledger_size(net)  # no trader, no round: the ledger stays at this size
        for name, f in followers.items():
            if name == "monitor":
                f.wait(lambda line, s=size: json.loads(line).get("event") == "checkpoint"
                       and json.loads(line)["size"] == s, f"{name} at size {size}")  # fmt: skip
            else:
                f.wait(checkpoint_of_size(size), f"{name} at size {size}")
    finally:
        codes = {name: f.stop() for name, f in followers.items()}
        net.stop()
    assert codes == {name: 0 for name in followers}  # SIGTERM: a clean stop, no alarm
    every = list(range(size))
    events = [json.loads(line) for line in followers["monitor"].lines]
    assert [e["index"] for e in events if e["event"] == "entry"] == every
    assert not [e for e in events if e["event"] == "alarm"]
    assert [e["state"] for e in events if e["event"] == "status"][-1] == "online"
    checkpoints = [e for e in events if e["event"] == "checkpoint"]
    assert checkpoints[-1]["entries_match"] is True
    for name in ("watch-mqtt", "watch-grpc"):
        lines = followers[name].lines
        assert watch_indices(lines) == every, name
        assert not [line for line in lines if line.startswith("ALARM")]
        assert f"size {size} " in [line for line in lines if line.startswith("checkpoint ")][-1]
    assert "event=mqtt_down" in (net.folder / "logs" / "exchange.log").read_text()
    audit = net.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_watch_alarms_on_a_rollback_and_a_split_view_naming_both_checkpoints(tmp_path, mqtt_broker):
    broker = f"{mqtt_broker[0]}:{mqtt_broker[1]}"
    net = network(tmp_path / "net", broker)
    key = str(net.exchange_pub)
    backup = tmp_path / "backup"
    try:
        rounds_at_least(net, 8)
        net.exchange.stop()  # SIGTERM: a clean stop, so the folder can be copied
        shutil.copytree(net.ledger_dir, backup)
        with open_ledger(backup, verify=False) as ledger:
            early = ledger.size
        net.restart("exchange")
        live = Lines(["ledger", "watch", "--mqtt", broker, "--key", key],
                     tmp_path / "watch-live.log")  # fmt: skip
        more_rounds(net, 12)
        kept = cli("ledger", "checkpoint", str(net.ledger_dir), "--key", key)
        assert kept.returncode == 0, kept.stderr
        (tmp_path / "kept.txt").write_text(kept.stdout)
        later = int(kept.stdout.splitlines()[1])
        assert later > early
        live.wait(lambda line: line.startswith("checkpoint ") and int(line.split()[4]) >= later,
                  f"the live watcher at size {later}")  # fmt: skip
        # The exchange comes back from the backup: its log is shorter than what was seen.
        net.exchange.stop()
        shutil.rmtree(net.ledger_dir)
        shutil.copytree(backup, net.ledger_dir)
        net.restart("exchange")
        live.wait(lambda line: line.startswith("ALARM"), "the rollback alarm")
        assert live.proc.wait(30) == 1
        seen = max(int(line.split()[4]) for line in live.lines if line.startswith("checkpoint "))
        alarm, first, second = live.lines[-3:]
        assert alarm.startswith("ALARM rollback: checkpoint catallax.local/monitor size "), alarm
        assert first.startswith("  first:  catallax.local/monitor | ")
        assert second.startswith("  second: catallax.local/monitor | ")
        named = [int(line.split(" | ")[1]) for line in (first, second)]
        assert named[0] == seen and early <= named[1] < seen, (named, early, seen)
        assert f"size {named[0]} " in alarm and f"size {named[1]} " in alarm
        # The restored exchange trades on: past the kept size its log is a fork of it.
        wait_task(net.exchange.address, TASK, lambda i: ledger_size(net) > later,
                  timeout=PATIENCE)  # fmt: skip
        fork = cli("ledger", "watch", "--exchange", net.exchange.address, "--key", key,
                   "--since", str(tmp_path / "kept.txt"))  # fmt: skip
    finally:
        net.stop()
    assert fork.returncode == 1, fork.stdout + fork.stderr
    out = fork.stdout.splitlines()
    alarm = [line for line in out if line.startswith("ALARM")]
    assert alarm and alarm[0].startswith("ALARM split view:"), fork.stdout
    assert f"with catallax.local/monitor size {later} " in alarm[0]
    assert out[-2].startswith("  first:  ") and f"| {later} |" in out[-2]
    assert out[-1].startswith("  second: ") and f"| {later} |" not in out[-1]


def test_a_trader_finds_the_exchange_from_its_status_and_joins(tmp_path, mqtt_broker):
    broker = f"{mqtt_broker[0]}:{mqtt_broker[1]}"
    net = network(tmp_path / "net", broker, traders=0)
    try:
        key = new_key(tmp_path / "finder.pem")
        argv = ["trader", "run", "adaptive", "--mqtt", broker, "--task", TASK, "--key", str(key)]
        log = tmp_path / "finder.log"
        net.add(launch("finder", argv, log, ready=False))
        rounds_at_least(net, 3)  # only the finder trades: it found the exchange by itself
    finally:
        net.stop()
    text = log.read_text()
    assert "event=discovered exchange=" in text and f"address={net.exchange.address}" in text


def test_demo_publishes_its_exchange_to_mqtt(tmp_path, mqtt_broker):
    broker = f"{mqtt_broker[0]}:{mqtt_broker[1]}"
    folder = tmp_path / "demo"
    sub = Lines(["monitor", "--mqtt", broker, "--json"], tmp_path / "monitor.log")
    try:
        done = cli("demo", "--rounds", "20", "--traders", "2", "--eval-episodes", "2",
                   "--data-dir", str(folder), "--mqtt", broker, "--json", timeout=240)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        with open_ledger(folder / "exchange", verify=False) as ledger:
            last = {"event": "checkpoint", "size": ledger.size, "origin": ledger.origin}
        sub.wait(lambda line: last.items() <= json.loads(line).items(), "its last checkpoint")
    finally:
        sub.stop()
