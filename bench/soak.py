"""Load and soak: many remote traders for many rounds; does the exchange keep its pace
and its memory, and lose nothing?

A loopback network (:func:`catallax.node.localnet.start_deep_network`): an environment
node serving Chain, an exchange with its SQLite ledger whose task stops after
``rounds`` rounds, and ``traders`` identities (adaptive bidders, one key each) spread
over ``processes`` ``catallax trader run`` processes (each runs its share of the keys,
``--key`` repeated). The bid deadline is long, so a round ends when every trader has
answered. While it runs, ``ListTasks`` is polled every ``interval`` seconds: the
rounds settled and the time (for the throughput of the first and the last ``window``
rounds), the exchange's own wall time of each new round (``TaskInfo.recent_round_ms``,
for the latency percentiles over every round), and the exchange's resident memory
(``VmRSS``, Linux ``/proc``). Printed:

* ``rounds/s first <window>: A; last <window>: B`` and
  ``throughput ratio last/first: X`` (goal >= 0.9);
* the exchange's resident memory after the first window (its warm-up: imports, the
  market, the first registrations) and at the end, and ``memory growth: Y %`` between
  them (goal <= 10);
* round latency p50 and p99 over every round;
* ``rounds on the ledger: N of M`` (every settled round committed: each round's
  transfers carry its number) and ``ledger audit: ok ...``.

Loopback only, bounded in rounds and in time (``timeout``).

    python bench/soak.py            # 100 traders in 8 processes, 10,000 rounds
    python bench/soak.py --quick    # smoke test: 10 traders in 2 processes, 400 rounds
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import parse_args

from catallax.exchange.ledger import Transfer, open_ledger
from catallax.node.exchange.watch import task_info
from catallax.node.localnet import new_key, start_deep_network

TASK = "soak"


@dataclass
class Args:
    """Many traders for many rounds."""

    traders: int = 100
    """identities (one key each), all trading on one task"""
    processes: int = 8
    """trader processes the identities are spread over"""
    rounds: int = 10_000
    """rounds the task runs"""
    window: int = 1000
    """rounds of the first and last throughput windows"""
    interval: float = 0.5
    """seconds between two polls of ListTasks"""
    timeout: float = 3600.0
    """seconds the whole run may take"""
    quick: bool = False
    """smoke test: 10 traders in 2 processes, 400 rounds, windows of 100"""


@dataclass
class Sample:
    t: float
    rounds: int
    rss_kb: int


def rss_kb(pid: int) -> int:
    """Resident memory of process ``pid`` in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def crossing(samples: list[Sample], rounds: float) -> float:
    """When the task reached ``rounds`` settled rounds (linear between two polls)."""
    r = np.array([s.rounds for s in samples], dtype=np.float64)
    t = np.array([s.t for s in samples])
    return float(np.interp(rounds, r, t))


def main(args: Args) -> int:
    if args.quick:
        args.traders, args.processes, args.rounds, args.window = 10, 2, 400, 100
    if args.rounds < 2 * args.window:
        sys.exit("soak: --rounds must be at least twice --window")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="catallax-soak-") as tmp:
        folder = Path(tmp)
        rules = {"rounds": args.rounds, "bid_deadline_ms": 30_000, "royalty": 0.9,
                 "allowance_budget": 10_000_000.0, "min_traders": args.traders}  # fmt: skip
        net = start_deep_network(folder, "catallax/Chain-v0", task=TASK, rules=rules, seed=1)
        samples: list[Sample] = []
        latencies: list[float] = []
        pid = net.exchange.popen.pid
        try:
            keys = [new_key(folder / "keys" / f"t{i}.pem") for i in range(args.traders)]
            for p in range(args.processes):
                mine = keys[p :: args.processes]
                if not mine:
                    continue
                extra = [a for k in mine[1:] for a in ("--key", str(k))]
                net.start_trader("adaptive", key=mine[0], seed=10 * p, extra=extra)
            deadline = time.monotonic() + args.timeout
            last_rounds = 0
            while True:
                info = task_info(net.exchange.address, TASK, timeout=30)
                now = time.perf_counter()
                new = int(info.rounds) - last_rounds
                if new > 0:
                    recent = list(info.recent_round_ms)
                    latencies += recent[-min(new, len(recent)) :]
                    last_rounds = int(info.rounds)
                samples.append(Sample(now, int(info.rounds), rss_kb(pid)))
                if info.state == "done" or info.state.startswith("paused"):
                    break
                if time.monotonic() > deadline:
                    sys.exit(f"soak: timed out at {info.rounds} rounds ({info.state})")
                for proc in net.traders:
                    if not proc.alive():
                        sys.exit(f"soak: a trader process died: {proc.tail()}")
                time.sleep(args.interval)
            sessions = int(info.sessions)
        finally:
            net.stop()
        if info.state != "done":
            sys.exit(f"soak: the task ended {info.state!r} at {info.rounds} rounds")
        total = samples[-1].rounds
        # Rounds begin once every trader is connected (min_traders): the first window
        # starts at the first round.
        t0 = crossing(samples, 1)
        first = args.window / (crossing(samples, 1 + args.window) - t0)
        last = args.window / (crossing(samples, total) - crossing(samples, total - args.window))
        warm = next(s for s in samples if s.rounds >= args.window)
        end = samples[-1]
        growth = 100 * (end.rss_kb - warm.rss_kb) / max(warm.rss_kb, 1)
        lat = np.asarray(latencies)
        with open_ledger(net.ledger_dir) as ledger:
            labels = {e.round for _, e in ledger.entries() if isinstance(e, Transfer)}
        on_ledger = len(labels & set(range(total)))
        audit = net.audit(timeout=1200)
        audit_line = (audit.stdout or audit.stderr).strip().splitlines()[0]
    print(
        f"setup: {args.traders} traders (adaptive, one key each) in {args.processes} "
        f"processes, {sessions} sessions at the end; one exchange (SQLite ledger), one "
        f"environment node (Chain, 1 slot); {total} rounds; loopback"
    )
    print(f"rounds/s first {args.window}: {first:.1f}; last {args.window}: {last:.1f}")
    print(f"throughput ratio last/first: {last / first:.2f} (goal >= 0.9)")
    print(
        f"exchange resident memory: {warm.rss_kb / 1024:.1f} MiB after the first "
        f"{args.window} rounds, {end.rss_kb / 1024:.1f} MiB at the end"
    )
    print(f"memory growth: {growth:.1f} % (goal <= 10)")
    print(
        f"round latency over {len(lat)} rounds: p50 {np.percentile(lat, 50):.1f} ms, "
        f"p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms"
    )
    print(f"rounds on the ledger: {on_ledger} of {total}")
    print(f"ledger audit: {audit_line}")
    ok = (
        last / first >= 0.9 and growth <= 10 and on_ledger == total
        and audit.returncode == 0 and math.isfinite(first)
    )  # fmt: skip
    print(f"goals: {'met' if ok else 'NOT met'}")
    print(f"time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args(Args)))
