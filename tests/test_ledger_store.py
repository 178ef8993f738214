"""The storage contract, one suite run against the in-memory and the SQLite backends.

Each backend class says how to make a store and how to reopen it; everything else is
shared (like Flower's LinkState tests).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from catallax.exchange.ledger import (
    Account,
    AccountKind,
    AccountState,
    Batch,
    CompactTree,
    LedgerStateError,
    LedgerStore,
    MemoryStore,
    SqliteStore,
    StoreHeader,
    TreeState,
    leaf_hash,
)

HEADER = StoreHeader("catallax.test/store", b"\x07" * 32, 4)
TREASURY = Account("treasury", AccountKind.TREASURY)


def _batch(tree: CompactTree, datas: list[bytes], ids: list[str], *, archive=False) -> Batch:
    """A batch appending ``datas`` to ``tree`` (mutated), with one id per entry."""
    start = tree.size
    nodes = [b"".join(tree.append(leaf_hash(data))) for data in datas]
    return Batch(
        start=start,
        entries=list(datas),
        nodes=nodes,
        transfer_ids=[(tid, start + i) for i, tid in enumerate(ids)],
        accounts=[AccountState(TREASURY, tree.size)],
        state=TreeState(tree.size, tree.frontier_bytes(), f"note {tree.size}"),
        archive=((tree.size, f"note {tree.size}"),) if archive else (),
    )


class StoreSuite:
    """The MUST list of :class:`LedgerStore`, for any backend."""

    def make(self, tmp_path: Path) -> LedgerStore:
        raise NotImplementedError

    def reopen(self, store: LedgerStore, tmp_path: Path) -> LedgerStore:
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path):
        store = self.make(tmp_path)
        store.initialize(HEADER, TreeState(0, b"", "note 0"))
        yield store
        store.close()

    def test_new_store_has_no_header_until_initialised(self, tmp_path: Path) -> None:
        store = self.make(tmp_path)
        assert store.header() is None
        store.initialize(HEADER, TreeState(0, b"", "note 0"))
        assert store.header() == HEADER
        with pytest.raises(LedgerStateError):
            store.initialize(HEADER, TreeState(0, b"", "again"))
        assert store.state() == TreeState(0, b"", "note 0")
        store.close()

    def test_commit_then_read_everything_back(self, store: LedgerStore, tmp_path) -> None:
        tree = CompactTree()
        datas = [b"alpha", b"beta", b"gamma"]
        batch = _batch(tree, datas, ["t0", "t1", "t2"], archive=True)
        store.commit(batch)
        store = self.reopen(store, tmp_path)
        assert [(i, d) for i, d, _ in store.entries()] == list(enumerate(datas))
        assert [n for _, _, n in store.entries()] == batch.nodes
        assert [(i, d) for i, d, _ in store.entries(1, 2)] == [(1, b"beta")]
        assert store.entry(2) == b"gamma"
        assert store.entry_nodes(0) == leaf_hash(b"alpha")
        assert len(store.entry_nodes(1)) == 64  # the leaf and the node over entries 0..1
        assert store.transfer_index("t1") == 1
        assert store.transfer_index("nope") is None
        assert store.transfer_indices(["t2", "nope", "t0"]) == {"t2": 2, "t0": 0}
        assert list(store.transfer_ids()) == [(0, "t0"), (1, "t1"), (2, "t2")]
        assert store.account("treasury") == AccountState(TREASURY, 3)
        assert store.account("nobody") is None
        assert store.accounts() == [AccountState(TREASURY, 3)]
        assert store.state() == batch.state
        assert store.checkpoints() == ["note 3"]
        with pytest.raises(IndexError):
            store.entry(3)
        with pytest.raises(IndexError):
            store.entry_nodes(3)
        store.close()

    def test_only_archived_checkpoints_are_kept(self, store: LedgerStore) -> None:
        tree = CompactTree()
        store.commit(_batch(tree, [b"a"], ["a"], archive=False))
        store.commit(_batch(tree, [b"b"], ["b"], archive=True))
        store.commit(_batch(tree, [b"c"], ["c"], archive=False))
        assert store.checkpoints() == ["note 2"]
        assert store.state().checkpoint == "note 3"

    def test_a_batch_at_the_wrong_start_is_refused_whole(self, store: LedgerStore) -> None:
        tree = CompactTree()
        store.commit(_batch(tree, [b"a"], ["a"]))
        stale = CompactTree()
        with pytest.raises(LedgerStateError, match="starts at 0"):
            store.commit(_batch(stale, [b"x", b"y"], ["x", "y"]))
        assert [d for _, d, _ in store.entries()] == [b"a"]
        assert store.state().size == 1

    def test_a_batch_repeating_a_transfer_id_is_refused_whole(self, store: LedgerStore) -> None:
        tree = CompactTree()
        store.commit(_batch(tree, [b"a"], ["a"]))
        before = (list(store.entries()), store.state(), store.accounts())
        with pytest.raises(LedgerStateError):
            store.commit(_batch(tree.copy(), [b"b", b"c"], ["b", "a"]))
        after = (list(store.entries()), store.state(), store.accounts())
        assert after == before
        assert store.transfer_index("b") is None

    def test_many_commits_keep_order_and_positions(self, store: LedgerStore, tmp_path) -> None:
        tree = CompactTree()
        all_nodes: list[bytes] = []
        for r in range(20):
            batch = _batch(tree, [f"e{r}-{i}".encode() for i in range(r % 4 + 1)], [])
            all_nodes.extend(batch.nodes)
            store.commit(batch)
        store = self.reopen(store, tmp_path)
        assert [n for _, _, n in store.entries()] == all_nodes
        assert [i for i, _, _ in store.entries()] == list(range(tree.size))
        restored = CompactTree.from_frontier_bytes(store.state().size, store.state().frontier)
        assert restored.root() == tree.root()
        store.close()

    def test_a_closed_store_refuses_use(self, tmp_path: Path) -> None:
        store = self.make(tmp_path)
        store.initialize(HEADER, TreeState(0, b"", "note 0"))
        store.close()
        with pytest.raises(LedgerStateError, match="closed"):
            store.state()


class TestMemoryStore(StoreSuite):
    def make(self, tmp_path: Path) -> LedgerStore:
        return MemoryStore()

    def reopen(self, store: LedgerStore, tmp_path: Path) -> LedgerStore:
        return store  # memory lives as long as the object


class TestSqliteStore(StoreSuite):
    def make(self, tmp_path: Path) -> LedgerStore:
        return SqliteStore(tmp_path / "ledger.sqlite", create=True)

    def reopen(self, store: LedgerStore, tmp_path: Path) -> LedgerStore:
        store.close()
        return SqliteStore(tmp_path / "ledger.sqlite")

    def test_sqlite_uses_wal_and_full_sync(self, store: SqliteStore) -> None:
        store.commit(_batch(CompactTree(), [b"a"], ["a"]))
        db = store._writer
        assert db is not None
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL

    def test_reopening_reads_without_writing(self, store: SqliteStore, tmp_path: Path) -> None:
        store.commit(_batch(CompactTree(), [b"a"], ["a"]))
        store.close()
        path = tmp_path / "ledger.sqlite"
        before = path.read_bytes()
        reopened = SqliteStore(path, readonly=True)
        assert [d for _, d, _ in reopened.entries()] == [b"a"]
        with pytest.raises(LedgerStateError, match="read-only"):
            reopened.commit(_batch(CompactTree(), [b"b"], ["b"]))
        reopened.close()
        assert path.read_bytes() == before
