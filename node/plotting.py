"""Plots people would rather look at than read: a training run on one page (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from catallax.exchange.deep import TrainLog

__all__ = ["plot_training"]


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
