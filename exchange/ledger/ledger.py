"""The ledger: accounts, atomic rounds of transfers, and the signed Merkle log over them.

A :class:`Ledger` sits on a :class:`~catallax.exchange.ledger.store.LedgerStore`. Every
entry (an account :class:`Opening` or a :class:`Transfer`) is a leaf of an RFC 6962 tree
whose frontier the ledger keeps in memory; each committed round stores its entries, the
tree nodes they complete, the new balances and a checkpoint signed by the exchange's
key, all in one atomic commit. Opened without the key, a ledger is read-only.

Opening an existing store reads one snapshot of it: the latest checkpoint against the
tree state always; the whole log by default (see
:func:`~catallax.exchange.ledger.integrity.verify_log`); and, for a writer always, the
balances and transfer ids the writer acts on, replayed from the log
(:func:`~catallax.exchange.ledger.integrity.prove_log`). A damaged store is refused. A
reader's view (size, head, accounts, entries) is that snapshot, however the file grows.
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
from catallax.exchange.ledger.errors import (
    InvalidArgument,
    LedgerStateError,
    NoLedger,
    UnknownAccount,
)
from catallax.exchange.ledger.hashing import EMPTY_ROOT, HASH_SIZE
from catallax.exchange.ledger.integrity import (
    AuditReport,
    VerifyReport,
    audit_log,
    check_head,
    prove_log,
    verify_log,
)
from catallax.exchange.ledger.location import is_url
from catallax.exchange.ledger.model import CREDITS, Account, AccountKind, Entry, Opening
from catallax.exchange.ledger.proofs import consistency_proof, inclusion_proof, subtree_hash
from catallax.exchange.ledger.round import Receipt, Round
from catallax.exchange.ledger.sqlite import SqliteStore
from catallax.exchange.ledger.store import AccountState, LedgerStore, StoreHeader, TreeState
from catallax.exchange.ledger.tree import CompactTree, completing_leaf

__all__ = ["LEDGER_FILE", "Ledger", "open_ledger", "open_store"]

#: The SQLite file inside a ledger folder.
LEDGER_FILE = "ledger.sqlite"
#: The checkpoint interval of a new ledger (entries between archived checkpoints).
DEFAULT_CHECKPOINT_INTERVAL = 1024


def _check_interval(interval: object) -> int | None:
    if interval is not None and (type(interval) is not int or interval < 1):
        raise InvalidArgument(f"checkpoint_interval: expected an int >= 1, got {interval!r}")
    return interval  # type: ignore[return-value]


def _new_head(
    key: Ed25519PrivateKey, origin: str, interval: int | None
) -> tuple[StoreHeader, TreeState]:
    """The header and the empty tree's signed state of a new ledger."""
    interval = DEFAULT_CHECKPOINT_INTERVAL if interval is None else interval
    header = StoreHeader(check_origin(origin), public_key_bytes(key), interval)
    note = sign_checkpoint(Checkpoint(header.origin, 0, EMPTY_ROOT), key)
    return header, TreeState(0, b"", note)


class Ledger:
    """A signed wealth ledger over a store.

    ``key`` is the exchange's Ed25519 private key (needed to commit: it signs every
    checkpoint); ``origin`` names the log (needed to create one). ``verify`` checks the
    whole stored log when opening (otherwise only the latest checkpoint against the
    tree state). A writer (``key`` given) also proves the stored balances and transfer
    ids from the log, whatever ``verify`` says. A checkpoint is archived at every
    multiple of ``checkpoint_interval`` entries (recorded in a new ledger's header,
    default 1024; an existing ledger keeps its own); the latest one is always kept.
    """

    def __init__(
        self,
        store: LedgerStore,
        *,
        key: Ed25519PrivateKey | None = None,
        origin: str | None = None,
        verify: bool = True,
        checkpoint_interval: int | None = None,
    ) -> None:
        interval = _check_interval(checkpoint_interval)
        self._store = store
        self._key = key
        self._round: Round | None = None
        if store.header() is None:
            if key is None or origin is None:
                raise LedgerStateError("a new ledger needs the exchange's key and an origin")
            store.initialize(*_new_head(key, origin, interval))
        with store.snapshot():
            header = store.header()
            if header is None:
                raise LedgerStateError("store: the header vanished while opening")
            if key is not None and public_key_bytes(key) != header.public_key:
                raise LedgerStateError("key: not the key this ledger was created with")
            if origin is not None and origin != header.origin:
                raise LedgerStateError(f"origin: this ledger is {header.origin!r}, not {origin!r}")
            stored = header.checkpoint_interval
            if interval is not None and stored is not None and interval != stored:
                raise InvalidArgument(
                    f"checkpoint_interval: this ledger archives every {stored} entries, "
                    f"not {interval}"
                )
            if key is not None or verify:
                accounts = prove_log(store, header, verify=verify)
            else:
                check_head(store, header)
                accounts = {s.account.id: s for s in store.accounts()}
            state = store.state()
        self._header = header
        self.checkpoint_interval = stored or interval or DEFAULT_CHECKPOINT_INTERVAL
        self._accounts = accounts
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
        """All accounts with their balances, sorted by id (as of :attr:`size`)."""
        return [self._accounts[k] for k in sorted(self._accounts)]

    def balance(self, account_id: str) -> int:
        """The balance of an account in units; :class:`UnknownAccount` if never opened."""
        state = self._accounts.get(account_id)
        if state is None:
            raise UnknownAccount(f"account: no account {account_id!r} on this ledger")
        return state.balance

    def balances(self) -> dict[str, int]:
        """Every account's balance in units of its asset (as of :attr:`size`)."""
        return {k: self._accounts[k].balance for k in sorted(self._accounts)}

    def supply(self) -> dict[str, int]:
        """Per asset (credits and every good with an account), the units its accounts
        other than issuers hold (as of :attr:`size`): what its issuers have created and
        not taken back."""
        out: dict[str, int] = {CREDITS: 0}
        for s in self._accounts.values():
            held = s.balance if s.account.kind is not AccountKind.ISSUER else 0
            out[s.account.asset] = out.get(s.account.asset, 0) + held
        return dict(sorted(out.items(), key=lambda kv: (kv[0] != CREDITS, kv[0])))

    def entry(self, index: int) -> Entry:
        """The entry at ``index`` (IndexError if there is none)."""
        if not 0 <= index < self.size:
            raise IndexError(f"index: the log has entries 0..{self.size - 1}, not {index}")
        return decode_entry(self._store.entry(index))

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, Entry]]:
        """``(index, entry)`` pairs in order, none beyond the signed :attr:`size`."""
        stop = self.size if stop is None else min(stop, self.size)
        for index, data, _ in self._store.entries(start, stop):
            yield index, decode_entry(data)

    def entry_bytes(self, index: int) -> bytes:
        """The stored canonical bytes of entry ``index`` (the leaf data)."""
        if not 0 <= index < self.size:
            raise IndexError(f"index: the log has entries 0..{self.size - 1}, not {index}")
        return self._store.entry(index)

    def transfer_index(self, transfer_id: str) -> int | None:
        """Where the transfer with this id sits in the log (of :attr:`size`), or None."""
        index = self._store.transfer_index(transfer_id)
        return None if index is None or index >= self.size else index

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
        self,
        account_id: str,
        kind: AccountKind | str,
        public_key: bytes | None = None,
        *,
        asset: str = CREDITS,
    ) -> Receipt:
        """Open an account holding ``asset`` (credits, or a good ``"good:<name>"``) in its
        own round; a no-op if it is already open as given."""
        account = Account(account_id, kind, public_key, asset)  # type: ignore[arg-type]
        return self.commit_round([Opening(account)])

    def _archive(self, start: int, nodes: list[bytes], note: str) -> tuple[tuple[int, str], ...]:
        """The ``(size, note)`` checkpoints to archive for a round appending ``nodes`` at
        ``start`` (signed ``note`` at its end): one at every multiple of the interval."""
        interval, end = self.checkpoint_interval, start + len(nodes)
        first = (start // interval + 1) * interval
        if first > end:
            return ()

        def node(level: int, index: int) -> bytes:
            leaf = completing_leaf(level, index)
            blob = nodes[leaf - start] if leaf >= start else self._store.entry_nodes(leaf)
            return blob[level * HASH_SIZE : (level + 1) * HASH_SIZE]

        archive = []
        for size in range(first, end + 1, interval):
            if size == end:
                archive.append((size, note))
                continue
            head = Checkpoint(self.origin, size, subtree_hash(0, size, node))
            note_k = sign_checkpoint(head, self._key, public_key=self.public_key)  # type: ignore[arg-type]
            archive.append((size, note_k))
        return tuple(archive)

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


def open_store(
    location: str | Path,
    *,
    readonly: bool = True,
    initial: tuple[StoreHeader, TreeState] | None = None,
) -> LedgerStore:
    """The store at ``location``: a folder's ``ledger.sqlite``, or a PostgreSQL ledger
    for a ``postgresql://`` URL (:mod:`~catallax.exchange.ledger.location`).

    ``initial`` creates a missing ledger holding it (a writer only); without it the
    ledger must exist (:class:`LedgerStateError`). A writer takes the ledger's writer
    lock (:class:`WriterLocked` if another writer holds it).
    """
    if is_url(location):
        from catallax.exchange.ledger.postgres import PostgresStore  # imports psycopg

        return PostgresStore(
            location,  # type: ignore[arg-type]
            create=initial is not None,
            readonly=readonly,
            initial=initial,
        )
    folder = Path(location)
    path = folder / LEDGER_FILE
    if initial is not None:
        folder.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise NoLedger(f"{folder}: no ledger here (expected {LEDGER_FILE})")
    return SqliteStore(path, create=initial is not None, readonly=readonly, initial=initial)


def open_ledger(
    location: str | Path,
    *,
    key: Ed25519PrivateKey | None = None,
    origin: str | None = None,
    create: bool = False,
    verify: bool = True,
    checkpoint_interval: int | None = None,
) -> Ledger:
    """Open the ledger at ``location``: a folder (SQLite, ``folder/ledger.sqlite``) or a
    ``postgresql://`` / ``postgres://`` URL naming a database and a schema (``?schema=``,
    default ``catallax_ledger``; see :mod:`~catallax.exchange.ledger.postgres`).

    Without ``key`` the ledger is read-only and never written. With ``key`` the
    ledger's writer lock is taken (:class:`WriterLocked` if another writer holds it).
    With ``create`` a missing ledger (folder and file, or schema and tables) is made,
    atomically (then ``key`` and ``origin`` are required). A URL that cannot be parsed
    is :class:`InvalidArgument`; a server that cannot be reached, or refuses the
    connection, is :class:`LedgerStateError` with the server's reason on one line.
    """
    initial = None
    if create and key is not None:
        if origin is None:
            raise LedgerStateError("a new ledger needs the exchange's key and an origin")
        initial = _new_head(key, origin, _check_interval(checkpoint_interval))
    store = open_store(location, readonly=key is None, initial=initial)
    try:
        return Ledger(
            store, key=key, origin=origin, verify=verify, checkpoint_interval=checkpoint_interval
        )
    except BaseException:
        store.close()
        raise
