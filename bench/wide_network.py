"""Benchmark: wide-market clearing rounds with remote producers, against their parts.

Measured in one run, for each producer count of ``--producers``:

1. The real network (``catallax.node.localnet``): an environment node serving
   ``catallax/Production-v0`` and an exchange with one wide task, as subprocesses, then
   ``processes`` ``catallax trader run leontief`` processes sharing the producers (one
   identity of one Leontief producer each, ``--key`` repeated; producer ``k`` runs
   recipe ``k mod 6``). Once every producer is connected and ``warmup_rounds`` rounds
   are settled, the exchange's rounds are counted over ``measure_rounds`` rounds:
   rounds per second, and the mean and p99 of its own wall time per round
   (``TaskInfo.recent_round_ms``).
2. The in-process clearing of the same orders: a ``WideMarket`` of the same producers
   runs ``warmup_rounds`` steps in process, then the exchange's certified clearing
   (:func:`catallax.node.exchange.wide.clear_round`: ``Equ``, the certificate, the
   rounding to units) of its orders is timed.
3. The bare network limit, in the same run: a bare ``grpc.aio`` stream to each
   producer (in ``processes`` client processes; the server writes one message of a
   ``WideRound``'s size, the request with every producer's statement of the last round,
   to every stream and waits for one answer of an ``Orders``' size from each), a bare
   unary round trip of ``ProduceRequest``/``ProduceReply`` sizes to
   another process, and a durable SQLite commit (WAL, synchronous=FULL) of as many rows
   as a round commits, of their mean size, timed per round.

The figure is the ratio of the network's mean round time to the sum of the in-process
clearing's and the limit's; the goal is <= 2 at 8 producers.

    python bench/wide_network.py             # 8 and 32 producers (about two minutes)
    python bench/wide_network.py --quick     # smoke test: 4 producers, few rounds
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from _bare import SERVICE, Hub, bare_server
from _common import parse_args

from catallax.exchange.crypto import generate_private_key
from catallax.exchange.envs.production import default_economy
from catallax.exchange.ledger import LEDGER_FILE, UNITS_PER_GOOD
from catallax.exchange.wide import WideMarket, run_economy
from catallax.node.env.economy import EconomyWorld
from catallax.node.env.server import envelope_to_proto
from catallax.node.exchange.watch import task_info, wait_task
from catallax.node.exchange.wide import check_orders, clear_round
from catallax.node.localnet import new_key, start_deep_network
from catallax.node.trader.wide_session import orders_body
from catallax.node.wire import seal
from catallax.node.wire.convert import tensor_to_proto
from catallax.traders.producers import LeontiefProducers
from catallax.v1 import environment_pb2, wide_pb2

TASK = "economy"


@dataclass
class Args:
    """Wide-market clearing rounds with remote producers, against in-process + bare network."""

    producers: str = "8,32"
    """producer counts, comma-separated (one identity of one Leontief producer each)"""
    processes: int = 8
    """trader processes sharing the producers"""
    warmup_rounds: int = 30
    """rounds settled before measuring (and in-process steps before timing)"""
    measure_rounds: int = 150
    """rounds measured on the network"""
    limit_rounds: int = 150
    """rounds of the bare limit, and timings of the in-process clearing"""
    goal_producers: int = 8
    """the producer count the goal is about"""
    peer: str = ""
    """(internal) run as a helper process of the limit"""
    quick: bool = False
    """smoke test: 4 producers in 2 processes, few rounds"""


def progress(message: str) -> None:
    print(f"[wide_network] {message}", file=sys.stderr, flush=True)


def recipes_of(n: int) -> list[int]:
    return [k % default_economy().n_recipes for k in range(n)]


# -- 1. the network ------------------------------------------------------------------------


def measure_network(args: Args, folder: Path, n: int) -> dict:
    """Rounds of the real network with ``n`` remote producers (see the module docstring)."""
    procs = min(args.processes, n)
    rules = {"market": "wide", "allowance": 200.0, "min_traders": n,
             "clearing_deadline_ms": 30_000}  # fmt: skip
    net = start_deep_network(folder, "catallax/Production-v0", task=TASK, rules=rules)
    try:
        for p in range(procs):
            mine = [k for k in range(n) if k % procs == p]
            keys = [new_key(folder / "keys" / f"producer-{k}.pem") for k in mine]
            extra = [a for key in keys[1:] for a in ("--key", str(key))]
            recipe = recipes_of(n)[mine[0]]
            net.start_trader("leontief", key=keys[0], options={"recipes": [recipe]}, extra=extra)
        address = net.exchange.address
        warm = wait_task(address, TASK, lambda i: i.rounds >= args.warmup_rounds, timeout=300)
        assert warm.sessions == n, f"{warm.sessions} of {n} producers connected"
        t0, r0 = time.perf_counter(), warm.rounds
        end = wait_task(address, TASK, lambda i: i.rounds >= r0 + args.measure_rounds, timeout=600)
        seconds = time.perf_counter() - t0
        window = list(end.recent_round_ms)[-(end.rounds - r0) :]
        info = task_info(address, TASK)
    finally:
        net.stop()
    rows, row_bytes = ledger_rows(net.ledger_dir / LEDGER_FILE, info.rounds)
    return {
        "rounds_per_s": (end.rounds - r0) / seconds,
        "round_ms": statistics.fmean(window),
        "p99_ms": float(np.percentile(window, 99)),
        "rows": rows,
        "row_bytes": row_bytes,
        "processes": procs,
    }


def ledger_rows(path: Path, rounds: int) -> tuple[float, float]:
    """Mean entries per round and their mean size in bytes, from the SQLite ledger."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        count, size = db.execute("SELECT count(*), avg(length(data)) FROM entries").fetchone()
    finally:
        db.close()
    return count / max(rounds, 1), float(size or 0)


# -- 2. the in-process clearing -----------------------------------------------------------


def in_process(args: Args, n: int) -> tuple[float, dict[str, int]]:
    """Seconds of the exchange's certified clearing of ``n`` producers' orders, in
    process; and the wire sizes of one round's messages."""
    economy = default_economy()
    pops = [LeontiefProducers.for_economy(economy, recipes=[r]) for r in recipes_of(n)]
    market = WideMarket(pops, n_goods=economy.n_goods, allowance=200.0,
                        depreciation=economy.depreciation)  # fmt: skip
    run_economy(market, economy, steps=args.warmup_rounds, seed=0)
    obs = market.state()
    holdings = np.rint(market.holdings[0] * UNITS_PER_GOOD).astype(np.int64)
    world = np.rint(market.world[0] * UNITS_PER_GOOD).astype(np.int64)
    key = generate_private_key()
    owner, values, budgets, bodies = [], [], [], []
    for p, pop in enumerate(pops):  # each producer's orders as the exchange reads them
        o = pop.orders(obs, market.holdings[:, market.rows(p)])
        held = market.balance[market.rows(p)]
        body = orders_body(o, held, *pop.plans(), goods=economy.goods, exchange="x",
                           task=TASK, round_=1, rules=b"r" * 32)  # fmt: skip
        envelope = seal(key, "Orders", body)
        bodies.append(envelope)
        book = check_orders(envelope, body, members=1, goods=economy.goods,
                            recipes=economy.n_recipes, valuation="linear", rho=0.5,
                            balances=held)  # fmt: skip
        owner.append(np.full(len(book.members), p))
        values.append(book.values)
        budgets.append(book.budgets)
    args_ = (holdings, world, np.ones(n, bool), np.concatenate(owner), np.concatenate(values),
             np.concatenate(budgets), market.balance)  # fmt: skip
    times = []
    for _ in range(args.limit_rounds):
        t0 = time.perf_counter()
        rc = clear_round(*args_)
        times.append(time.perf_counter() - t0)
    request = wide_pb2.WideRound(
        exchange="x", task=TASK, open=True, round=1, supply=world.tolist(),
        world=world.tolist(), prices=rc.prices.tolist(), deadline_ms=1, rules=b"r" * 32,
    )  # fmt: skip
    world_ = EconomyWorld(economy)
    world_.reset(world / UNITS_PER_GOOD)
    accounts = [f"{TASK}.{'a' * 32}.{k}" for k in range(n)]
    made = world_.produce(key, exchange="x", task=TASK, round_=1, accounts=accounts,
                          recipes=np.asarray(recipes_of(n)), runs=np.full(n, 4.0),
                          bundles=rc.bundles, world_sold=world - rc.world)  # fmt: skip
    produce_request = environment_pb2.ProduceRequest(
        exchange="x", task=TASK, accounts=accounts, recipes=recipes_of(n), runs=[4.0] * n,
        bundles=tensor_to_proto(rc.bundles), world_sold=(world - rc.world).tolist(),
    )  # fmt: skip
    reply = environment_pb2.ProduceReply(
        consumed=tensor_to_proto(made.consumed), made=tensor_to_proto(made.made),
        taken=tensor_to_proto(made.taken), depreciated=tensor_to_proto(made.depreciated),
        payments=made.payments.tolist(), world=made.world.tolist(),
        world_debits=[envelope_to_proto(d) for d in made.world_debits],
    )  # fmt: skip
    if made.report is not None:
        reply.production.CopyFrom(envelope_to_proto(made.report))
    # The last round's results ride on the request: one statement per producer (each
    # its own identity here), as the exchange sends them.
    settled = request.settled
    settled.prices.extend(rc.prices.tolist())
    settled.supply.extend(world.tolist())
    produced = rc.bundles - made.consumed + made.made
    for k in range(n):
        names = [accounts[k]] + [f"{accounts[k]}/{g}" for g in economy.goods]
        settled.statements.add(
            identity=os.urandom(32), bought=tensor_to_proto(rc.bundles[k : k + 1]),
            produced=tensor_to_proto(produced[k : k + 1]),
            removed=tensor_to_proto(made.taken[k : k + 1]),
            rewards=made.payments[k : k + 1].tolist(), accounts=names,
            balances=[int(market.balance[k]), *np.rint(rc.bundles[k]).astype(int).tolist()],
        )  # fmt: skip
    sizes = {
        "WideRound": len(seal(key, "WideRound", request).SerializeToString()),
        "Orders": int(np.mean([len(b.SerializeToString()) for b in bodies])),
        "ProduceRequest": len(seal(key, "ProduceRequest", produce_request).SerializeToString()),
        "ProduceReply": len(seal(key, "ProduceReply", reply).SerializeToString()),
    }
    return statistics.fmean(times), sizes


# -- 3. the bare limit ---------------------------------------------------------------------


def peer(role: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    argv = [sys.executable, str(Path(__file__).resolve()), "--peer", role]
    return subprocess.Popen(argv, stdout=stdout, stdin=subprocess.DEVNULL)


async def run_peer(role: str) -> None:
    """``stream ADDRESS STREAMS SIZE``: echo clients; ``unary SIZE``: the unary server."""
    kind, *rest = role.split()
    if kind == "stream":
        answer = os.urandom(int(rest[2]))

        async def one(channel) -> None:
            call = channel.stream_stream(f"/{SERVICE}/Stream")()
            await call.write(b"hello")
            while (await call.read()) is not grpc.aio.EOF:
                await call.write(answer)

        async with grpc.aio.insecure_channel(rest[0]) as channel:
            await asyncio.gather(*(one(channel) for _ in range(int(rest[1]))))
        return
    reply = os.urandom(int(rest[0]))

    async def produce(request: bytes, context) -> bytes:
        return reply

    server, port = bare_server(Produce=grpc.unary_unary_rpc_method_handler(produce))
    await server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(0)


async def limit(args: Args, folder: Path, n: int, procs: int, seen: dict, sizes: dict) -> float:
    """Mean seconds per round of the bare limit for ``n`` producers."""
    hub = Hub(n)
    server, port = bare_server(Stream=grpc.stream_stream_rpc_method_handler(hub.handle))
    await server.start()
    share = [len(range(p, n, procs)) for p in range(procs)]
    helpers = [peer(f"stream 127.0.0.1:{port} {k} {sizes['Orders']}") for k in share]
    helpers.append(peer(f"unary {sizes['ProduceReply']}", stdout=subprocess.PIPE))
    db = sqlite3.connect(folder / "limit.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    rows, blob = max(1, round(seen["rows"])), os.urandom(max(1, round(seen["row_bytes"])))
    request, produce = os.urandom(sizes["WideRound"]), os.urandom(sizes["ProduceRequest"])
    times, start = [], 0
    try:
        line = await asyncio.wait_for(asyncio.to_thread(helpers[-1].stdout.readline), 60)
        await asyncio.wait_for(hub.joined.wait(), 120)
        async with grpc.aio.insecure_channel(line.decode().split()[-1]) as channel:
            call = channel.unary_unary(f"/{SERVICE}/Produce")
            for r in range(10 + args.limit_rounds):
                t0 = time.perf_counter()
                await asyncio.wait_for(hub.round(request), 60)
                await call(produce, timeout=30)
                db.execute("BEGIN")
                db.executemany("INSERT INTO entries VALUES (?, ?)",
                               [(start + i, blob) for i in range(rows)])  # fmt: skip
                db.execute("COMMIT")
                start += rows
                if r >= 10:
                    times.append(time.perf_counter() - t0)
        for box in hub.outboxes:
            box.put_nowait(None)
    finally:
        db.close()
        for proc in helpers:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(30)
        await server.stop(1)
    return statistics.fmean(times)


def main() -> None:
    args = parse_args(Args)
    if args.peer:
        asyncio.run(run_peer(args.peer))
        return
    if args.quick:
        args.producers, args.processes, args.goal_producers = "4", 2, 4
        args.warmup_rounds, args.measure_rounds, args.limit_rounds = 10, 30, 30
    print(f"setup: {os.cpu_count()} cores; producers {args.producers} in at most "
          f"{args.processes} trader processes; {args.measure_rounds} rounds measured")  # fmt: skip
    ratios = {}
    for n in [int(x) for x in args.producers.split(",")]:
        with tempfile.TemporaryDirectory(prefix="wide-network-") as tmp:
            folder = Path(tmp)
            progress(f"{n} producers: the network")
            seen = measure_network(args, folder / "net", n)
            progress(f"{n} producers: the in-process clearing and the bare limit")
            clearing, sizes = in_process(args, n)
            bare = asyncio.run(limit(args, folder, n, seen["processes"], seen, sizes))
        base = clearing + bare
        ratios[n] = seen["round_ms"] / 1000 / base
        print(
            f"{n} producers ({seen['processes']} processes): network {seen['rounds_per_s']:.1f} "
            f"rounds/s, {seen['round_ms']:.2f} ms per round (p99 {seen['p99_ms']:.2f} ms; "
            f"{seen['rows']:.0f} ledger rows of {seen['row_bytes']:.0f} B per round)"
        )
        print(
            f"{n} producers: in-process clearing {clearing * 1000:.2f} ms + bare limit "
            f"{bare * 1000:.2f} ms (stream of {sizes['WideRound']} B out, {sizes['Orders']} "
            f"B back; unary {sizes['ProduceRequest']}/{sizes['ProduceReply']} B; commit) = "
            f"{base * 1000:.2f} ms: {1 / base:.1f} rounds/s"
        )
        print(f"{n} producers: ratio network / (in-process + limit): {ratios[n]:.2f}")
    goal = ratios.get(args.goal_producers)
    if goal is not None:
        verdict = "met" if goal <= 2 else "not met"
        print(f"goal: ratio <= 2 at {args.goal_producers} producers: {goal:.2f} ({verdict})")


if __name__ == "__main__":
    main()
