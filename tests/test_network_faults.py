"""The network under faults: traders, the environment node and the exchange killed.

Each test runs a real loopback network (an environment node serving Chain, an exchange
with its SQLite ledger, ``catallax trader run adaptive`` processes) that trains without
end, breaks one part of it, and checks what a user relies on: rounds go on or pause and
resume by themselves, nobody is paid or charged twice, every round a trader was told of
(its round's results, with the ledger checkpoint covering it) is on the ledger, old
messages are refused, and ``catallax ledger audit`` passes at the end.

Some tests also run a trader in the test's own process (:class:`Observer`, the same
:class:`~catallax.node.trader.session.TraderSession` the runner uses) to see exactly what
the exchange acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

import catallax.exchange.envs  # noqa: F401  (registers catallax/Chain-v0)
from catallax.exchange.ledger import Transfer, TransferKind, open_ledger
from catallax.exchange.ledger.checkpoint import parse_checkpoint
from catallax.node.exchange.server import task_health_name
from catallax.node.exchange.watch import task_info, wait_task
from catallax.node.keys import load_private_key
from catallax.node.localnet import DeepNetwork, catallax_command, new_key, start_deep_network
from catallax.node.trader.session import TraderSession
from catallax.node.wire.mandate import identity_name
from catallax.traders import AdaptiveBidders
from catallax.v1 import common_pb2, exchange_pb2

pytestmark = pytest.mark.timeout(240)

TASK = "chain"
ORIGIN = "catallax.local/faults"
RULES = {"bid_deadline_ms": 1500, "env_timeout_ms": 2000, "royalty": 0.9}
PATIENCE = 90.0  # seconds any one wait may take on a busy machine


def cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*catallax_command(), *argv], capture_output=True, text=True, timeout=timeout
    )


def network(folder: Path, traders: int = 1) -> DeepNetwork:
    return start_deep_network(
        folder, "catallax/Chain-v0", task=TASK, origin=ORIGIN, rules=RULES, seed=3,
        traders=[("adaptive", {})] * traders,
    )  # fmt: skip


async def until(net: DeepNetwork, what: str, predicate, timeout: float = PATIENCE):
    """``wait_task`` in a thread (the test's loop keeps serving its own trader)."""
    address = net.exchange.address
    try:
        return await asyncio.to_thread(wait_task, address, TASK, predicate, timeout=timeout)
    except TimeoutError:
        info = await asyncio.to_thread(task_info, address, TASK)
        raise AssertionError(f"{what}: not within {timeout:g} s; task now {info}") from None


def audited(net: DeepNetwork) -> str:
    done = net.audit()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok:"), done.stdout
    return done.stdout


def identity_accounts(folder: Path, key: Path) -> list[str]:
    """The ledger accounts of the identity of ``key`` on the task, read from the file."""
    public = load_private_key(key).public_key().public_bytes_raw()
    prefix = f"{TASK}.{identity_name(public)}."
    with open_ledger(folder) as ledger:
        return sorted(a for a in ledger.balances() if a.startswith(prefix))


def allowances(folder: Path, accounts: list[str]) -> int:
    """How many allowance transfers the ledger in ``folder`` paid to ``accounts``."""
    mine = set(accounts)
    with open_ledger(folder) as ledger:
        return sum(
            1
            for _, e in ledger.entries()
            if isinstance(e, Transfer) and e.kind is TransferKind.ALLOWANCE and e.payee in mine
        )


def signed_after(folder: Path, size: int, accounts: list[str]) -> int:
    """Transfers from ``size`` on that ``accounts`` paid with a signed bid as evidence."""
    mine = set(accounts)
    with open_ledger(folder) as ledger:
        return sum(
            1
            for _, e in ledger.entries(size)
            if isinstance(e, Transfer) and e.payer in mine and e.evidence is not None
        )


def health(net: DeepNetwork) -> subprocess.CompletedProcess:
    return cli("health", net.exchange.address, "--service", task_health_name(TASK), timeout=30)


# -- a trader inside the test ----------------------------------------------------------------


@dataclass
class Seen:
    """One settled round as the trader received it."""

    round: int
    size: int
    root: bytes
    balances: dict[str, int]


class Observer(TraderSession):
    """A real trader session that also keeps every result and every Hello it sent."""

    def __init__(self, address: str, key_file: Path) -> None:
        super().__init__(address, TASK, load_private_key(key_file), self._population)
        self.seen: list[Seen] = []
        self.hellos: list[common_pb2.Envelope] = []
        self.new_result = asyncio.Event()

    @staticmethod
    def _population(obs_space, act_space):
        return AdaptiveBidders.for_env(obs_space, act_space, seed=11)

    def _seal(self, body):
        envelope = super()._seal(body)
        if isinstance(body, exchange_pb2.Hello):
            self.hellos.append(envelope)
        return envelope

    def _learn(self, settled: exchange_pb2.Settled) -> None:
        super()._learn(settled)
        mine = next((s for s in settled.statements if s.identity == self.public_key), None)
        if mine is None:
            return
        head = parse_checkpoint(settled.checkpoint.note.decode())
        balances = dict(zip(self.stats.accounts, mine.balances, strict=True))
        self.seen.append(Seen(int(settled.round), head.size, head.root, balances))
        self.new_result.set()

    async def results(self, count: int, after_round: int = -1) -> Seen:
        """Wait until ``count`` results of rounds after ``after_round`` arrived."""
        async with asyncio.timeout(PATIENCE):
            while sum(s.round > after_round for s in self.seen) < count:
                self.new_result.clear()
                await self.new_result.wait()
        return self.seen[-1]


@contextlib.asynccontextmanager
async def observing(net: DeepNetwork, key_file: Path):
    session = Observer(net.exchange.address, key_file)
    runner = asyncio.ensure_future(session.run())
    try:
        yield session
    finally:
        session.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner, 30)


# -- the tests -------------------------------------------------------------------------------


async def test_a_killed_trader_is_left_out_and_resumes_with_its_wealth(tmp_path, wire):
    """SIGKILL one of two trader processes while rounds run: the rounds go on without
    it. Started again with the same key it opens no new account, gets no second
    allowance, pays for rights to act again from the wealth it had, and a Hello with
    an old sequence number of its key is refused."""
    net = network(tmp_path, traders=2)
    try:
        first = await until(net, "rounds", lambda i: i.rounds >= 15 and i.sessions == 2)
        key = tmp_path / "keys" / "trader-0.pem"
        accounts = identity_accounts(net.ledger_dir, key)
        assert accounts and allowances(net.ledger_dir, accounts) == len(accounts)
        net.traders[0].kill()
        await until(net, "rounds without it", lambda i: i.rounds >= first.rounds + 15)
        info = await until(net, "its session closed", lambda i: i.sessions == 1)
        assert info.identities == 2
        with open_ledger(net.ledger_dir) as ledger:
            size_before = ledger.size
        restarted = net.start_trader("adaptive", key=key, seed=5)
        later = await until(
            net, "rounds after the restart", lambda i: i.sessions == 2 and i.rounds > info.rounds
        )
        await until(net, "more rounds", lambda i: i.rounds >= later.rounds + 20)
        assert restarted.alive(), restarted.tail()
        assert identity_accounts(net.ledger_dir, key) == accounts
        assert allowances(net.ledger_dir, accounts) == len(accounts)  # once, not twice
        assert signed_after(net.ledger_dir, size_before, accounts) > 0, "it never traded again"
        code = wire.first_frame(net.exchange.address, wire.hello(key, ORIGIN, TASK, 1))
        assert code == grpc.StatusCode.ALREADY_EXISTS, code
    finally:
        net.stop()
    audited(net)


async def test_a_frozen_trader_misses_the_deadline_and_has_no_bid(tmp_path):
    """SIGSTOP a trader: its connection stays open but it answers nothing, so every
    round waits for the deadline and settles without its bids (it pays nothing while
    frozen); after SIGCONT it bids again."""
    net = network(tmp_path, traders=2)
    try:
        await until(net, "rounds", lambda i: i.rounds >= 10 and i.sessions == 2)
        frozen = net.traders[1]
        key = tmp_path / "keys" / "trader-1.pem"
        accounts = identity_accounts(net.ledger_dir, key)
        os.kill(frozen.popen.pid, signal.SIGSTOP)
        try:
            # The round under way may still take its bid; from the next one on it has none.
            # Count from a reading taken after the stop: rounds are fast until it, so many
            # may have settled since the trader was seen connected.
            stopped = await until(net, "a reading after the stop", lambda i: True)
            info = await until(net, "rounds while frozen", lambda i: i.rounds >= stopped.rounds + 2)
            with open_ledger(net.ledger_dir) as ledger:
                size = ledger.size
            later = await until(net, "more rounds", lambda i: i.rounds >= info.rounds + 3)
            slow = [ms for ms in later.recent_round_ms[-3:]]
            assert min(slow) >= 0.9 * RULES["bid_deadline_ms"], slow  # each waited the deadline
            # A trader's mandate may still pay one royalty for an earlier purchase.
            with open_ledger(net.ledger_dir) as ledger:
                paid = [
                    e for _, e in ledger.entries(size)
                    if isinstance(e, Transfer) and e.payer in set(accounts)
                    and e.kind not in (TransferKind.ROYALTY, TransferKind.ROYALTY_TAX)
                ]  # fmt: skip
            assert not paid, f"a frozen trader paid {paid[:3]}"
        finally:
            os.kill(frozen.popen.pid, signal.SIGCONT)
        with open_ledger(net.ledger_dir) as ledger:
            size = ledger.size
        await until(net, "rounds after thawing", lambda i: i.rounds >= later.rounds + 20)
        assert signed_after(net.ledger_dir, size, accounts) > 0, "it never bid again"
    finally:
        net.stop()
    audited(net)


async def test_the_environment_node_killed_pauses_the_task_until_it_is_back(tmp_path):
    """SIGKILL the environment node: the task pauses and says why (ListTasks, health
    NOT_SERVING for the task, a warning in the log) while the exchange stays up; the
    node started again on its port, rounds resume by themselves."""
    net = network(tmp_path, traders=1)
    try:
        first = await until(net, "rounds", lambda i: i.rounds >= 10)
        assert health(net).returncode == 0
        net.env.kill()
        paused = await until(net, "a pause", lambda i: i.state.startswith("paused"))
        assert "environment node" in paused.state, paused.state
        check = health(net)
        assert check.returncode == 1 and "NOT_SERVING" in check.stdout, check.stdout
        whole = cli("health", net.exchange.address, timeout=30)
        assert whole.returncode == 0, whole.stdout  # the exchange itself still serves
        log = (tmp_path / "logs" / "exchange.log").read_text()
        assert "WARNING" in log and "paused" in log
        net.restart("env")
        resumed = await until(
            net,
            "rounds after the restart",
            lambda i: i.state == "training" and i.rounds > paused.rounds,
        )
        await until(net, "more rounds", lambda i: i.rounds >= resumed.rounds + 10)
        assert health(net).returncode == 0
        assert resumed.rounds > first.rounds
    finally:
        net.stop()
    audited(net)


async def test_the_exchange_killed_mid_commit_restarts_where_its_ledger_left_off(tmp_path, wire):
    """SIGKILL the exchange while rounds commit. The ledger it leaves verifies; it holds
    every round a trader was told of (the checkpoint each round's results carried is a prefix
    of it), and each balance the trader was last told of is the ledger's, but for the
    one round that may have committed without being announced. Started again on its
    port, the traders (a process and one in this test) reconnect by themselves and
    trade on, a Hello sent before the crash is refused, and the ledger audits."""
    net = network(tmp_path, traders=1)
    key = new_key(tmp_path / "keys" / "observer.pem")
    try:
        async with observing(net, key) as me:
            await me.results(20)
            net.exchange.kill()
            last = me.seen[-1]
            with open_ledger(net.ledger_dir) as ledger:  # proves the whole file first
                assert ledger.size >= last.size
                assert ledger.root_at(last.size) == last.root
                # Entries past the last announced checkpoint: at most one more round.
                later = [e for _, e in ledger.entries(last.size) if isinstance(e, Transfer)]
                assert len({e.round for e in later}) <= 1
                assert all(e.round == last.round + 1 for e in later)
                expected = dict(last.balances)
                for e in later:
                    if e.payer in expected:
                        expected[e.payer] -= e.amount
                    if e.payee in expected:
                        expected[e.payee] += e.amount
                assert {a: ledger.balance(a) for a in expected} == expected
                resume_round = max([last.round, *(e.round for e in later)]) + 1
            before_crash = me.hellos[-1]
            net.restart("exchange")
            after = await me.results(10, after_round=last.round)
            assert after.round >= resume_round
            assert me.stats.connects >= 2
            await until(net, "both traders back", lambda i: i.sessions == 2, timeout=60)
            code = wire.first_frame(net.exchange.address, before_crash)
            assert code == grpc.StatusCode.ALREADY_EXISTS, code
    finally:
        net.stop()
    audited(net)
    with open_ledger(net.ledger_dir) as ledger:  # one log: the restart appended to it
        assert ledger.root_at(after.size) == after.root
        assert ledger.root_at(last.size) == last.root


# -- the ledger's PostgreSQL server lost ---------------------------------------------------


@contextlib.contextmanager
def ledger_role(server: str, schema: str):
    """A login role of its own owning ``schema`` (so the test can refuse it logins and
    end its sessions, as a PostgreSQL restart or a cut-off network does); the ledger URL
    it connects with."""
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    role = f"catallax_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f'CREATE ROLE "{role}" LOGIN')
        db.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
        (database,) = db.execute("SELECT current_database()").fetchone()
        db.execute(f'GRANT CREATE ON DATABASE "{database}" TO "{role}"')
    parts = urlsplit(server)
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(filter(None, [parts.query, f"schema={schema}"]))
    try:
        yield role, urlunsplit((parts.scheme, f"{role}@{host}", parts.path, query, ""))
    finally:
        with psycopg.connect(server, autocommit=True) as db:
            db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                       (role,))  # fmt: skip
            db.execute(f'DROP OWNED BY "{role}" CASCADE')  # its schema and its grant
            db.execute(f'DROP ROLE "{role}"')


def cut_off(server: str, role: str, *, login: bool) -> int:
    """End every session of ``role`` (and refuse it new ones unless ``login``); how
    many sessions were ended."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f'ALTER ROLE "{role}" {"LOGIN" if login else "NOLOGIN"}')
        ended = db.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE usename = %s) AS t",
            (role,),
        ).fetchone()
    return int(ended[0])


async def test_the_ledgers_server_lost_the_exchange_reopens_it_and_trades_on(
    tmp_path, postgres_server, postgres_schema
):
    """The exchange's PostgreSQL sessions are ended and logins refused for a while: the
    same exchange process stops its tasks, retries with backoff, reopens the ledger once
    the server lets it in, and trades on from what the ledger holds; the trader (never
    restarted) reconnects by itself, nobody gets a second allowance, and the ledger
    audits."""
    with ledger_role(postgres_server, postgres_schema) as (role, url):
        net = start_deep_network(
            tmp_path, "catallax/Chain-v0", task=TASK, origin=ORIGIN, rules=RULES, seed=3,
            traders=[("adaptive", {})], exchange_args=["--ledger", url],
        )  # fmt: skip
        try:
            first = await until(net, "rounds", lambda i: i.rounds >= 10)
            pid = net.exchange.popen.pid
            assert cut_off(postgres_server, role, login=False) >= 1
            log = tmp_path / "logs" / "exchange.log"
            await asyncio.to_thread(wait_for_text, log, "event=ledger_unavailable")
            cut_off(postgres_server, role, login=True)
            await asyncio.to_thread(wait_for_text, log, "event=ledger_reopened")
            back = await until(net, "rounds after the reopening", lambda i: i.state == "training")
            assert back.rounds >= first.rounds  # the counts go on (the progress record)
            await until(net, "ten more rounds", lambda i: i.rounds >= back.rounds + 10)
            assert net.exchange.popen.pid == pid and net.exchange.alive()
            assert net.traders[0].alive()
            assert "event=ledger_lost" in log.read_text()
        finally:
            net.stop()
        done = cli("ledger", "audit", url, "--key", str(net.exchange_pub))
        assert done.returncode == 0 and done.stdout.startswith("ok:"), done.stdout + done.stderr
        with open_ledger(url) as ledger:
            transfers = [e for _, e in ledger.entries() if isinstance(e, Transfer)]
        paid = [e.payee for e in transfers if e.kind is TransferKind.ALLOWANCE]
        assert paid and len(paid) == len(set(paid)), paid  # one allowance per account
        # The rounds before the loss are all there, and the reopened node's after them.
        rounds = {e.round for e in transfers if e.kind is not TransferKind.ALLOWANCE}
        assert len(rounds) >= back.rounds + 10, (len(rounds), first.rounds, back.rounds)


async def test_sigterm_while_the_ledgers_server_refuses_exits_0_and_nothing_is_half_written(
    tmp_path, postgres_server, postgres_schema
):
    """SIGTERM while the exchange waits for its lost ledger: it exits 0 at once (no
    reopening left running), and the ledger, once the server lets us in, audits."""
    with ledger_role(postgres_server, postgres_schema) as (role, url):
        net = start_deep_network(
            tmp_path, "catallax/Chain-v0", task=TASK, origin=ORIGIN, rules=RULES, seed=3,
            traders=[("adaptive", {})], exchange_args=["--ledger", url],
        )  # fmt: skip
        try:
            await until(net, "rounds", lambda i: i.rounds >= 5)
            cut_off(postgres_server, role, login=False)
            log = tmp_path / "logs" / "exchange.log"
            await asyncio.to_thread(wait_for_text, log, "retry_s=")
            assert net.exchange.stop(timeout=15) == 0
        finally:
            net.stop()
        cut_off(postgres_server, role, login=True)
        done = cli("ledger", "audit", url, "--key", str(net.exchange_pub))
        assert done.returncode == 0 and done.stdout.startswith("ok:"), done.stdout + done.stderr


def wait_for_text(path: Path, text: str, timeout: float = PATIENCE) -> None:
    """Until ``text`` is in the file at ``path`` (a log the node writes as it goes)."""
    import time

    deadline = time.monotonic() + timeout
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} not in {path} within {timeout:g} s"
        time.sleep(0.05)
