"""A log's checkpoints as they arrive, each verified against the one before.

:class:`CheckpointChain` holds the newest checkpoint of one log that verified. A new
note is first checked for its signature (by the exchange's key) and its origin
(:meth:`CheckpointChain.open`); then, against the one held (:meth:`CheckpointChain.advance`):

- a smaller tree is a :class:`~catallax.node.errors.Rollback`;
- the same size with another root is a :class:`~catallax.node.errors.SplitView`;
- a larger tree needs the RFC 9162 consistency proof from the held size
  (:meth:`CheckpointChain.wants`); a proof that fails is a ``SplitView`` (two views
  of the log that cannot both be true).

Both alarms name the two checkpoints (``first``: the one held, ``second``: the new one).
A first checkpoint is taken on trust of the key alone (there is nothing to compare it
with), as a checkpoint kept with ``catallax ledger checkpoint`` starts ``--since``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from catallax.exchange.ledger import Checkpoint, LedgerError, open_checkpoint, verify_consistency
from catallax.node.errors import NotTrusted, Rollback, SplitView

__all__ = ["Advance", "CheckpointChain", "describe_checkpoint"]


def describe_checkpoint(head: Checkpoint) -> str:
    """``<origin> size <n> root <base64>``: how alarms and reports name a checkpoint."""
    return f"{head.origin} size {head.size} root {base64.b64encode(head.root).decode()}"


@dataclass(frozen=True, slots=True)
class Advance:
    """What one checkpoint added: the verified ``head``, the size it was proved
    consistent from (0: the first one, nothing to prove), and whether it is new."""

    head: Checkpoint
    proved_from: int
    new: bool


class CheckpointChain:
    """The verified checkpoints of the log ``origin`` signed by ``public_key``."""

    def __init__(self, public_key: bytes, origin: str | None = None) -> None:
        self.public_key = public_key
        self.origin = origin
        self.head: Checkpoint | None = None
        self.note = ""

    def open(self, note: str) -> Checkpoint:
        """The checkpoint of ``note`` if its signature verifies by the key and it names
        this log; :class:`~catallax.node.errors.NotTrusted` otherwise."""
        try:
            head = open_checkpoint(note, self.public_key)
        except LedgerError as exc:
            raise NotTrusted(f"checkpoint: {exc}") from None
        if self.origin is not None and head.origin != self.origin:
            raise NotTrusted(
                f"checkpoint: the log is {self.origin!r}, the checkpoint names {head.origin!r}"
            )
        return head

    def wants(self, head: Checkpoint) -> tuple[int, int] | None:
        """The ``(first, second)`` sizes of the consistency proof that ``head`` needs,
        or None if it needs none."""
        if self.head is None or self.head.size == 0 or head.size <= self.head.size:
            return None
        return self.head.size, head.size

    def advance(self, note: str, head: Checkpoint, proof: list[bytes] | None = None) -> Advance:
        """Take ``head`` (opened from ``note``) if it extends the held checkpoint, with
        ``proof`` (the consistency proof :meth:`wants` names); raise an alarm if not."""
        held, held_note = self.head, self.note
        if held is None:
            self.head, self.note = head, note
            return Advance(head, 0, True)
        both = {"first": held_note, "second": note}
        if head.size < held.size:
            raise Rollback(
                f"rollback: checkpoint {describe_checkpoint(held)} was followed by "
                f"{describe_checkpoint(head)}",
                **both,
            )
        if head.size == held.size:
            if head.root != held.root:
                raise SplitView(
                    f"split view: checkpoints {describe_checkpoint(held)} and "
                    f"{describe_checkpoint(head)} have the same size, different roots",
                    **both,
                )
            return Advance(head, held.size, False)
        if held.size > 0:
            try:
                verify_consistency(held.size, head.size, proof or [], held.root, head.root)
            except LedgerError as exc:
                raise SplitView(
                    f"split view: checkpoint {describe_checkpoint(head)} is not consistent "
                    f"with {describe_checkpoint(held)} ({exc})",
                    **both,
                ) from None
        self.head, self.note = head, note
        return Advance(head, held.size, True)
