"""The storage contract, one suite run against the in-memory, SQLite and PostgreSQL backends.

Each backend class says how to make a store and how to reopen it; everything else is
shared (like Flower's LinkState tests). The PostgreSQL stores live in a fresh schema per
test on the server of the ``postgres_server`` fixture (``tests/conftest.py``: a local
server if one answers, else one started from the ``pgserver`` wheel), dropped afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import (
    Account,
    AccountKind,
    AccountState,
    Batch,
    CompactTree,
    CorruptStore,
    InvalidArgument,
    LedgerStateError,
    LedgerStore,
    MemoryStore,
    NoLedger,
    SqliteStore,
    StoreHeader,
    TreeState,
    WriterLocked,
    leaf_hash,
)

HEADER = StoreHeader("catallax.test/store", b"\x07" * 32, 4)
TREASURY = Account("treasury", AccountKind.TREASURY)
KEY = crypto.public_key_bytes(crypto.generate_private_key())
#: Accounts of a good: a trader's wood and the wood's issuer (the environment).
WOOD = [
    AccountState(Account("t.a.0/wood", AccountKind.TRADER, KEY, "good:wood"), 5_000_000),
    AccountState(Account("t.issuer/wood", AccountKind.ISSUER, KEY, "good:wood"), -5_000_000),
]
VECTORS = Path(__file__).parent / "vectors" / "ledger-schema2"


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

    def test_an_accounts_asset_round_trips(self, store: LedgerStore, tmp_path) -> None:
        assert store.holds_goods
        batch = _batch(CompactTree(), [b"a"], ["a"])
        credits = AccountState(TREASURY, 0)
        store.commit(Batch(**{**_fields(batch), "accounts": [*WOOD, credits]}))
        store = self.reopen(store, tmp_path)
        assert store.account("t.a.0/wood") == WOOD[0]
        assert store.account("t.a.0/wood").account.asset == "good:wood"
        assert store.accounts() == [*WOOD, credits]
        assert store.account("treasury").account.asset == "credits"
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

    def test_a_file_of_schema_2_keeps_credits_and_refuses_goods(self, tmp_path: Path) -> None:
        # A file written before goods (tests/vectors/ledger-schema2), copied.
        path = tmp_path / "old" / "ledger.sqlite"
        path.parent.mkdir()
        path.write_bytes((VECTORS / "ledger.sqlite").read_bytes())
        store = SqliteStore(path)
        try:
            assert store.schema == 2 and not store.holds_goods
            state = store.state()
            tree = CompactTree.from_frontier_bytes(state.size, state.frontier)
            credits = AccountState(Account("t9", AccountKind.TREASURY), 7)
            store.commit(Batch(**{**_fields(_batch(tree, [b"x"], ["x"])), "accounts": [credits]}))
            assert store.account("t9") == credits and store.state().size == 11
            before = (list(store.entries()), store.state(), store.accounts())
            goods = _batch(tree.copy(), [b"y"], ["y"])
            with pytest.raises(LedgerStateError, match="credits only"):
                store.commit(Batch(**{**_fields(goods), "accounts": [credits, *WOOD]}))
            assert (list(store.entries()), store.state(), store.accounts()) == before
        finally:
            store.close()
        store = SqliteStore(path, readonly=True)
        assert store.schema == 2 and store.account("t9") == credits
        store.close()


class TestPostgresStore(StoreSuite):
    @pytest.fixture(autouse=True)
    def _server(self, postgres_url: str, postgres_server: str) -> None:
        self.url = postgres_url
        self.server = postgres_server

    def make(self, tmp_path: Path) -> LedgerStore:
        from catallax.exchange.ledger.postgres import PostgresStore

        return PostgresStore(self.url, create=True)

    def reopen(self, store: LedgerStore, tmp_path: Path) -> LedgerStore:
        from catallax.exchange.ledger.postgres import PostgresStore

        store.close()
        return PostgresStore(self.url)

    def _sql(self, *statements: str) -> list[tuple]:
        """Run statements on the ledger's schema through a connection of our own."""
        import psycopg

        rows: list[tuple] = []
        with psycopg.connect(self.server, autocommit=True) as db:
            schema = self.url.rsplit("schema=", 1)[1]
            db.execute(f'SET search_path TO "{schema}"')
            for statement in statements:
                cursor = db.execute(statement)
                rows = cursor.fetchall() if cursor.description else []
        return rows

    def test_postgres_commits_durably_on_one_session(self, store) -> None:
        store.commit(_batch(CompactTree(), [b"a"], ["a"]))
        db = store._db
        assert db.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert self._sql("SELECT count(*) FROM entries") == [(1,)]

    def test_a_second_writer_is_locked_out_readers_are_not(self, store) -> None:
        from catallax.exchange.ledger.postgres import PostgresStore

        with pytest.raises(WriterLocked, match="another writer holds"):
            PostgresStore(self.url)
        reader = PostgresStore(self.url, readonly=True)
        assert reader.state() == store.state()
        reader.close()
        store.close()
        PostgresStore(self.url).close()  # the lock went with the writer

    def test_a_killed_writer_leaves_no_lock(self, store) -> None:
        from catallax.exchange.ledger.postgres import PostgresStore

        store.close()
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import sys\nfrom catallax.exchange.ledger.postgres import PostgresStore\n"
             "s = PostgresStore(sys.argv[1])\nprint('holding', flush=True)\nsys.stdin.read()\n",
             self.url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert holder.stdout.readline().strip() == "holding"
            with pytest.raises(WriterLocked):
                PostgresStore(self.url)
        finally:
            holder.kill()
            holder.wait()
        for _ in range(50):  # the server notices the closed socket at once, or nearly
            try:
                PostgresStore(self.url).close()
                break
            except WriterLocked:
                threading.Event().wait(0.1)
        else:
            pytest.fail("the killed writer's lock stayed")

    def test_two_ledgers_share_a_database(self, store, postgres_server, postgres_schema) -> None:
        from catallax.exchange.ledger.postgres import PostgresStore

        other = PostgresStore(postgres_server, schema=postgres_schema + "_b", create=True)
        try:
            other.initialize(HEADER, TreeState(0, b"", "other 0"))
            other.commit(_batch(CompactTree(), [b"x", b"y"], ["x", "y"]))
            store.commit(_batch(CompactTree(), [b"a"], ["x"]))  # the same id, another ledger
            assert [d for _, d, _ in store.entries()] == [b"a"]
            assert other.state().size == 2 and store.state().size == 1
        finally:
            other.close()
            self._sql(f'DROP SCHEMA "{postgres_schema}_b" CASCADE')

    def test_snapshot_holds_while_another_connection_commits(self, store) -> None:
        from catallax.exchange.ledger.postgres import PostgresStore

        tree = CompactTree()
        store.commit(_batch(tree, [b"a"], ["a"], archive=True))
        reader = PostgresStore(self.url, readonly=True)
        try:
            with reader.snapshot():
                before = reader.state()
                store.commit(_batch(tree, [b"b", b"c"], ["b", "c"], archive=True))
                with reader.snapshot():  # re-entrant
                    assert reader.state() == before
                assert [d for _, d, _ in reader.entries()] == [b"a"]
                assert reader.transfer_index("b") is None
                assert reader.checkpoints() == ["note 1"]
            assert reader.state().size == 3
            assert reader.checkpoints() == ["note 1", "note 3"]
            with pytest.raises(LedgerStateError, match="inside a snapshot"), store.snapshot():
                store.commit(_batch(tree, [b"d"], ["d"]))
        finally:
            reader.close()

    def test_opening_read_only_never_writes(self, store, postgres_server) -> None:
        from catallax.exchange.ledger.postgres import PostgresStore

        store.commit(_batch(CompactTree(), [b"a"], ["a"]))
        store.close()
        reader = PostgresStore(self.url, readonly=True)
        assert reader._db.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        with pytest.raises(LedgerStateError, match="read-only"):
            reader.commit(_batch(CompactTree(), [b"b"], ["b"]))
        reader.close()
        missing = f"{postgres_server}{'&' if '?' in postgres_server else '?'}schema=nobody_here"
        for create in (False, True):
            with pytest.raises(NoLedger, match="no ledger here"):
                PostgresStore(missing, readonly=True, create=create)
        with pytest.raises(NoLedger, match="no ledger here"):
            PostgresStore(missing)
        assert self._sql("SELECT 1 FROM pg_namespace WHERE nspname = 'nobody_here'") == []

    def test_balances_keep_the_full_signed_64_bit_range(self, store) -> None:
        tree = CompactTree()
        batch = _batch(tree, [b"a"], ["a"])
        low = AccountState(Account("low", AccountKind.TREASURY), -(2**63 - 1))
        high = AccountState(Account("high", AccountKind.TREASURY), 2**63 - 1)
        store.commit(Batch(**{**_fields(batch), "accounts": [low, high]}))
        assert store.account("low") == low and store.account("high") == high
        before = (store.state(), store.accounts())
        over = AccountState(Account("over", AccountKind.TREASURY), 2**63)
        with pytest.raises(LedgerStateError, match="nothing written"):
            store.commit(Batch(**{**_fields(_batch(tree, [b"b"], ["b"])), "accounts": [over]}))
        assert (store.state(), store.accounts()) == before
        assert [d for _, d, _ in store.entries()] == [b"a"]

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ("ALTER TABLE entries ALTER COLUMN data TYPE text", "table 'entries' is not as"),
            ("ALTER TABLE accounts DROP CONSTRAINT accounts_pkey", "table 'accounts' is not as"),
            ("DROP TABLE checkpoints", "missing checkpoints"),
            ("CREATE TABLE extra (x int)", "unexpected table 'extra'"),
            ("UPDATE meta SET schema = 7", "unknown ledger layout 7"),
            ("UPDATE meta SET schema = 1", "the tables are layout 2's, but meta says layout 1"),
            ("ALTER TABLE accounts DROP COLUMN asset",
             "the tables are layout 1's, but meta says layout 2"),
            ("ALTER TABLE accounts ALTER COLUMN asset DROP NOT NULL",
             "table 'accounts' is not as layout 2"),
            ("CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END' | "
             "CREATE TRIGGER sneaky BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION f()",
             "unexpected trigger or rule 'sneaky'"),
        ],
    )  # fmt: skip
    def test_a_schema_not_as_made_is_corrupt(self, store, change: str, message: str) -> None:
        from catallax.exchange.ledger.postgres import PostgresStore

        store.commit(_batch(CompactTree(), [b"a"], ["a"]))
        store.close()
        self._sql(*change.split(" | "))
        for readonly in (True, False):
            with pytest.raises(CorruptStore, match=message):
                PostgresStore(self.url, readonly=readonly)

    def test_a_schema_of_layout_1_keeps_credits_and_refuses_goods(self, store) -> None:
        from catallax.exchange.ledger.postgres import PostgresStore

        tree = CompactTree()
        store.commit(_batch(tree, [b"a"], ["a"]))
        store.close()
        # As a version before goods made it: accounts without their asset.
        self._sql("ALTER TABLE accounts DROP COLUMN asset", "UPDATE meta SET schema = 1")
        old = PostgresStore(self.url)
        try:
            assert old.layout_version == 1 and not old.holds_goods
            assert old.accounts() == [AccountState(TREASURY, 1)]
            old.commit(_batch(tree, [b"b"], ["b"]))
            assert old.account("treasury") == AccountState(TREASURY, 2)
            before = (list(old.entries()), old.state(), old.accounts())
            goods = _batch(tree.copy(), [b"c"], ["c"])
            with pytest.raises(LedgerStateError, match="credits only"):
                old.commit(Batch(**{**_fields(goods), "accounts": WOOD}))
            assert (list(old.entries()), old.state(), old.accounts()) == before
        finally:
            old.close()
        assert self._sql("SELECT schema FROM meta") == [(1,)]

    def test_bad_urls_and_dead_servers_are_one_line_errors(self) -> None:
        from catallax.exchange.ledger.postgres import PostgresStore

        for url, error, message in (
            ("postgresql://root@127.0.0.1:5432/test?schema=Bad-Name", InvalidArgument, "schema"),
            ("postgresql://root@127.0.0.1:5432/test?schema=a&schema=b", InvalidArgument, "once"),
            ("postgresql://root@127.0.0.1:5432/test?nonsense=1", InvalidArgument, "not a usable"),
            ("postgresql://root@127.0.0.1:port/test", LedgerStateError, "cannot connect"),
            ("postgresql://root:secret@127.0.0.1:1/test", LedgerStateError, "cannot connect"),
            ("mysql://root@127.0.0.1/test", InvalidArgument, "expected postgresql://"),
        ):
            with pytest.raises(error, match=message) as info:
                PostgresStore(url, create=True)
            assert "\n" not in str(info.value) and "secret" not in str(info.value)


def _fields(batch: Batch) -> dict:
    return {name: getattr(batch, name) for name in Batch.__dataclass_fields__}


def test_a_folder_without_a_ledger_is_no_ledger(tmp_path: Path) -> None:
    from catallax.exchange.ledger import open_ledger

    (tmp_path / "empty").mkdir()
    for where in (tmp_path / "empty", tmp_path / "absent"):
        with pytest.raises(NoLedger, match="no ledger here"):
            open_ledger(where)
    assert issubclass(NoLedger, LedgerStateError)  # callers catching the old class still do
