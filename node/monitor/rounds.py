"""Rounds from ledger entries: what ``tasks/<task>/rounds`` says, computed from the log.

A round's transfers carry its task and round number and commit together, so the
entries of one commit give each round's summary: the winning bids (payer and price),
the rewards paid, and how many units moved. The exchange's publisher and a monitor
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
                tuple((t.payer, t.amount) for _, t in rows if t.kind is TransferKind.BID),
                tuple((t.payee, t.amount) for _, t in rows if t.kind is TransferKind.REWARD),
                len(rows), sum(t.amount for _, t in rows),
            )
        )  # fmt: skip
    return out
