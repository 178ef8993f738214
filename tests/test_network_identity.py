"""One key trades on two tasks of two exchanges at once, as one identity.

Two loopback networks, each an environment node and an exchange with its own key,
origin and ledger (task ``a`` on Chain, task ``b`` on FrozenLake), and one ``catallax
trader run adaptive --exchange A --task a --exchange B --task b --key K`` process. Each
exchange's ledger then holds that identity's accounts ``<task>.<identity_name(K)>.<k>``
(one per member of the population built for that task's spaces), under the same
identity name, with a history of its own: its own task only, transfers paid with bids
signed by K, a different log; and each ledger audits against its exchange's key.
"""

from __future__ import annotations

import base64
import json
import subprocess

import gymnasium as gym
import pytest

import catallax.exchange.envs  # noqa: F401  (registers catallax/Chain-v0)
from catallax.node.exchange.watch import wait_task
from catallax.node.keys import load_public_key
from catallax.node.localnet import catallax_command, launch, new_key, start_deep_network
from catallax.node.wire.mandate import identity_name
from catallax.traders import AdaptiveBidders

pytestmark = pytest.mark.timeout(300)

TASKS = {"a": "catallax/Chain-v0", "b": "FrozenLake-v1"}


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*catallax_command(), *argv], capture_output=True, text=True, timeout=120)


def members(env_id: str) -> int:
    env = gym.make(env_id)
    return AdaptiveBidders.for_env(env.observation_space, env.action_space, seed=0).size


def ledger_rows(folder) -> tuple[dict[str, int], list[dict]]:
    """The ledger's balances by account and its entries (``catallax ledger`` JSON)."""
    balances = cli("ledger", "balances", str(folder), "--json")
    assert balances.returncode == 0, balances.stderr
    accounts = {r["account"]: r["balance"] for r in json.loads(balances.stdout)["accounts"]}
    tail = cli("ledger", "tail", str(folder), "-n", "1000000", "--json")
    assert tail.returncode == 0, tail.stderr
    return accounts, [json.loads(line) for line in tail.stdout.splitlines()]


def test_one_key_trades_on_two_exchanges_with_a_ledger_each(tmp_path):
    nets = {
        task: start_deep_network(
            tmp_path / task,
            env_id,
            slots=1,
            task=task,
            origin=f"catallax.local/{task}",
            rules={"bid_deadline_ms": 10_000},
            seed=7,
        )
        for task, env_id in TASKS.items()
    }
    key = new_key(tmp_path / "me.pem")
    argv = ["trader", "run", "adaptive", "--key", str(key), "--seed", "3"]
    for task, net in nets.items():
        argv += ["--exchange", net.exchange.address, "--task", task]
    trader = launch("me", argv, tmp_path / "me.log", ready=False)
    try:
        for task, net in nets.items():
            info = wait_task(net.exchange.address, task, lambda i: i.rounds >= 30, timeout=200)
            assert info.identities == 1, info
        assert trader.alive(), trader.tail()
        assert trader.stop() == 0, trader.tail()
    finally:
        trader.kill()
        for net in nets.values():
            net.stop()

    public = load_public_key(f"{key}.pub")
    name = identity_name(public)
    signer = base64.b64encode(public).decode()
    roots = set()
    for task, net in nets.items():
        accounts, entries = ledger_rows(net.ledger_dir)
        other = next(t for t in TASKS if t != task)
        mine = {a for a in accounts if a.startswith(f"{task}.{name}.")}
        assert mine == {f"{task}.{name}.{k}" for k in range(members(TASKS[task]))}
        assert not [a for a in accounts if a.startswith(f"{other}.")]  # its own task only
        assert {e["task"] for e in entries if e["type"] == "transfer"} == {task}
        paid = [
            e for e in entries
            if e["type"] == "transfer" and e["payer"] in mine and e["evidence"] is not None
        ]  # fmt: skip
        assert paid, f"{task}: the identity never paid for a right to act"
        assert {e["evidence"]["signer"] for e in paid} == {signer}
        audit = cli("ledger", "audit", str(net.ledger_dir), "--key", str(net.exchange_pub))
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert audit.stdout.startswith("ok:")
        roots.add(audit.stdout.rsplit("root ", 1)[1].split()[0])
        checkpoint = cli(
            "ledger", "checkpoint", str(net.ledger_dir), "--key", str(net.exchange_pub)
        )
        assert checkpoint.stdout.startswith(f"catallax.local/{task}\n"), checkpoint.stdout
    assert len(roots) == 2  # two histories, not one log seen twice
