"""A market bound to a real SQLite ledger: one committed round per step, balances equal
after every step, and `catallax ledger audit` passes on what `catallax train --ledger`
wrote, on every reference environment and on one whose rewards are negative."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import catallax.exchange.envs as envs
from catallax.exchange.crypto import generate_private_key
from catallax.exchange.deep import DeepMarket, ScaleTracker, vector_env
from catallax.exchange.ledger import open_ledger
from catallax.exchange.transfers import ISSUER, FlowKind
from catallax.node.recording import LedgerMismatch, LedgerRecorder
from catallax.traders import AdaptiveBidders

CLI = [sys.executable, "-c", "from catallax.node.cli import main; main()"]

ENVS = {
    "catallax/Bandit-v0": lambda: gym.make("catallax/Bandit-v0"),
    "catallax/Chain-v0": lambda: gym.make("catallax/Chain-v0"),
    # Duality's absorbing state costs 1 per step: negative rewards, paid as costs.
    "catallax/Duality-v0": lambda: gym.make("catallax/Duality-v0"),
    "catallax/TMaze-v0+memory": lambda: envs.MessageRegister(
        gym.make("catallax/TMaze-v0"), n_messages=2
    ),
    "FrozenLake-v1": lambda: gym.make("FrozenLake-v1"),
    "CartPole-v1": lambda: gym.make("CartPole-v1"),
    # Costs only (-1 a step, -100 at the cliff): states of negative price, asks paid by
    # the world and by sellers to buyers, and the scale of money growing under it.
    "CliffWalking-v1": lambda: gym.make("CliffWalking-v1"),
}


def ledger_balances_equal_market(ledger, market: DeepMarket) -> None:
    got = ledger.balances()
    want = {market.account_id(r): int(b) for r, b in enumerate(market.balance)}
    want["issuer"] = market.issuer_units
    want["treasury"] = market.treasury_units
    assert got == want


@pytest.mark.parametrize("name", sorted(ENVS))
def test_every_step_commits_one_round_and_the_balances_agree(tmp_path, name):
    make = ENVS[name]
    probe = make()
    pop = AdaptiveBidders.for_env(probe.observation_space, probe.action_space, seed=0)
    ledger = open_ledger(tmp_path, key=generate_private_key(), origin="test/train", create=True)
    recorder = LedgerRecorder(ledger, task="test", check="all")
    e = 4
    market = DeepMarket(
        pop,
        n_actions=int(probe.action_space.n),
        n_envs=e,
        allowance=10.0 * e,
        floor=1.0 * e,
        discount=0.99,
        royalty=0.9 if "memory" in name else 0.0,
        rent=0.01,
        seed=0,
        journal=recorder,
    )
    ledger_balances_equal_market(ledger, market)
    vec = vector_env(make, e)
    obs, _ = vec.reset(seed=0)
    costs = 0.0
    asks = {"world": 0, "traders": 0}
    tracker = ScaleTracker(e, market.discount)
    for _ in range(600 if name == "CliffWalking-v1" else 150):
        rounds, size = recorder.rounds, ledger.size
        decision = market.act(obs)
        obs, reward, terminated, truncated, _ = vec.step(decision.actions)
        s = market.settlement(decision, reward, terminated, truncated)
        market.apply(s)
        costs += s.report.costs
        t = s.transfers
        # An ask: a transfer of kind ask in a slot of negative price, paid to the buyer.
        ask = t.kind == int(FlowKind.ASK)
        assert (decision.price[t.slot[ask]] < 0).all()
        assert (t.payee[ask] == decision.winner[t.slot[ask]]).all()
        asks["world"] += int((ask & (t.payer == ISSUER)).sum())
        asks["traders"] += int((ask & (t.payer >= 0)).sum())
        if tracker.observe(reward, terminated | truncated):
            market.rescale(tracker.scale)
        assert recorder.rounds == rounds + 1
        assert ledger.size == size + len(s.transfers)
        ledger_balances_equal_market(ledger, market)
        if s.report.deaths:
            market.grow(s.report.deaths)
            ledger_balances_equal_market(ledger, market)
    vec.close()
    if name in ("catallax/Duality-v0", "CliffWalking-v1"):
        assert costs > 0  # the negative rewards really were paid
    if name == "CliffWalking-v1":
        # Negative prices moved as signed debits of whoever held the state.
        assert asks["world"] > 0 and asks["traders"] > 0, asks
        assert market.scale > 1 and market.deaths > 0
    audit = ledger.audit()
    assert audit.transfers == sum(1 for _, en in ledger.entries() if hasattr(en, "amount"))
    ledger.close()


def test_a_failing_commit_leaves_the_market_unchanged(tmp_path):
    make = ENVS["catallax/Chain-v0"]
    probe = make()
    pop = AdaptiveBidders.for_env(probe.observation_space, probe.action_space, seed=0)
    ledger = open_ledger(tmp_path, key=generate_private_key(), origin="test/train", create=True)
    recorder = LedgerRecorder(ledger, task="test")
    market = DeepMarket(pop, n_actions=2, n_envs=2, allowance=5.0, journal=recorder)
    d = market.act(np.zeros(2, dtype=np.int64))
    s = market.settlement(d, np.ones(2), np.zeros(2, bool), np.zeros(2, bool))
    before = (market.balance.tolist(), market.version, ledger.size)
    ledger.close()  # the next commit cannot reach the store
    with pytest.raises(Exception):  # noqa: B017 - whatever the store raises
        market.apply(s)
    assert (market.balance.tolist(), market.version) == before[:2]


def test_the_recorder_notices_a_ledger_that_disagrees(tmp_path):
    make = ENVS["catallax/Chain-v0"]
    probe = make()
    pop = AdaptiveBidders.for_env(probe.observation_space, probe.action_space, seed=0)
    ledger = open_ledger(tmp_path, key=generate_private_key(), origin="test/train", create=True)
    recorder = LedgerRecorder(ledger, task="test")
    market = DeepMarket(pop, n_actions=2, n_envs=1, allowance=5.0, journal=recorder)
    recorder.check_all(market)
    # Move money on the market behind the ledger's back.
    market.accounts.balance[0] += 1
    with pytest.raises(LedgerMismatch, match=r"p0\.m0"):
        recorder.check_all(market)


@pytest.mark.parametrize(
    ("env_id", "extra"),
    [
        ("catallax/Bandit-v0", []),
        ("catallax/Chain-v0", []),
        ("catallax/Duality-v0", []),
        ("catallax/TMaze-v0", ["--memory", "2"]),
        ("FrozenLake-v1", []),
        ("CartPole-v1", ["--max-steps", "400"]),
        ("CliffWalking-v1", ["--max-steps", "400"]),
    ],
)
def test_catallax_train_ledger_writes_a_ledger_that_audits(tmp_path, env_id, extra):
    folder = tmp_path / "run"
    done = subprocess.run(
        [*CLI, "train", env_id, "--episodes", "40", "--eval-episodes", "8", "--json",
         "--ledger", str(folder), *extra],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["ledger"]["dir"] == str(folder)
    assert summary["ledger"]["rounds"] >= summary["steps"] // 8
    audit = subprocess.run(
        [*CLI, "ledger", "audit", str(folder), "--key", str(folder / "exchange.pem.pub")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert audit.stdout.startswith("ok: ")
    assert f"{summary['ledger']['entries']} entries" in audit.stdout


def test_train_ledger_refuses_a_folder_that_holds_a_ledger(tmp_path):
    folder = tmp_path / "run"
    args = [*CLI, "train", "catallax/Bandit-v0", "--episodes", "5", "--eval-episodes", "1"]
    first = subprocess.run([*args, "--ledger", str(folder)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    size = (folder / "ledger.sqlite").stat().st_size
    again = subprocess.run([*args, "--ledger", str(folder)], capture_output=True, text=True)
    assert again.returncode == 2
    assert again.stderr.strip().startswith("catallax: error: --ledger")
    assert len(again.stderr.strip().splitlines()) == 1
    assert (folder / "ledger.sqlite").stat().st_size == size
    missing = subprocess.run(
        [*args, "--ledger", str(tmp_path / "no" / "such")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_every_flow_kind_of_the_markets_is_a_ledger_transfer_kind():
    from catallax.exchange.ledger import TransferKind
    from catallax.exchange.transfers import FlowKind

    assert {k.ledger for k in FlowKind} <= {k.value for k in TransferKind}
