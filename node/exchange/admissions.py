"""Registration through a task's round loop, the same for deep and wide tasks.

``Register`` never changes a market itself: :meth:`Admitting.register` checks the
request, queues it (its allowance counted against the budget at once, so queued
registrations cannot overdraw it together) and waits; the round loop calls
:meth:`Admitting._admit_pending` between rounds, which commits and applies each
admission through the task's own ``_admit``. Registering again while queued joins the
queued request; a known identity gets its members back and nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from catallax.node.errors import BudgetExhausted, Malformed, TaskPaused
from catallax.node.exchange.remote import Identity

__all__ = ["Admitting"]

log = logging.getLogger("catallax.node.exchange")


class Admitting:
    """The registration half of a task (a mixin). The task provides ``name``, ``cfg``
    (with ``max_members``), ``state``, ``_wake`` (its loop's event), ``_pending`` (a
    list), ``allowance_units`` and ``budget_left`` (units), :meth:`identity`,
    :meth:`_accepting` and :meth:`_admit`."""

    name: str
    cfg: Any
    state: str
    _wake: asyncio.Event
    _pending: list[tuple[bytes, int, asyncio.Future]]
    allowance_units: int
    budget_left: int

    def identity(self, public_key: bytes) -> Identity | None:
        raise NotImplementedError

    def _accepting(self) -> bool:
        """Whether the task can admit members now (its market is built)."""
        raise NotImplementedError

    async def _admit(self, public_key: bytes, members: int) -> Identity:
        """Commit and apply one admission (in the round loop)."""
        raise NotImplementedError

    async def register(self, public_key: bytes, members: int) -> Identity:
        """The identity of ``public_key`` on this task, admitted first if it is new (its
        members get the allowance once, from the budget; re-registering grants nothing).

        Raises :class:`BudgetExhausted` when the budget cannot endow it,
        :class:`Malformed` for a member count outside ``1 .. max_members``,
        :class:`TaskPaused` while the task cannot admit anyone.
        """
        known = self.identity(public_key)
        if known is not None:
            return known
        key = bytes(public_key)
        for queued, _, fut in self._pending:  # registering again while queued: join it
            if queued == key:
                return await asyncio.shield(fut)
        if not 1 <= members <= self.cfg.max_members:
            raise Malformed(
                f"members: expected 1 .. {self.cfg.max_members} on task {self.name}, got {members}"
            )
        if not self._accepting():
            raise TaskPaused(f"task {self.name} is {self.state}; register again shortly")
        units = self.allowance_units
        left = self.budget_left - sum(n for _, n, _ in self._pending) * units
        if members * units > left:
            raise BudgetExhausted(
                f"task {self.name}: its allowance budget has {max(left, 0)} units left "
                f"(after the admissions queued), {members} new members need {members * units}"
            )
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((key, members, fut))
        self._wake.set()
        return await asyncio.shield(fut)

    async def _admit_pending(self) -> None:
        """Commit and apply the queued admissions (in the round loop)."""
        pending, self._pending = self._pending, []
        for key, members, fut in pending:
            try:
                ident = await self._admit(key, members)
            except Exception as exc:  # the registration fails; the task goes on
                log.warning("task=%s event=admission_failed error=%s", self.name, exc)
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(ident)
