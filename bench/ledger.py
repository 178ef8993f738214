"""Benchmark: the ledger's durable commit rate, its verification speed and its append cost.

Measured in one run, each against a baseline from the same run:

1. Durable rate: rounds of ``per_round`` transfers committed by ``Ledger.commit_round``
   on SQLite (WAL, synchronous=FULL, one transaction per round, tree nodes, balances
   and a signed checkpoint included), against bare inserts of the same entry bytes
   into a one-table SQLite file with the same pragmas, one transaction per round. The
   two alternate in blocks so that machine noise hits both. Then the same with a
   trader's signed bid as evidence on every transfer (each signature is verified on
   append; this line has no goal, it shows what Ed25519 verification costs).
2. Append cost: one ledger per size of ``sizes``, grown in large batched rounds; then
   ``append_rounds`` durable rounds of ``per_round`` transfers are timed on each, in
   turn (so that the disk's changing fsync latency hits every size alike). The median
   wall and CPU time per round should stay flat as the log grows.
3. Verification: ``Ledger.verify()`` over the whole grown log (every leaf re-hashed,
   the tree rebuilt and every stored node compared, every checkpoint checked),
   against reading the same entry rows and hashing each once.
4. Audit: ``Ledger.audit()`` (verification, then every entry replayed: its evidence
   decoded, bound to its transfer and its signature verified, every balance) over a
   ledger of ``audit_transfers`` signed trader debits, against the limit: verifying
   the same signatures with ``cryptography`` alone (public keys loaded once each).
   Each runs three times, alternating; the best time of each is compared.
5. PostgreSQL durable rate: the same rounds committed by a ledger in PostgreSQL
   (``synchronous_commit = on``, one transaction per round, as the store commits them)
   against bare inserts of the same entry bytes into a one-table schema on the same
   server through psycopg, one transaction per round, alternating in blocks. The server
   is ``--postgres URL``, or by default ``$CATALLAX_BENCH_POSTGRES`` or a local one on
   127.0.0.1:5432; with none answering the line says skipped and why. Both schemas are
   made fresh and dropped at the end.

    python bench/ledger.py                  # full run (two to three minutes)
    python bench/ledger.py --rounds 8 --blocks 2 --evidence-rounds 4 \\
        --sizes 100,300 --append-rounds 5 --build-batch 100    # smoke test
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _common import parse_args
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catallax.exchange import crypto
from catallax.exchange.ledger import Ledger, Transfer, encode_entry, open_ledger
from catallax.exchange.ledger.evidence import authorize_transfers

ORIGIN = "catallax.bench/ledger"


@dataclass
class Args:
    """Benchmark: the ledger's durable commit rate, its verification speed and its append cost."""

    rounds: int = 400
    """durable rounds committed by each side (ledger, bare) for the plain rate"""
    blocks: int = 4
    """the rounds are split in this many alternating ledger / bare blocks"""
    per_round: int = 10
    """transfers per round"""
    evidence_rounds: int = 100
    """durable rounds per side for the rate with signed evidence on every transfer"""
    sizes: str = "1000,100000,1000000"
    """log sizes (entries, comma-separated, ascending) at which append cost is measured"""
    append_rounds: int = 200
    """durable rounds timed at each size"""
    build_batch: int = 20_000
    """entries per commit while growing the log to the next size"""
    audit_transfers: int = 20_000
    """signed trader debits in the ledger whose audit is timed"""
    folder: str = ""
    """where to put the ledgers (default: a temporary folder, removed at the end)"""
    postgres: str = "auto"
    """PostgreSQL server URL for the PostgreSQL durable rate ("auto":
    $CATALLAX_BENCH_POSTGRES or a local server on 127.0.0.1:5432; "off": skip it)"""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def new_ledger(folder: Path | str, traders: int) -> tuple[Ledger, list[crypto.Ed25519PrivateKey]]:
    """A fresh ledger (a folder, or a postgresql:// URL) with one issuer, ``traders``
    traders and the treasury."""
    ledger = open_ledger(folder, key=crypto.generate_private_key(), origin=ORIGIN, create=True)
    keys = [crypto.generate_private_key() for _ in range(traders)]
    # The issuer holds the exchange's key, so its allowances are signed by the checkpoints.
    ledger.open_account("env", "issuer", ledger.public_key)
    for i, key in enumerate(keys):
        ledger.open_account(f"t{i}", "trader", crypto.public_key_bytes(key))
    ledger.open_account("treasury", "treasury")
    return ledger, keys


def new_bare(path: Path) -> sqlite3.Connection:
    """The baseline: one table of entry bytes, same journal and sync settings."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    return db


def allowances(tag: str, r: int, n: int, traders: int) -> list[Transfer]:
    return [
        Transfer(f"{tag}{r}-{i}", "env", f"t{i % traders}", 1 + i, "allowance", "bench", r)
        for i in range(n)
    ]


def rents(r: int, n: int, keys: list[crypto.Ed25519PrivateKey]) -> list[Transfer]:
    """Rent paid by traders, each with the trader's signed bid (signed before timing)."""
    plain = [Transfer(f"e{r}-{i}", f"t{i % len(keys)}", "treasury", 1, "rent", "bench", r)
             for i in range(n)]  # fmt: skip
    return authorize_transfers(plain, {f"t{k}": key for k, key in enumerate(keys)}, ORIGIN)


def sqlite_bare(bare: sqlite3.Connection) -> Callable[[list[bytes]], None]:
    """Commit one round's entry bytes to the bare SQLite table, one transaction."""
    (start,) = bare.execute("SELECT count(*) FROM entries").fetchone()

    def commit(rows: list[bytes]) -> None:
        nonlocal start
        bare.execute("BEGIN")
        bare.executemany(
            "INSERT INTO entries (idx, data) VALUES (?, ?)",
            [(start + i, d) for i, d in enumerate(rows)],
        )
        bare.execute("COMMIT")
        start += len(rows)

    return commit


def timed_rate(
    ledger: Ledger,
    bare: Callable[[list[bytes]], None],
    rounds: list[list[Transfer]],
    blocks: int,
) -> tuple[float, float]:
    """(ledger, bare) seconds for committing ``rounds``, alternating blocks; ``bare``
    commits one round's entry bytes in one durable transaction."""
    rows = [[encode_entry(t) for t in r] for r in rounds]
    ledger_s = bare_s = 0.0
    step = max(len(rounds) // blocks, 1)
    for b in range(0, len(rounds), step):
        t0 = time.perf_counter()
        for r in rounds[b : b + step]:
            ledger.commit_round(r)
        t1 = time.perf_counter()
        for r in rows[b : b + step]:
            bare(r)
        t2 = time.perf_counter()
        ledger_s += t1 - t0
        bare_s += t2 - t1
    return ledger_s, bare_s


def durable_rates(args: Args, folder: Path) -> None:
    ledger, keys = new_ledger(folder / "rate", traders=10)
    bare_db = new_bare(folder / "bare.sqlite")
    bare = sqlite_bare(bare_db)
    n = args.per_round
    ledger.commit_round(allowances("seed", 0, 10 * len(keys), len(keys)))  # funds for rent
    plain = [allowances("a", r, n, len(keys)) for r in range(args.rounds)]
    ledger_s, bare_s = timed_rate(ledger, bare, plain, args.blocks)
    total = args.rounds * n
    print(f"durable commit, rounds of {n} transfers (WAL, synchronous=FULL), {total} per side:")
    print(f"bare sqlite insert: {total / bare_s:,.0f} transfers/s")
    print(f"ledger: {total / ledger_s:,.0f} transfers/s")
    print(f"ledger/bare durable rate ratio: {bare_s / ledger_s:.2f} (goal >= 0.5)")
    signed = [rents(r, n, keys) for r in range(args.evidence_rounds)]
    ledger_s, bare_s = timed_rate(ledger, bare, signed, args.blocks)
    total = args.evidence_rounds * n
    print(f"ledger with a signed bid on every transfer: {total / ledger_s:,.0f} transfers/s")
    print(
        f"ledger+evidence/bare durable rate ratio: {bare_s / ledger_s:.2f} "
        f"(no goal: {n} Ed25519 verifications per round)"
    )
    ledger.verify()
    ledger.close()
    bare_db.close()


#: Servers the PostgreSQL rate tries by default, after $CATALLAX_BENCH_POSTGRES.
POSTGRES_SERVERS = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/test",
)


def postgres_server(choice: str) -> tuple[str | None, str]:
    """(the server's URL, "") or (None, why there is none)."""
    if choice == "off":
        return None, "--postgres off"
    import psycopg

    if choice == "auto":
        candidates = [os.environ.get("CATALLAX_BENCH_POSTGRES", ""), *POSTGRES_SERVERS]
    else:
        candidates = [choice]
    why = "no server to try"
    for url in filter(None, candidates):
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url, ""
        except psycopg.Error as exc:
            why = " ".join(str(exc).split())
    return None, why


def postgres_rates(args: Args) -> None:
    """The PostgreSQL ledger's durable commit rate against bare psycopg inserts."""
    url, why = postgres_server(args.postgres)
    if url is None:
        print(f"postgres durable/bare: skipped (no PostgreSQL server: {why})")
        return
    import psycopg

    tag = secrets.token_hex(4)
    ledger_schema, bare_schema = f"bench_ledger_{tag}", f"bench_bare_{tag}"
    db = psycopg.connect(url, autocommit=True)
    try:
        db.execute("SET synchronous_commit = on")
        db.execute(f'CREATE SCHEMA "{bare_schema}"')
        db.execute(
            f'CREATE TABLE "{bare_schema}".entries (idx BIGINT PRIMARY KEY, data BYTEA NOT NULL)'
        )
        start = 0

        def bare(rows: list[bytes]) -> None:
            nonlocal start
            with db.transaction():
                db.cursor().executemany(
                    f'INSERT INTO "{bare_schema}".entries (idx, data) VALUES (%s, %s)',
                    [(start + i, d) for i, d in enumerate(rows)],
                )
            start += len(rows)

        sep = "&" if "?" in url else "?"
        ledger, keys = new_ledger(f"{url}{sep}schema={ledger_schema}", traders=10)
        try:
            n = args.per_round
            plain = [allowances("pg", r, n, len(keys)) for r in range(args.rounds)]
            ledger_s, bare_s = timed_rate(ledger, bare, plain, args.blocks)
            ledger.verify()
        finally:
            ledger.close()
        total = args.rounds * n
        print(
            f"postgres durable commit, rounds of {n} transfers (synchronous_commit=on, one "
            f"transaction per round), {total} per side:"
        )
        print(f"bare postgres insert (psycopg): {total / bare_s:,.0f} transfers/s")
        print(f"postgres ledger: {total / ledger_s:,.0f} transfers/s")
        print(f"postgres durable/bare: {bare_s / ledger_s:.2f} (goal >= 0.5)")
    finally:
        for schema in (ledger_schema, bare_schema):
            db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        db.close()


def append_cost(args: Args, folder: Path) -> Ledger:
    """Grow one ledger per size, then time rounds on them in turn; return the largest."""
    sizes = [int(s) for s in args.sizes.split(",")]
    n = args.per_round
    ledgers = []
    for size in sizes:
        ledger, keys = new_ledger(folder / f"grown-{size}", traders=10)
        t0 = time.perf_counter()
        serial = 0
        while ledger.size < size:
            batch = min(args.build_batch, size - ledger.size)
            ledger.commit_round(allowances("g", serial, batch, len(keys)))
            serial += 1
        progress(f"grew a log to {ledger.size:,} entries in {time.perf_counter() - t0:.1f} s")
        ledgers.append(ledger)
    # Round-robin over the sizes, so that the disk's changing fsync latency hits all alike.
    wall: list[list[float]] = [[] for _ in sizes]
    cpu: list[list[float]] = [[] for _ in sizes]
    for r in range(args.append_rounds):
        for k, ledger in enumerate(ledgers):
            round_ = allowances("p", r, n, 10)
            w0, c0 = time.perf_counter(), time.process_time()
            ledger.commit_round(round_)
            wall[k].append(time.perf_counter() - w0)
            cpu[k].append(time.process_time() - c0)
    for k, size in enumerate(sizes):
        print(
            f"append cost at {size:,} entries: {statistics.median(wall[k]) * 1e6:,.0f} us wall, "
            f"{statistics.median(cpu[k]) * 1e6:,.0f} us cpu per durable round of {n} "
            f"(medians of {args.append_rounds})"
        )
    last, first = sizes[-1], sizes[0]
    for name, times in (("wall", wall), ("cpu", cpu)):
        ratio = statistics.median(times[-1]) / statistics.median(times[0])
        print(f"append cost {last:,}/{first:,} entries {name} ratio: {ratio:.2f} (goal: flat, ~1)")
    for ledger in ledgers[:-1]:
        ledger.close()
    return ledgers[-1]


def verification(ledger: Ledger, path: Path) -> None:
    t0 = time.perf_counter()
    report = ledger.verify()
    ours = time.perf_counter() - t0
    db = sqlite3.connect(path)
    t1 = time.perf_counter()
    count = 0
    for _, data in db.execute("SELECT idx, data FROM entries ORDER BY idx"):
        hashlib.sha256(b"\x00" + data).digest()
        count += 1
    bare = time.perf_counter() - t1
    db.close()
    if count != report.size:
        raise RuntimeError(f"baseline read {count} entries, the ledger has {report.size}")
    print(
        f"verification: {report.size / ours:,.0f} entries/s over {report.size:,} entries, "
        f"{report.checkpoints} checkpoints (goal >= 100,000/s)"
    )
    print(f"bare read + one SHA-256 per entry: {count / bare:,.0f} entries/s")
    print(f"verification/bare-hash rate ratio: {bare / ours:.2f}")


def audit_speed(args: Args, folder: Path) -> None:
    """Audit time against the bare verification of the same signatures."""
    ledger, keys = new_ledger(folder / "audit", traders=10)
    n, per = args.audit_transfers, 500
    ledger.commit_round(
        [Transfer(f"fund-{k}", "env", f"t{k}", n, "allowance", "bench", 0) for k in range(10)]
    )
    for r in range(-(-n // per)):
        ledger.commit_round(rents(r, min(per, n - r * per), keys))
    signed = [e.evidence for _, e in ledger.entries() if getattr(e, "evidence", None)]

    def bare_verify() -> None:
        loaded: dict[bytes, Ed25519PublicKey] = {}
        for ev in signed:
            key = loaded.get(ev.public_key)
            if key is None:
                key = loaded[ev.public_key] = Ed25519PublicKey.from_public_bytes(ev.public_key)
            key.verify(ev.signature, crypto.signing_input(ev.message, ev.data))

    # Alternate the two, three times each, and keep each one's best: the machine is
    # shared, and the best run is the one least disturbed.
    ours = bare = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        report = ledger.audit()
        t1 = time.perf_counter()
        bare_verify()
        t2 = time.perf_counter()
        ours, bare = min(ours, t1 - t0), min(bare, t2 - t1)
    ledger.close()
    if report.evidence != len(signed):
        raise RuntimeError(f"audit checked {report.evidence} signatures, expected {len(signed)}")
    print(
        f"audit: {report.transfers / ours:,.0f} transfers/s over {report.transfers:,} transfers "
        f"({len(signed):,} signed)"
    )
    print(f"bare Ed25519 verification of the same signatures: {len(signed) / bare:,.0f}/s")
    print(f"audit/bare-verify time ratio: {ours / bare:.2f} (goal <= 1.3)")


def main() -> None:
    args = parse_args(Args)
    folder = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="catallax-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        durable_rates(args, folder)
        ledger = append_cost(args, folder)
        largest = args.sizes.split(",")[-1]
        verification(ledger, folder / f"grown-{int(largest)}" / "ledger.sqlite")
        ledger.close()
        audit_speed(args, folder)
        postgres_rates(args)
    finally:
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
