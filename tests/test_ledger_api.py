"""The Ledger API over every backend: accounts, rounds, idempotency, evidence, proofs."""

from __future__ import annotations

from pathlib import Path

import pytest

import catallax.exchange.ledger as ledger_pkg
from catallax.exchange import crypto
from catallax.exchange.ledger import (
    EMPTY_ROOT,
    AccountKind,
    Ledger,
    LedgerStateError,
    MemoryStore,
    Opening,
    SqliteStore,
    Transfer,
    TransferKind,
    decode_entry,
    encode_entry,
    leaf_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from catallax.exchange.ledger._reference import naive_root
from catallax.exchange.ledger.evidence import authorize_transfers

ORIGIN = "catallax.test/exchange"


class World:
    """Keys and a ledger with an issuer, two traders and the treasury."""

    def __init__(self, backend: str, tmp_path: Path, url: str = "") -> None:
        self.exchange = crypto.generate_private_key()
        self.env = crypto.generate_private_key()
        self.alice = crypto.generate_private_key()
        self.bob = crypto.generate_private_key()
        self.path = tmp_path / "ledger.sqlite"
        self.url = url
        if backend == "postgres":
            from catallax.exchange.ledger.postgres import PostgresStore

            store = PostgresStore(url, create=True)
        else:
            store = MemoryStore() if backend == "memory" else SqliteStore(self.path, create=True)
        self.ledger = Ledger(store, key=self.exchange, origin=ORIGIN, checkpoint_interval=4)
        pub = crypto.public_key_bytes
        self.ledger.open_account("env", AccountKind.ISSUER, pub(self.env))
        self.ledger.open_account("alice", "trader", pub(self.alice))
        self.ledger.open_account("bob", "trader", pub(self.bob))
        self.ledger.open_account("treasury", "treasury")

        self.keys = {"env": self.env, "alice": self.alice, "bob": self.bob}

    def sign(self, *transfers: Transfer) -> list[Transfer]:
        """The transfers with each payer's signed authorisation as evidence."""
        return authorize_transfers(transfers, self.keys, ORIGIN)

    def endow(self, amount: int = 1_000) -> None:
        self.ledger.commit_round(
            self.sign(
                Transfer("allow-alice", "env", "alice", amount, TransferKind.ALLOWANCE),
                Transfer("allow-bob", "env", "bob", amount, TransferKind.ALLOWANCE),
            )
        )


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def world(request, tmp_path: Path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    w = World(request.param, tmp_path, url)
    yield w
    w.ledger.close()


def test_exported_names() -> None:
    assert set(ledger_pkg.__all__) == {n for n in dir(ledger_pkg) if not n.startswith("_")} - {
        "checkpoint", "encoding", "errors", "hashing", "integrity", "ledger", "memory",
        "model", "proofs", "rebuild", "round", "rules", "sqlite", "store", "tree", "verify",
        "evidence", "files", "keycheck", "replay", "schema", "location", "postgres",
    }  # fmt: skip
    assert len(ledger_pkg.__all__) == len(set(ledger_pkg.__all__))


def test_a_round_moves_wealth_and_keeps_the_sum_zero(world: World) -> None:
    world.endow(1_000)
    transfers = world.sign(
        Transfer("bid-1", "alice", "bob", 30, "bid", task="chain", round=1),
        Transfer("rent-1", "alice", "treasury", 5, "rent", task="chain", round=1),
        Transfer("rew-1", "env", "alice", 7, "reward", task="chain", round=1),
    )
    ev = transfers[0].evidence
    assert transfers[1].evidence != ev  # each transfer carries its own authorisation
    receipt = world.ledger.commit_round(transfers)
    assert list(receipt.indices) == [6, 7, 8]
    assert world.ledger.balances() == {
        "alice": 1_000 - 30 - 5 + 7,
        "bob": 1_030,
        "env": -2_007,
        "treasury": 5,
    }
    assert sum(world.ledger.balances().values()) == 0
    head = open_checkpoint(receipt.checkpoint, world.ledger.public_key)
    assert (head.origin, head.size, head.root) == (ORIGIN, 9, world.ledger.root)
    entry = world.ledger.entry(6)
    assert isinstance(entry, Transfer) and entry.evidence == ev


def test_the_log_is_the_naive_tree_of_the_encoded_entries(world: World) -> None:
    world.endow()
    datas = [world.ledger.entry_bytes(i) for i in range(world.ledger.size)]
    assert [encode_entry(decode_entry(d)) for d in datas] == datas
    assert isinstance(decode_entry(datas[0]), Opening)
    assert world.ledger.root == naive_root(datas)
    report = world.ledger.audit()
    assert report.balances == world.ledger.balances()
    assert report.transfers == 2


def test_proofs_verify_against_the_signed_checkpoints(world: World) -> None:
    world.endow()
    old = open_checkpoint(world.ledger.checkpoint, world.ledger.public_key)
    world.ledger.commit_round(
        world.sign(*[Transfer(f"a{i}", "env", "bob", i + 1, "allowance") for i in range(5)])
    )
    head = world.ledger.head()
    for index in range(head.size):
        proof = world.ledger.inclusion_proof(index)
        verify_inclusion(world.ledger.leaf_hash(index), index, head.size, proof, head.root)
        assert world.ledger.leaf_hash(index) == leaf_hash(world.ledger.entry_bytes(index))
    proof = world.ledger.consistency_proof(old.size)
    verify_consistency(old.size, head.size, proof, old.root, head.root)
    older = world.ledger.inclusion_proof(2, old.size)
    verify_inclusion(world.ledger.leaf_hash(2), 2, old.size, older, old.root)


def test_same_id_same_content_is_a_no_op(world: World) -> None:
    world.endow(100)
    (t,) = world.sign(Transfer("pay-1", "env", "bob", 10, "allowance", task="t", round=3))
    first = world.ledger.commit_round([t])
    again = world.ledger.commit_round([t, t])
    assert again.duplicates == ("pay-1", "pay-1")
    assert list(again.indices) == []
    assert again.checkpoint == first.checkpoint
    assert world.ledger.balance("bob") == 110
    # Within one round a repeated transfer is also recorded once.
    both = world.ledger.commit_round(world.sign(Transfer("x", "env", "bob", 1, "allowance")) * 2)
    assert list(both.indices) == [first.size] and both.duplicates == ("x",)
    # Re-opening an account as it is changes nothing.
    assert world.ledger.open_account("treasury", "treasury").duplicates == ("treasury",)


def test_issuers_may_go_negative_and_others_may_not(world: World) -> None:
    world.ledger.commit_round(world.sign(Transfer("big", "env", "bob", 10**12, "allowance")))
    assert world.ledger.balance("env") == -(10**12)
    world.ledger.commit_round(world.sign(Transfer("all", "bob", "alice", 10**12, "bid")))
    assert world.ledger.balance("bob") == 0


def test_a_round_can_open_accounts_and_use_them(world: World) -> None:
    carol = crypto.generate_private_key()
    from catallax.exchange.ledger import Account

    with world.ledger.begin_round() as r:
        r.open_account(Account("carol", AccountKind.TRADER, crypto.public_key_bytes(carol)))
        world.keys["carol"] = carol
        for t in world.sign(
            Transfer("allow-carol", "env", "carol", 50, "allowance"),
            Transfer("carol-pays", "carol", "treasury", 20, "rent"),
        ):
            r.add(t)
    assert world.ledger.balance("carol") == 30
    world.ledger.audit()


def test_a_discarded_round_leaves_nothing(world: World) -> None:
    world.endow()
    size, root = world.ledger.size, world.ledger.root
    with pytest.raises(RuntimeError), world.ledger.begin_round() as r:
        r.add(*world.sign(Transfer("gone", "env", "bob", 1, "allowance")))
        raise RuntimeError("the round's step failed")
    assert (world.ledger.size, world.ledger.root) == (size, root)
    assert world.ledger.transfer_index("gone") is None
    with pytest.raises(LedgerStateError):
        r.add(*world.sign(Transfer("late", "env", "bob", 1, "allowance")))


def test_one_round_at_a_time_and_read_only_without_key(world: World, tmp_path) -> None:
    r = world.ledger.begin_round()
    with pytest.raises(LedgerStateError, match="already open"):
        world.ledger.begin_round()
    r.discard()
    world.ledger.begin_round().discard()
    if world.path.exists():
        world.ledger.close()
        reader = Ledger(SqliteStore(world.path, readonly=True))
        assert reader.readonly and reader.size == 4
        with pytest.raises(LedgerStateError, match="read-only"):
            reader.begin_round()
        reader.close()
        world.ledger = Ledger(SqliteStore(world.path), key=world.exchange)
    if world.url:
        from catallax.exchange.ledger.postgres import PostgresStore

        world.ledger.close()
        reader = Ledger(PostgresStore(world.url, readonly=True))
        assert reader.readonly and reader.size == 4
        with pytest.raises(LedgerStateError, match="read-only"):
            reader.begin_round()
        reader.close()
        world.ledger = Ledger(PostgresStore(world.url), key=world.exchange)


def test_empty_ledger_has_a_signed_empty_head(tmp_path: Path) -> None:
    key = crypto.generate_private_key()
    ledger = Ledger(MemoryStore(), key=key, origin=ORIGIN)
    head = ledger.head()
    assert (head.size, head.root) == (0, EMPTY_ROOT)
    assert ledger.verify().size == 0
    with pytest.raises(LedgerStateError, match="key and an origin"):
        Ledger(MemoryStore(), key=key)
