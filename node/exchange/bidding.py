"""A task's bids as they arrive: sessions, the open round, and the checks of each ``Bids``.

:class:`Bidding` holds, for one task, the round whose bids are being collected
(:class:`OpenRound`: who was asked, who answered, each identity's checked
:class:`Offer`) and the last sequence number seen from each signer on the task's
channel. :meth:`Bidding.offer` checks a signed, verified ``Bids`` in this order, and
raises the refusal (a :mod:`catallax.node.errors` class) at the first that fails:

1. signed by the session's own identity (``NotYourMember``), for this exchange and this
   task (``WrongPlace``);
2. its sequence is above the signer's last and its timestamp in the window
   (``Replayed``, ``Stale``), checked in memory, from the last number on disk (the
   ``Hello`` that opened the session, accepted durably before the session began): so a
   ``Bids`` captured before a restart stays refused after it, with no write per round;
3. not for a future round (``FutureRound``); a bid for a round already closed is late:
   it is not counted and is no error;
4. it accepts the task's rules (``RulesChanged``), and is the identity's first of the
   round (``DuplicateBids``);
5. every bid: amount >= 0, a Discrete action inside the action space, a member of the
   identity, a slot of the task, one bid per member and slot.

A session refused for cause has its bids withdrawn from the round still open
(:meth:`Bidding.withdraw`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import numpy as np

from catallax.node.errors import (
    DuplicateBids,
    FutureRound,
    Malformed,
    NotYourMember,
    OutsideSpace,
    Replayed,
    RulesChanged,
    Superseded,
    UnknownSlot,
    WrongPlace,
)
from catallax.node.exchange.config import TaskConfig
from catallax.node.exchange.remote import Identity
from catallax.node.wire import MAX_SEQUENCE, Envelope, SequenceBook, now_ms, scoped
from catallax.node.wire.sequence import check_window
from catallax.v1 import exchange_pb2

__all__ = ["Bidding", "Hosting", "Offer", "OpenRound", "Session"]

log = logging.getLogger("catallax.node.exchange")


class Session:
    """One connected trader on one task: the messages waiting to be sent to it."""

    def __init__(self, ident: Identity, peer: str) -> None:
        self.identity = ident
        self.peer = peer
        self.outbox: asyncio.Queue[Envelope | BaseException] = asyncio.Queue()
        self.closed = False

    def send(self, envelope: Envelope) -> None:
        if not self.closed:
            self.outbox.put_nowait(envelope)

    def close(self, error: BaseException) -> None:
        """End the session: its stream ends with ``error``'s status."""
        if not self.closed:
            self.closed = True
            self.outbox.put_nowait(error)

    def finish(self) -> None:
        """End the session because its trader ended it: its stream ends ``OK``."""
        if not self.closed:
            self.closed = True
            self.outbox.put_nowait(None)


class Hosting:
    """The sessions half of a task (a mixin, deep and wide alike): one session per
    identity, a newer one closing the older. The task provides ``name``, ``cfg``,
    ``sessions``, ``bidding`` and ``_wake`` (its loop's event); :meth:`_forget` is what
    else it forgets of an identity whose session ends (a wide task's open query)."""

    name: str
    cfg: TaskConfig
    sessions: dict[bytes, Session]
    bidding: Bidding
    _wake: asyncio.Event

    def live_sessions(self) -> list[Session]:
        """The sessions still open, one per identity connected."""
        return [s for s in self.sessions.values() if not s.closed]

    def _ready(self) -> bool:
        """Enough identities are connected for rounds (``min_traders``, at least one)."""
        return len(self.live_sessions()) >= max(1, self.cfg.min_traders)

    def open_session(self, ident: Identity, peer: str) -> Session:
        """A new session for ``ident``; an older one of the same identity is closed."""
        old = self.sessions.get(ident.public_key)
        if old is not None:
            old.close(Superseded(f"a newer session of this identity opened from {peer}"))
        session = Session(ident, peer)
        self.sessions[ident.public_key] = session
        self._wake.set()
        log.info("task=%s event=session_open identity=%s peer=%s", self.name, ident.name, peer)
        return session

    def close_session(self, session: Session) -> None:
        """``session`` ended: forget it (unless a newer one replaced it) and its bids."""
        if self.sessions.get(session.identity.public_key) is session:
            del self.sessions[session.identity.public_key]
            log.info("task=%s event=session_closed identity=%s", self.name, session.identity.name)
        self.bidding.left(session.identity.public_key)
        self._forget(session.identity.public_key)

    def withdraw(self, session: Session) -> None:
        """Drop the open round's bids of ``session``'s identity (refused for cause)."""
        self.bidding.withdraw(session.identity.public_key)
        self._forget(session.identity.public_key)

    def _forget(self, public_key: bytes) -> None:
        """What else the task forgets of an identity whose session ended (none here)."""

    def check_sequence(self, public_key: bytes, sequence: int, timestamp_ms: int) -> None:
        """Refuse a replayed or stale body of this task's channel (:class:`Bidding`)."""
        self.bidding.check_sequence(public_key, sequence, timestamp_ms)


@dataclass
class Offer:
    """One identity's checked bids for the open round (arrays of equal length; amounts
    in units)."""

    envelope: Envelope
    key: bytes
    sequence: int
    timestamp_ms: int
    members: np.ndarray
    slots: np.ndarray
    amounts: np.ndarray
    actions: np.ndarray


@dataclass
class OpenRound:
    """The round whose bids are being collected: who is still awaited, what came."""

    round: int
    waiting: set[bytes]
    done: asyncio.Event
    offers: dict[bytes, Offer] = field(default_factory=dict)

    def answered(self, key: bytes) -> None:
        """``key`` is no longer awaited; the round may close once nobody is."""
        self.waiting.discard(key)
        if not self.waiting:
            self.done.set()


class Bidding:
    """The bids of one task (see the module docstring)."""

    def __init__(self, task: str, origin: str, book: SequenceBook) -> None:
        self.task = task
        self.origin = origin
        self.book = book
        self.open: OpenRound | None = None
        self._last: dict[bytes, int] = {}

    def open_round(self, round_: int, keys: set[bytes]) -> OpenRound:
        """Begin collecting the bids of ``round_`` from the identities ``keys``."""
        self.open = OpenRound(round_, set(keys), asyncio.Event())
        if not keys:
            self.open.done.set()
        return self.open

    def close_round(self) -> list[Offer]:
        """Stop collecting; the offers of the round that was open."""
        open_, self.open = self.open, None
        return [] if open_ is None else list(open_.offers.values())

    def left(self, key: bytes) -> None:
        """The identity's session ended: the open round no longer waits for it."""
        if self.open is not None:
            self.open.answered(key)

    def withdraw(self, key: bytes) -> None:
        """Drop the open round's bids of identity ``key`` (its session was refused for
        cause: nothing of an offender counts, not even a valid earlier bid)."""
        if self.open is not None:
            self.open.offers.pop(key, None)
            self.open.answered(key)

    def check_sequence(self, public_key: bytes, sequence: int, timestamp_ms: int) -> None:
        """Refuse a replayed or stale body of this task's channel (in memory; the numbers
        become durable with the round, before anything acts on them)."""
        if not 1 <= sequence <= MAX_SEQUENCE:  # the book could not record it
            raise Malformed(f"sequence: expected 1 .. 2**63-1, got {sequence}")
        key = scoped(public_key, self.task)
        last = self._last.get(key)
        if last is None:
            got = self.book.last(key)
            last = 0 if got is None else got[0]
        if sequence <= last:
            raise Replayed(
                f"sequence {sequence} is not above {last}, the last one accepted from this signer"
            )
        check_window(timestamp_ms, now_ms(), self.book.window_ms)
        self._last[key] = sequence

    def offer(
        self,
        ident: Identity,
        envelope: Envelope,
        body: exchange_pb2.Bids,
        *,
        current: int,
        rules: bytes,
        slots: int,
        n_actions: int,
    ) -> bool:
        """Take a signed, verified ``Bids`` of ``ident`` for the open round; False for a
        late one (a round already closed). ``current`` is the task's round when none is
        open. Raises the refusal otherwise."""
        if bytes(envelope.public_key) != ident.public_key:
            raise NotYourMember("the bids are signed by another key than this session's")
        if body.exchange != self.origin:
            raise WrongPlace(f"bids for exchange {body.exchange!r}, this is {self.origin!r}")
        if body.task != self.task:
            raise WrongPlace(f"bids for task {body.task!r} on the session of task {self.task!r}")
        self.check_sequence(envelope.public_key, body.sequence, body.timestamp_ms)
        open_ = self.open
        latest = open_.round if open_ is not None else current
        if body.round > latest:
            raise FutureRound(f"bids for round {body.round}; round {latest} is the latest")
        if open_ is None or body.round < open_.round:
            return False
        if bytes(body.rules) != rules:
            raise RulesChanged(
                f"the bids accept rules {bytes(body.rules).hex()[:16]}..., task {self.task} "
                f"has {rules.hex()[:16]}... (read ListTasks)"
            )
        if ident.public_key in open_.offers:
            raise DuplicateBids(f"this identity already bid in round {open_.round}")
        members, slot_of, amounts, actions = _checked(body, ident.members, slots, n_actions)
        open_.offers[ident.public_key] = Offer(
            envelope, ident.public_key, body.sequence, body.timestamp_ms,
            members, slot_of, amounts, actions,
        )  # fmt: skip
        open_.answered(ident.public_key)
        return True


def _checked(
    body: exchange_pb2.Bids, n_members: int, n_slots: int, n_actions: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Members, slots, amounts and actions of ``body``, each bid checked (one pass in
    Python: a round's messages hold a few bids each, where numpy costs more)."""
    members, slots, amounts, actions = [], [], [], []
    seen: set[int] = set()
    for k, bid in enumerate(body.bids):
        which = bid.action.WhichOneof("kind")
        if which is None:
            raise Malformed(f"bids: bid {k} has no action")
        if which != "discrete":
            raise OutsideSpace(f"bid {k}: actions must be Discrete indices, got a {which}")
        m, e, a = bid.member, bid.slot, bid.action.discrete
        if m >= n_members:
            raise NotYourMember(f"a bid for member {m}; this identity has {n_members}")
        if e >= n_slots:
            raise UnknownSlot(f"a bid for slot {e}; the task has {n_slots}")
        if not 0 <= a < n_actions:
            raise OutsideSpace(f"an action outside Discrete({n_actions}): {a}")
        pair = m * n_slots + e
        if pair in seen:
            raise Malformed("two bids for one member and one slot")
        seen.add(pair)
        members.append(m)
        slots.append(e)
        amounts.append(bid.amount)
        actions.append(a)
    return (
        np.array(members, dtype=np.int64),
        np.array(slots, dtype=np.int64),
        np.array(amounts, dtype=np.int64),
        np.array(actions, dtype=np.int64),
    )
