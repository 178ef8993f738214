"""Wide-market tasks on the network: certified clearings, goods on the ledger, bad input.

Real servers in this process, on port 0: an environment node serving
``catallax/Production-v0`` in one slot and an exchange node with one wide task; remote
producers are :class:`~catallax.node.trader.wide_session.WideSession` s of Leontief
producers, or raw streams that seal what a well-behaved trader never sends. One test
runs ``catallax demo --wide`` (processes) on a small instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from catallax.exchange import crypto
from catallax.exchange.envs.production import default_economy
from catallax.exchange.ledger import Transfer
from catallax.node.env import start_server as start_env_node
from catallax.node.errors import ForgedProduction
from catallax.node.exchange import ExchangeNode
from catallax.node.exchange.config import parse_config
from catallax.node.exchange.servicer import status_of
from catallax.node.exchange.wide import check_orders, clear_round
from catallax.node.keys import save_private_key
from catallax.node.localnet import catallax_command
from catallax.node.serving import channel_options
from catallax.node.trader.session import TraderSession
from catallax.node.trader.wide_session import WideSession, orders_body
from catallax.node.wire import Sequencer, open_envelope, seal
from catallax.traders import load_trader
from catallax.traders.producers import LeontiefProducers
from catallax.v1 import exchange_pb2, exchange_pb2_grpc, wide_pb2, wide_pb2_grpc

pytestmark = pytest.mark.timeout(300)

ORIGIN = "test.local/wide"
TASK = "eco"
PATIENCE = 60.0
ENV_KEY = crypto.generate_private_key()
EXCHANGE_KEY = crypto.generate_private_key()
Code = grpc.StatusCode


# --- the network ------------------------------------------------------------------------


async def _until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def network(folder: Path, *, deep: bool = False, **task: Any):
    """An environment node (and a Chain one with ``deep``) and an exchange with the
    wide task ``eco`` (``task``: more of its keys; and a deep task ``chain``)."""
    keys = folder / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    save_private_key(EXCHANGE_KEY, keys / "exchange.pem")
    save_private_key(ENV_KEY, keys / "env.pem")
    exchange_pub = [crypto.public_key_bytes(EXCHANGE_KEY)]
    envs = {}
    try:
        envs[TASK] = await start_env_node(
            "catallax/Production-v0", slots=1, key=ENV_KEY, exchange_keys=exchange_pub,
            data_dir=folder / "env",
        )  # fmt: skip
        if deep:
            envs["chain"] = await start_env_node(
                "catallax/Chain-v0", slots=1, key=ENV_KEY, exchange_keys=exchange_pub,
                data_dir=folder / "env-chain",
            )  # fmt: skip
        env_key = str(keys / "env.pem.pub")
        tables: dict[str, Any] = {
            TASK: {"market": "wide", "env": f"127.0.0.1:{envs[TASK].port}", "env_key": env_key,
                   "allowance": 200.0, "clearing_deadline_ms": 60_000, **task},
        }  # fmt: skip
        if deep:
            tables["chain"] = {"env": f"127.0.0.1:{envs['chain'].port}", "env_key": env_key,
                               "allowance": 10.0, "bid_deadline_ms": 60_000}  # fmt: skip
        cfg = parse_config(
            {"exchange": {"origin": ORIGIN, "key": str(keys / "exchange.pem"),
                          "data_dir": "exchange", "port": 0}, "tasks": tables},
            base=folder,
        )  # fmt: skip
        node = await ExchangeNode.start(cfg)
        try:
            await _until(lambda: node.tasks[TASK].economy is not None, "the economy")
            yield node
        finally:
            await node.stop(0)
    finally:
        for env in envs.values():
            await env.stop(0)


def producers(node: ExchangeNode, key=None, **options: Any) -> WideSession:
    return WideSession(
        node.address, TASK, key or crypto.generate_private_key(),
        lambda economy: LeontiefProducers.for_economy(economy, **options),
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running(*sessions):
    runs = [asyncio.ensure_future(s.run()) for s in sessions]
    try:
        yield runs
    finally:
        for s in sessions:
            s.stop()
        for r in runs:
            r.cancel()
        await asyncio.gather(*runs, return_exceptions=True)


def per_round_sums(ledger) -> list[dict[str, int]]:
    """Replay the ledger: after each round of transfers, every asset's sum of balances
    and the clearing houses' balances (which must hold nothing between rounds)."""
    balance: dict[str, int] = {}
    asset_of: dict[str, str] = {}
    out, current = [], None

    def close():
        sums: dict[str, int] = {}
        for account, units in balance.items():
            sums[asset_of[account]] = sums.get(asset_of[account], 0) + units
        hubs = {a: u for a, u in balance.items() if ".clearing/" in a}
        low = min((u for a, u in balance.items() if ".issuer" not in a and ".clearing/" not in a),
                  default=0)  # fmt: skip
        out.append({"sums": sums, "hubs": hubs, "lowest_trader": low})

    for _, entry in ledger.entries():
        if not isinstance(entry, Transfer):
            asset_of[entry.account.id] = entry.account.asset
            balance.setdefault(entry.account.id, 0)
            continue
        key = (entry.task, entry.round)
        if current is not None and key != current:
            close()
        current = key
        balance[entry.payer] -= entry.amount
        balance[entry.payee] += entry.amount
    close()
    return out


# --- a networked economy ----------------------------------------------------------------


async def test_every_round_settles_certified_and_conserves_credits_and_goods(tmp_path):
    async with network(tmp_path, rounds=40) as node:
        task = node.tasks[TASK]
        a = producers(node, recipes=[0, 2, 4])
        b = producers(node, recipes=[1, 3, 5])
        async with running(a, b):
            await _until(  # the last round's results reach both traders
                lambda: task.state == "done" and a.stats.last_round == b.stats.last_round == 39,
                "40 rounds, and their results with both traders",
            )
        assert task.rounds == 40 and task.refused == []
        ledger = node.ctx.ledger
        report = ledger.audit()
        assert {"credits", "good:ore", "good:steel", "good:chair"} <= set(report.assets)
        rounds = per_round_sums(ledger)
        assert len(rounds) >= 40
        for r in rounds:  # at every commit: each asset sums to zero, the hubs hold nothing
            assert set(r["sums"].values()) == {0}, r
            assert set(r["hubs"].values()) <= {0}, r
            assert r["lowest_trader"] >= 0, r
        # The task's books are the ledger's, credits and goods, to the unit.
        for row in range(len(task.balance)):
            ident = task.remote.owner_of(row)
            account = ident.accounts[task.remote.local(row)]
            assert ledger.balance(account) == task.balance[row]
            for j, good in enumerate(task.goods):
                assert ledger.balance(f"{account}/{good}") == task.holdings[row, j]
        # What each trader was told of the last round (one statement per identity in the
        # WideRound that followed it) is its balances on the ledger, in every asset.
        for session in (a, b):
            assert len(session.balances) == 3 * (1 + len(task.goods))
            assert {k: ledger.balance(k) for k in session.balances} == session.balances
        # Consumers bought final goods, and producers were paid for them.
        kinds = {e.kind.value for _, e in ledger.entries() if isinstance(e, Transfer)}
        assert {"trade", "delivery", "production", "reward", "allowance"} <= kinds
        assert np.mean(task.welfare[-10:]) > 0


def test_demo_wide_reaches_the_lp_welfare_on_a_small_run(tmp_path):
    done = subprocess.run(
        [*catallax_command(), "demo", "--wide", "--rounds", "300", "--traders", "2",
         "--data-dir", str(tmp_path / "demo"), "--json"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["rounds"] == 300 and summary["traders"] == 2
    assert summary["ledger_verified"] and summary["ledger_audited"]
    assert summary["data_dir"] == str((tmp_path / "demo").resolve())
    assert math.isclose(summary["welfare_ratio"], summary["welfare"] / summary["lp_welfare"])
    # In process, one economy reaches 0.936 of the LP after 300 steps (0.978 after 800).
    assert summary["welfare_ratio"] >= 0.9, summary


# --- refused clearings and productions ----------------------------------------------------


async def test_a_tampered_clearing_is_refused_uncertified_and_nothing_is_written(tmp_path):
    async with network(tmp_path) as node:
        task = node.tasks[TASK]
        a = producers(node)
        async with running(a):
            await _until(lambda: task.rounds >= 5, "five rounds")
            honest = task.equ
            before: list = []  # the ledger when the first tampered clearing is made

            def tampered(*args, **kwargs):  # prices three times the equilibrium's
                if not before:
                    before.extend([node.ctx.ledger.size, dict(node.ctx.ledger.balances())])
                c = honest(*args, **kwargs)
                return replace(c, prices=c.prices * 3)

            task.equ = tampered
            await _until(lambda: len(task.refused) >= 2, "two refused rounds")
            size, balances = before
            settled = task.rounds
            assert node.ctx.ledger.size == size
            assert dict(node.ctx.ledger.balances()) == balances
            assert task.refused[0].startswith("uncertified: ")
            assert "payment" in task.refused[0] and "tolerance" in task.refused[0]
            await _until(lambda: a.refused, "the trader to hear why")
            assert a.refused[0] == task.refused[0]
            task.equ = honest
            await _until(lambda: task.rounds >= settled + 2, "rounds again")
        assert node.ctx.ledger.size > size
        async with node.between_commits() as ledger:
            ledger.audit()


async def test_a_production_that_makes_goods_from_nothing_is_refused(tmp_path):
    async with network(tmp_path) as node:
        task = node.tasks[TASK]
        a = producers(node)
        async with running(a):
            await _until(lambda: task.rounds >= 3, "three rounds")
            honest = task.env.produce
            before: list[int] = []  # the ledger's size when the first forgery arrives

            async def forged(**kwargs):  # every member gets a chair it never made
                before.append(node.ctx.ledger.size)
                p = await honest(**kwargs)
                made = p.made.copy()
                made[:, task.goods.index("chair")] += 1_000_000
                return replace(p, made=made)

            task.env.produce = forged
            await _until(lambda: len(task.refused) >= 2, "two refused rounds")
            assert node.ctx.ledger.size == before[0]
            why = task.refused[0]
            assert why.startswith("production: member ") and "chair" in why, why
            assert status_of(ForgedProduction(why)) is Code.DATA_LOSS
            task.env.produce = honest
            settled = task.rounds
            await _until(lambda: task.rounds >= settled + 2, "rounds in a new episode")
        async with node.between_commits() as ledger:
            ledger.audit()


# --- bad orders ---------------------------------------------------------------------------


class Raw:
    """A hand-made wide trader: registers, opens a WideExchange.Trade stream, and sends
    whatever Orders it is given."""

    def __init__(self, node: ExchangeNode, members: int = 2) -> None:
        self.node, self.members = node, members
        self.key = crypto.generate_private_key()
        self.key_bytes = crypto.public_key_bytes(self.key)
        self.sequencer = Sequencer(self.key_bytes)

    def seal(self, body):
        return seal(self.key, type(body), self.sequencer.stamp(body))

    async def open(self, channel) -> tuple[Any, wide_pb2.WideRound]:
        stub = exchange_pb2_grpc.ExchangeStub(channel)
        reply = await stub.Register(
            self.seal(exchange_pb2.Registration(exchange=ORIGIN, task=TASK, members=self.members)),
            timeout=PATIENCE,
        )
        self.accounts = list(open_envelope(reply, "Registered").accounts)
        call = wide_pb2_grpc.WideExchangeStub(channel).Trade(timeout=PATIENCE)
        await call.write(self.seal(exchange_pb2.Hello(exchange=ORIGIN, task=TASK)))
        while True:
            envelope = await call.read()
            if envelope.message == "WideRound":
                message = open_envelope(envelope, "WideRound")
                if message.open:
                    return call, message

    def orders(self, request, task, **changes) -> wide_pb2.Orders:
        """Honest orders: member 0 buys ore and coal with half its balance."""
        body = wide_pb2.Orders(exchange=ORIGIN, task=TASK, round=request.round,
                               rules=task.rules, goods=task.goods)  # fmt: skip
        order = body.orders.add(member=0, budget=50_000_000)
        order.valuation.goods.extend([0, 1])
        order.valuation.values.extend([2.0, 1.5])
        order.valuation.linear.SetInParent()
        body.plans.add(member=0, recipe=0, runs=4.0)
        return body


async def settled_round(call) -> wide_pb2.WideSettled:
    """The next results on a wide stream: a WideRound's ``settled`` (one signed message a
    round carries every identity's statement and the next request)."""
    while True:
        envelope = await call.read()
        assert envelope is not grpc.aio.EOF, "the stream ended before the results"
        if envelope.message == "WideRound":
            message = open_envelope(envelope, "WideRound")
            if message.HasField("settled"):
                return message.settled


def _broken(name: str, body: wide_pb2.Orders) -> None:
    order, plan = body.orders[0], body.plans[0]
    if name == "over budget":
        order.budget = 200_000_001  # the member holds 200 credits
    elif name == "nan value":
        order.valuation.values[1] = math.nan
    elif name == "negative value":
        order.valuation.values[0] = -1.0
    elif name == "negative budget":
        order.budget = -1
    elif name == "nan runs":
        plan.runs = math.nan
    elif name == "negative runs":
        plan.runs = -2.0
    elif name == "wrong shape":
        order.valuation.values.append(3.0)
    elif name == "unknown good":
        order.valuation.goods[1] = 7  # the economy has goods 0 .. 6
    elif name == "wrong kind":
        order.valuation.leontief.SetInParent()
    elif name == "unknown recipe":
        plan.recipe = 6
    elif name == "future round":
        body.round += 5


BAD = {
    "over budget": (Code.FAILED_PRECONDITION, "OverBudget: member 0's budgets"),
    "nan value": (Code.INVALID_ARGUMENT, "Malformed: order 0: valuations must be finite"),
    "negative value": (Code.INVALID_ARGUMENT, "Malformed: order 0: valuations must be finite"),
    "negative budget": (Code.INVALID_ARGUMENT, "Malformed: order 0: a negative budget"),
    "nan runs": (Code.INVALID_ARGUMENT, "Malformed: plan 0: runs must be finite"),
    "negative runs": (Code.INVALID_ARGUMENT, "Malformed: plan 0: runs must be finite"),
    "wrong shape": (Code.INVALID_ARGUMENT, "Malformed: order 0: a valuation of the wrong shape"),
    "unknown good": (Code.INVALID_ARGUMENT, "UnknownGood: order 0: good 7"),
    "wrong kind": (Code.INVALID_ARGUMENT, "Malformed: order 0: a leontief valuation"),
    "unknown recipe": (Code.INVALID_ARGUMENT, "Malformed: plan 0: recipe 6"),
    "future round": (Code.OUT_OF_RANGE, "FutureRound: orders for round"),
}


async def test_bad_orders_each_get_their_status_and_nothing_is_written(tmp_path):
    async with network(tmp_path) as node:
        task = node.tasks[TASK]
        ledger = node.ctx.ledger
        async with grpc.aio.insecure_channel(node.address, options=channel_options()) as ch:
            for name, (code, details) in BAD.items():
                raw = Raw(node)
                call, request = await raw.open(ch)
                size = ledger.size
                body = raw.orders(request, task)
                _broken(name, body)
                await call.write(raw.seal(body))
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    while await call.read() is not grpc.aio.EOF:
                        pass
                assert refused.value.code() == code, (name, refused.value.details())
                assert refused.value.details().startswith(details), (name, refused.value.details())
                await _until(lambda: task.bidding.open is None, "the round to close")
                mine = set(raw.accounts) | {f"{a}/{g}" for a in raw.accounts for g in task.goods}
                paid = [
                    e for _, e in ledger.entries(size)
                    if isinstance(e, Transfer) and mine & {e.payer, e.payee}
                ]  # fmt: skip
                assert paid == [], name
                assert [ledger.balance(a) for a in raw.accounts] == [200_000_000] * 2, name
            # An honest raw trader on the same network is served: its orders settle.
            raw = Raw(node)
            call, request = await raw.open(ch)
            await call.write(raw.seal(raw.orders(request, task)))
            settled = await settled_round(call)
            assert settled.refused == "" and settled.round == request.round
            mine = [s for s in settled.statements if s.identity == raw.key_bytes]
            assert len(mine) == 1 and mine[0].accounts[0] == raw.accounts[0]
            assert ledger.balance(raw.accounts[0]) < 200_000_000  # it bought ore and coal
            call.cancel()
        async with node.between_commits() as settled:
            settled.audit()


def test_orders_cross_the_wire_and_back_exactly():
    economy = default_economy()
    pop = LeontiefProducers.for_economy(economy)
    orders = pop.orders(np.ones((1, 7)), np.zeros((1, 6, 7)))
    held = np.full(6, 10**9, dtype=np.int64)
    body = orders_body(orders, held, *pop.plans(), goods=economy.goods, exchange=ORIGIN,
                       task=TASK, round_=3, rules=b"r")  # fmt: skip
    envelope = seal(EXCHANGE_KEY, "Orders", body)
    book = check_orders(
        envelope, open_envelope(envelope, "Orders"), members=6, goods=economy.goods,
        recipes=6, valuation="linear", rho=0.5, balances=held,
    )  # fmt: skip
    np.testing.assert_array_equal(book.members, orders.trader)
    np.testing.assert_array_equal(book.values, orders.values[0])
    np.testing.assert_array_equal(book.budgets, np.floor(orders.budgets[0] * 1e6))
    np.testing.assert_array_equal(book.recipes, np.arange(6))
    np.testing.assert_array_equal(book.runs, economy.capacity)
    # A member whose budgets exceed its balance is scaled down to it, never refused.
    poor = np.full(6, 1_000, dtype=np.int64)
    body = orders_body(orders, poor, *pop.plans(), goods=economy.goods, exchange=ORIGIN,
                       task=TASK, round_=3, rules=b"r")  # fmt: skip
    spent = np.zeros(6, dtype=np.int64)
    for o in body.orders:
        spent[o.member] += o.budget
    assert (spent <= poor).all() and spent.sum() > 0


@pytest.mark.parametrize("utility", ["linear", "leontief", "ces"])
def test_each_kind_of_valuation_clears_certified_and_conserves_goods(utility):
    holdings = np.array([[2_000_000, 0, 0], [0, 1_000_000, 0]])
    world = np.array([3_000_000, 2_000_000, 1_500_000])
    owner = np.array([0, 1, 1])
    values = np.array([[0, 1, 2.0], [1, 0, 1.0], [1, 1, 0.0]])
    budgets = np.array([5_000_000, 3_000_000, 2_000_000])
    balances = np.array([4_000_000, 10**8])  # member 0's budget is capped at 4 credits
    rc = clear_round(holdings, world, np.array([True, True]), owner, values, budgets,
                     balances, utility=utility, rho=0.5)  # fmt: skip
    assert rc.certificate.holds(1e-6)
    np.testing.assert_array_equal(rc.bundles.sum(0) + rc.world, holdings.sum(0) + world)
    assert (rc.bundles >= 0).all() and (rc.world >= 0).all()
    assert rc.pay[0] <= 4_000_000 and rc.pay[1] <= 5_000_000
    assert rc.pay.sum() > 0 and (rc.prices > 0).any()


# --- one identity, a deep task and a wide task ----------------------------------------------


async def test_one_identity_trades_in_a_deep_and_a_wide_task_of_one_exchange(tmp_path):
    async with network(tmp_path, deep=True) as node:
        key = crypto.generate_private_key()
        sequencer = Sequencer(crypto.public_key_bytes(key))
        wide = WideSession(node.address, TASK, key, LeontiefProducers.for_economy,
                           sequencer=sequencer)  # fmt: skip
        deep = TraderSession(
            node.address, "chain", key,
            lambda obs, act: load_trader("adaptive", obs, act, seed=0), sequencer=sequencer,
        )  # fmt: skip
        async with running(wide, deep):
            await _until(
                lambda: node.tasks[TASK].rounds >= 5 and node.tasks["chain"].rounds >= 5,
                "rounds in both tasks",
            )
        name = wide.stats.accounts[0].split(".")[1]
        assert deep.stats.accounts[0].split(".")[1] == name
        async with node.between_commits() as ledger:  # the chain task still runs rounds
            paid = {(e.task, e.kind.value) for _, e in ledger.entries()
                    if isinstance(e, Transfer) and name in e.payer}  # fmt: skip
            ledger.audit()
        assert ("eco", "trade") in paid and ("chain", "bid") in paid


# --- a restart ----------------------------------------------------------------------------


async def test_a_restarted_exchange_rebuilds_the_wide_task_from_its_ledger(tmp_path):
    """Stop the exchange and start it again on the same folder and port: the wide task's
    credits and goods are the ledger's to the unit, its rounds go on from the last
    number, the same producer (never restarted, reconnecting by itself) trades on with
    its identity and gets no second allowance, and the ledger audits."""
    async with network(tmp_path) as node:
        task = node.tasks[TASK]
        a = producers(node, recipes=[0, 2, 4])
        async with running(a):
            await _until(lambda: task.rounds >= 5, "five rounds")
            last = task.round
            await node.stop(0)
            again = await ExchangeNode.start(replace(node.cfg, port=node.port))
            try:
                t = again.tasks[TASK]
                await _until(lambda: t.economy is not None, "the economy again")
                assert t.round >= last and t.allowance_given == task.allowance_given
                assert t.rounds >= 5  # the counts go on from the progress record
                start = t.rounds
                await _until(lambda: t.rounds >= start + 5, "five rounds after the restart")
                async with again.between_commits() as ledger:
                    ledger.audit()
                    for row in range(len(t.balance)):  # the task's books are the ledger's
                        account = t.remote.owner_of(row).accounts[t.remote.local(row)]
                        assert ledger.balance(account) == t.balance[row]
                        for j, good in enumerate(t.goods):
                            held = ledger.balance(f"{account}/{good}") if ledger.account(
                                f"{account}/{good}") else 0  # fmt: skip
                            assert held == t.holdings[row, j]
                    transfers = [e for _, e in ledger.entries() if isinstance(e, Transfer)]
                assert len(t.remote.identities) == 1 and a.stats.connects >= 2
                paid = [e.payee for e in transfers if e.kind.value == "allowance"]
                assert paid and len(paid) == len(set(paid)), paid
                after = [e.round for e in transfers if e.kind.value == "trade"]
                assert max(after) >= last + 4  # rounds numbered on from the ledger's
            finally:
                await again.stop(0)
