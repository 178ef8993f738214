"""Plots people would rather look at than read: a training run, or a ledger's history, on
one page (PNG)."""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np

from catallax.exchange.deep import TrainLog

__all__ = ["plot_ledger", "plot_training"]


def plot_training(log: TrainLog, path: str | Path, *, title: str, optimal: float | None) -> Path:
    """Write a PNG of return, the richest traders' wealth and winning bids over training.

    Returns the path written. Uses matplotlib's non-interactive Agg backend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(3, 1, figsize=(8, 9), sharex=True, constrained_layout=True)
    returns = np.asarray(log.returns, dtype=float)
    episodes = np.arange(1, len(returns) + 1)
    window = max(1, len(returns) // 50)
    smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
    ax = axes[0]
    ax.plot(episodes, returns, ".", ms=2, alpha=0.3, color="tab:gray", label="episode")
    ax.plot(episodes[window - 1 :], smooth, color="tab:blue", label=f"mean of {window}")
    if optimal is not None:
        ax.axhline(optimal, ls="--", color="tab:green", label="optimal")
    ax.set_ylabel("return")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)

    ax = axes[1]
    ranks = max((len(r) for r in log.richest), default=0)
    for k in range(ranks):
        values = [r[k] if k < len(r) else np.nan for r in log.richest]
        ax.plot(log.checkpoints, values, label=f"#{k + 1}")
    ax.set_ylabel("wealth of the richest (credits)")
    ax.legend(loc="upper left", fontsize=8, ncol=5)

    ax = axes[2]
    ax.plot(log.checkpoints, log.winning_bid, color="tab:red")
    ax.set_ylabel("mean winning bid (credits)")
    ax.set_xlabel("training episodes")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_ledger(location: str | Path, path: str | Path, *, top: int = 5) -> Path:
    """Write a PNG of a ledger's history, round by round: the wealth of the ``top``
    richest identities (credits, all their accounts), the winning prices (credits)
    coloured by winner, which identity won, the rewards net of costs per round, and
    the return of each episode, at the round it ended, with a moving mean.

    Identities are named by their trader accounts (``<task>.<identity>.<k>``); rounds
    are the transfers' ``(task, round)`` labels in ledger order; admissions (allowances)
    count for wealth but make no round. The ledger records no episode ends (a reward of
    0 moves nothing): the returns are those the exchange recorded beside its ledger
    (:mod:`catallax.node.exchange.episodes`, in a ledger folder); without that record
    the last panel says so.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from catallax.exchange.ledger import (
        UNITS_PER_CREDIT,
        AccountKind,
        Opening,
        TransferKind,
        open_ledger,
    )
    from catallax.node.wire.mandate import identity_name

    owner: dict[str, str] = {}
    wealth: dict[str, int] = {}
    rounds: list[tuple[str, int]] = []
    history: list[dict[str, int]] = []
    prices: list[tuple[int, float, str]] = []
    net: list[float] = []
    with open_ledger(location, verify=False) as ledger:
        for _, entry in ledger.entries():
            if isinstance(entry, Opening):
                acc = entry.account
                if acc.kind is AccountKind.TRADER and acc.public_key is not None:
                    owner[acc.id] = identity_name(acc.public_key)
                continue
            for account, sign in ((entry.payer, -1), (entry.payee, 1)):
                if account in owner:
                    who = owner[account]
                    wealth[who] = wealth.get(who, 0) + sign * entry.amount
            if entry.kind is TransferKind.ALLOWANCE:
                continue
            label = (entry.task, entry.round)
            if not rounds or rounds[-1] != label:
                rounds.append(label)
                history.append({})
                net.append(0.0)
            k = len(rounds) - 1
            history[k] = dict(wealth)
            if entry.kind is TransferKind.BID and entry.payer in owner:
                prices.append((k, entry.amount / UNITS_PER_CREDIT, owner[entry.payer]))
            elif entry.kind is TransferKind.REWARD:
                net[k] += entry.amount / UNITS_PER_CREDIT
            elif entry.kind is TransferKind.COST:
                net[k] -= entry.amount / UNITS_PER_CREDIT
    from catallax.node.exchange.episodes import read_episodes

    # An episode is drawn at the last round of its task on the ledger up to the one it
    # ended in (a round that moved no money has no entry).
    by_task: dict[str, tuple[list[int], list[int]]] = {}
    for k, (task, r) in enumerate(rounds):
        numbers, ks = by_task.setdefault(task, ([], []))
        numbers.append(r)
        ks.append(k)
    url = str(location).startswith(("postgres://", "postgresql://"))
    folder = None if url else Path(location)
    episodes = []
    for e in read_episodes(folder) if folder is not None and folder.is_dir() else []:
        numbers, ks = by_task.get(e["task"], ([], []))
        i = bisect.bisect_right(numbers, e["round"]) - 1
        if i >= 0:
            episodes.append((ks[i], float(e["return"])))
    richest = sorted(wealth, key=lambda who: -wealth[who])[:top]
    colour = {who: f"C{i}" for i, who in enumerate(richest)}
    x = np.arange(len(rounds))
    fig, axes = plt.subplots(5, 1, figsize=(9, 13), sharex=True, constrained_layout=True)
    ax = axes[0]
    for who in richest:
        ax.plot(x, [h.get(who, 0) / UNITS_PER_CREDIT for h in history], color=colour[who],
                label=who[:12])  # fmt: skip
    ax.set_ylabel("wealth (credits)")
    ax.set_title(f"{ledger.origin}: {len(rounds)} rounds, {len(owner)} trader accounts")
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    ax = axes[1]
    for who in {w for _, _, w in prices}:
        pts = [(k, p) for k, p, w in prices if w == who]
        ax.plot(*zip(*pts, strict=True), ".", ms=3, color=colour.get(who, "tab:gray"))
    ax.set_ylabel("winning price (credits)")
    ax = axes[2]
    rank = {who: i for i, who in enumerate(richest)}
    ax.plot([k for k, _, _ in prices], [rank.get(w, len(richest)) for _, _, w in prices], "|",
            ms=6, color="tab:purple")  # fmt: skip
    ax.set_yticks(range(len(richest) + 1), [w[:12] for w in richest] + ["others"], fontsize=7)
    ax.set_ylabel("winner")
    ax = axes[3]
    window = max(1, len(net) // 50)
    ax.plot(x, net, ".", ms=2, alpha=0.4, color="tab:gray", label="round")
    if len(net) >= window:
        smooth = np.convolve(net, np.ones(window) / window, mode="valid")
        ax.plot(x[window - 1 :], smooth, color="tab:blue", label=f"mean of {window}")
    ax.set_ylabel("rewards − costs (credits)")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[4]
    if episodes:
        ends, returns = np.array(episodes).T
        ax.plot(ends, returns, ".", ms=2, alpha=0.4, color="tab:gray", label="episode")
        span = max(1, len(returns) // 20)
        if len(returns) >= span:
            smooth = np.convolve(returns, np.ones(span) / span, mode="valid")
            ax.plot(ends[span - 1 :], smooth, color="tab:green", label=f"mean of {span}")
        ax.legend(loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no episodes recorded beside this ledger", ha="center",
                va="center", transform=ax.transAxes, color="tab:gray")  # fmt: skip
    ax.set_ylabel("return per episode")
    ax.set_xlabel("round (ledger order)")
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
