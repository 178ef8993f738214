"""A POMDP over the network: the T-maze with a message register (memory goods).

Real processes on loopback: an environment node serving ``catallax/TMaze-v0`` with a
two-message register (``--memory 2``) in 8 slots, an exchange node (SQLite ledger) with
royalties λ = 0.9, and one adaptive trader process that learns from settlements only
(``quotes=false``), as ``catallax train catallax/TMaze-v0 --memory 2`` runs it in
process. Its greedy evaluation over the network must return 1.0 in every episode (the
best memoryless policy earns 0.5), and its ledger must audit.

Two settings differ from ``catallax train``'s defaults, for reasons measured:

* ``preference = 1e-6`` (one unit of money per action index) instead of 1e-9 credit.
  The family's lean sends ties between its own primitives to the lowest action (on the
  T-maze: move forward and keep the register). Over the network bids are whole units,
  so a lean of a thousandth of a unit is rounded away and such ties become fair draws
  between the member accounts; with that lean gone the in-process market solved 9 of
  20 seeds within 1500 episodes, with it 18 of 20.
* ``prior = 1.0`` pseudo-visit of the optimistic bid. Measured in process (8 parallel
  episodes, royalty 0.9, quotes off, seeds 0..59, budget 1500): the market solved 57
  of 60 seeds, and 90 % of the seeds stay at the optimum from at most 608 episodes on
  (median 261); with its bids rounded to units as the network rounds them, 56 of 60,
  90 % from at most :data:`IN_PROCESS_EPISODES` (median 285). Without the prior, 16 of
  20. The network gets 1.5 times that 90th percentile. Measured again after the tie rule
  became one draw per state and epoch (rounded bids, seeds 0..59): 56 of 60, 90 % from
  at most 490 episodes (median 275); the budget keeps the larger figure.

The market does not solve the T-maze every time, in process either (about one seed in
ten stays at the memoryless 0.5 within this budget: a corridor write that erases the cue
wins its price and the writer/reader pair never leaves the saddle). So the test gives
the network up to :data:`ATTEMPTS` independent runs, attempt ``k`` with seed
``NETWORK_SEED + k`` (the environment's streams and the trader's), and asserts that one
of them solves the maze; each one's ledger must audit.

Measured on 2 December 2026 at this budget (996 episodes): in process, bids rounded to
units, 75 of 80 seeds solved (random account ids, as a network's keys give), 36 of 40
with the default ids; over the network, seeds 100-107, 200-207, 300-307 and 400-407:
28 of 32, the same within chance (a one-sided Fisher test of 28/32 against 75/80 gives
p = 0.23). With four independent attempts and about one in eight failing, all four fail
about once in four thousand test runs. Runs of one seed are *not* independent: with the
seed fixed a networked run is deterministic but for tie draws between clones of one
primitive (the identity's fresh key), and seed 1 fails the same way, to the round (859
rounds, greedy 0.6875), whenever the draws do not move it; fixed-seed retries (the
earlier form of this test) solved 34 of 50, which is seed 1's figure, not the network's.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import catallax.exchange.envs as envs
from catallax.exchange.deep import DeepMarket, greedy_policy, vector_env
from catallax.node.exchange.watch import wait_task
from catallax.node.localnet import start_deep_network
from catallax.traders import AdaptiveBidders

pytestmark = pytest.mark.timeout(600)

TMAZE = "catallax/TMaze-v0"
SLOTS = 8
MESSAGES = 2
#: The T-maze settings of bench/learning.py (and of ``catallax train --memory``).
RULES = {"auction": "vickrey", "allowance": 10.0, "discount": 0.99, "floor": 1.0,
         "royalty": 0.9, "rent": 0.0}  # fmt: skip
#: The trader's options, in process and over the network (see the module docstring).
TRADER = {"quotes": False, "preference": 1e-6, "prior": 1.0}
#: Measured (see the module docstring): 90 % of in-process seeds (bids in whole units)
#: stay solved from here on.
IN_PROCESS_EPISODES = 664
EPISODES = math.ceil(1.5 * IN_PROCESS_EPISODES)
EVAL_EPISODES = 2 * SLOTS
ATTEMPTS = 4
#: The in-process reference's seed.
SEED = 1
#: The first networked attempt's seed (the measured range starts there).
NETWORK_SEED = 100


def make_tmaze() -> gym.Env:
    return envs.MessageRegister(gym.make(TMAZE), n_messages=MESSAGES)


def episodes_in_process(seed: int, budget: int) -> int:
    """Finished episodes after which the in-process market's exact greedy return stays 1.0
    until ``budget`` (8 parallel episodes; valued in the register's product model)."""
    plain = gym.make(TMAZE)
    model = envs.with_message_register(envs.transition_model(plain), MESSAGES)
    horizon = envs.episode_horizon(plain)
    env = make_tmaze()
    pop = AdaptiveBidders.for_env(env.observation_space, env.action_space, seed=seed, **TRADER)
    market = DeepMarket(
        pop, n_actions=int(env.action_space.n), n_envs=SLOTS, auction=RULES["auction"],
        allowance=RULES["allowance"] * SLOTS, discount=RULES["discount"],
        floor=RULES["floor"] * SLOTS, royalty=RULES["royalty"], seed=seed,
    )  # fmt: skip
    vec = vector_env(make_tmaze, SLOTS)
    obs, _ = vec.reset(seed=seed)
    done, solved_from = 0, None
    while done < budget:
        decision = market.act(obs)
        obs, reward, terminated, truncated, _ = vec.step(decision.actions)
        market.settle(decision, reward, terminated, truncated)
        ended = int((terminated | truncated).sum())
        if ended:
            done += ended
            actions, owned = greedy_policy(market, np.arange(model.n_observations))
            solved = owned.all() and (
                envs.greedy_return(model, actions[model.observation], horizon) >= 1.0 - 1e-9
            )
            solved_from = (solved_from or done) if solved else None
    vec.close()
    assert solved_from is not None, f"the in-process market did not solve seed {seed}"
    return solved_from


def audit(net) -> None:
    done = net.audit()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok:")


def test_the_in_process_reference_holds_on_this_code() -> None:
    """The measurement the networked budget is derived from still describes this seed."""
    assert episodes_in_process(SEED, budget=1500) <= IN_PROCESS_EPISODES


def test_the_tmaze_with_a_message_register_is_solved_over_the_network(tmp_path) -> None:
    tries = []
    for attempt in range(ATTEMPTS):
        net = start_deep_network(
            tmp_path / f"net-{attempt}", TMAZE, slots=SLOTS, memory=MESSAGES, task="tmaze",
            seed=NETWORK_SEED + attempt,
            rules={**RULES, "episodes": EPISODES, "eval_episodes": EVAL_EPISODES,
                   "bid_deadline_ms": 5000},
            traders=[("adaptive", {k: str(v).lower() for k, v in TRADER.items()})],
        )  # fmt: skip
        try:
            info = wait_task(net.exchange.address, "tmaze", lambda i: i.state == "done",
                             timeout=240, interval=0.5)  # fmt: skip
        finally:
            net.stop()
        assert info.episodes >= EPISODES
        returns = list(info.greedy_returns)
        assert len(returns) == EVAL_EPISODES, returns  # every episode started is reported
        assert set(returns) <= {0.0, 1.0}, returns
        audit(net)
        tries.append(float(np.mean(returns)))
        if tries[-1] == 1.0:
            break
    assert tries[-1] == 1.0, f"greedy return over the network per attempt: {tries}"
