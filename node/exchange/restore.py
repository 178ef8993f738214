"""What a task's ledger says when an exchange (re)starts: identities, balances, rounds.

The ledger is the exchange's source of truth for wealth. On start, one pass over the
log finds, for each task, its identities (trader accounts ``<task>.<identity>.<member>``
in the order they were opened, with their keys), the last round it settled, and the
allowances it has given; balances come from the ledger's proven state. The market is
then rebuilt with exactly those balances (``DeepMarket.restore``). Ownerships of
episodes under way are not on the ledger: a restarted task begins new episodes, and a
royalty of an episode cut short is never charged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catallax.exchange.ledger import AccountKind, Ledger, Opening, Transfer, TransferKind
from catallax.node.errors import NodeError

__all__ = ["TaskHistory", "read_history", "special_accounts"]


def special_accounts(task: str) -> tuple[str, str]:
    """The issuer and treasury account ids of ``task``."""
    return f"{task}.issuer", f"{task}.treasury"


@dataclass
class TaskHistory:
    """One task as its ledger records it.

    Attributes:
        identities: ``(public key, member count)`` in the order they registered.
        last_round: the highest round of any of its transfers (``-1``: none).
        allowances: units given away in allowances so far.
        opened: whether its issuer and treasury accounts exist.
    """

    identities: list[tuple[bytes, int]] = field(default_factory=list)
    last_round: int = -1
    allowances: int = 0
    opened: bool = False


def read_history(ledger: Ledger, tasks: list[str]) -> dict[str, TaskHistory]:
    """One pass over ``ledger``: the :class:`TaskHistory` of each of ``tasks``.

    Raises:
        NodeError: a trader account of a task whose id does not follow the naming.
    """
    out = {t: TaskHistory() for t in tasks}
    members: dict[str, dict[bytes, int]] = {t: {} for t in tasks}
    for _, entry in ledger.entries():
        if isinstance(entry, Opening):
            acc = entry.account
            task, _, rest = acc.id.partition(".")
            if task not in out:
                continue
            if acc.id in special_accounts(task):
                out[task].opened = True
                continue
            if acc.kind is not AccountKind.TRADER or "/" in acc.id:
                continue  # a good's account belongs to the credits account before the "/"
            name, _, member = rest.rpartition(".")
            if not name or not member.isdigit() or acc.public_key is None:
                raise NodeError(f"ledger account {acc.id!r} is not <task>.<identity>.<member>")
            seen = members[task]
            key = bytes(acc.public_key)
            if key not in seen:
                seen[key] = 0
                out[task].identities.append((key, 0))
            seen[key] = max(seen[key], int(member) + 1)
        elif isinstance(entry, Transfer) and entry.task in out:
            h = out[entry.task]
            h.last_round = max(h.last_round, entry.round)
            if entry.kind is TransferKind.ALLOWANCE:
                h.allowances += entry.amount
    for task, h in out.items():
        h.identities = [(key, members[task][key]) for key, _ in h.identities]
    return out
