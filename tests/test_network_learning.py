"""The market learns over the network as it does in process.

Real processes on loopback: an environment node, an exchange node (SQLite ledger) and
adaptive traders, each ``catallax`` subprocesses. The in-process market with the same
settings is trained first, episode by episode, to find how many episodes it needs
before its exact greedy return stays at >= 95 % of the optimum; the networked one gets
1.5 times that many and must then reach the optimum in its greedy evaluation, played
over the network (every episode it started is reported). The ledger audits.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import catallax.exchange.envs as envs
from catallax.exchange.deep import DeepMarket, greedy_policy, train
from catallax.exchange.ledger import Transfer, open_ledger
from catallax.node.exchange.watch import wait_task
from catallax.node.localnet import start_deep_network
from catallax.traders import AdaptiveBidders

pytestmark = pytest.mark.timeout(300)

CHAIN = "catallax/Chain-v0"
#: The learning benchmark's Chain settings (bench/learning.py), in process and remote.
RULES = {"auction": "vickrey", "allowance": 10.0, "discount": 0.99, "floor": 1.0,
         "royalty": 0.9, "rent": 0.0}  # fmt: skip


def episodes_in_process(seed: int, budget: int = 200) -> tuple[int, float]:
    """Episodes the in-process market needs before its exact greedy return stays at
    >= 95 % of the optimum (within ``budget``), and that optimum."""
    env = gym.make(CHAIN)
    model = envs.transition_model(env)
    horizon = envs.episode_horizon(env)
    optimum = envs.optimal_return(model, horizon)
    pop = AdaptiveBidders.for_env(env.observation_space, env.action_space, seed=seed)
    market = DeepMarket(
        pop, n_actions=2, n_envs=1, auction=RULES["auction"], allowance=RULES["allowance"],
        discount=RULES["discount"], floor=RULES["floor"], royalty=RULES["royalty"], seed=seed,
    )  # fmt: skip
    good = []
    for _ in range(budget):
        train(market, lambda: gym.make(CHAIN), episodes=1, seed=seed)
        actions, owned = greedy_policy(market, np.arange(model.n_states))
        value = envs.greedy_return(model, actions, horizon) if owned.all() else -math.inf
        good.append(value >= 0.95 * optimum)
    last_bad = max((i for i, ok in enumerate(good) if not ok), default=-1)
    assert last_bad < budget - 1, "the in-process market never learned Chain"
    return last_bad + 2, optimum


def test_adaptive_traders_in_separate_processes_learn_chain_within_1_5x(tmp_path):
    seed = 0
    needed, optimum = episodes_in_process(seed)
    allowed = max(math.floor(1.5 * needed), 1)  # never more than 1.5 x
    net = start_deep_network(
        tmp_path, CHAIN, slots=1, task="chain", seed=seed,
        rules={**RULES, "episodes": allowed, "eval_episodes": 4, "bid_deadline_ms": 5000},
        traders=[("adaptive", {})],
    )  # fmt: skip
    try:
        info = wait_task(net.exchange.address, "chain", lambda i: i.state == "done", timeout=240)
        assert info.episodes == allowed
        returns = list(info.greedy_returns)
        assert len(returns) == 4, returns
        assert np.mean(returns) >= 0.95 * optimum, (returns, optimum, needed, allowed)
    finally:
        net.stop()
    audit = net.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert audit.stdout.startswith("ok:")


def test_several_traders_with_royalties_settle_every_round(tmp_path):
    """Royalties (and their tax) are settled at episode ends, rounds after the purchases
    they belong to, on those purchases' signed bids: no round is ever refused."""
    net = start_deep_network(
        tmp_path, CHAIN, slots=2, task="chain", seed=1,
        rules={**RULES, "rounds": 300, "eval_episodes": 2, "min_traders": 4,
               "bid_deadline_ms": 5000},
        traders=[("adaptive", {}) for _ in range(4)],
    )  # fmt: skip
    try:
        info = wait_task(net.exchange.address, "chain", lambda i: i.state == "done", timeout=240)
        assert info.rounds == 300 and info.identities == 4
    finally:
        net.stop()
    log = net.exchange.log.read_text()
    assert "event=round_failed" not in log and "paused" not in log, log[-2000:]
    audit = net.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr
    with open_ledger(net.ledger_dir) as ledger:
        kinds = {e.kind.value for _, e in ledger.entries() if isinstance(e, Transfer)}
    assert {"royalty", "royalty_tax", "bid", "tax"} <= kinds, kinds


def test_the_tasks_value_level_reaches_the_remote_bidders(tmp_path):
    """On Duality (returns up to 5 a 10-step episode) the exchange's value level grows
    past 1 credit from the finished episodes' discounted returns, as the in-process loop's
    does, and the remote adaptive bidders raise their optimism to it: the level the task
    reports is the last one the trader's log says it was told."""
    net = start_deep_network(
        tmp_path, "catallax/Duality-v0", slots=2, task="duality", seed=2,
        rules={"rounds": 300, "bid_deadline_ms": 5000, "allowance": 100.0},
        traders=[("adaptive", {})],
    )  # fmt: skip
    try:
        info = wait_task(net.exchange.address, "duality", lambda i: i.state == "done", timeout=240)
    finally:
        net.stop()
    level = info.value_level / 1e6
    assert level >= 2 and math.log2(level).is_integer(), level
    told = [
        float(line.rsplit("level=", 1)[1])
        for line in net.traders[0].log.read_text().splitlines()
        if "event=optimism" in line
    ]
    assert told and told == sorted(told) and told[-1] == level, told
    audit = net.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr
