"""Rounds from ledger entries: what ``tasks/<task>/rounds`` says, computed from the log.

A round's transfers carry its task and round number and commit together, so the
entries of one commit give each round's summary: the winners and the prices they paid
(a ``bid`` transfer's payer and amount; where the price was negative, an ``ask``
transfer's payee, the buyer who was paid to take the state, and minus its amount), the
rewards paid (a ``reward``'s payee and amount; a cost, a ``cost`` transfer's payer and
minus its amount), and how many units moved. The exchange's publisher and a monitor
that follows the gRPC ledger stream compute the same summaries the same way, from the
same entries. Allowances (an admission, a birth) are not part of a market round: they
are left out, and a commit of allowances only makes no summary.
"""

from __future__ import annotations

from collections.abc import Iterable

from catallax.exchange.ledger import Opening, Transfer, TransferKind
from catallax.node.monitor.payloads import RoundMsg

__all__ = ["summarise_rounds"]


def summarise_rounds(
    exchange: str, entries: Iterable[tuple[int, Opening | Transfer]]
) -> list[RoundMsg]:
    """The summaries of the market rounds among ``entries`` (``(index, entry)``, whole
    commits), in the order their first entries come."""
    groups: dict[tuple[str, int], list[tuple[int, Transfer]]] = {}
    for index, entry in entries:
        if isinstance(entry, Transfer) and entry.kind is not TransferKind.ALLOWANCE:
            groups.setdefault((entry.task, entry.round), []).append((index, entry))
    out = []
    for (task, round_), rows in groups.items():
        out.append(
            RoundMsg(
                exchange, task, round_, rows[0][0], rows[-1][0],
                _signed(rows, _WINNERS),
                _signed(rows, _REWARDS),
                len(rows), sum(t.amount for _, t in rows),
            )
        )  # fmt: skip
    return out


#: Per transfer kind: whether the trader it concerns is the payee, and the sign of what
#: it means for that trader (a winner's price; a reward).
_WINNERS = {TransferKind.BID: (False, 1), TransferKind.ASK: (True, -1)}
_REWARDS = {TransferKind.REWARD: (True, 1), TransferKind.COST: (False, -1)}


def _signed(
    rows: list[tuple[int, Transfer]], kinds: dict[TransferKind, tuple[bool, int]]
) -> tuple[tuple[str, int], ...]:
    """``(account, signed units)`` of the transfers of ``kinds``, in entry order."""
    out = []
    for _, t in rows:
        side = kinds.get(t.kind)
        if side is not None:
            payee, sign = side
            out.append((t.payee if payee else t.payer, sign * t.amount))
    return tuple(out)
