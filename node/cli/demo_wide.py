"""``catallax demo --wide``: a networked production economy, welfare against the LP.

Starts, as separate processes on 127.0.0.1, an environment node serving
``catallax/Production-v0`` (the default production economy: 7 goods, 6 Leontief
recipes), an exchange node with one wide-market task (equilibrium clearing of goods, a
SQLite ledger in --data-dir) and --traders trader processes, each running a share of
the economy's Leontief producers (``catallax trader run leontief --option
recipes=[...]``). The producers register, send signed orders every round and learn
from the prices; the summary reports the consumers' welfare per round (the mean over
the last 100 rounds) against the welfare-optimal plan's (a linear programme), and the
ledger verified and audited (credits and every good sum to zero).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from catallax.node.cli._common import err

ENV_ID = "catallax/Production-v0"
TASK = "economy"
#: The welfare reported is the mean over this many last rounds (as bench/wide.py).
WINDOW = 100


def run_wide(folder: Path, rounds: int, traders: int, seed: int, quiet: bool) -> dict[str, Any]:
    """Run the networked economy for ``rounds`` rounds; the summary as a dict."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from catallax.exchange.envs.production import default_economy, lp_optimum
    from catallax.node.exchange.watch import wait_task
    from catallax.node.localnet import start_deep_network

    economy = default_economy()
    shares = [list(range(economy.n_recipes))[i::traders] for i in range(traders)]
    rules = {"market": "wide", "allowance": 200.0, "rounds": rounds,
             "min_traders": traders, "clearing_deadline_ms": 5000}  # fmt: skip
    start = time.perf_counter()
    if not quiet:
        err.print(f"starting an environment node, an exchange and {traders} traders in {folder}")
    net = start_deep_network(
        folder, ENV_ID, task=TASK, rules=rules, seed=seed,
        traders=[("leontief", {"recipes": share}) for share in shares],
    )  # fmt: skip
    try:
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[what]}"),
            TimeElapsedColumn(), console=err, disable=quiet, transient=False,
        )  # fmt: skip
        with progress:
            bar = progress.add_task("clearing", total=rounds, what="waiting for traders")

            def show(info) -> None:
                what = f"{info.rounds}/{rounds} rounds, welfare {info.mean_return:.3f}"
                progress.update(bar, completed=info.rounds, what=what)

            info = wait_task(
                net.exchange.address, TASK, lambda i: i.state == "done",
                timeout=max(120.0, rounds / 5), on_info=show,
            )  # fmt: skip
    finally:
        net.stop()
    seconds = time.perf_counter() - start
    optimum, _ = lp_optimum(economy)
    verified, audited, why, supply = _check_ledger(net.ledger_dir, net.exchange_pub)
    welfare = float(info.mean_return)
    return {
        "env": ENV_ID,
        "market": "wide",
        "rounds": int(info.rounds),
        "traders": traders,
        "producers": economy.n_recipes,
        "welfare": welfare,
        "lp_welfare": optimum,
        "welfare_ratio": welfare / optimum,
        "window": WINDOW,
        "ledger_verified": verified,
        "ledger_audited": audited,
        "ledger_problem": why,
        "goods_held": supply,
        "data_dir": str(folder),
        "exchange_key": str(net.exchange_pub),
        "seconds": round(seconds, 2),
    }


def _check_ledger(folder: Path, public: Path) -> tuple[bool, bool, str, dict[str, float]]:
    """Verify and audit the ledger against the exchange's key; the goods traders hold."""
    from catallax.exchange.ledger import LedgerError, open_ledger
    from catallax.node.keys import load_public_key

    key = load_public_key(public)
    try:
        with open_ledger(folder) as ledger:
            if ledger.public_key != key:
                return False, False, "the ledger is not signed by the exchange's key", {}
            ledger.verify()
            report = ledger.audit()
    except LedgerError as exc:
        return False, False, str(exc), {}
    # The audit refuses a ledger where any asset's balances do not sum to zero.
    goods = {a: units / 1e6 for a, units in report.supply.items() if a.startswith("good:")}
    if not goods:
        return True, False, "the ledger holds no goods: no clearing was settled", {}
    return True, True, "", goods


def print_wide(s: dict[str, Any]) -> None:
    """The human summary of :func:`run_wide`."""
    from catallax.node.cli._common import out

    out.print(
        f"{s['env']}: {s['rounds']} clearing rounds, {s['producers']} Leontief producers in "
        f"{s['traders']} trader processes over gRPC in {s['seconds']:.1f} s",
        markup=False,
    )
    out.print(
        f"welfare {s['welfare']:.3f} per round (mean of the last {s['window']}); LP optimum "
        f"{s['lp_welfare']:.3f}; ratio {s['welfare_ratio']:.3f}",
        markup=False,
    )
    if s["ledger_verified"] and s["ledger_audited"]:
        out.print(
            f"ledger verified and audited against {s['exchange_key']}: every transfer's "
            f"signed evidence checks out; credits and every good sum to 0 "
            f"({s['data_dir']}/exchange)",
            markup=False,
        )
    else:
        out.print(f"ledger FAILED: {s['ledger_problem']}", markup=False)
