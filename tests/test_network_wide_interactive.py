"""Interactive wide tasks on the network: price proposals answered by signed demands.

Real servers in this process, on port 0 (the network of ``test_network_wide``): an
environment node serving ``catallax/Production-v0`` and an exchange whose wide task
``eco`` has ``mode = "interactive"``. Remote producers are
:class:`~catallax.node.trader.wide_session.WideSession` s of Leontief producers (their
``demand``), or raw streams that seal what a well-behaved trader never sends.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import grpc
import numpy as np
import pytest

from catallax.exchange.crypto import generate_private_key as crypto_key
from catallax.exchange.envs.production import default_economy, lp_optimum
from catallax.exchange.ledger import Transfer
from catallax.exchange.wide import Tatonnement, demand_certificate
from catallax.node.exchange.config import ConfigError, parse_config
from catallax.node.exchange.wide.demands import check_demand, price_digest
from catallax.node.exchange.wide.rounds import demand_round
from catallax.node.serving import channel_options
from catallax.node.trader.wide_session import demand_body
from catallax.node.wire import open_envelope, seal
from catallax.traders.producers import LeontiefProducers
from catallax.v1 import wide_pb2

pytestmark = pytest.mark.timeout(300)


def _sibling(name: str):
    """The helpers of a sibling test module (tests import in importlib mode)."""
    spec = importlib.util.spec_from_file_location(f"_{name}", Path(__file__).with_name(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_wide = _sibling("test_network_wide.py")
ORIGIN, PATIENCE, TASK, Code, Raw = _wide.ORIGIN, _wide.PATIENCE, _wide.TASK, _wide.Code, _wide.Raw
_until, network, per_round_sums = _wide._until, _wide.network, _wide.per_round_sums
producers, running, settled_round = _wide.producers, _wide.running, _wide.settled_round

INTERACTIVE = {"mode": "interactive", "tol": 1e-3, "clearing_deadline_ms": 20_000}
ROUNDS = 200


async def _welfare(tmp_path, **task) -> tuple[float, object]:
    """Mean welfare of the last 20 of ``ROUNDS`` rounds with two producer sessions."""
    async with network(tmp_path, rounds=ROUNDS, **task) as node:
        t = node.tasks[TASK]
        a = producers(node, recipes=[0, 2, 4])
        b = producers(node, recipes=[1, 3, 5])
        async with running(a, b):
            await _until(
                lambda: t.state == "done" and a.stats.last_round == b.stats.last_round,
                f"{ROUNDS} rounds, and their results with both traders",
            )
        assert t.rounds == ROUNDS and t.refused == [], t.refused
        ledger = node.ctx.ledger
        ledger.audit()
        for r in per_round_sums(ledger):  # each asset sums to zero, the hubs hold nothing
            assert set(r["sums"].values()) == {0}, r
            assert set(r["hubs"].values()) <= {0}, r
            assert r["lowest_trader"] >= 0, r
        for row in range(len(t.balance)):  # the task's books are the ledger's
            account = t.remote.owner_of(row).accounts[t.remote.local(row)]
            assert ledger.balance(account) == t.balance[row]
            for j, good in enumerate(t.goods):
                assert ledger.balance(f"{account}/{good}") == t.holdings[row, j]
        evidence = {e.evidence.message for _, e in ledger.entries()
                    if isinstance(e, Transfer) and e.evidence is not None}  # fmt: skip
        return float(np.mean(t.welfare[-20:])), (t, evidence)


async def test_interactive_clearing_settles_certified_conserves_and_nears_orders_welfare(
    tmp_path,
):
    interactive, (task, evidence) = await _welfare(tmp_path / "interactive", **INTERACTIVE)
    orders, _ = await _welfare(tmp_path / "orders")
    # Every settled round converged within the tolerance, by demand queries alone.
    assert "Demand" in evidence and "Orders" not in evidence
    assert min(task.query_counts) >= 1
    lp, _ = lp_optimum(default_economy())
    print(f"welfare of the last 20 of {ROUNDS} rounds: interactive {interactive:.3f} "
          f"({interactive / lp:.3f} of the LP), orders {orders:.3f} ({orders / lp:.3f}); "
          f"queries per round: median {int(np.median(task.query_counts))}, "
          f"max {max(task.query_counts)}")  # fmt: skip
    assert interactive >= 0.9 * orders, (interactive, orders)


# --- bad demands ------------------------------------------------------------------------


async def _first_proposal(raw, ch) -> tuple:
    """Open ``raw``'s stream; its first PriceProposal."""
    call, _ = await raw.open(ch)
    while (envelope := await call.read()).message != "PriceProposal":
        pass
    return call, open_envelope(envelope, "PriceProposal")


def _honest(proposal, task, members: int = 2) -> wide_pb2.Demand:
    """Member 0 wants one unit of ore and of coal, within its budget; member 1 nothing."""
    body = wide_pb2.Demand(exchange=ORIGIN, task=TASK, round=proposal.round,
                           digest=proposal.digest, rules=task.rules, goods=task.goods)  # fmt: skip
    g = len(task.goods)
    body.demands.add(member=0, bundle=[1_000_000, 1_000_000] + [0] * (g - 2), budget=50_000_000)
    for m in range(1, members):
        body.demands.add(member=m, bundle=[0] * g, budget=0)
    body.plans.add(member=0, recipe=0, runs=1.0)
    return body


async def _refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        while await call.read() is not grpc.aio.EOF:
            pass
    return refused.value


def _untouched(ledger, size: int, raw, task) -> None:
    mine = set(raw.accounts) | {f"{a}/{g}" for a in raw.accounts for g in task.goods}
    paid = [e for _, e in ledger.entries(size)
            if isinstance(e, Transfer) and mine & {e.payer, e.payee}]  # fmt: skip
    assert paid == []
    assert [ledger.balance(a) for a in raw.accounts] == [200_000_000] * 2


BAD = {
    "negative quantity": (Code.INVALID_ARGUMENT, "Malformed: demand 0: quantities must be >= 0"),
    "nan runs": (Code.INVALID_ARGUMENT, "Malformed: plan 0: runs must be finite"),
    "wrong shape": (Code.INVALID_ARGUMENT, "Malformed: demand 0: a bundle of the wrong shape"),
    "over budget": (Code.FAILED_PRECONDITION, "OverBudget: member 0's budget"),
    "costs more": (Code.INVALID_ARGUMENT, "Malformed: demand 0: the bundle costs"),
    "a member left out": (Code.INVALID_ARGUMENT, "Malformed: a demand names every member"),
    "unknown prices": (Code.FAILED_PRECONDITION, "StalePrices: a demand at prices"),
}


def _broken(name: str, body: wide_pb2.Demand) -> None:
    d = body.demands[0]
    if name == "negative quantity":
        d.bundle[1] = -5
    elif name == "nan runs":
        body.plans[0].runs = math.nan
    elif name == "wrong shape":
        d.bundle.append(3)
    elif name == "over budget":
        d.budget = 200_000_001  # the member holds 200 credits
    elif name == "costs more":
        d.budget = 0
        d.bundle[0] = 10**12
    elif name == "a member left out":
        del body.demands[1]
    elif name == "unknown prices":
        body.digest = price_digest(np.ones(len(d.bundle)))


async def test_bad_demands_each_get_their_status_and_nothing_is_written(tmp_path):
    async with network(tmp_path, **INTERACTIVE) as node:
        task = node.tasks[TASK]
        ledger = node.ctx.ledger
        async with grpc.aio.insecure_channel(node.address, options=channel_options()) as ch:
            for name, (code, details) in BAD.items():
                raw = Raw(node)
                call, proposal = await _first_proposal(raw, ch)
                size = ledger.size
                body = _honest(proposal, task)
                _broken(name, body)
                await call.write(raw.seal(body))
                refused = await _refused(call)
                assert refused.code() == code, (name, refused.details())
                assert refused.details().startswith(details), (name, refused.details())
                _untouched(ledger, size, raw, task)
            # A demand for the prices of an earlier query: FAILED_PRECONDITION.
            raw = Raw(node)
            call, first = await _first_proposal(raw, ch)
            greedy = _honest(first, task)
            greedy.demands[0].bundle[0] = 10**12  # a million ore: the prices must move
            await call.write(raw.seal(greedy))
            while (envelope := await call.read()).message != "PriceProposal":
                assert envelope.message != "WideRound", "the round converged at once"
            second = open_envelope(envelope, "PriceProposal")
            assert second.round == first.round and second.query == first.query + 1
            size = ledger.size
            await call.write(raw.seal(_honest(first, task)))  # the first query's digest
            refused = await _refused(call)
            assert refused.code() == Code.FAILED_PRECONDITION, refused.details()
            assert refused.details().startswith("StalePrices: "), refused.details()
            _untouched(ledger, size, raw, task)
        async with node.between_commits() as ledger:
            ledger.audit()


async def test_a_demand_after_the_deadline_is_refused_and_nothing_is_written(tmp_path):
    async with network(tmp_path, **{**INTERACTIVE, "clearing_deadline_ms": 300}) as node:
        task = node.tasks[TASK]
        ledger = node.ctx.ledger
        async with grpc.aio.insecure_channel(node.address, options=channel_options()) as ch:
            raw = Raw(node)
            call, proposal = await _first_proposal(raw, ch)
            # The round ends unanswered at its deadline: the trader hears so ...
            result = await settled_round(call)
            assert result.round == proposal.round
            assert result.refused.startswith("uncertified: the clearing deadline passed")
            size = ledger.size
            # ... and then answers the proposal: too late.
            await call.write(raw.seal(_honest(proposal, task)))
            refused = await _refused(call)
            assert refused.code() == Code.DEADLINE_EXCEEDED, refused.details()
            assert refused.details().startswith("LateDemand: a demand at prices")
            _untouched(ledger, size, raw, task)
        assert task.rounds == 0
        ledger.audit()


# --- pieces -------------------------------------------------------------------------------


def test_demands_cross_the_wire_and_back_exactly():
    economy = default_economy()
    pop = LeontiefProducers.for_economy(economy)
    prices = np.linspace(0.5, 2.0, 7)
    supply = np.full(7, 3.0)
    balances = np.full(6, 10**9, dtype=np.int64)
    bundles, budgets = pop.demand(prices, supply, np.zeros((6, 7)), balances / 1e6)
    body = demand_body(bundles, budgets, balances, prices, *pop.plans(), goods=economy.goods,
                       exchange=ORIGIN, task=TASK, round_=3, digest=price_digest(prices),
                       rules=b"r")  # fmt: skip
    envelope = seal(crypto_key(), "Demand", body)
    book = check_demand(
        envelope, open_envelope(envelope, "Demand"), members=6, goods=economy.goods,
        recipes=6, balances=balances, prices=prices,
    )  # fmt: skip
    # Rounded down to units; a bundle that would then cost more than its budget (rounded
    # down too) loses at most a unit of each good.
    short = np.floor(bundles * 1e6) - book.bundles
    assert short.min() >= 0 and short.max() <= 1
    np.testing.assert_array_equal(book.budgets, np.floor(budgets * 1e6))
    assert (book.bundles @ prices <= book.budgets).all()
    np.testing.assert_array_equal(book.recipes, pop.plans()[0])


def test_tatonnement_clears_the_producers_demand_within_the_tolerance():
    """In process: from random plans, prevailing prices and supplies, the price queries
    reach the certificate's tolerance in a few dozen queries."""
    economy = default_economy()
    pop = LeontiefProducers.for_economy(economy)
    rng = np.random.default_rng(7)
    queries = []
    for _ in range(20):
        supply = rng.uniform(0.0, 5.0, 7) * (rng.random(7) < 0.8)
        pop.plan = pop.capacity * rng.uniform(0.02, 1.0, 6)
        pop.prices = rng.uniform(0.0, 2.0, 7)
        tat = Tatonnement(pop.prices)
        for q in range(500):  # noqa: B007 (the count is kept)
            x, b = pop.demand(tat.prices, supply, np.zeros((6, 7)), np.full(6, 200.0))
            cert = demand_certificate(supply, tat.prices, x, b, floor=tat.floor)
            if cert.holds(1e-3):
                break
            tat.step(supply, x.sum(axis=0), b.sum())
        assert cert.holds(1e-3), (q, str(cert))
        assert not np.any(x[:, supply <= 0] > 0)  # nobody asks for what nobody offers
        queries.append(q)
    assert max(queries) < 200, queries


def test_the_demand_certificate_measures_what_it_can_see():
    supply, prices = np.array([2.0, 1.0]), np.array([1.0, 3.0])
    clears = demand_certificate(supply, prices, np.array([[2.0, 0.0], [0.0, 1.0]]), [2.0, 3.0])
    assert clears.holds(1e-12)
    over = demand_certificate(supply, prices, np.array([[2.2, 0.0], [0.0, 1.0]]), [3.0, 3.0])
    assert math.isclose(float(over.allocation[0]), 0.1)
    unsold = demand_certificate(supply, prices, np.array([[1.0, 0.0], [0.0, 1.0]]), [1.0, 3.0])
    assert math.isclose(float(unsold.allocation[0]), 1.0 / 5.0)  # 1 credit of 5 unsold
    dear = demand_certificate(supply, prices, np.array([[2.0, 0.0], [0.0, 1.0]]), [1.0, 3.0])
    assert math.isclose(float(dear.payment[0]), 1.0)  # pays 2 with a budget of 1
    assert not demand_certificate([0.0, 1.0], prices, [[1.0, 0.0]], [5.0]).holds(0.5)


def test_the_mode_is_a_config_key_and_part_of_the_rules(tmp_path):
    def task(**keys):
        table = {"market": "wide", "env": "127.0.0.1:1", "env_key": "env.pem.pub", **keys}
        exchange = {"origin": ORIGIN, "key": "exchange.pem", "data_dir": "x"}
        return parse_config({"exchange": exchange, "tasks": {TASK: table}}, base=tmp_path).tasks[0]

    assert task().mode == "orders" and task().rules()["mode"] == "orders"
    assert task(mode="interactive").rules()["mode"] == "interactive"
    with pytest.raises(ConfigError, match=r"tasks\.eco\.mode: expected orders or interactive"):
        task(mode="auction")
    with pytest.raises(ConfigError, match=r"tasks\.eco\.mode: expected a non-empty string"):
        task(mode=1)


def test_a_converged_demand_settles_conserving_every_good_and_within_budgets():
    holdings = np.array([[2_000_000, 0], [0, 1_000_000], [5_000_000, 5_000_000]])
    world = np.array([1_000_000, 1_000_000])
    offers = np.array([True, True, False])  # member 2's identity did not answer
    demands = np.array([[0, 1_500_000], [3_000_000, 600_000], [9, 9]])
    budgets = np.array([10_000_000, 2_000_000, 0])
    balances = np.array([50_000_000, 50_000_000, 50_000_000])
    rc = demand_round(holdings, world, offers, demands, budgets, balances,
                      np.array([1.0, 2.0]), certificate=None)  # fmt: skip
    total = holdings[:2].sum(axis=0) + world
    # Coal is asked 2.1 units of 2.0: scaled down in whole units; ore exactly as asked.
    assert rc.bundles[:2].sum(axis=0)[1] <= total[1]
    np.testing.assert_array_equal(rc.bundles[:2, 0], [0, 3_000_000])
    np.testing.assert_array_equal(rc.bundles[:2].sum(axis=0) + rc.world, total)
    np.testing.assert_array_equal(rc.bundles[2], holdings[2])  # not on offer: untouched
    assert (rc.world >= 0).all()
    # Member 0 pays p·bundle − p·holdings; member 1's net is capped at its budget.
    coal0 = rc.bundles[0, 1] / 1e6
    assert abs(int(rc.pay[0]) - round((2 * coal0 - 2.0) * 1e6)) <= 1
    assert rc.pay[1] == 2_000_000 and rc.receive.sum() == 0 and rc.pay[2] == 0
    supply = rc.clearing.bundles[0].sum(axis=0) + rc.clearing.world[0]
    np.testing.assert_allclose(supply, total / 1e6)
