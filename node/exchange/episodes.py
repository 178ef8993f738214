"""The episodes a task finished, beside its ledger: round, slot and return, a line each.

The ledger records what money moved, not where an episode ended (a reward of 0 moves
nothing), so the exchange also appends each training episode it finishes to
``episodes.jsonl`` in its data folder: ``{"task", "round", "slot", "return"}`` (the
round it ended in, as labelled on the ledger; the return in credits, the episode's
summed rewards). It is a record for plots (``catallax plot``) and people, written
after the round is committed; nothing reads it to trade, and a line lost to a crash
loses nothing of the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO

__all__ = ["EPISODES_FILE", "EpisodeLog", "read_episodes"]

#: The file name, in the exchange's data folder.
EPISODES_FILE = "episodes.jsonl"


class EpisodeLog:
    """Appends finished episodes to ``folder / EPISODES_FILE`` (created when first used)."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / EPISODES_FILE
        self._file: IO[str] | None = None

    def add(self, task: str, round_: int, ended: Iterable[tuple[int, float]]) -> None:
        """Record the episodes that ended in ``round_``: ``(slot, return)`` pairs."""
        lines = [
            json.dumps({"task": task, "round": int(round_), "slot": int(slot), "return": float(r)})
            for slot, r in ended
        ]
        if not lines:
            return
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_episodes(folder: str | Path) -> list[dict]:
    """The episodes recorded in ``folder`` (none if it has no log), in order; a last line
    cut short by a crash is left out."""
    path = Path(folder) / EPISODES_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue  # only a torn last line can be partial
        if isinstance(item, dict) and {"task", "round", "slot", "return"} <= item.keys():
            out.append(item)
    return out
