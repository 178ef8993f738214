"""Benchmark: the exchange's rounds with remote traders, against the bare network and disk.

Measured in one run, for each trader count of ``--traders``:

1. The real network (``catallax.node.localnet.start_deep_network``): an environment
   node and an exchange as subprocesses, then one ``catallax trader run`` process per
   trader (one key each). Once every trader is connected (``TaskInfo.sessions``) and
   ``warmup_rounds`` rounds are settled, ``TaskInfo.rounds`` is sampled every
   ``interval`` seconds for ``measure_seconds`` (or ``measure_rounds`` rounds). The bid
   deadline is large, so a round ends when every trader has answered. Rounds/s and the
   mean round latency come from the whole window; p50/p99 are per round, from the
   exchange's own wall time of each round of the window (``TaskInfo.recent_round_ms``,
   its last 1,024 rounds). Also: each
   process's CPU time per round (Linux ``/proc``), the environment node's own Step
   handling time (its log), and, from the ledger, the rows a round commits, their
   size and the signed bids they carry.
2. The limit, in the same run: a bare ``grpc.aio`` bidirectional stream to as many
   client processes (the server writes one message of a ``Round``'s size to each
   stream and waits for one answer of a ``Bids``' size from each), then a bare unary
   round trip to another process (``StepRequest``/``StepReply`` sizes: the environment
   node's step), then a bare durable SQLite commit (WAL, synchronous=FULL, one
   transaction) of as many rows as a round commits, of their mean size. Timed per
   round, so its p50/p99 are per-round figures. The ratio compares mean round times
   (exchange / limit); the goal at ``goal_traders`` is <= 1.5 (moonshot <= 1).
3. Signatures: Ed25519 sign and verify timed with ``cryptography`` (keys loaded once)
   on messages of each kind's size, times the messages of one round, in every process
   and in the exchange alone, divided by the round latency (resets left out).
4. The environment node alone: a client stepping ``env_slots`` slots per ``Step`` call
   (resetting the slots whose episodes ended), against a local loop stepping as many
   of the same Gymnasium environment with the same actions.

With ``--profile FILE`` the exchange then also runs in this process at ``goal_traders``
(``ExchangeNode.start`` on an event loop in a thread; environment node and traders stay
subprocesses): its own per-round wall times (``DeepTask.round_seconds``) give exact
percentiles, then cProfile records its event loop thread (stats in FILE).

    python bench/network.py                    # full run (three to four minutes)
    python bench/network.py --quick            # smoke test: 1 and 2 traders, few rounds
    python bench/network.py --traders 8 --profile /tmp/exchange.prof
"""

from __future__ import annotations

import asyncio
import cProfile
import logging
import math
import os
import pstats
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import gymnasium as gym
import numpy as np
from _bare import SERVICE, Hub, bare_server
from _common import parse_args
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import catallax.exchange.envs  # noqa: F401  (registers the catallax/ environments)
from catallax.exchange.crypto import signing_input
from catallax.exchange.ledger import LEDGER_FILE, Checkpoint, decode_entry, sign_checkpoint
from catallax.node.env.client import EnvironmentClient
from catallax.node.exchange.config import load_config
from catallax.node.exchange.server import ExchangeNode
from catallax.node.exchange.watch import wait_task
from catallax.node.keys import load_private_key, load_public_key
from catallax.node.localnet import Proc, launch, new_key, start_deep_network, write_toml
from catallax.node.wire import Sequencer, seal
from catallax.node.wire.convert import tensor_to_proto
from catallax.node.wire.mandate import member_account
from catallax.v1 import common_pb2, environment_pb2, exchange_pb2, exchange_pb2_grpc, ledger_pb2

TASK = "bench"
ORIGIN = "catallax.bench/network"
WARMUP_LIMIT = 20  # untimed rounds of the limit


@dataclass
class Args:
    """Benchmark: the exchange's rounds with remote traders, against the bare network and disk."""

    traders: str = "1,8,32"
    """trader counts (comma-separated); one trader process per trader"""
    goal_traders: int = 8
    """the trader count at which the goal (<= 1.5 x the limit) applies"""
    env_id: str = "catallax/Chain-v0"
    """the environment the task serves (cheap, Discrete actions)"""
    slots: int = 1
    """parallel episode slots of the task"""
    family: str = "adaptive"
    """trader family every trader process runs"""
    bid_deadline_ms: int = 60_000
    """the task's bid deadline (large: a round ends when every trader answered)"""
    warmup_rounds: int = 100
    """rounds settled after every trader connected, before measuring"""
    measure_seconds: float = 20.0
    """the longest measurement window per trader count, seconds"""
    measure_rounds: int = 2000
    """the window also ends after this many rounds"""
    interval: float = 0.25
    """seconds between two samples of TaskInfo.rounds"""
    window_rounds: int = 5
    """sub-windows for p50/p99 hold at least this many rounds"""
    connect_timeout: float = 300.0
    """seconds allowed for all traders to connect and the warm-up rounds"""
    limit_rounds: int = 500
    """rounds of the bare limit timed per trader count"""
    env_slots: int = 16
    """slots stepped per Step call in the environment node's own benchmark"""
    env_calls: int = 1000
    """Step calls timed on the environment node (and as many steps of the local loop)"""
    sign_repeats: int = 300
    """Ed25519 signs and verifies timed per message size"""
    profile: str = ""
    """also run the exchange in this process at goal_traders and write cProfile stats here"""
    profile_seconds: float = 15.0
    """seconds of each in-process window (unprofiled, then profiled)"""
    seed: int = 0
    """seed of the task and of the traders"""
    quick: bool = False
    """smoke test: 1 and 2 traders (goal at 2), windows of 2 s, 100 Step calls"""
    folder: str = ""
    """a new folder for the networks and their logs (default: a temporary one, removed)"""
    peer: str = ""
    """internal: run as a helper process of the limit: 'stream HOST:PORT BYTES' or 'unary BYTES'"""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def many(n: int) -> str:
    return f"{n} trader" if n == 1 else f"{n} traders"


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.2f} ms"


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0 < q <= 1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its threads so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- 1. the real network ------------------------------------------------------------------


@dataclass
class Observed:
    """What one network run showed (seconds, bytes, per round unless said)."""

    traders: int
    rounds: int
    seconds: float
    windows: list[float]  # mean seconds per round of each sub-window
    per_round: list[float]  # the exchange's own seconds per round (its last <= 1024)
    cpu: dict[str, float]  # CPU seconds per round: exchange, env node, traders (all)
    env_step: float  # the environment node's own Step handling, median
    rows: float  # ledger rows
    row_bytes: float
    evidence: float  # distinct signed bids in the ledger's rows
    bids_body: bytes  # one of them
    ledger_size: int
    failed: int  # rounds that failed (the exchange's log)

    @property
    def latency(self) -> float:
        return self.seconds / self.rounds


def sample_rounds(args: Args, address: str, n: int, procs: dict[str, list[Proc]]) -> tuple:
    """``(time, TaskInfo.rounds)`` every ``interval`` s over the window, and the CPU
    seconds each group of ``procs`` spent in it."""
    with grpc.insecure_channel(address) as channel:
        stub = exchange_pb2_grpc.ExchangeStub(channel)

        recent: list[list[float]] = []

        def now() -> tuple[float, int]:
            reply = stub.ListTasks(exchange_pb2.ListTasksRequest(), timeout=30)
            info = next(t for t in reply.tasks if t.name == TASK)
            if info.sessions != n:
                raise RuntimeError(f"{info.sessions} of {n} traders connected during the window")
            recent.append([v / 1000 for v in info.recent_round_ms])
            return time.perf_counter(), int(info.rounds)

        def cpu() -> dict[str, float]:
            return {k: sum(cpu_seconds(p.popen.pid) for p in ps) for k, ps in procs.items()}

        cpu0, samples = cpu(), [now()]
        while (
            samples[-1][0] - samples[0][0] < args.measure_seconds
            and samples[-1][1] - samples[0][1] < args.measure_rounds
        ):
            time.sleep(args.interval)  # the sampling clock, not a synchronisation
            samples.append(now())
        cpu1 = cpu()
    # The exchange's own wall time of each round of the window (its last <= 1024).
    count = min(samples[-1][1] - samples[0][1], len(recent[-1]))
    per_round = recent[-1][len(recent[-1]) - count :]
    return samples, {k: cpu1[k] - cpu0[k] for k in procs}, per_round


def windows_of(samples: list[tuple[float, int]], min_rounds: int) -> list[float]:
    """Mean seconds per round of consecutive sub-windows of at least ``min_rounds``."""
    out = []
    t0, r0 = samples[0]
    for t, r in samples[1:]:
        if r - r0 >= min_rounds:
            out.append((t - t0) / (r - r0))
            t0, r0 = t, r
    return out


def ledger_rows(path: Path, first: int = 0) -> tuple[float, float, float, bytes, int]:
    """Of the entries from index ``first`` on: rows per round, mean bytes per row,
    distinct signed bids per round, one signed bids body; and the ledger's size."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT data FROM entries WHERE idx >= ?", (first,)).fetchall()
    finally:
        db.close()
    rounds, signed, body = set(), set(), b""
    for (data,) in rows:
        entry = decode_entry(data)
        rounds.add(getattr(entry, "round", -1))
        if getattr(entry, "evidence", None) is not None:
            signed.add((entry.round, entry.evidence.signature))
            body = entry.evidence.data
    if not body:
        raise RuntimeError(f"{path}: no signed transfer from entry {first} on")
    size = sum(len(d) for (d,) in rows) / len(rows)
    return len(rows) / len(rounds), size, len(signed) / len(rounds), body, first + len(rows)


def task_rules(args: Args, n: int) -> dict:
    return {"bid_deadline_ms": args.bid_deadline_ms, "min_traders": n, "env_timeout_ms": 60_000}


def measure_network(args: Args, folder: Path, n: int) -> Observed:
    progress(f"{many(n)}: starting the network in {folder}")
    t_start = time.perf_counter()
    net = start_deep_network(
        folder, args.env_id, slots=args.slots, task=TASK, origin=ORIGIN, seed=args.seed,
        rules=task_rules(args, n), traders=[(args.family, {})] * n,
    )  # fmt: skip
    try:
        address = net.exchange.address  # type: ignore[union-attr]
        wait_task(
            address, TASK, lambda i: i.sessions == n and i.rounds >= args.warmup_rounds,
            timeout=args.connect_timeout, interval=0.5,
        )  # fmt: skip
        progress(f"{many(n)}: connected and warmed up in {time.perf_counter() - t_start:.1f} s")
        path = net.ledger_dir / LEDGER_FILE
        *_, first = ledger_rows(path)
        groups = {"exchange": [net.exchange], "env node": [net.env], "traders": net.traders}
        samples, cpu, per_round = sample_rounds(args, address, n, groups)  # type: ignore[arg-type]
        rows, size, evidence, body, entries = ledger_rows(path, first)
    finally:
        net.stop()
    (t0, r0), (t1, r1) = samples[0], samples[-1]
    if r1 <= r0:
        raise RuntimeError(f"{many(n)}: no round settled in {t1 - t0:.1f} s")
    steps = re.findall(r"rpc=Step .* ms=([\d.]+)", (folder / "logs" / "env.log").read_text())
    log = (folder / "logs" / "exchange.log").read_text(errors="replace")
    return Observed(
        n, r1 - r0, t1 - t0, windows_of(samples, args.window_rounds), per_round,
        {k: v / (r1 - r0) for k, v in cpu.items()}, statistics.median(map(float, steps)) / 1000,
        rows, size, evidence, body, entries, log.count("event=round_failed"),
    )  # fmt: skip


def wire_sizes(args: Args, seen: Observed) -> tuple[dict[str, int], dict[str, int]]:
    """Envelope bytes and signed bytes of a round's messages, built as the exchange builds
    them (the Bids body is one from the run's ledger; the checkpoint is signed at its size)."""
    key = Ed25519PrivateKey.generate()
    seq = Sequencer(b"\x00" * 32)
    head = Checkpoint(ORIGIN, seen.ledger_size, os.urandom(32))
    obs = np.stack([np.asarray(gym.make(args.env_id).reset(seed=0)[0])] * args.slots)
    slots, e = list(range(args.slots)), args.slots
    settled = exchange_pb2.Settled(
        round=9_999,
        awards=[
            exchange_pb2.Award(
                slot=s,
                account=member_account(TASK, bytes(32), 0),
                price=10**6,
                action=common_pb2.Value(discrete=1),
            )
            for s in slots
        ],
        checkpoint=ledger_pb2.Checkpoint(note=sign_checkpoint(head, key).encode()),
    )
    for i in range(seen.traders):  # a statement per trader; one ownership ended per slot
        statement = settled.statements.add(identity=os.urandom(32), balances=[10**7] * 4)
        if i == 0:
            statement.outcomes.CopyFrom(
                exchange_pb2.Outcomes(
                    members=[0] * e,
                    obs=tensor_to_proto(obs),
                    actions=tensor_to_proto(np.ones(e, np.int64)),
                    price=[10**6] * e,
                    reward=[10**6] * e,
                    receipt=[2 * 10**6] * e,
                    ended=[False] * e,
                )
            )
    bodies = {
        "Round": exchange_pb2.Round(
            exchange=ORIGIN, task=TASK, settled=settled, open=True, round=10_000,
            slots=slots, obs=tensor_to_proto(obs),
            deadline_ms=int(time.time() * 1000) + args.bid_deadline_ms,
        ),
        "StepRequest": environment_pb2.StepRequest(
            slots=slots, actions=tensor_to_proto(np.zeros(e, np.int64))
        ),
        "StepReply": environment_pb2.StepReply(
            request_hash=bytes(32), slots=slots, obs=tensor_to_proto(obs), reward=[0.0] * e,
            terminated=[False] * e, truncated=[False] * e, info_json=str([{}] * e),
        ),
    }  # fmt: skip
    envelope, signed = {}, {"checkpoint": len(head.body().encode())}
    for name, body in bodies.items():
        sealed = seal(key, name, seq.stamp(body))
        envelope[name], signed[name] = sealed.ByteSize(), len(signing_input(name, sealed.body))
    bids = common_pb2.Envelope(
        body=seen.bids_body, public_key=bytes(32), signature=bytes(64), message="Bids"
    )
    envelope["Bids"], signed["Bids"] = bids.ByteSize(), len(signing_input("Bids", bids.body))
    return envelope, signed


# -- 2. the limit: bare stream, bare unary, bare commit -----------------------------------


def peer(role: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """This script as a helper process (see :func:`run_peer`)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--peer", role]
    return subprocess.Popen(argv, stdout=stdout, stdin=subprocess.DEVNULL)


async def run_peer(role: str) -> None:
    """A helper of the limit: an echo client of the stream, or the unary server."""
    kind, *rest = role.split()
    if kind == "stream":
        answer = os.urandom(int(rest[1]))
        async with grpc.aio.insecure_channel(rest[0]) as channel:
            call = channel.stream_stream(f"/{SERVICE}/Stream")()
            await call.write(b"hello")
            while (await call.read()) is not grpc.aio.EOF:
                await call.write(answer)
        return
    reply = os.urandom(int(rest[0]))

    async def step(request: bytes, context) -> bytes:
        return reply

    server, port = bare_server(Step=grpc.unary_unary_rpc_method_handler(step))
    await server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(0)


async def limit_rounds(args: Args, db_path: Path, seen: Observed, sizes: dict) -> tuple:
    """Per-round ``(stream, unary, commit)`` seconds of the bare limit for ``seen``, and
    this process's CPU seconds per round."""
    n, hub = seen.traders, Hub(seen.traders)
    server, port = bare_server(Stream=grpc.stream_stream_rpc_method_handler(hub.handle))
    await server.start()
    procs = [peer(f"stream 127.0.0.1:{port} {sizes['Bids']}") for _ in range(n)]
    procs.append(peer(f"unary {sizes['StepReply']}", stdout=subprocess.PIPE))
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    rows, blob = max(1, round(seen.rows)), os.urandom(round(seen.row_bytes))
    request, step = os.urandom(sizes["Round"]), os.urandom(sizes["StepRequest"])
    times, (start,) = [], db.execute("SELECT count(*) FROM entries").fetchone()
    try:
        line = await asyncio.wait_for(asyncio.to_thread(procs[-1].stdout.readline), 60)
        if not line.startswith(b"listening on "):
            raise RuntimeError(f"the unary helper printed {line!r}")
        await asyncio.wait_for(hub.joined.wait(), args.connect_timeout)
        async with grpc.aio.insecure_channel(line.decode().split()[-1]) as channel:
            call = channel.unary_unary(f"/{SERVICE}/Step")
            for r in range(WARMUP_LIMIT + args.limit_rounds):
                if r == WARMUP_LIMIT:
                    cpu0 = time.process_time()
                t0 = time.perf_counter()
                await asyncio.wait_for(hub.round(request), 60)
                t1 = time.perf_counter()
                await call(step, timeout=30)
                t2 = time.perf_counter()
                db.execute("BEGIN")
                db.executemany(
                    "INSERT INTO entries VALUES (?, ?)", [(start + i, blob) for i in range(rows)]
                )
                db.execute("COMMIT")
                start += rows
                if r >= WARMUP_LIMIT:
                    times.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
            cpu = (time.process_time() - cpu0) / args.limit_rounds
        for outbox in hub.outboxes:
            outbox.put_nowait(None)  # the streams end; the clients exit
    finally:
        db.close()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(30)
        await server.stop(1)
    return times, cpu


# -- 3. signatures ------------------------------------------------------------------------


def ed25519_seconds(size: int, repeats: int) -> tuple[float, float]:
    """Median seconds of one Ed25519 sign and one verify of ``size`` bytes."""
    key = Ed25519PrivateKey.generate()
    public, message = key.public_key(), os.urandom(size)
    signature = key.sign(message)
    sign, verify = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        key.sign(message)
        t1 = time.perf_counter()
        public.verify(signature, message)
        sign.append(t1 - t0)
        verify.append(time.perf_counter() - t1)
    return statistics.median(sign), statistics.median(verify)


def signature_seconds(args: Args, seen: Observed, signed: dict[str, int]) -> tuple:
    """Sign+verify seconds of one round's messages (all processes, the exchange alone)
    and their counts. The exchange signs the Round (one for every session), its
    StepRequest and the ledger checkpoint, and verifies each Bids, the StepReply and
    (again, in the ledger) each signed bids a round's transfers carry; the environment
    node verifies the StepRequest and signs its reply; each trader verifies the Round
    and signs its Bids."""
    n, ev = seen.traders, seen.evidence
    cost = {name: ed25519_seconds(size, args.sign_repeats) for name, size in signed.items()}
    exchange = ({"Round": 1, "StepRequest": 1, "checkpoint": 1},
                {"Bids": n + ev, "StepReply": 1})  # fmt: skip
    others = ({"Bids": n, "StepReply": 1}, {"Round": n, "StepRequest": 1})

    def total(signs: dict, verifies: dict) -> float:
        return sum(c * cost[m][0] for m, c in signs.items()) + sum(
            c * cost[m][1] for m, c in verifies.items()
        )

    ex, rest = total(*exchange), total(*others)
    signs = sum(exchange[0].values()) + sum(others[0].values())
    verifies = sum(exchange[1].values()) + sum(others[1].values())
    counts = (
        f"{signs:.0f} signs + {verifies:.1f} verifies in all processes, "
        f"{sum(exchange[0].values()):.0f} + {sum(exchange[1].values()):.1f} in the exchange"
    )
    return ex + rest, ex, counts


# -- 4. the environment node alone --------------------------------------------------------


async def env_node_steps(args: Args, folder: Path, actions: np.ndarray) -> tuple:
    """Seconds of ``len(actions)`` Step calls of every slot (with the resets they need),
    each call's seconds, and the node's own Step handling seconds (its log)."""
    keys = folder / "keys"
    ex_key, env_key = new_key(keys / "exchange.pem"), new_key(keys / "env.pem")
    argv = ["node", "env", args.env_id, "--key", str(env_key), "--slots", str(args.env_slots),
            "--exchange-key", f"{ex_key}.pub", "--data-dir", str(folder / "env")]  # fmt: skip
    node = launch("env", argv, folder / "logs" / "env.log")
    slots, calls = list(range(args.env_slots)), []
    try:
        client = EnvironmentClient(
            node.address, load_private_key(ex_key), load_public_key(f"{env_key}.pub"), timeout=60
        )
        async with client:
            await client.reset(slots, slots)
            t0 = time.perf_counter()
            for row in actions:
                t1 = time.perf_counter()
                _, _, terminated, truncated, _ = await client.step(slots, row)
                calls.append(time.perf_counter() - t1)
                ended = np.flatnonzero(terminated | truncated).tolist()
                if ended:
                    await client.reset(ended)
            total = time.perf_counter() - t0
    finally:
        node.stop()
    own = re.findall(r"rpc=Step .* ms=([\d.]+)", node.log.read_text())
    return total, calls, [float(x) / 1000 for x in own]


def local_steps(args: Args, actions: np.ndarray) -> float:
    """Seconds of the same steps in a local loop over ``env_slots`` environments."""
    envs = [gym.make(args.env_id) for _ in range(args.env_slots)]
    for k, env in enumerate(envs):
        env.reset(seed=k)
    t0 = time.perf_counter()
    for row in actions:
        for env, action in zip(envs, row.tolist(), strict=True):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
    return time.perf_counter() - t0


def env_rates(args: Args, folder: Path) -> None:
    n_actions = int(gym.make(args.env_id).action_space.n)
    rng = np.random.default_rng(args.seed)
    actions = rng.integers(0, n_actions, size=(args.env_calls, args.env_slots), dtype=np.int64)
    local = local_steps(args, actions)
    remote, calls, own = asyncio.run(env_node_steps(args, folder / "env-alone", actions))
    steps = actions.size
    print(
        f"env node, {args.env_slots} slots of {args.env_id}: {steps / remote:,.0f} env steps/s "
        f"(Step call p50 {ms(statistics.median(calls))}, p99 {ms(percentile(calls, 0.99))}, of "
        f"which the node's own handling p50 {ms(statistics.median(own))}; {len(calls)} calls); "
        f"local loop: {steps / local:,.0f} env steps/s"
    )
    print(f"env node/local loop step rate ratio: {local / remote:.4f}")


# -- the exchange in this process, under cProfile -----------------------------------------


async def _run(fn) -> None:
    fn()


def profile_exchange(args: Args, folder: Path, n: int) -> None:
    """Exact per-round times of an in-process exchange, then its loop thread profiled."""
    keys, logs = folder / "keys", folder / "logs"
    ex_key, env_key = new_key(keys / "exchange.pem"), new_key(keys / "env.pem")
    argv = ["node", "env", args.env_id, "--key", str(env_key), "--slots", str(args.slots),
            "--exchange-key", f"{ex_key}.pub", "--data-dir", str(folder / "env")]  # fmt: skip
    env = launch("env", argv, logs / "env.log")
    logger, handler = logging.getLogger("catallax"), logging.FileHandler(logs / "exchange.log")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    table = {"env": env.address, "env_key": f"{env_key}.pub", "seed": args.seed,
             **task_rules(args, n)}  # fmt: skip
    config = write_toml(folder / "exchange.toml", {
        "exchange": {"origin": ORIGIN, "key": str(ex_key), "data_dir": str(folder / "exchange"),
                     "port": 0},
        f"tasks.{TASK}": table,
    })  # fmt: skip
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="exchange-loop", daemon=True)
    thread.start()
    node, traders = None, []
    window = replace(args, measure_seconds=args.profile_seconds, measure_rounds=10**9)
    try:
        start = asyncio.run_coroutine_threadsafe(ExchangeNode.start(load_config(config)), loop)
        node = start.result(60)
        for i in range(n):
            argv = ["trader", "run", args.family, "--exchange", node.address, "--task", TASK,
                    "--key", str(new_key(keys / f"trader-{i}.pem")),
                    "--seed", str(args.seed + 1000 * i)]  # fmt: skip
            traders.append(launch(f"trader-{i}", argv, logs / f"trader-{i}.log", ready=False))
        wait_task(
            node.address, TASK, lambda i: i.sessions == n and i.rounds >= args.warmup_rounds,
            timeout=args.connect_timeout, interval=0.5,
        )  # fmt: skip
        samples, _, _ = sample_rounds(window, node.address, n, {})
        dr = samples[-1][1] - samples[0][1]
        if dr < 1:
            raise RuntimeError(f"no round settled in {args.profile_seconds:g} s")
        own = list(node.tasks[TASK].round_seconds)[-dr:]
        print(
            f"in-process exchange at {many(n)}: {dr / (samples[-1][0] - samples[0][0]):.1f} "
            f"rounds/s; its DeepTask.round_seconds of {len(own)} rounds: mean "
            f"{ms(statistics.fmean(own))}, p50 {ms(statistics.median(own))}, "
            f"p99 {ms(percentile(own, 0.99))}"
        )
        profiler = cProfile.Profile()
        asyncio.run_coroutine_threadsafe(_run(profiler.enable), loop).result(30)
        samples, _, _ = sample_rounds(window, node.address, n, {})
        asyncio.run_coroutine_threadsafe(_run(profiler.disable), loop).result(30)
        profiler.dump_stats(args.profile)
        wall, dr = samples[-1][0] - samples[0][0], samples[-1][1] - samples[0][1]
        print(
            f"cProfile of the exchange's event loop thread at {many(n)}: {dr} rounds in "
            f"{wall:.1f} s ({dr / wall:.1f} rounds/s under the profiler), stats in "
            f"{args.profile}; own time by function, share of the wall time:"
        )
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        for (path, line, name), (_, calls, own_s, cum_s, _) in sorted(
            stats.items(), key=lambda kv: -kv[1][2]
        )[:15]:
            where = f"{Path(path).name}:{line}:{name}" if line else name
            print(f"  {100 * own_s / wall:5.1f} %  {where}  ({calls} calls, cum {cum_s:.2f} s)")
    finally:
        for proc in reversed(traders):
            proc.stop()
        if node is not None:
            asyncio.run_coroutine_threadsafe(node.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        env.stop()
        logger.removeHandler(handler)


# -- the run -----------------------------------------------------------------------------


def report(args: Args, seen: Observed, times: list[tuple], cpu: float, sizes: tuple) -> None:
    n, w, (envelope, signed) = seen.traders, seen.windows, sizes
    own = seen.per_round
    spread = (
        f"p50 {ms(statistics.median(own))}, p99 {ms(percentile(own, 0.99))} per round (the "
        f"exchange's own timing of its last {len(own)} rounds)"
        if own
        else "no per-round times"
    )
    print(
        f"{many(n)}: exchange {1 / seen.latency:,.1f} rounds/s over {seen.rounds} rounds in "
        f"{seen.seconds:.1f} s; round latency mean {ms(seen.latency)}, {spread}; "
        f"{len(w)} windows of >= {args.window_rounds} rounds sampled every {args.interval:g} s; "
        f"{seen.rows:.1f} ledger rows of {seen.row_bytes:.0f} bytes per round; "
        f"{seen.failed} failed rounds"
    )
    print(
        f"{many(n)}: CPU per round: exchange {ms(seen.cpu['exchange'])}, env node "
        f"{ms(seen.cpu['env node'])} (its Step handling p50 {ms(seen.env_step)}), traders "
        f"{ms(seen.cpu['traders'])} in all; {ms(sum(seen.cpu.values()))} on "
        f"{os.cpu_count()} cores"
    )
    per = [sum(t) for t in times]
    mean = statistics.fmean(per)
    parts = [statistics.median(c) for c in zip(*times, strict=True)]
    print(
        f"{many(n)}: limit {1 / mean:,.1f} rounds/s over {len(per)} rounds; round latency "
        f"mean {ms(mean)}, p50 {ms(statistics.median(per))}, p99 {ms(percentile(per, 0.99))} "
        f"(per round; p50s: stream {ms(parts[0])} of {envelope['Round']} + "
        f"{envelope['Bids']} bytes, unary {ms(parts[1])}, commit {ms(parts[2])} of "
        f"{max(1, round(seen.rows))} rows; server CPU {ms(cpu)} per round)"
    )
    goal = "goal <= 1.5, moonshot <= 1" if n == args.goal_traders else "no goal"
    print(
        f"round latency ratio at {many(n)}: {seen.latency / mean:.2f} "
        f"({goal}; mean round time, exchange/limit)"
    )
    everywhere, exchange, counts = signature_seconds(args, seen, signed)
    print(
        f"signatures per round at {many(n)}: {counts}; Ed25519 with cryptography: "
        f"{ms(everywhere)} in all, {ms(exchange)} in the exchange"
    )
    print(
        f"signature share of round time at {many(n)}: {100 * everywhere / seen.latency:.1f} % "
        f"(all processes), {100 * exchange / seen.latency:.1f} % (exchange)"
    )


def main() -> None:
    args = parse_args(Args)
    if args.peer:
        asyncio.run(run_peer(args.peer))
        return
    if args.quick:
        args = replace(
            args, traders="1,2", goal_traders=2, warmup_rounds=10, measure_seconds=2.0,
            measure_rounds=300, limit_rounds=50, env_calls=100, sign_repeats=50,
            profile_seconds=3.0,
        )  # fmt: skip
    counts = [int(c) for c in args.traders.split(",") if c.strip().isdigit() and int(c) > 0]
    problems = [
        f"--{k.replace('_', '-')}: expected a number > 0, got {v!r}"
        for k, v in vars(args).items()
        if type(v) in (int, float) and v <= 0 and k != "seed"
    ]
    if not counts or len(counts) != len(args.traders.split(",")):
        problems.insert(0, f"--traders: expected counts >= 1 and commas, got {args.traders!r}")
    if problems:
        print(f"error: {problems[0]}", file=sys.stderr)
        sys.exit(2)
    folder = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="catallax-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(
        f"setup: a task on {args.env_id}, {args.slots} slot(s), {args.family!r} traders (one "
        f"process and key each), bid deadline {args.bid_deadline_ms} ms; limit: bare grpc.aio "
        f"stream round trip to as many client processes + bare unary round trip + bare "
        f"durable SQLite commit (WAL, synchronous=FULL) of a round's rows"
    )
    try:
        for n in counts:
            seen = measure_network(args, folder / f"net-{n}", n)
            sizes = wire_sizes(args, seen)
            times, cpu = asyncio.run(
                limit_rounds(args, folder / f"bare-{n}.sqlite", seen, sizes[0])
            )
            report(args, seen, times, cpu, sizes)
        env_rates(args, folder)
        if args.profile:
            profile_exchange(args, folder / "profile", args.goal_traders)
    finally:
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
