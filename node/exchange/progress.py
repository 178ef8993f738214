"""How far each task has trained, beside its ledger, so that a restart goes on from there.

A task's training limits (``rounds``, ``episodes``) and what ``ListTasks`` reports count
rounds and episodes that the ledger cannot tell exactly (an evaluation round, or a round
in which nobody won, moves nothing). So the exchange keeps ``progress.json`` in its data
folder: per task, the training rounds and episodes settled, the greedy returns of a
finished evaluation, and the ledger's size and root when it was written. A restarted
exchange reads it back: a task done before is done again at once (it does not train and
evaluate a second time), one under way trains only what is left of its limits.

The record trails the ledger, never leads it: it is written after the rounds it counts
are committed, at most every :data:`WRITE_INTERVAL` seconds and at every change of a
task's state and at a graceful stop, as a whole new file (written, synced, then renamed
over the old one, so it is never torn). After a crash it may be a few rounds behind: the
task trains those again. A record whose ledger is not the one opened (its size beyond the
ledger's, or its root not the ledger's root at that size: the ledger was replaced or
rebuilt) is not used, and the log says so; so is a record of other rules.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from catallax.exchange.ledger import Ledger

__all__ = ["PROGRESS_FILE", "WRITE_INTERVAL", "Progress", "ProgressBook"]

log = logging.getLogger("catallax.node.exchange")

#: The file name, in the exchange's data folder.
PROGRESS_FILE = "progress.json"
#: Seconds between two writes of the record while tasks train (state changes and a
#: graceful stop write at once).
WRITE_INTERVAL = 0.5


@dataclass
class Progress:
    """One task's progress.

    Attributes:
        rules: the SHA-256 of the task's rules, hex (a record of other rules is not used).
        rounds: training rounds settled.
        episodes: training episodes finished.
        evaluated: the greedy returns of its finished evaluation (``None``: not evaluated).
        value_level: the task's value level, credits (see ``Settled.value_level``).
        eval_capped: how many of ``evaluated``'s episodes the evaluation cap cut.
        ledger_size, ledger_root: the ledger's size and root (base64) when written.
    """

    rules: str
    rounds: int = 0
    episodes: int = 0
    evaluated: list[float] | None = None
    value_level: float = 1.0
    eval_capped: int = 0
    ledger_size: int = 0
    ledger_root: str = field(default="")


class ProgressBook:
    """The progress record of one exchange's tasks (see the module docstring)."""

    def __init__(self, folder: str | Path, *, interval: float = WRITE_INTERVAL) -> None:
        self.path = Path(folder) / PROGRESS_FILE
        self.interval = interval
        self._tasks: dict[str, Progress] = {}
        self._roots: dict[str, bytes] = {}
        self._dirty = False
        self._written = -math.inf  # the first note writes at once
        self._stored = self._read()

    def _read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            why = str(exc)
        else:
            if isinstance(data, dict) and isinstance(data.get("tasks"), dict):
                return data["tasks"]
            why = "no tasks table"
        log.warning("event=progress_unreadable path=%s why=%r", self.path, why)
        return {}

    def restore(self, task: str, rules: str, ledger: Ledger) -> Progress:
        """The recorded progress of ``task`` if it is of these ``rules`` and this
        ``ledger`` (its root at the recorded size is the recorded root); a fresh one
        otherwise (and a warning where a record was refused)."""
        fresh = Progress(rules=rules)
        item = self._stored.get(task)
        if item is None:
            self._tasks[task] = fresh
            return fresh
        why = ""
        try:
            got = Progress(**item)
            size = int(got.ledger_size)
            if got.rules != rules:
                why = "the task's rules changed"
            elif not 0 <= size <= ledger.size:
                why = f"it counts {size} ledger entries, the ledger holds {ledger.size}"
            elif base64.b64decode(got.ledger_root) != ledger.root_at(size):
                why = f"the ledger's root at size {size} is not the recorded one"
        except (TypeError, ValueError) as exc:
            why = f"a malformed record ({exc})"
        if why:
            log.warning("task=%s event=progress_ignored why=%r", task, why)
            self._tasks[task] = fresh
            return fresh
        log.info(
            "task=%s event=progress_restored rounds=%d episodes=%d evaluated=%s",
            task, got.rounds, got.episodes, got.evaluated is not None,
        )  # fmt: skip
        self._tasks[task] = got
        return got

    def note(self, task: str, size: int, root: bytes, *, now: bool = False, **changes: Any) -> None:
        """Update ``task``'s record (``changes``: fields of :class:`Progress`) and the
        ledger's ``size`` and ``root`` it trails (a pair taken together, after a commit
        that holds what it counts); write the file if ``now`` or the interval has passed
        since the last write."""
        progress = self._tasks[task]
        for name, value in changes.items():
            setattr(progress, name, value)
        progress.ledger_size = int(size)
        self._roots[task] = root  # encoded when written
        self._dirty = True
        if now or time.monotonic() - self._written >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Write the record now if anything changed since the last write."""
        if not self._dirty:
            return
        for name, root in self._roots.items():
            self._tasks[name].ledger_root = base64.b64encode(root).decode()
        self._roots.clear()
        tasks = {**self._stored, **{name: asdict(p) for name, p in self._tasks.items()}}
        data = json.dumps({"tasks": tasks}, sort_keys=True, indent=1) + "\n"
        temp = self.path.with_name(self.path.name + ".tmp")
        with temp.open("w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, self.path)
        self._dirty = False
        self._written = time.monotonic()

    def close(self) -> None:
        """Write what is left (a graceful stop)."""
        self.flush()
