"""The signed wealth ledger: double-entry transfers on a verifiable Merkle log.

Every change of wealth is a :class:`Transfer` between accounts; rounds of transfers
commit atomically; every entry is a leaf of an RFC 6962 Merkle tree whose head is
signed as a C2SP checkpoint by the exchange's key. Proofs verify without the ledger.
See ``docs/decisions/ledger.md`` for the encoding, the rules and the storage; a ledger
lives in a folder (SQLite) or in a PostgreSQL schema (``docs/decisions/ledger-postgres.md``;
:class:`~catallax.exchange.ledger.postgres.PostgresStore` is imported on first use, so
that psycopg loads only for a ``postgresql://`` ledger).
"""

from catallax.exchange.ledger.checkpoint import (
    Checkpoint,
    check_origin,
    key_id,
    open_checkpoint,
    sign_checkpoint,
    verifier_key,
)
from catallax.exchange.ledger.encoding import (
    ASSET_ENCODING_VERSION,
    ENCODING_VERSION,
    decode_entry,
    encode_entry,
)
from catallax.exchange.ledger.errors import (
    AccountConflict,
    AssetMismatch,
    BadCheckpoint,
    BadEvidence,
    CheckpointError,
    CorruptLedger,
    CorruptStore,
    IdempotencyConflict,
    InvalidAmount,
    InvalidArgument,
    InvalidTransfer,
    LedgerError,
    LedgerStateError,
    LedgerUnavailable,
    MalformedEntry,
    MalformedProof,
    MissingEvidence,
    NoLedger,
    NotAnEntry,
    Overdraft,
    ProofError,
    RootMismatch,
    TamperedEntry,
    TamperedState,
    TransferError,
    UnknownAccount,
    WriterLocked,
)
from catallax.exchange.ledger.evidence import (
    DEBITS_MESSAGE,
    PRODUCTION_MESSAGE,
    Authorization,
    Debit,
    Mandate,
    ProductionItem,
    ProductionReport,
    authorize,
    authorize_transfers,
    decode_authorization,
    decode_production,
    read_evidence,
    register_reader,
    report_production,
)
from catallax.exchange.ledger.hashing import EMPTY_ROOT, leaf_hash, node_hash
from catallax.exchange.ledger.integrity import (
    AuditReport,
    VerifyReport,
    audit_log,
    prove_log,
    verify_log,
)
from catallax.exchange.ledger.ledger import LEDGER_FILE, Ledger, open_ledger, open_store
from catallax.exchange.ledger.memory import MemoryStore
from catallax.exchange.ledger.model import (
    CREDITS,
    GOODS_KINDS,
    MAX_AMOUNT,
    UNITS_PER_CREDIT,
    UNITS_PER_GOOD,
    Account,
    AccountKind,
    Entry,
    Opening,
    Transfer,
    TransferKind,
    asset_account,
    check_asset,
    good_asset,
    is_good,
)
from catallax.exchange.ledger.proofs import consistency_proof, inclusion_proof
from catallax.exchange.ledger.round import Receipt, Round
from catallax.exchange.ledger.rules import evidence_required
from catallax.exchange.ledger.sqlite import SqliteStore
from catallax.exchange.ledger.store import (
    AccountState,
    Batch,
    LedgerStore,
    StoreHeader,
    TreeState,
)
from catallax.exchange.ledger.tree import CompactTree, node_position
from catallax.exchange.ledger.verify import (
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    # the ledger
    "LEDGER_FILE",
    "Ledger",
    "Receipt",
    "Round",
    "open_ledger",
    "open_store",
    # values
    "CREDITS",
    "GOODS_KINDS",
    "MAX_AMOUNT",
    "UNITS_PER_CREDIT",
    "UNITS_PER_GOOD",
    "Account",
    "AccountKind",
    "AccountState",
    "Entry",
    "Opening",
    "Transfer",
    "TransferKind",
    "asset_account",
    "check_asset",
    "evidence_required",
    "good_asset",
    "is_good",
    # evidence
    "DEBITS_MESSAGE",
    "PRODUCTION_MESSAGE",
    "Authorization",
    "Debit",
    "Mandate",
    "ProductionItem",
    "ProductionReport",
    "authorize",
    "authorize_transfers",
    "decode_authorization",
    "decode_production",
    "read_evidence",
    "register_reader",
    "report_production",
    # encoding
    "ASSET_ENCODING_VERSION",
    "ENCODING_VERSION",
    "decode_entry",
    "encode_entry",
    # Merkle tree and proofs
    "EMPTY_ROOT",
    "CompactTree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "node_position",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
    # checkpoints
    "Checkpoint",
    "check_origin",
    "key_id",
    "open_checkpoint",
    "sign_checkpoint",
    "verifier_key",
    # verification of a stored log
    "AuditReport",
    "VerifyReport",
    "audit_log",
    "prove_log",
    "verify_log",
    # storage
    "Batch",
    "LedgerStore",
    "MemoryStore",
    "SqliteStore",
    "StoreHeader",
    "TreeState",
    # errors
    "LedgerError",
    "TransferError",
    "InvalidTransfer",
    "InvalidAmount",
    "UnknownAccount",
    "AssetMismatch",
    "AccountConflict",
    "Overdraft",
    "IdempotencyConflict",
    "MissingEvidence",
    "BadEvidence",
    "LedgerStateError",
    "LedgerUnavailable",
    "NoLedger",
    "WriterLocked",
    "InvalidArgument",
    "NotAnEntry",
    "CorruptLedger",
    "CorruptStore",
    "TamperedEntry",
    "TamperedState",
    "BadCheckpoint",
    "MalformedEntry",
    "CheckpointError",
    "ProofError",
    "MalformedProof",
    "RootMismatch",
]
