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
                tuple(_signed(rows, TransferKind.BID, TransferKind.ASK)),
                tuple(_signed(rows, TransferKind.REWARD, TransferKind.COST)),
                len(rows), sum(t.amount for _, t in rows),
            )
        )  # fmt: skip
    return out


def _signed(rows: list[tuple[int, Transfer]], paid: TransferKind, owed: TransferKind):
    """``(account, units)`` in entry order: for ``paid`` the payer and the amount when
    it is a bid, the payee and the amount when it is a reward; for ``owed`` (an ask, a
    cost) the trader it concerns and minus the amount."""
    for _, t in rows:
        if t.kind is paid:
            yield (t.payer, t.amount) if paid is TransferKind.BID else (t.payee, t.amount)
        elif t.kind is owed:
            yield (t.payee, -t.amount) if owed is TransferKind.ASK else (t.payer, -t.amount)
