"""Does the market learn over the network as it does in process, with the same budget?

For each environment and seed (independent runs), the in-process market of
``bench/learning.py`` (adaptive bidders, Vickrey, two clones, γ = 0.99, exact greedy
evaluation from the transition table after every step in which an episode finished) is
trained first, to find ``x``: the finished episodes from which its greedy return stays
>= 95 % of the optimum until the end of the learning benchmark's budget. Then the same
settings run over the network on loopback (an environment node, an exchange node with
its SQLite ledger, one ``catallax trader run adaptive`` process) for ``floor(1.5 x)``
training episodes, and the exchange's greedy evaluation plays ``eval`` episodes over
the network (every episode started is reported, ``TaskInfo.greedy_returns``). Printed
per environment:

* ``network/in-process episodes ratio <env>``: the episodes the network trained for
  over the in-process ``x``, per seed and in the mean;
* ``networked greedy/optimal <env>``: the mean greedy return over every networked
  evaluation episode of every seed, over the exact optimum (goal >= 0.95), with the
  standard error and the count on the line before it.

Environments, with the learning benchmark's one setting (royalty 0, no count bonus) and
budgets: ``catallax/Chain-v0`` (1 slot), ``FrozenLake-v1`` (8 slots) and
``CliffWalking-v1`` (costs only, optimum -13; 8 slots here, where the learning benchmark
uses 1, so that a networked run takes about a minute; the in-process market runs with
the same 8). In process the scale of money ``S`` follows the task (CliffWalking: 1024);
the network's allowance and floor are paid as the task's rules name them, so each
networked task gets the in-process run's final ``10 S`` and ``S`` per slot. "Learnt"
is a return at or above ``bench/learning.py``'s target: 95 % of a positive optimum,
within 5 % of a negative one's size (-13.65 for -13). Every
networked ledger is audited (``catallax ledger audit``). Timings go to the output too:
FrozenLake over the network takes minutes (about 6 rounds per finished episode).

Two lines explain a miss. In process, the exact greedy return at the network's episode
count and the share of evaluations below 95 % between ``x`` and that count (FrozenLake's
greedy policy flickers: several states have actions whose Q* differ by about 1 % or not
at all, and a bid's noise with step ``lr_min`` is larger than that). And the members that
went bankrupt on each side: in process a new clone replaces each one (``train`` and
``bench/learning.py`` do so); on the network a new member of the same identity does
(the task's ``births`` rule, ``TaskInfo.removed`` and ``born``).

Run: ``python bench/network_learning.py`` (``--quick``: Chain only, one seed).
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import grpc
import gymnasium as gym
import numpy as np
from _common import parse_args
from learning import TABULAR, Curve, horizon_of, target_of, train_market
from learning import Args as LearningArgs

import catallax.exchange.envs as envs
from catallax.node.errors import CallFailed
from catallax.node.exchange.watch import wait_task
from catallax.node.localnet import catallax_command, start_deep_network
from catallax.v1 import exchange_pb2


@dataclass
class Args:
    """The in-process market against the same market over the network."""

    seeds: int = 3
    """independent seeds per environment (0 .. seeds - 1)"""
    margin: float = 1.5
    """the network trains for floor(margin × x) episodes (never more than margin × x),
    x measured in process"""
    threshold: float = 0.95
    """fraction of the optimal return that counts as learnt"""
    chain_eval: int = 4
    """greedy evaluation episodes over the network per Chain seed (deterministic)"""
    frozenlake_eval: int = 400
    """greedy evaluation episodes over the network per FrozenLake seed (8 slots share them)"""
    cliff_eval: int = 8
    """greedy evaluation episodes over the network per CliffWalking seed (deterministic)"""
    cliff_slots: int = 8
    """parallel slots of CliffWalking, in process and over the network"""
    bid_deadline_ms: int = 5000
    """how long a round waits for bids (generous: the machine is shared)"""
    run_timeout: float = 1800.0
    """seconds one networked run may take before it is reported as timed out"""
    quick: bool = False
    """smoke test: Chain only, one seed"""
    only: str = ""
    """run only the environments whose id contains this"""


@dataclass
class Setting:
    """One environment as the learning benchmark runs it."""

    env_id: str
    slots: int
    budget: int
    royalty: float
    eval_episodes: int
    bonus: float = 0.0

    @property
    def short(self) -> str:
        return self.env_id.split("/")[-1]


@dataclass
class Run:
    """One seed: what the in-process market needed and what the network then did."""

    seed: int
    needed: int = 0
    learnt: bool = False
    in_process_s: float = 0.0
    at_margin: float = math.nan
    dips: float = 0.0
    deaths: int = 0
    episodes: int = 0
    rounds: int = 0
    greedy: list[float] = field(default_factory=list)
    network_s: float = 0.0
    scale: float = 1.0
    audit: str = ""
    removed: int = 0
    born: int = 0
    failure: str = ""


def settings(args: Args) -> list[Setting]:
    learning = LearningArgs()
    chain = Setting("catallax/Chain-v0", TABULAR["catallax/Chain-v0"][1],
                    TABULAR["catallax/Chain-v0"][0], learning.royalty, args.chain_eval,
                    learning.bonus)  # fmt: skip
    lake = Setting("FrozenLake-v1", TABULAR["FrozenLake-v1"][1], TABULAR["FrozenLake-v1"][0],
                   learning.royalty, args.frozenlake_eval, learning.bonus)  # fmt: skip
    cliff = Setting("CliffWalking-v1", args.cliff_slots, TABULAR["CliffWalking-v1"][0],
                    learning.royalty, args.cliff_eval, learning.bonus)  # fmt: skip
    chosen = [chain] if args.quick else [chain, lake, cliff]
    return [s for s in chosen if args.only in s.env_id]


def score(value: float, optimum: float) -> float:
    """``value`` as a share of the optimum, ``1 - (optimum - value) / |optimum|``: value /
    optimum for a positive optimum, and for a negative one 1 at the optimum and 0.95 at
    ``bench/learning.py``'s target (-13.65 for -13), so the goal reads the same."""
    return 1.0 - (optimum - value) / abs(optimum)


def in_process(s: Setting, run: Run, target: float, optimum: float, margin: float) -> int:
    """Measure ``run.needed``: the episodes from which the in-process market stays >=
    ``target`` until the end of the budget (bench/learning.py's measurement: its market,
    loop, exact evaluation and budget). The same run then goes on to ``margin`` times the
    budget, so that its exact greedy return at the network's episode count, and how often
    it was below ``target`` between ``needed`` and that count, are known too (the same
    training, only longer: its curve up to the budget is unchanged). Returns the episodes
    the network is to train."""
    make = partial(gym.make, s.env_id)
    env = make()
    model, horizon = envs.transition_model(env), horizon_of(env)
    longer = math.ceil(margin * s.budget)
    market, curve = train_market(
        make,
        model,
        horizon,
        longer,
        s.slots,
        LearningArgs(),
        run.seed,
        royalty=s.royalty,
        bonus=s.bonus,
    )
    episodes, returns = np.asarray(curve.episodes), np.asarray(curve.returns)
    cut = int(np.searchsorted(episodes, s.budget)) + 1  # the points of a run of `budget`
    prefix = Curve(curve.episodes[:cut], curve.returns[:cut])
    run.needed, run.learnt = prefix.reached(target, s.budget)
    allowed = max(math.floor(margin * run.needed), 1)
    at = min(int(np.searchsorted(episodes, allowed)), len(returns) - 1)
    run.at_margin = score(float(returns[at]), optimum)
    window = (episodes >= run.needed) & (episodes <= allowed)
    run.dips = float(np.mean(returns[window] < target)) if window.any() else 0.0
    run.deaths = int(market.deaths)
    run.scale = float(market.scale)
    return allowed


def audit(folder: Path, key: Path) -> str:
    """``catallax ledger audit``'s first line ("ok: ..." or the error)."""
    done = subprocess.run(
        [*catallax_command(), "ledger", "audit", str(folder), "--key", str(key)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    text = (done.stdout or done.stderr).strip().splitlines()
    line = text[0] if text else f"exit status {done.returncode}"
    return line if done.returncode == 0 else f"FAILED: {line}"


def wait_done(address: str, task: str, timeout: float) -> exchange_pb2.TaskInfo:
    """``wait_task`` until the task is done, asking again when one ``ListTasks`` times
    out or finds the exchange unavailable (the machine is shared; one slow answer is
    not the end of a run); :class:`TimeoutError` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return wait_task(address, task, lambda i: i.state == "done", timeout=max(left, 0),
                             interval=0.5)  # fmt: skip
        except CallFailed as exc:
            transient = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
            if exc.code not in transient or time.monotonic() > deadline:
                raise


def networked(s: Setting, run: Run, episodes: int, args: Args, folder: Path) -> None:
    """Train ``episodes`` episodes over the network, evaluate greedily, audit the ledger."""
    learning = LearningArgs()
    rules = {
        # room for a thousand members' allowances (births included) at the task's scale
        "allowance_budget": max(100_000.0, 1000 * learning.allowance * run.scale * s.slots),
        "auction": "vickrey", "allowance": learning.allowance * run.scale,
        "discount": learning.discount, "floor": learning.floor * run.scale,
        "royalty": s.royalty, "rent": 0.0, "episodes": episodes,
        "eval_episodes": s.eval_episodes, "bid_deadline_ms": args.bid_deadline_ms,
    }  # fmt: skip
    started = time.perf_counter()
    net = start_deep_network(
        folder, s.env_id, slots=s.slots, task="bench", seed=run.seed, rules=rules,
        traders=[("adaptive", {"decay": learning.decay, "lr_min": learning.lr_min,
                               "bonus": s.bonus, "prior": learning.prior,
                               **({} if learning.adaptive else {"optimism": learning.optimism})})],
    )  # fmt: skip
    try:
        info = wait_done(net.exchange.address, "bench", args.run_timeout)
        run.episodes, run.rounds = int(info.episodes), int(info.rounds)
        run.removed, run.born = int(info.removed), int(info.born)
        run.greedy = [float(g) for g in info.greedy_returns]
        if len(run.greedy) != s.eval_episodes:
            run.failure = f"{len(run.greedy)} evaluation episodes reported, not {s.eval_episodes}"
    except TimeoutError as exc:
        run.failure = f"timed out: {exc}"
    finally:
        net.stop()
        run.network_s = time.perf_counter() - started
    run.audit = audit(net.ledger_dir, net.exchange_pub)


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and its standard error (0 for fewer than two values)."""
    x = np.asarray(values, dtype=np.float64)
    if not x.size:
        return math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0
    return float(x.mean()), se


def report(s: Setting, runs: list[Run], optimum: float, args: Args) -> bool:
    """Print the environment's lines; return whether its goal held."""
    name = s.short
    print(
        f"{name}: optimal {optimum:.3f}; in-process episodes to {100 * args.threshold:.0f}% "
        f"(budget {s.budget}, {s.slots} parallel, royalty {s.royalty:g}), per seed: "
        + " ".join(f"{r.needed}" + ("(never)" if not r.learnt else "") for r in runs)
        + "; scale of money S (the network's allowance 10 S and floor S per slot): "
        + " ".join(f"{r.scale:g}" for r in runs)
    )
    needed = float(np.mean([r.needed for r in runs]))
    trained = float(np.mean([r.episodes for r in runs]))
    ratio = trained / max(needed, 1.0)
    print(
        f"network/in-process episodes ratio {name}: {ratio:.2f} (network {trained:.1f}, "
        f"in-process {needed:.1f} episodes, mean of {len(runs)} seeds; the network trains "
        f"floor({args.margin:g} x); per seed "
        + " ".join(f"{r.episodes}/{r.needed}" for r in runs)
        + ")"
    )
    pooled = [g for r in runs for g in r.greedy]
    mean, se = mean_se(pooled)
    per_seed = " ".join(f"{score(mean_se(r.greedy)[0], optimum):.3f}" for r in runs)
    print(
        f"{name}: networked greedy return {mean:.3f} ± {se:.3f} (standard error) over "
        f"{len(pooled)} episodes ({len(runs)} seeds, every episode started reported); "
        f"optimal {optimum:.3f}; greedy/optimal per seed {per_seed}"
    )
    got = score(mean, optimum)
    print(f"networked greedy/optimal {name}: {got:.3f} (goal >= {args.threshold:g})")
    print(
        f"{name}: in process, exact greedy/optimal at the network's episode count, per seed: "
        + " ".join(f"{r.at_margin:.3f}" for r in runs)
        + f"; share of its evaluations below {100 * args.threshold:.0f}% between x and that "
        "count: " + " ".join(f"{r.dips:.2f}" for r in runs)
    )
    rounds = sum(r.rounds for r in runs)
    net_s = sum(r.network_s for r in runs)
    print(
        f"{name}: time in process {sum(r.in_process_s for r in runs):.1f} s; over the network "
        f"{net_s:.1f} s for {rounds} rounds ({rounds / max(net_s, 1e-9):.0f} rounds/s, "
        "start-up, evaluation and stop included)"
    )
    print(
        f"{name}: bankrupt members per seed, in process / over the network (each "
        "replaced by a new member on both sides; network: removed, born): "
        + " ".join(f"{r.deaths}/{r.removed},{r.born}" for r in runs)
    )
    for r in runs:
        if r.failure:
            print(f"{name}: seed {r.seed}: {r.failure}")
    audits = [r.audit for r in runs]
    ok_audits = sum(a.startswith("ok:") for a in audits)
    print(f"{name}: ledger audit ok on {ok_audits} of {len(runs)} networked runs")
    for a in audits:
        if not a.startswith("ok:"):
            print(f"{name}: ledger audit {a}")
    sys.stdout.flush()
    return got >= args.threshold and ok_audits == len(runs) and not any(r.failure for r in runs)


def main(args: Args) -> None:
    """Measure every environment and print its lines."""
    if args.quick:
        args.seeds = 1
    started = time.perf_counter()
    print(
        f"setup: {args.seeds} seeds per environment, each independent; in process: "
        "bench/learning.py's market and exact evaluation; network: environment node, "
        "exchange node (SQLite ledger), one adaptive trader process, on loopback"
    )
    goals = []
    with tempfile.TemporaryDirectory(prefix="catallax-netlearn-") as tmp:
        for s in settings(args):
            env = gym.make(s.env_id)
            model, horizon = envs.transition_model(env), horizon_of(env)
            optimum = envs.optimal_return(model, horizon)
            runs = []
            for seed in range(args.seeds):
                t = time.perf_counter()
                run = Run(seed)
                target = target_of(optimum, args.threshold)
                allowed = in_process(s, run, target, optimum, args.margin)
                run.in_process_s = time.perf_counter() - t
                networked(s, run, allowed, args, Path(tmp) / f"{s.short}-{seed}")
                runs.append(run)
                print(
                    f"{s.short} seed {seed}: in process {run.needed} episodes; network "
                    f"{run.episodes} episodes, {run.rounds} rounds in {run.network_s:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            goals.append((s.short, report(s, runs, optimum, args)))
    print("goals: " + "; ".join(f"{n} {'met' if ok else 'NOT met'}" for n, ok in goals))
    print(f"time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main(parse_args(Args))
