"""The ledger: accounts, atomic rounds of transfers, and the signed Merkle log over them.

A :class:`Ledger` sits on a :class:`~catallax.exchange.ledger.store.LedgerStore`. Every
entry (an account :class:`Opening` or a :class:`Transfer`) is a leaf of an RFC 6962 tree
whose frontier the ledger keeps in memory; each committed round stores its entries, the
tree nodes they complete, the new balances and a checkpoint signed by the exchange's
key, all in one atomic commit. Opened without the key, a ledger is read-only.

Opening an existing store verifies it (the whole log by default, see
:func:`~catallax.exchange.ledger.integrity.verify_log`) and refuses a damaged one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from catallax.exchange.crypto import Ed25519PrivateKey, public_key_bytes
from catallax.exchange.ledger.checkpoint import (
    Checkpoint,
    check_origin,
    open_checkpoint,
    sign_checkpoint,
)
from catallax.exchange.ledger.encoding import decode_entry
from catallax.exchange.ledger.errors import InvalidArgument, LedgerStateError, UnknownAccount
from catallax.exchange.ledger.hashing import EMPTY_ROOT, HASH_SIZE
from catallax.exchange.ledger.integrity import (
    AuditReport,
    VerifyReport,
    audit_log,
    check_head,
    verify_log,
)
from catallax.exchange.ledger.model import Account, AccountKind, Entry, Opening
from catallax.exchange.ledger.proofs import consistency_proof, inclusion_proof, subtree_hash
from catallax.exchange.ledger.round import Receipt, Round
from catallax.exchange.ledger.sqlite import SqliteStore
from catallax.exchange.ledger.store import AccountState, LedgerStore, StoreHeader, TreeState
from catallax.exchange.ledger.tree import CompactTree, completing_leaf

__all__ = ["LEDGER_FILE", "Ledger", "open_ledger"]

#: The SQLite file inside a ledger folder.
LEDGER_FILE = "ledger.sqlite"


class Ledger:
    """A signed wealth ledger over a store.

    ``key`` is the exchange's Ed25519 private key (needed to commit: it signs every
    checkpoint); ``origin`` names the log (needed to create one). ``verify`` checks the
    whole stored log when opening (otherwise only the latest checkpoint against the
    tree state). A checkpoint is archived each time the log crosses a multiple of
    ``checkpoint_interval`` entries; the latest one is always kept.
    """

    def __init__(
        self,
        store: LedgerStore,
        *,
        key: Ed25519PrivateKey | None = None,
        origin: str | None = None,
        verify: bool = True,
        checkpoint_interval: int = 1024,
    ) -> None:
        if type(checkpoint_interval) is not int or checkpoint_interval < 1:
            raise InvalidArgument(
                f"checkpoint_interval: expected an int >= 1, got {checkpoint_interval!r}"
            )
        self._store = store
        self._key = key
        self.checkpoint_interval = checkpoint_interval
        self._round: Round | None = None
        header = store.header()
        if header is None:
            if key is None or origin is None:
                raise LedgerStateError("a new ledger needs the exchange's key and an origin")
            header = StoreHeader(check_origin(origin), public_key_bytes(key))
            note = sign_checkpoint(Checkpoint(header.origin, 0, EMPTY_ROOT), key)
            store.initialize(header, TreeState(0, b"", note))
        else:
            if key is not None and public_key_bytes(key) != header.public_key:
                raise LedgerStateError("key: not the key this ledger was created with")
            if origin is not None and origin != header.origin:
                raise LedgerStateError(f"origin: this ledger is {header.origin!r}, not {origin!r}")
            check_head(store, header)
            if verify:
                verify_log(store, header)
        self._header = header
        self._accounts = {s.account.id: s for s in store.accounts()}
        state = store.state()
        self._tree = CompactTree.from_frontier_bytes(state.size, state.frontier)
        self._checkpoint = state.checkpoint

    # --- identity and head ----------------------------------------------------------

    @property
    def origin(self) -> str:
        """The log's name, the first line of every checkpoint."""
        return self._header.origin

    @property
    def public_key(self) -> bytes:
        """The exchange's raw Ed25519 public key, which signs the checkpoints."""
        return self._header.public_key

    @property
    def readonly(self) -> bool:
        """True when opened without the exchange's key."""
        return self._key is None

    @property
    def size(self) -> int:
        """Number of entries in the log."""
        return self._tree.size

    @property
    def root(self) -> bytes:
        """The Merkle tree hash of the whole log."""
        return self._tree.root()

    @property
    def checkpoint(self) -> str:
        """The latest signed checkpoint note."""
        return self._checkpoint

    def head(self) -> Checkpoint:
        """The latest checkpoint, verified against the exchange's key."""
        return open_checkpoint(self._checkpoint, self.public_key)

    # --- reading --------------------------------------------------------------------

    def account(self, account_id: str) -> AccountState | None:
        """An account and its balance, or None."""
        return self._accounts.get(account_id)

    def accounts(self) -> list[AccountState]:
        """All accounts with their balances, sorted by id."""
        return self._store.accounts()

    def balance(self, account_id: str) -> int:
        """The balance of an account in units; :class:`UnknownAccount` if never opened."""
        state = self._accounts.get(account_id)
        if state is None:
            raise UnknownAccount(f"account: no account {account_id!r} on this ledger")
        return state.balance

    def balances(self) -> dict[str, int]:
        """Every account's balance in units."""
        return {s.account.id: s.balance for s in self._store.accounts()}

    def entry(self, index: int) -> Entry:
        """The entry at ``index`` (IndexError if there is none)."""
        if not 0 <= index < self.size:
            raise IndexError(f"index: the log has entries 0..{self.size - 1}, not {index}")
        return decode_entry(self._store.entry(index))

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, Entry]]:
        """``(index, entry)`` pairs in order."""
        for index, data, _ in self._store.entries(start, stop):
            yield index, decode_entry(data)

    def entry_bytes(self, index: int) -> bytes:
        """The stored canonical bytes of entry ``index`` (the leaf data)."""
        if not 0 <= index < self.size:
            raise IndexError(f"index: the log has entries 0..{self.size - 1}, not {index}")
        return self._store.entry(index)

    def transfer_index(self, transfer_id: str) -> int | None:
        """Where the transfer with this id sits in the log, or None."""
        return self._store.transfer_index(transfer_id)

    # --- proofs and checks ----------------------------------------------------------

    def _node(self, level: int, index: int) -> bytes:
        nodes = self._store.entry_nodes(completing_leaf(level, index))
        return nodes[level * HASH_SIZE : (level + 1) * HASH_SIZE]

    def leaf_hash(self, index: int) -> bytes:
        """The stored leaf hash of entry ``index``."""
        if not 0 <= index < self.size:
            raise IndexError(f"index: the log has entries 0..{self.size - 1}, not {index}")
        return self._node(0, index)

    def root_at(self, size: int) -> bytes:
        """The root of the tree of the first ``size`` entries, from O(log n) stored nodes."""
        if not 0 <= size <= self.size:
            raise InvalidArgument(f"size: expected 0..{self.size}, got {size}")
        return subtree_hash(0, size, self._node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of entry ``index`` in the tree of ``size`` entries (default all)."""
        size = self.size if size is None else size
        if not 0 < size <= self.size:
            raise InvalidArgument(f"size: expected 1..{self.size}, got {size}")
        return inclusion_proof(index, size, self._node)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """The proof that the log at ``size1`` is a prefix of the log at ``size2``."""
        size2 = self.size if size2 is None else size2
        if not size2 <= self.size:
            raise InvalidArgument(f"size2: the log has {self.size} entries, not {size2}")
        return consistency_proof(size1, size2, self._node)

    def verify(self) -> VerifyReport:
        """Recompute every hash and the tree and check every checkpoint."""
        return verify_log(self._store, self._header)

    def audit(self) -> AuditReport:
        """:meth:`verify`, then replay every entry, evidence and balance."""
        return audit_log(self._store, self._header)

    # --- writing --------------------------------------------------------------------

    def begin_round(self) -> Round:
        """Open a round; add entries to it, then commit (or discard) it."""
        if self._key is None:
            raise LedgerStateError("ledger: opened read-only (without the exchange's key)")
        if self._round is not None:
            raise LedgerStateError("ledger: a round is already open")
        self._round = Round(self)
        return self._round

    def commit_round(self, entries: Iterable[Entry]) -> Receipt:
        """Commit all ``entries`` atomically, or raise and commit none of them."""
        round_ = self.begin_round()
        try:
            round_.add_all(list(entries))
        except BaseException:
            round_.discard()
            raise
        return round_.commit()

    def open_account(
        self, account_id: str, kind: AccountKind | str, public_key: bytes | None = None
    ) -> Receipt:
        """Open an account (its own round); a no-op if it is already open as given."""
        return self.commit_round([Opening(Account(account_id, AccountKind(kind), public_key))])

    def _advance(self, tree: CompactTree, note: str, accounts: dict[str, AccountState]) -> None:
        self._tree, self._checkpoint = tree, note
        self._accounts.update(accounts)

    def _round_closed(self, round_: Round) -> None:
        if self._round is round_:
            self._round = None

    def close(self) -> None:
        """Close the store; an open round is discarded (never committed)."""
        self._round = None
        self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_ledger(
    folder: str | Path,
    *,
    key: Ed25519PrivateKey | None = None,
    origin: str | None = None,
    create: bool = False,
    verify: bool = True,
    checkpoint_interval: int = 1024,
) -> Ledger:
    """Open the SQLite ledger in ``folder`` (``folder/ledger.sqlite``).

    Without ``key`` the ledger is read-only and the file is never written. With
    ``create`` a missing folder and file are made (then ``key`` and ``origin`` are
    required).
    """
    folder = Path(folder)
    path = folder / LEDGER_FILE
    if create and key is not None and not path.exists():
        if origin is None:
            raise LedgerStateError("a new ledger needs the exchange's key and an origin")
        check_origin(origin)
        folder.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise LedgerStateError(f"{folder}: no ledger here (expected {LEDGER_FILE})")
    store = SqliteStore(path, create=create, readonly=key is None)
    try:
        return Ledger(
            store, key=key, origin=origin, verify=verify, checkpoint_interval=checkpoint_interval
        )
    except BaseException:
        store.close()
        raise
