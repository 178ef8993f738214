"""Errors raised by the ledger (``catallax.exchange.ledger``).

Every refusal leaves the ledger unchanged. ::

    LedgerError                    root of everything the ledger raises
    ├── TransferError              a transfer or an account opening is refused (ValueError)
    │   ├── InvalidTransfer        a field is malformed: empty id, payer == payee, bad kind...
    │   ├── InvalidAmount          amount not an int, a bool, not positive, or too large
    │   ├── UnknownAccount         payer or payee was never opened
    │   ├── AssetMismatch          payer or payee holds another asset than the transfer
    │   │                          names, or the kind does not move that asset
    │   ├── AccountConflict        an account id opened again with another kind or key
    │   ├── Overdraft              a non-issuer balance would go below zero
    │   ├── IdempotencyConflict    a transfer id already used for different content
    │   ├── MissingEvidence        a debit from a trader, or a reward, without signed evidence
    │   └── BadEvidence            the evidence signature does not verify, or the wrong signer
    ├── LedgerStateError           the ledger is used wrongly: read-only, closed, round open...
    │   ├── NoLedger               the folder or schema holds no ledger (and none was made)
    │   ├── WriterLocked           another writer holds the ledger folder's lock
    │   └── LedgerUnavailable      the store's server cannot be reached, or a commit was
    │                              cut short and its outcome is unknown: reopen the ledger
    ├── InvalidArgument            a ledger argument out of range: a tree size beyond the log,
    │                              ``checkpoint_interval`` < 1 (ValueError)
    ├── NotAnEntry                 an object that is neither an Opening nor a Transfer where an
    │                              entry is expected (TypeError)
    ├── CorruptLedger              a stored ledger is damaged; ``index`` names the first bad entry
    │   ├── CorruptStore           the file: not SQLite, truncated, malformed, another schema,
    │   │                          a value of the wrong type
    │   ├── TamperedEntry          an entry or a tree node does not match the hashes
    │   ├── TamperedState          a table derived from the log (balances, transfer ids)
    │   │                          does not follow from the log
    │   └── BadCheckpoint          a stored checkpoint does not verify or match the tree,
    │                              or one the header promises is missing
    ├── MalformedEntry             bytes that are not a canonical entry encoding (ValueError)
    ├── CheckpointError            a checkpoint note that does not parse or verify (ValueError)
    └── ProofError                 an inclusion or consistency proof fails (ValueError)
        ├── MalformedProof         wrong sizes, indices, or hash lengths
        └── RootMismatch           the proof leads to another root; ``expected``, ``calculated``
"""

from __future__ import annotations

__all__ = [
    "AccountConflict",
    "AssetMismatch",
    "BadCheckpoint",
    "BadEvidence",
    "CheckpointError",
    "CorruptLedger",
    "CorruptStore",
    "IdempotencyConflict",
    "InvalidAmount",
    "InvalidArgument",
    "InvalidTransfer",
    "LedgerError",
    "LedgerStateError",
    "LedgerUnavailable",
    "MalformedEntry",
    "MalformedProof",
    "MissingEvidence",
    "NoLedger",
    "NotAnEntry",
    "Overdraft",
    "ProofError",
    "RootMismatch",
    "TamperedEntry",
    "TamperedState",
    "TransferError",
    "UnknownAccount",
    "WriterLocked",
]


class LedgerError(Exception):
    """Root of the errors raised by the ledger."""


class TransferError(LedgerError, ValueError):
    """A transfer or an account opening is refused; nothing was written."""


class InvalidTransfer(TransferError):
    """A field of a transfer or account is malformed (the message names it)."""


class InvalidAmount(TransferError):
    """The amount is not a positive ``int`` (bools and floats are refused) or is too large."""


class UnknownAccount(TransferError):
    """The payer or the payee has not been opened on this ledger."""


class AssetMismatch(TransferError):
    """The transfer names an asset its payer or payee does not hold (an account holds
    one asset, fixed at its opening), or its kind does not move that asset (goods move
    only by allowance, delivery and production; credits by every other kind)."""


class AccountConflict(TransferError):
    """The account id is already open with another kind or public key."""


class Overdraft(TransferError):
    """The transfer would take a trader's or the treasury's balance below zero."""


class IdempotencyConflict(TransferError):
    """The transfer id was already used for a transfer with different content."""


class MissingEvidence(TransferError):
    """A debit from a trader, or a reward, came without the signed evidence it needs."""


class BadEvidence(TransferError):
    """The evidence signature does not verify, or it was made by the wrong key."""


class LedgerStateError(LedgerError):
    """The ledger was used wrongly: it is read-only or closed, or a round is already open."""


class NoLedger(LedgerStateError):
    """The place given holds no ledger (a folder without its file, a schema without its
    tables) and none was to be made there."""


class WriterLocked(LedgerStateError):
    """Another writer (process or ledger object) holds the ledger folder's writer lock."""


class LedgerUnavailable(LedgerStateError):
    """This ledger object can no longer be used: its store's server cannot be reached
    (refused, lost during a call), or a commit was cut short and whether it landed is
    unknown. Nothing is wrong with what is stored: open the ledger again (an exchange
    restarts its tasks from it, the source of truth)."""


class InvalidArgument(LedgerError, ValueError):
    """A ledger argument is out of range (the message names it): a tree size beyond the
    log, a ``checkpoint_interval`` that is not an int >= 1."""


class NotAnEntry(LedgerError, TypeError):
    """An object that is neither an :class:`Opening` nor a :class:`Transfer` was given
    where a ledger entry is expected."""


class CorruptLedger(LedgerError):
    """A stored ledger is damaged; ``index`` is the first bad entry when one is known."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class CorruptStore(CorruptLedger):
    """The storage itself is damaged: not a SQLite file, truncated, malformed, another
    schema, or a stored value of the wrong type (the message names the field)."""


class TamperedEntry(CorruptLedger):
    """A stored entry or tree node does not match its hashes; ``index`` names the entry."""


class TamperedState(CorruptLedger):
    """A table the writer acts on (balances, the transfer-id index) differs from what
    replaying the log gives; the message names the account or the transfer id."""


class BadCheckpoint(CorruptLedger):
    """A stored checkpoint does not verify, its root is not the tree's root at its size,
    or an archived checkpoint the header's interval promises is missing or misplaced."""


class MalformedEntry(LedgerError, ValueError):
    """Bytes that are not the canonical encoding of a ledger entry."""


class CheckpointError(LedgerError, ValueError):
    """A checkpoint note that does not parse, or whose signature does not verify."""


class ProofError(LedgerError, ValueError):
    """An inclusion or consistency proof does not verify."""


class MalformedProof(ProofError):
    """The proof cannot be right whatever the hashes: sizes, indices or hash lengths."""


class RootMismatch(ProofError):
    """The proof leads to a root other than the one expected."""

    def __init__(self, message: str, *, expected: bytes, calculated: bytes) -> None:
        super().__init__(message)
        self.expected = expected
        self.calculated = calculated
