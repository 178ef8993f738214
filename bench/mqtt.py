"""Benchmark: MQTT publishing beside trading, against trading without it, in one run.

For each of ``pairs`` pairs, one network without ``--mqtt`` and one with it, in turn
(``catallax.node.localnet.start_deep_network``: an environment node, an exchange and
``traders`` trader processes on loopback; a bid deadline long enough that a round ends
when every trader has answered). Once every trader is connected and ``warmup_rounds``
rounds are settled, the rounds the exchange settles in the next ``measure_rounds`` are
timed (``TaskInfo.rounds``, polled every 50 ms). With ``--mqtt``, the ledger entries
published in that window are the growth of the size the broker acknowledged (the
publisher's ``mqtt-cursor.json``: a size is written only after every entry below it
and its checkpoint were acknowledged), and the lag is the ledger's size minus that
size at the window's end. The broker is ``--broker`` or, if empty, the Mosquitto on
127.0.0.1:1883 when one answers, else a ``mosquitto`` started here on a free port.

The figure is the ratio of the medians of rounds per second, with / without; the goal
is >= 0.90 (publishing slows rounds by at most 10 %).

    python bench/mqtt.py            # 2 pairs, 4 traders, 8 slots, 200 rounds each
    python bench/mqtt.py --quick    # smoke test
"""

from __future__ import annotations

import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from _common import parse_args

from catallax.exchange.ledger import open_ledger
from catallax.node.exchange.watch import task_info, wait_task
from catallax.node.localnet import start_deep_network
from catallax.node.monitor.publisher import CURSOR_FILE

TASK = "chain"


@dataclass
class Args:
    """MQTT publishing beside trading: rounds per second with and without --mqtt."""

    traders: int = 4
    """Trader processes."""
    slots: int = 8
    """Parallel episode slots of the task (each round moves more entries with more)."""
    warmup_rounds: int = 30
    """Rounds settled before the window opens."""
    measure_rounds: int = 200
    """Rounds in the timed window."""
    pairs: int = 2
    """Pairs of runs (without, then with --mqtt); medians are reported."""
    broker: str = ""
    """HOST:PORT of the broker; empty: 127.0.0.1:1883 if it answers, else one started here."""
    quick: bool = False
    """Smoke test: 1 pair, 2 traders, 2 slots, 10 + 30 rounds."""


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def own_broker(folder: Path) -> tuple[str, subprocess.Popen]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    while not answers("127.0.0.1", port):
        if proc.poll() is not None:
            sys.exit(f"mosquitto did not start (status {proc.returncode})")
        time.sleep(0.05)  # nothing but the port says a broker is ready
    return f"127.0.0.1:{port}", proc


def published(folder: Path) -> int:
    try:
        return json.loads((folder / "exchange" / CURSOR_FILE).read_text())["size"]
    except (OSError, ValueError, KeyError):
        return 0


def run(args: Args, folder: Path, broker: str | None) -> dict:
    rules = {"bid_deadline_ms": 30_000, "min_traders": args.traders, "royalty": 0.9}
    net = start_deep_network(
        folder, "catallax/Chain-v0", slots=args.slots, task=TASK, rules=rules, seed=1,
        traders=[("adaptive", {})] * args.traders,
        exchange_args=["--mqtt", broker] if broker else [],
    )  # fmt: skip
    try:
        address = net.exchange.address
        wait_task(address, TASK, lambda i: i.sessions == args.traders
                  and i.rounds >= args.warmup_rounds, timeout=300, interval=0.05)  # fmt: skip
        start = task_info(address, TASK)
        t0, sent0 = time.perf_counter(), published(folder)
        goal = start.rounds + args.measure_rounds
        wait_task(address, TASK, lambda i: i.rounds >= goal, timeout=600, interval=0.05)
        t1, sent1 = time.perf_counter(), published(folder)
        rounds = task_info(address, TASK).rounds - start.rounds
        with open_ledger(net.ledger_dir, verify=False) as ledger:
            size = ledger.size
    finally:
        net.stop()
    seconds = t1 - t0
    return {"rounds_per_s": rounds / seconds, "entries_per_s": (sent1 - sent0) / seconds,
            "lag": size - sent1 if broker else 0, "final": published(folder)
            if broker else 0, "size": size}  # fmt: skip


def main(args: Args) -> None:
    if args.quick:
        args = replace(args, pairs=1, traders=2, slots=2, warmup_rounds=10, measure_rounds=30)
    root = Path(tempfile.mkdtemp(prefix="catallax-bench-mqtt-"))
    started = None
    broker = args.broker
    if not broker:
        if answers("127.0.0.1", 1883):
            broker = "127.0.0.1:1883"
        else:
            broker, started = own_broker(root)
    print(f"broker {broker}; {args.traders} traders, {args.slots} slots, {args.measure_rounds}"
          f" rounds timed after {args.warmup_rounds}, {args.pairs} pairs")  # fmt: skip
    without, with_ = [], []
    try:
        for k in range(args.pairs):
            without.append(run(args, root / f"plain-{k}", None))
            with_.append(run(args, root / f"mqtt-{k}", broker))
            a, b = without[-1], with_[-1]
            print(f"pair {k + 1}: without {a['rounds_per_s']:.1f} rounds/s, with "
                  f"{b['rounds_per_s']:.1f} rounds/s and {b['entries_per_s']:.0f} entries/s "
                  f"published (lag {b['lag']} entries at the window's end; {b['final']} of "
                  f"{b['size']} published at the stop)")  # fmt: skip
    finally:
        if started is not None:
            started.terminate()
            started.wait()
        shutil.rmtree(root, ignore_errors=True)
    base = statistics.median(r["rounds_per_s"] for r in without)
    mine = statistics.median(r["rounds_per_s"] for r in with_)
    rate = statistics.median(r["entries_per_s"] for r in with_)
    ratio = mine / base
    print(f"without --mqtt (baseline): {base:.1f} rounds/s")
    print(f"with --mqtt: {mine:.1f} rounds/s, {rate:.0f} ledger entries/s published")
    print(f"ratio with/without: {ratio:.3f} (goal >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")


if __name__ == "__main__":
    main(parse_args(Args))
