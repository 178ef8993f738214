"""A task of costs over the network: negative prices, asks and costs on the ledger.

Real processes on loopback: an environment node serving CliffWalking-v1 (-1 a step,
-100 at the cliff, no reward ever), an exchange with its SQLite ledger and two adaptive
trader processes. Their bids go negative as they learn the costs: a state worth less
than nothing has a negative price, and whoever held the state before pays its buyer to
take it (an ``ask`` transfer). Every ask must carry its payer's signed ``Bids`` of the
round before (the purchase it sells), some signed bid must be negative, and the ledger
audits.
"""

from __future__ import annotations

import pytest

from catallax.exchange.ledger import Transfer, open_ledger, read_evidence
from catallax.exchange.ledger.evidence import Mandate
from catallax.node.exchange.watch import wait_task
from catallax.node.localnet import start_deep_network
from catallax.node.wire.mandate import evidence_body
from catallax.v1 import exchange_pb2

pytestmark = pytest.mark.timeout(300)

ROUNDS = 600


def test_remote_traders_pay_asks_on_a_cost_task_and_the_ledger_audits(tmp_path):
    net = start_deep_network(
        tmp_path, "CliffWalking-v1", slots=2, task="cliff", seed=3,
        rules={"allowance": 1000.0, "allowance_budget": 1e7, "rounds": ROUNDS,
               "min_traders": 2, "bid_deadline_ms": 5000},
        traders=[("adaptive", {}), ("adaptive", {})],
    )  # fmt: skip
    try:
        info = wait_task(net.exchange.address, "cliff", lambda i: i.state == "done", timeout=240)
        assert info.rounds == ROUNDS and info.identities == 2
    finally:
        net.stop()
    log = net.exchange.log.read_text()
    assert "event=round_failed" not in log and "paused" not in log, log[-2000:]
    audit = net.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert audit.stdout.startswith("ok:")
    with open_ledger(net.ledger_dir) as ledger:
        transfers = [e for _, e in ledger.entries() if isinstance(e, Transfer)]
    kinds = {t.kind.value for t in transfers}
    assert {"bid", "cost", "ask"} <= kinds, kinds
    assert "reward" not in kinds  # a task of costs only
    asks = [t for t in transfers if t.kind.value == "ask" and t.payer != "cliff.issuer"]
    assert asks, "no trader ever paid to be rid of a state"
    for t in asks:
        mandate = read_evidence(t.evidence)
        assert isinstance(mandate, Mandate)
        assert mandate.round == t.round - 1, (t.id, mandate.round)  # the purchase it sells
        assert t.payer in mandate.ceilings
    bodies = [
        evidence_body(t.evidence, exchange_pb2.Bids, "a Bids")
        for t in transfers
        if t.evidence is not None and t.evidence.message == "Bids"
    ]
    assert any(b.amount < 0 for body in bodies for b in body.bids), "no signed bid was an ask"


def test_greedy_evaluation_on_a_task_without_a_time_limit_is_capped(tmp_path):
    """CliffWalking has no time limit, and a greedy policy that has barely learnt walks
    into a wall or off the cliff forever: each evaluation episode is cut at the cap
    (1,000 steps, as in process), reported with its return so far, and counted."""
    net = start_deep_network(
        tmp_path, "CliffWalking-v1", slots=2, task="cliff", seed=1,
        rules={"allowance": 1000.0, "rounds": 1, "eval_episodes": 2, "bid_deadline_ms": 5000},
        traders=[("adaptive", {})],
    )  # fmt: skip
    try:
        info = wait_task(net.exchange.address, "cliff", lambda i: i.state == "done", timeout=240)
    finally:
        net.stop()
    assert info.eval_cap == 1000
    assert len(info.greedy_returns) == 2 and info.eval_capped == 2, info
    assert all(r <= -1000 for r in info.greedy_returns), list(info.greedy_returns)
