"""Bad input: every refusal raises its specific error and leaves the ledger unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import (
    Account,
    AccountConflict,
    BadEvidence,
    CorruptStore,
    IdempotencyConflict,
    InvalidAmount,
    InvalidTransfer,
    Ledger,
    LedgerStateError,
    MalformedEntry,
    MemoryStore,
    MissingEvidence,
    Overdraft,
    SqliteStore,
    TamperedEntry,
    Transfer,
    UnknownAccount,
    decode_entry,
    encode_entry,
    open_ledger,
)
from catallax.exchange.ledger.evidence import authorize_transfers

ORIGIN = "catallax.test/bad-input"
MARKER = b"EVIDENCE-MARKER-0123456789"


class Setup:
    def __init__(self, backend: str, folder: Path) -> None:
        self.folder = folder
        self.key = crypto.generate_private_key()
        self.env = crypto.generate_private_key()
        self.alice = crypto.generate_private_key()
        if backend == "memory":
            self.ledger = Ledger(MemoryStore(), key=self.key, origin=ORIGIN)
        else:
            self.ledger = open_ledger(folder, key=self.key, origin=ORIGIN, create=True)
        pub = crypto.public_key_bytes
        self.ledger.open_account("env", "issuer", pub(self.env))
        self.ledger.open_account("alice", "trader", pub(self.alice))
        self.ledger.open_account("bob", "trader", pub(crypto.generate_private_key()))
        self.ledger.open_account("treasury", "treasury")
        self.keys = {"env": self.env, "alice": self.alice}
        self.ledger.commit_round(self.sign(Transfer("allow", "env", "alice", 100, "allowance")))
        # The marker names the task: it is stored in the entry (and in its evidence).
        self.ledger.commit_round(
            self.sign(Transfer("spend", "alice", "bob", 10, "bid", task=MARKER.decode()))
        )

    def sign(self, *transfers: Transfer) -> list[Transfer]:
        return authorize_transfers(transfers, self.keys, ORIGIN)

    def bid(self, data: bytes = b"bid") -> crypto.SignedEnvelope:
        return crypto.SignedEnvelope.seal(self.alice, "Bid", data)

    def snapshot(self) -> tuple:
        files = tuple(
            p.read_bytes()
            for p in sorted(self.folder.glob("ledger.sqlite*"))
            if "shm" not in p.name
        )
        ledger = self.ledger
        return (ledger.size, ledger.root, ledger.checkpoint, ledger.balances(), files)


@pytest.fixture(params=["memory", "sqlite"])
def setup(request, tmp_path: Path):
    s = Setup(request.param, tmp_path / "ledger")
    yield s
    s.ledger.close()


@pytest.mark.parametrize("amount", [0, -5, 1.5, 10.0, True, "10", None, 2**63])
def test_non_positive_or_non_integer_amounts_are_refused(amount) -> None:
    with pytest.raises(InvalidAmount, match="amount"):
        Transfer("t", "env", "alice", amount, "allowance")


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"id": ""}, "transfer id"),
        ({"id": "has space"}, "transfer id"),
        ({"payee": "env"}, "cannot pay itself"),
        ({"kind": "gift"}, "kind"),
        ({"round": -1}, "round"),
        ({"round": 1.0}, "round"),
        ({"task": "a b"}, "task"),
        ({"evidence": b"raw bytes"}, "evidence"),
    ],
)
def test_malformed_fields_are_refused(fields: dict, match: str) -> None:
    base = {"id": "t", "payer": "env", "payee": "alice", "amount": 1, "kind": "allowance"}
    with pytest.raises(InvalidTransfer, match=match):
        Transfer(**(base | fields))


def test_malformed_accounts_are_refused() -> None:
    with pytest.raises(InvalidTransfer, match="kind"):
        Account("x", "banker")  # type: ignore[arg-type]
    with pytest.raises(InvalidTransfer, match="needs its signer's key"):
        Account("x", "trader")  # type: ignore[arg-type]
    with pytest.raises(InvalidTransfer, match="32 raw"):
        Account("x", "issuer", b"short")  # type: ignore[arg-type]


def _refusals(s: Setup) -> list[tuple[type[Exception], list[Transfer], str]]:
    other = crypto.generate_private_key()
    (good_t,) = s.sign(Transfer("g", "alice", "bob", 1, "bid"))
    good = good_t.evidence
    key, sig = good.public_key, good.signature

    def alice_bids(tid: str, evidence: crypto.SignedEnvelope) -> list[Transfer]:
        return [Transfer(tid, "alice", "bob", 1, "bid", evidence=evidence)]

    (wrong_t,) = authorize_transfers(
        [Transfer("b3", "env", "alice", 1, "reward")], {"env": s.alice}, ORIGIN
    )
    wrong_signer = wrong_t.evidence
    return [
        (UnknownAccount, s.sign(Transfer("u1", "env", "carol", 1, "allowance")), "payee"),
        (
            UnknownAccount,
            authorize_transfers(
                [Transfer("u2", "carol", "alice", 1, "allowance")], {"carol": other}, ORIGIN
            ),
            "payer",
        ),
        (Overdraft, s.sign(Transfer("o1", "alice", "bob", 91, "bid")), "holds 90"),
        (
            MissingEvidence,
            [Transfer("o2", "treasury", "bob", 1, "trade")],
            "has no key, so it cannot pay",
        ),
        (IdempotencyConflict, s.sign(Transfer("allow", "env", "alice", 101, "allowance")), "allow"),
        (
            IdempotencyConflict,
            s.sign(
                Transfer("twice", "env", "bob", 1, "allowance"),
                Transfer("twice", "env", "bob", 2, "allowance"),
            ),
            "twice",
        ),
        (MissingEvidence, [Transfer("m1", "alice", "bob", 1, "bid")], "needs its signed"),
        (MissingEvidence, [Transfer("m2", "env", "alice", 1, "reward")], "reward"),
        (MissingEvidence, [Transfer("m4", "env", "alice", 1, "allowance")], "allowance"),
        (
            MissingEvidence,
            alice_bids("m3", crypto.SignedEnvelope("Bid", b"bid", key, b"")),
            "missing",
        ),
        (
            BadEvidence,
            alice_bids("b1", crypto.SignedEnvelope("Bid", b"bid 2", key, sig)),
            "does not verify",
        ),
        (
            BadEvidence,
            alice_bids("b2", crypto.SignedEnvelope.seal(other, "Bid", b"bid")),
            "but payer 'alice' has key",
        ),
        (
            BadEvidence,
            [Transfer("b3", "env", "alice", 1, "reward", evidence=wrong_signer)],
            "payer 'env'",
        ),
    ]


def test_each_refusal_is_specific_and_changes_nothing(setup: Setup) -> None:
    before = setup.snapshot()
    for case, (error, transfers, match) in enumerate(_refusals(setup)):
        # A valid transfer goes first: the whole round must be refused with it.
        (ok,) = setup.sign(Transfer(f"ok-{case}", "env", "bob", 1, "allowance"))
        with pytest.raises(error, match=match):
            setup.ledger.commit_round([ok, *transfers])
        assert setup.snapshot() == before, f"{error.__name__} changed the ledger"
        assert setup.ledger.transfer_index(ok.id) is None
    setup.ledger.verify()


def test_conflicting_account_opening_is_refused(setup: Setup) -> None:
    before = setup.snapshot()
    with pytest.raises(AccountConflict, match="alice"):
        setup.ledger.open_account("alice", "trader", crypto.public_key_bytes(setup.env))
    with pytest.raises(AccountConflict):
        setup.ledger.open_account("env", "treasury")
    assert setup.snapshot() == before


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x02\x02",
        b"\x01\x09",
        b"\x01\x02\x00",
        b"\x01\x01\x00\x01x\x00\x06trader\x00\x00\x00\x00",
    ],
)
def test_malformed_entry_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedEntry):
        decode_entry(data)


def test_trailing_bytes_after_an_entry_are_refused() -> None:
    data = encode_entry(Transfer("t", "env", "alice", 1, "allowance"))
    assert decode_entry(data) == Transfer("t", "env", "alice", 1, "allowance")
    with pytest.raises(MalformedEntry, match="trailing"):
        decode_entry(data + b"\x00")


# --- damaged files ---------------------------------------------------------------------


@pytest.fixture
def closed_ledger(tmp_path: Path) -> tuple[Path, crypto.Ed25519PrivateKey]:
    s = Setup("sqlite", tmp_path / "ledger")
    for r in range(30):  # enough rows for several pages
        s.ledger.commit_round(
            s.sign(
                *[
                    Transfer(f"r{r}-{i}", "env", "bob", 1 + i, "allowance", task="x" * 40)
                    for i in range(5)
                ]
            )
        )
    s.ledger.close()
    return s.folder, s.key


def _damage(folder: Path, how) -> bytes:
    path = folder / "ledger.sqlite"
    data = bytearray(path.read_bytes())
    data = how(data)
    path.write_bytes(bytes(data))
    return bytes(data)


def _assert_refused(folder: Path, key, error: type[Exception], match: str) -> None:
    path = folder / "ledger.sqlite"
    before = path.read_bytes()
    with pytest.raises(error, match=match) as info:
        open_ledger(folder, key=key)
    assert path.read_bytes() == before, "a damaged file was modified"
    with pytest.raises(error):
        open_ledger(folder)
    assert path.read_bytes() == before
    return info.value


def test_a_file_that_is_not_sqlite_is_refused(closed_ledger) -> None:
    folder, key = closed_ledger
    _damage(folder, lambda d: bytearray(b"garbage!" * 20) + d[160:])
    _assert_refused(folder, key, CorruptStore, "not a SQLite database")


def test_a_truncated_file_is_refused(closed_ledger) -> None:
    folder, key = closed_ledger
    _damage(folder, lambda d: d[: len(d) // 2])
    _assert_refused(folder, key, CorruptStore, "truncated")


def test_a_file_cut_inside_the_header_is_refused(closed_ledger) -> None:
    folder, key = closed_ledger
    _damage(folder, lambda d: d[:60])
    _assert_refused(folder, key, CorruptStore, "header")


def test_damaged_pages_are_refused(closed_ledger) -> None:
    folder, key = closed_ledger
    page = int.from_bytes((folder / "ledger.sqlite").read_bytes()[16:18], "big")

    def scramble(d: bytearray) -> bytearray:
        for p in range(1, len(d) // page):  # every b-tree page header but the first page's
            d[p * page : p * page + 12] = b"\xff" * 12
        return d

    _damage(folder, scramble)
    _assert_refused(folder, key, CorruptStore, "damaged|quick_check")


def test_a_changed_byte_in_a_stored_transfer_is_refused(closed_ledger) -> None:
    folder, key = closed_ledger
    data = (folder / "ledger.sqlite").read_bytes()
    assert data.count(MARKER) == 2  # the entry's task, and its evidence's
    at = data.index(MARKER) + 3
    _damage(folder, lambda d: d[:at] + bytes([d[at] ^ 0x20]) + d[at + 1 :])
    error = _assert_refused(folder, key, TamperedEntry, "entry 5")
    assert error.index == 5


def test_a_sqlite_file_without_the_ledger_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    folder = tmp_path / "other"
    folder.mkdir()
    db = sqlite3.connect(folder / "ledger.sqlite")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    _assert_refused(folder, crypto.generate_private_key(), CorruptStore, "not a ledger")


def test_a_missing_folder_or_wrong_key_is_a_state_error(closed_ledger, tmp_path: Path) -> None:
    folder, _ = closed_ledger
    with pytest.raises(LedgerStateError, match="no ledger"):
        open_ledger(tmp_path / "nowhere")
    with pytest.raises(LedgerStateError, match="not the key"):
        open_ledger(folder, key=crypto.generate_private_key())
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    with pytest.raises(LedgerStateError, match="origin"):
        open_ledger(copy, origin="catallax.test/another")
    SqliteStore(copy / "ledger.sqlite", readonly=True).close()
