"""Births over the network: a member removed at the wealth floor is replaced by a new
member of the same identity (the task's ``births`` rule, on by default, as ``train``
does in process), endowed from the allowance budget; the trader grows its population to
match and the new member trades.

The task is made to bankrupt members fast: an allowance of 1.5 credits per slot and a
floor of 1 credit, against adaptive bidders whose first bids are 1 credit.
"""

from __future__ import annotations

import pytest

import catallax.exchange.envs  # noqa: F401  (registers catallax/Chain-v0)
from catallax.exchange.ledger import Transfer, TransferKind, open_ledger
from catallax.exchange.money import to_units
from catallax.node.exchange.watch import wait_task
from catallax.node.keys import load_private_key
from catallax.node.localnet import DeepNetwork, start_deep_network
from catallax.node.wire.mandate import identity_name

pytestmark = pytest.mark.timeout(240)

TASK = "chain"
MEMBERS = 4  # adaptive bidders on Chain: 2 actions x 2 clones
RULES = {"allowance": 1.5, "floor": 1.0, "royalty": 0.0, "bid_deadline_ms": 5000}
ROUNDS = 300


def run(tmp_path, **rules) -> DeepNetwork:
    net = start_deep_network(
        tmp_path, "catallax/Chain-v0", task=TASK, rules={**RULES, **rules, "rounds": ROUNDS},
        traders=[("adaptive", {})], seed=2,
    )  # fmt: skip
    try:
        info = wait_task(net.exchange.address, TASK, lambda i: i.state == "done", timeout=180)
    finally:
        net.stop()
    done = net.audit()
    assert done.returncode == 0 and done.stdout.startswith("ok:"), done.stdout + done.stderr
    return net, info


def history(net: DeepNetwork) -> tuple[dict[int, int], set[int], dict[int, int]]:
    """For the one trader's accounts, by member number: allowances received (units),
    the members that paid for a right to act with a signed bid, final balances."""
    key = load_private_key(net.folder / "keys" / "trader-0.pem")
    prefix = f"{TASK}.{identity_name(key.public_key().public_bytes_raw())}."
    allowance: dict[int, int] = {}
    bought: set[int] = set()
    with open_ledger(net.ledger_dir) as ledger:
        for _, e in ledger.entries():
            if not isinstance(e, Transfer):
                continue
            if e.kind is TransferKind.ALLOWANCE and e.payee.startswith(prefix):
                k = int(e.payee.removeprefix(prefix))
                allowance[k] = allowance.get(k, 0) + e.amount
            if e.kind is TransferKind.BID and e.payer.startswith(prefix):
                assert e.evidence is not None
                bought.add(int(e.payer.removeprefix(prefix)))
        balances = {
            int(a.removeprefix(prefix)): b for a, b in ledger.balances().items()
            if a.startswith(prefix)
        }  # fmt: skip
    return allowance, bought, balances


def test_a_bankrupt_member_is_replaced_and_the_newborn_trades(tmp_path):
    net, info = run(tmp_path)
    allowance, bought, balances = history(net)
    assert set(allowance) == set(balances)
    assert all(units == int(to_units(RULES["allowance"])) for units in allowance.values())
    born = sorted(k for k in allowance if k >= MEMBERS)
    assert born, f"no member was born in {ROUNDS} rounds; balances {balances}"
    assert born == list(range(MEMBERS, MEMBERS + len(born)))  # the identity's next numbers
    # Each birth replaced one removed member: the live population keeps its size.
    assert info.removed > 0 and info.born == info.removed == len(born), info
    assert bought & set(born), "no newborn member ever bought a right to act"
    log = (net.folder / "logs" / "trader-0.log").read_text()
    assert "birth_unmatched" not in log


def test_without_births_the_bankrupt_stay_removed(tmp_path):
    net, info = run(tmp_path, births=False)
    allowance, _, balances = history(net)
    assert sorted(allowance) == sorted(balances) == list(range(MEMBERS))
    assert info.removed > 0 and info.born == 0, info
