"""What a monitor knows about the exchanges it follows, folded from their ledgers.

:class:`NetworkView` holds one :class:`ExchangeView` per exchange seen. It is pure state:
the follower (:mod:`.follow`) hands it statuses, entries in index order (each index
once: :meth:`ExchangeView.expects` says which comes next), verified checkpoints and
alarms; the terminal view, the web page and ``--json`` read :meth:`NetworkView.snapshot`
or listen to the events it emits (:meth:`NetworkView.listen`), one dict each:

- ``{"event": "entry", "exchange", "index", ...}`` for every entry, once, in order;
- ``{"event": "round", ...}`` for every market round (:mod:`.rounds`), once its
  checkpoint has verified;
- ``{"event": "checkpoint", "exchange", "size", "root", "proved_from", "entries_match"}``;
- ``{"event": "status", ...}`` and ``{"event": "alarm", "exchange", "kind", "message",
  "first", "second"}``.

Wealth is in credits (float, for display) computed from integer units: each identity's
(the :func:`~catallax.node.wire.mandate.identity_name` of the key its trader accounts
were opened with) sum over its accounts of credits on every exchange.
"""

from __future__ import annotations

import base64
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from catallax.exchange.ledger import (
    CREDITS,
    UNITS_PER_CREDIT,
    AccountKind,
    Checkpoint,
    CompactTree,
    Opening,
    Transfer,
    leaf_hash,
)
from catallax.node.monitor.chain import CheckpointChain
from catallax.node.monitor.payloads import RoundMsg, Status
from catallax.node.monitor.rounds import summarise_rounds
from catallax.node.wire.mandate import identity_name

__all__ = ["ExchangeView", "NetworkView"]

#: Rounds kept per exchange for the page (the newest).
RECENT_ROUNDS = 50
#: Points of wealth history kept for the chart.
HISTORY = 300
#: Seconds over which rounds per second are counted.
RATE_WINDOW = 10.0

Listener = Callable[[dict[str, Any]], None]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class ExchangeView:
    """One exchange: its status, the entries seen (0 .. ``size - 1``), balances,
    checkpoints and rounds."""

    exchange: str
    status: Status | None = None
    chain: CheckpointChain | None = None
    tree: CompactTree = field(default_factory=CompactTree)
    balances: dict[str, int] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    pending: list[tuple[int, Opening | Transfer]] = field(default_factory=list)
    rounds: deque = field(default_factory=lambda: deque(maxlen=RECENT_ROUNDS))
    round_times: deque = field(default_factory=lambda: deque(maxlen=10_000))
    rounds_seen: int = 0
    checkpoint_count: int = 0
    checkpoint: dict[str, Any] | None = None
    alarm: dict[str, Any] | None = None

    @property
    def size(self) -> int:
        """Entries seen so far: the next index expected."""
        return self.tree.size

    def expects(self) -> int:
        return self.tree.size

    def rate(self, now: float) -> float:
        """Rounds per second over the last :data:`RATE_WINDOW` seconds (or since the
        first round timed, if later; rounds of the first checkpoint seen, a backlog, are
        not timed)."""
        recent = [t for t in self.round_times if t >= now - RATE_WINDOW]
        if not recent:
            return 0.0
        span = max(min(RATE_WINDOW, now - self.round_times[0]), 1.0)
        return len(recent) / span


class NetworkView:
    """Every exchange seen (see the module docstring)."""

    def __init__(
        self,
        *,
        top: int = 10,
        keys: dict[str, bytes] | None = None,
        since: dict[str, str] | None = None,
    ) -> None:
        self.exchanges: dict[str, ExchangeView] = {}
        self.top = top
        #: Pinned keys by exchange id; an exchange not in it is trusted on first sight.
        self.keys = dict(keys or {})
        #: Checkpoints kept earlier, by exchange id: each one's chain starts from it.
        self.since = dict(since or {})
        self.history: deque = deque(maxlen=HISTORY)
        self._listeners: list[Listener] = []
        self.started = time.time()

    def listen(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every event from now on."""
        self._listeners.append(listener)

    def _emit(self, event: dict[str, Any]) -> None:
        for listener in self._listeners:
            listener(event)

    def exchange(self, exchange: str) -> ExchangeView:
        view = self.exchanges.get(exchange)
        if view is None:
            view = self.exchanges[exchange] = ExchangeView(exchange)
        return view

    # --- what the follower hands in ---------------------------------------------------

    def on_status(self, status: Status) -> ExchangeView:
        view = self.exchange(status.exchange)
        view.status = status
        if view.chain is None:
            key = self.keys.get(status.exchange, status.public_key)
            view.chain = CheckpointChain(key, status.origin)
            kept = self.since.get(status.exchange)
            if kept is not None:
                view.chain.advance(kept, view.chain.open(kept))
        self._emit({"event": "status", "exchange": status.exchange, "state": status.state,
                    "origin": status.origin, "address": status.address,
                    "tasks": [t.name for t in status.tasks]})  # fmt: skip
        return view

    def on_entry(self, exchange: str, index: int, data: bytes, entry: Opening | Transfer) -> None:
        """The entry at ``index``, which must be :meth:`ExchangeView.expects`."""
        view = self.exchange(exchange)
        if index != view.size:
            raise IndexError(f"entry {index}: expected entry {view.size}")
        view.tree.append(leaf_hash(data))
        view.pending.append((index, entry))
        event: dict[str, Any] = {"event": "entry", "exchange": exchange, "index": index}
        if isinstance(entry, Opening):
            account = entry.account
            if account.kind is AccountKind.TRADER and account.public_key is not None:
                view.owners[account.id] = identity_name(account.public_key)
            event.update(type="opening", account=account.id)
        else:
            if entry.asset == CREDITS:
                view.balances[entry.payer] = view.balances.get(entry.payer, 0) - entry.amount
                view.balances[entry.payee] = view.balances.get(entry.payee, 0) + entry.amount
            event.update(type="transfer", kind=str(entry.kind), payer=entry.payer,
                         payee=entry.payee, amount=entry.amount, task=entry.task,
                         round=entry.round)  # fmt: skip
        self._emit(event)

    def on_checkpoint(self, exchange: str, head: Checkpoint, proved_from: int) -> None:
        """A checkpoint that verified (signature, consistency from ``proved_from``)."""
        view = self.exchange(exchange)
        match = view.tree.root() == head.root if view.size == head.size else None
        view.checkpoint = {
            "size": head.size, "root": _b64(head.root), "origin": head.origin,
            "signature": True, "proved_from": proved_from, "entries_match": match,
            "time": time.time(),
        }  # fmt: skip
        self._emit({"event": "checkpoint", "exchange": exchange, **view.checkpoint})
        covered = [(i, e) for i, e in view.pending if i < head.size]
        view.pending = [(i, e) for i, e in view.pending if i >= head.size]
        now = time.time()
        timed = view.checkpoint_count > 0
        view.checkpoint_count += 1
        for msg in summarise_rounds(exchange, covered):
            self._round(view, msg, now, timed)
        self.history.append({"time": now, "wealth": dict(self.richest())})

    def _round(self, view: ExchangeView, msg: RoundMsg, now: float, timed: bool) -> None:
        entry = {
            "task": msg.task, "round": msg.round, "first_index": msg.first_index,
            "last_index": msg.last_index,
            "winners": [[a, p / UNITS_PER_CREDIT] for a, p in msg.winners],
            "rewards": sum(u for _, u in msg.rewards) / UNITS_PER_CREDIT,
            "transfers": msg.transfers,
        }  # fmt: skip
        view.rounds.append(entry)
        if timed:
            view.round_times.append(now)
        view.rounds_seen += 1
        self._emit({"event": "round", "exchange": view.exchange, **entry})

    def on_alarm(self, exchange: str, kind: str, message: str, first: str, second: str) -> None:
        view = self.exchange(exchange)
        view.alarm = {"kind": kind, "message": message, "first": first, "second": second}
        self._emit({"event": "alarm", "exchange": exchange, **view.alarm})

    # --- what the views read ----------------------------------------------------------

    def wealth(self) -> dict[str, dict[str, float]]:
        """Credits of each identity on each exchange."""
        out: dict[str, dict[str, float]] = {}
        for view in self.exchanges.values():
            for account, owner in view.owners.items():
                units = view.balances.get(account, 0)
                per = out.setdefault(owner, {})
                per[view.exchange] = per.get(view.exchange, 0.0) + units / UNITS_PER_CREDIT
        return out

    def richest(self) -> list[tuple[str, float]]:
        """The :attr:`top` identities by their credits summed over every exchange."""
        totals = [(who, sum(per.values())) for who, per in self.wealth().items()]
        return sorted(totals, key=lambda kv: (-kv[1], kv[0]))[: self.top]

    def snapshot(self) -> dict[str, Any]:
        """Everything the views show, as plain JSON-able values."""
        now = time.time()
        wealth = self.wealth()
        exchanges = []
        for view in self.exchanges.values():
            st = view.status
            exchanges.append({
                "exchange": view.exchange,
                "origin": st.origin if st else "",
                "address": st.address if st else "",
                "state": st.state if st else "unknown",
                "public_key": _b64(st.public_key) if st else "",
                "tasks": [{"name": t.name, "env_id": t.env_id, "auction": t.auction,
                           "slots": t.slots} for t in st.tasks] if st else [],
                "entries": view.size,
                "rounds_seen": view.rounds_seen,
                "rounds_per_second": round(view.rate(now), 3),
                "checkpoint": view.checkpoint,
                "alarm": view.alarm,
                "recent_rounds": list(view.rounds)[-10:],
            })  # fmt: skip
        richest = [
            {"identity": who, "credits": total, "by_exchange": wealth.get(who, {})}
            for who, total in self.richest()
        ]
        return {"time": now, "exchanges": exchanges, "richest": richest,
                "history": list(self.history)}  # fmt: skip
