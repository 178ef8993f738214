"""Remote traders as the deep market sees them: identities, their members, their mail.

The exchange's market has one population, :class:`RemoteMembers`: every member of every
registered identity, numbered in the order they joined. The market never asks it for
bids (the exchange hands it the signed bids it collected: ``DeepMarket.decide``); it
tells it what each member earned (``learn``) and who went bankrupt (``retire``), and
:class:`RemoteMembers` sorts that into each identity's mail, in the identity's own
member numbers, for its statement in the next ``Round`` message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from catallax.exchange.errors import BidError
from catallax.exchange.protocols import Outcomes
from catallax.node.wire.mandate import identity_name, member_account

__all__ = ["Identity", "RemoteMembers"]


@dataclass
class Identity:
    """One trader key registered on one task.

    Attributes:
        public_key: the raw 32-byte Ed25519 key.
        name: its name in account ids (:func:`~catallax.node.wire.mandate.identity_name`).
        accounts: one account id per member, in member order.
        numbers: the market member number of each member (consecutive at registration;
            a member born later to replace a bankrupt one is numbered after everyone).
    """

    public_key: bytes
    name: str
    accounts: list[str]
    numbers: list[int]
    outcomes: list[Outcomes] = field(default_factory=list)
    retired: list[int] = field(default_factory=list)
    born: list[int] = field(default_factory=list)

    @property
    def members(self) -> int:
        return len(self.accounts)

    def take_mail(self) -> tuple[list[Outcomes], list[int], list[int]]:
        """What the market told this identity since the last call (and forget it):
        outcomes, members retired, members born (its own member numbers)."""
        out, gone, born = self.outcomes, self.retired, self.born
        self.outcomes, self.retired, self.born = [], [], []
        return out, gone, born


class RemoteMembers:
    """The market's population of remote members (``Bidders``, ``Learner``, ``Mortal``)."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.identities: dict[bytes, Identity] = {}
        self._owner: list[Identity] = []
        self._local: list[int] = []  # market member number -> the identity's member number

    @property
    def size(self) -> int:
        return len(self._owner)

    def add(self, public_key: bytes, members: int, *, publish: bool = True) -> Identity:
        """A new identity with ``members`` members, numbered after everyone else's.

        With ``publish=False`` it holds its members (so that the market can admit them)
        but is not yet found by key: :meth:`publish` it once its admission is committed.
        """
        key = bytes(public_key)
        accounts = [member_account(self.task, key, k) for k in range(members)]
        ident = Identity(
            key, identity_name(key), accounts, list(range(self.size, self.size + members))
        )
        if publish:
            self.identities[key] = ident
        self._owner.extend([ident] * members)
        self._local.extend(range(members))
        return ident

    def extend(self, ident: Identity, count: int) -> tuple[list[int], list[str]]:
        """``count`` new members of ``ident``, numbered after everyone (the market admits
        them next); returns their market member numbers and account ids. Undo with
        :meth:`drop_newest` if the admission is not committed."""
        numbers = list(range(self.size, self.size + count))
        local = list(range(ident.members, ident.members + count))
        accounts = [member_account(self.task, ident.public_key, k) for k in local]
        ident.accounts.extend(accounts)
        ident.numbers.extend(numbers)
        self._owner.extend([ident] * count)
        self._local.extend(local)
        return numbers, accounts

    def drop_newest(self, ident: Identity, count: int) -> None:
        """Undo :meth:`extend` of ``ident``'s ``count`` newest members."""
        if count:
            del ident.accounts[-count:], ident.numbers[-count:]
            del self._owner[-count:], self._local[-count:]

    def local(self, member: int) -> int:
        """The identity's own member number of a market member number."""
        return self._local[member]

    def publish(self, ident: Identity) -> None:
        """Make an identity added with ``publish=False`` known by its key."""
        self.identities[ident.public_key] = ident

    def owner_of(self, member: int) -> Identity:
        """The identity of a market member number."""
        return self._owner[member]

    def drop_last(self, ident: Identity) -> None:
        """Undo :meth:`add` of the newest identity (its admission was not committed)."""
        if self._owner[-ident.members :] and self._owner[-1] is ident:
            del self._owner[-ident.members :], self._local[-ident.members :]
        self.identities.pop(ident.public_key, None)

    def bids(self, obs: np.ndarray) -> np.ndarray:
        raise BidError("remote traders bid over the network; the exchange calls decide()")

    def actions(self, obs: np.ndarray, members: np.ndarray) -> np.ndarray:
        raise BidError("remote traders send their actions with their bids")

    def learn(self, outcomes: Outcomes) -> None:
        members = np.asarray(outcomes.members)
        if not len(members):
            return
        owners = [self._owner[m] for m in members.tolist()]
        local = np.asarray([self._local[m] for m in members.tolist()], dtype=np.int64)
        by: dict[int, list[int]] = {}
        for k, ident in enumerate(owners):
            by.setdefault(id(ident), []).append(k)
        for rows in by.values():
            ident = owners[rows[0]]
            idx = np.asarray(rows)
            prov = outcomes.provisional
            ident.outcomes.append(
                Outcomes(
                    members=local[idx],
                    obs=np.asarray(outcomes.obs)[idx],
                    actions=np.asarray(outcomes.actions)[idx],
                    price=np.asarray(outcomes.price)[idx],
                    reward=np.asarray(outcomes.reward)[idx],
                    receipt=np.asarray(outcomes.receipt)[idx],
                    ended=np.asarray(outcomes.ended)[idx],
                    provisional=None if prov is None else np.asarray(prov)[idx],
                )
            )

    def retire(self, members: np.ndarray) -> None:
        for m in np.asarray(members).tolist():
            ident = self._owner[m]
            ident.retired.append(self._local[m])
