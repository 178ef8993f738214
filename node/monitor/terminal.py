"""The monitor's live terminal view: a rich renderable of a :class:`NetworkView` snapshot."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

__all__ = ["render"]

_EXCHANGE_COLUMNS = (
    "exchange", "origin", "state", "tasks", "entries", "rounds/s", "checkpoint",
    "signature", "consistent from", "entries match", "alarm",
)  # fmt: skip


def _mark(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[value]


def render(snapshot: dict[str, Any]) -> Group:
    """Tables of the exchanges (tasks, rounds per second, the latest checkpoint and what
    verified), the richest identities across exchanges, and each exchange's last rounds."""
    ex = Table(title="exchanges", expand=True)
    for col in _EXCHANGE_COLUMNS:
        ex.add_column(col)
    for e in snapshot["exchanges"]:
        cp = e["checkpoint"] or {}
        ex.add_row(
            e["exchange"], e["origin"], e["state"], ", ".join(t["name"] for t in e["tasks"]),
            str(e["entries"]), f"{e['rounds_per_second']:.1f}",
            f"{cp['size']} {cp['root'][:12]}" if cp else "-", _mark(cp.get("signature")),
            str(cp["proved_from"]) if cp else "-", _mark(cp.get("entries_match")),
            (e["alarm"] or {}).get("message", ""),
        )  # fmt: skip
    rich_ = Table(title="richest identities (credits)", expand=True)
    names = [e["exchange"] for e in snapshot["exchanges"]]
    rich_.add_column("identity")
    rich_.add_column("total", justify="right")
    for name in names:
        rich_.add_column(name, justify="right")
    for r in snapshot["richest"]:
        per = r["by_exchange"]
        rich_.add_row(
            r["identity"], f"{r['credits']:.4f}",
            *(f"{per[n]:.4f}" if n in per else "" for n in names),
        )  # fmt: skip
    rounds = Table(title="latest rounds", expand=True)
    for col in ("exchange", "task", "round", "entries", "winners (price)", "rewards"):
        rounds.add_column(col)
    for e in snapshot["exchanges"]:
        for r in e["recent_rounds"][-5:]:
            winners = ", ".join(f"{a.split('.')[1][:8]} ({p:.3f})" for a, p in r["winners"][:4])
            rounds.add_row(
                e["exchange"], r["task"], str(r["round"]),
                f"{r['first_index']}..{r['last_index']}", winners, f"{r['rewards']:.3f}",
            )  # fmt: skip
    return Group(ex, rich_, rounds)
