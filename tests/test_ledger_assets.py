"""Goods on the ledger: accounts of one asset each, transfers that name their asset,
per-asset conservation, productions evidenced by the environment's signed report, and
ledgers written before goods still verifying (and writing credits) unchanged.

The world: a task ``x`` with an exchange-key issuer of credits, an environment node
(its own key) issuing wood and planks, and two traders, alice (``x.a.0``, with
``x.a.0/wood`` and ``x.a.0/plank``) and bob (``x.b.0``, ``x.b.0/wood``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

import catallax.exchange.ledger.replay as replay_module
import catallax.exchange.ledger.round as round_module
from catallax.exchange import crypto
from catallax.exchange.ledger import (
    CREDITS,
    UNITS_PER_GOOD,
    Account,
    AccountConflict,
    AssetMismatch,
    BadEvidence,
    CorruptLedger,
    InvalidTransfer,
    LedgerStateError,
    MalformedEntry,
    MissingEvidence,
    Opening,
    ProductionItem,
    ProductionReport,
    TamperedEntry,
    TamperedState,
    Transfer,
    asset_account,
    check_asset,
    decode_entry,
    encode_entry,
    good_asset,
    open_ledger,
    report_production,
)
from catallax.exchange.ledger.evidence import authorize_transfers, decode_production
from catallax.exchange.ledger.rules import apply_transfer

ORIGIN = "catallax.test/assets"
WOOD, PLANK, ORE = "good:wood", "good:plank", "good:ore"
VECTORS = Path(__file__).parent / "vectors" / "ledger-schema2"

pub = crypto.public_key_bytes


class World:
    """A ledger with credits, wood and planks (see the module docstring), after round 1:
    10 credits to each trader, 5 wood to alice."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.exchange = crypto.generate_private_key()
        self.env = crypto.generate_private_key()
        self.alice = crypto.generate_private_key()
        self.bob = crypto.generate_private_key()
        self.ledger = open_ledger(folder, key=self.exchange, origin=ORIGIN, create=True)
        self.keys = {
            "x.issuer/wood": self.env,
            "x.issuer/plank": self.env,
            "x.a.0": self.alice,
            "x.a.0/wood": self.alice,
            "x.a.0/plank": self.alice,
            "x.b.0": self.bob,
            "x.b.0/wood": self.bob,
        }
        env, a, b = pub(self.env), pub(self.alice), pub(self.bob)
        self.ledger.commit_round(
            [
                Opening(Account("x.issuer", "issuer", pub(self.exchange))),
                Opening(Account("x.issuer/wood", "issuer", env, WOOD)),
                Opening(Account("x.issuer/plank", "issuer", env, PLANK)),
                Opening(Account("x.treasury", "treasury")),
                Opening(Account("x.a.0", "trader", a)),
                Opening(Account("x.a.0/wood", "trader", a, WOOD)),
                Opening(Account("x.a.0/plank", "trader", a, PLANK)),
                Opening(Account("x.b.0", "trader", b)),
                Opening(Account("x.b.0/wood", "trader", b, WOOD)),
            ]
        )
        self.ledger.commit_round(
            [
                Transfer("x.join.a", "x.issuer", "x.a.0", 10_000_000, "allowance", "x", 1),
                Transfer("x.join.b", "x.issuer", "x.b.0", 10_000_000, "allowance", "x", 1),
                *self.sign(
                    Transfer(
                        "x.1.wood", "x.issuer/wood", "x.a.0/wood", 5 * UNITS_PER_GOOD,
                        "allowance", "x", 1, asset=WOOD,
                    )
                ),
            ]
        )  # fmt: skip

    def sign(self, *transfers: Transfer) -> list[Transfer]:
        return authorize_transfers(transfers, self.keys, ORIGIN)

    def state(self) -> tuple:
        return self.ledger.size, self.ledger.root, self.ledger.balances()

    def clearing(self) -> list[Transfer]:
        """Round 2: alice delivers 2 wood to bob, who pays her 1.5 credits."""
        return self.sign(
            Transfer("x.2.0", "x.a.0/wood", "x.b.0/wood", 2 * UNITS_PER_GOOD, "delivery", "x", 2,
                     asset=WOOD),
            Transfer("x.2.1", "x.b.0", "x.a.0", 1_500_000, "trade", "x", 2),
        )  # fmt: skip

    def production(
        self, *, key=None, items: tuple[ProductionItem, ...] | None = None, round_: int = 3
    ) -> tuple[Transfer, Transfer]:
        """Round 3: alice's recipe turns 2 wood into 1 plank (the environment reports
        it); the input and the output transfers, with the signed report."""
        items = items or (
            ProductionItem("x.3.in", "x.a.0/wood", WOOD, 2 * UNITS_PER_GOOD, "input"),
            ProductionItem("x.3.out", "x.a.0/plank", PLANK, UNITS_PER_GOOD, "output"),
        )
        report = report_production(key or self.env, ProductionReport(ORIGIN, "x", round_, items))
        made = Transfer("x.3.out", "x.issuer/plank", "x.a.0/plank", UNITS_PER_GOOD, "production",
                        "x", 3, report, PLANK)  # fmt: skip
        used = Transfer("x.3.in", "x.a.0/wood", "x.issuer/wood", 2 * UNITS_PER_GOOD, "production",
                        "x", 3, report, WOOD)  # fmt: skip
        return used, made

    def refused(self, entries: list, error: type[Exception], match: str) -> None:
        """Committing ``entries`` raises ``error`` and writes nothing."""
        before = self.state()
        with pytest.raises(error, match=match):
            self.ledger.commit_round(entries)
        assert self.state() == before


@pytest.fixture
def w(tmp_path: Path):
    world = World(tmp_path / "ledger")
    yield world
    world.ledger.close()


# --- names and values --------------------------------------------------------------------


def test_asset_names_are_credits_or_a_named_good() -> None:
    assert check_asset("credits") == CREDITS and check_asset("good:wood") == WOOD
    assert good_asset("g0") == "good:g0" and check_asset("good:" + "a" * 64)
    for bad in ("wood", "good:", "good:Wood", "good:a b", "good:_x", "good:" + "a" * 65,
                "Credits", "", 5, None):  # fmt: skip
        with pytest.raises(InvalidTransfer, match="asset"):
            check_asset(bad)
    with pytest.raises(InvalidTransfer, match="account asset"):
        Account("t", "treasury", asset="wood")
    with pytest.raises(InvalidTransfer, match="asset"):
        Transfer("t", "a", "b", 1, "allowance", asset="good:Wood")
    assert asset_account("x.a.0", WOOD) == "x.a.0/wood"
    assert asset_account("x.a.0", CREDITS) == "x.a.0"
    assert Account("t", "treasury").asset == CREDITS and Transfer("t", "a", "b", 1, "rent").asset


def test_goods_move_by_allowance_delivery_and_production_only() -> None:
    for kind in ("bid", "trade", "rent", "reward", "cost", "mint", "tax"):
        with pytest.raises(AssetMismatch, match=f"a {kind} moves credits"):
            Transfer("t", "a", "b", 1, kind, asset=WOOD)
    for kind in ("delivery", "production"):
        with pytest.raises(AssetMismatch, match=f"a {kind} moves goods"):
            Transfer("t", "a", "b", 1, kind)
        assert Transfer("t", "a", "b", 1, kind, asset=WOOD).kind == kind
    assert Transfer("t", "a", "b", 1, "allowance", asset=WOOD).asset == WOOD


# --- accounts and transfers of goods -------------------------------------------------------


def test_goods_accounts_open_hold_and_move_their_good(w: World) -> None:
    assert w.ledger.account("x.a.0/wood").account.asset == WOOD
    assert w.ledger.account("x.a.0").account.asset == CREDITS
    assert w.ledger.balance("x.a.0/wood") == 5 * UNITS_PER_GOOD
    w.ledger.commit_round(w.clearing())
    assert w.ledger.balance("x.a.0/wood") == 3 * UNITS_PER_GOOD
    assert w.ledger.balance("x.b.0/wood") == 2 * UNITS_PER_GOOD
    assert w.ledger.balance("x.a.0") == 11_500_000 and w.ledger.balance("x.b.0") == 8_500_000
    assert w.ledger.supply() == {CREDITS: 20_000_000, PLANK: 0, WOOD: 5 * UNITS_PER_GOOD}
    report = w.ledger.audit()
    assert report.assets == (CREDITS, "good:plank", WOOD)
    assert report.supply == w.ledger.supply()
    assert report.balances["x.issuer/wood"] == -5 * UNITS_PER_GOOD
    # The assets persist: a writer reopening the file proves them from the log.
    w.ledger.close()
    with open_ledger(w.folder, key=w.exchange) as again:
        assert again.account("x.b.0/wood").account.asset == WOOD
        assert again.balances() == report.balances
    w.ledger = open_ledger(w.folder, key=w.exchange)


def test_a_transfer_whose_accounts_hold_another_asset_is_refused_whole(w: World) -> None:
    ok = w.sign(Transfer("x.2.ok", "x.a.0", "x.b.0", 5, "trade", "x", 2))
    wood_to_credits = w.sign(
        Transfer("x.2.w", "x.a.0/wood", "x.b.0", 5, "delivery", "x", 2, asset=WOOD)
    )
    credits_from_wood = w.sign(Transfer("x.2.c", "x.a.0/wood", "x.b.0", 5, "trade", "x", 2))
    ore_between_wood = w.sign(
        Transfer("x.2.o", "x.a.0/wood", "x.b.0/wood", 5, "delivery", "x", 2, asset=ORE)
    )
    plank_to_wood = w.sign(
        Transfer("x.2.p", "x.a.0/plank", "x.b.0/wood", 5, "delivery", "x", 2, asset=PLANK)
    )
    w.refused([*ok, *wood_to_credits], AssetMismatch, "payee 'x.b.0' holds 'credits'")
    w.refused([*ok, *credits_from_wood], AssetMismatch, "payer 'x.a.0/wood' holds 'good:wood'")
    w.refused([*ok, *ore_between_wood], AssetMismatch, "moves 'good:ore', but payer")
    w.refused([*ok, *plank_to_wood], AssetMismatch, "payee 'x.b.0/wood' holds 'good:wood'")
    # Within a round: the refused entry is not staged, the round goes on.
    with w.ledger.begin_round() as r:
        with pytest.raises(AssetMismatch):
            r.add(wood_to_credits[0])
        assert len(r) == 0
        r.add(ok[0])
    assert w.ledger.balance("x.b.0") == 10_000_005


def test_an_account_cannot_be_opened_again_with_another_asset(w: World) -> None:
    with pytest.raises(AccountConflict, match="another kind, key or asset"):
        w.ledger.open_account("x.a.0/wood", "trader", pub(w.alice), asset=ORE)
    with pytest.raises(AccountConflict):
        w.ledger.open_account("x.a.0/wood", "trader", pub(w.alice))  # credits
    receipt = w.ledger.open_account("x.a.0/wood", "trader", pub(w.alice), asset=WOOD)
    assert receipt.duplicates == ("x.a.0/wood",)


def test_a_delivery_needs_the_sellers_signature(w: World) -> None:
    unsigned = Transfer("x.2.0", "x.a.0/wood", "x.b.0/wood", 5, "delivery", "x", 2, asset=WOOD)
    w.refused([unsigned], MissingEvidence, "delivery")
    (by_bob,) = authorize_transfers([unsigned], {"x.a.0/wood": w.bob}, ORIGIN)
    w.refused([by_bob], BadEvidence, "signed by key")
    # Alice's authorisation of a delivery from her credits account does not move wood.
    (other,) = authorize_transfers(
        [Transfer("x.2.0", "x.a.0", "x.b.0/wood", 5, "delivery", "x", 2, asset=WOOD)],
        {"x.a.0": w.alice},
        ORIGIN,
    )
    w.refused([replace(unsigned, evidence=other.evidence)], BadEvidence, "payer")


# --- conservation per asset ----------------------------------------------------------------


def test_audit_checks_each_assets_sum(w: World, monkeypatch) -> None:
    w.ledger.commit_round(w.clearing())
    assert w.ledger.audit().supply[WOOD] == 5 * UNITS_PER_GOOD

    def leaky(transfer, payer, payee):
        # A replay that forgets to debit deliveries: wood would appear from nowhere.
        paid, got = apply_transfer(transfer, payer, payee)
        if transfer.kind == "delivery":
            paid = replace(paid, balance=payer.balance)
        return paid, got

    monkeypatch.setattr(replay_module, "apply_transfer", leaky)
    # The stored balances, which the real rules wrote, differ from such a replay ...
    with pytest.raises(CorruptLedger, match=r"'x.a.0/wood': balance stored as 3000000"):
        w.ledger.audit()
    # ... and without that comparison, the wood that appeared fails the sum of its asset.
    monkeypatch.setattr(replay_module.Replay, "finish", lambda self: self.states)
    with pytest.raises(CorruptLedger, match=r"balances of good:wood sum to 2000000, not zero"):
        w.ledger.audit()


# --- productions ---------------------------------------------------------------------------


def test_a_production_is_recorded_with_the_environments_report(w: World) -> None:
    used, made = w.production()
    w.ledger.commit_round([used, made])
    assert w.ledger.balance("x.a.0/wood") == 3 * UNITS_PER_GOOD
    assert w.ledger.balance("x.a.0/plank") == UNITS_PER_GOOD
    assert w.ledger.balance("x.issuer/wood") == -3 * UNITS_PER_GOOD
    report = w.ledger.audit()
    assert report.supply == {CREDITS: 20_000_000, PLANK: UNITS_PER_GOOD, WOOD: 3 * UNITS_PER_GOOD}
    assert report.evidence == 3  # the wood allowance's and the production's two
    assert decode_production(used.evidence).items[0].direction == "input"
    # Committing it again is a no-op (each id recorded once: a report pays once).
    assert w.ledger.commit_round([used, made]).duplicates == ("x.3.in", "x.3.out")


def test_a_production_without_evidence_is_refused(w: World) -> None:
    used, made = w.production()
    w.refused([replace(made, evidence=None)], MissingEvidence, "signed production report")
    w.refused([used, replace(made, evidence=None)], MissingEvidence, "production")
    # Not even an issuer holding the exchange's key produces without a report.
    w.ledger.open_account("x.issuer/ore", "issuer", pub(w.exchange), asset=ORE)
    w.ledger.open_account("x.a.0/ore", "trader", pub(w.alice), asset=ORE)
    ore = Transfer("x.3.ore", "x.issuer/ore", "x.a.0/ore", 1, "production", "x", 3, asset=ORE)
    w.refused([ore], MissingEvidence, "signed production report")


def test_a_production_whose_report_does_not_cover_it_is_refused(w: World) -> None:
    used, made = w.production()
    item_in = ProductionItem("x.3.in", "x.a.0/wood", WOOD, 2 * UNITS_PER_GOOD, "input")

    def report(*items: ProductionItem, **kwargs):
        return w.production(items=items, **kwargs)[1].evidence

    more = ProductionItem("x.3.out", "x.a.0/plank", PLANK, 3 * UNITS_PER_GOOD, "output")
    less = ProductionItem("x.3.out", "x.a.0/plank", PLANK, UNITS_PER_GOOD // 2, "output")
    way = ProductionItem("x.3.out", "x.a.0/plank", PLANK, UNITS_PER_GOOD, "input")
    whose = ProductionItem("x.3.out", "x.b.0/wood", PLANK, UNITS_PER_GOOD, "output")
    which = ProductionItem("x.3.out", "x.a.0/plank", WOOD, UNITS_PER_GOOD, "output")
    other = ProductionItem("x.3.other", "x.a.0/plank", PLANK, UNITS_PER_GOOD, "output")
    for item in (more, less, way, whose, which):
        w.refused([used, replace(made, evidence=report(item_in, item))], BadEvidence,
                  "the production report lists")  # fmt: skip
    w.refused([used, replace(made, evidence=report(item_in, other))], BadEvidence,
              "does not list this id")  # fmt: skip
    w.refused([used, replace(made, evidence=report(item_in, way, round_=4))], BadEvidence,
              "round 4")  # fmt: skip
    # Signed by the trader (or anyone but the good's issuer): refused.
    forged = w.production(key=w.alice)[1]
    w.refused([used, forged], BadEvidence, "the production's issuer 'x.issuer/plank'")
    # A report is no authorisation of anything else, nor a Debits one of a production.
    by_alice = forged.evidence  # a report alice signed: no authorisation of her delivery
    give = Transfer("x.3.g", "x.a.0/wood", "x.b.0/wood", 1, "delivery", "x", 3, by_alice, WOOD)
    w.refused([give], BadEvidence, "authorises productions only")
    (debits,) = w.sign(replace(made, evidence=None))  # the environment's Debits
    w.refused([debits], BadEvidence, "'Production' report, not a 'Debits' message")
    # A production moves a good between its issuer and a trader.
    between = Transfer("x.3.in", "x.a.0/wood", "x.b.0/wood", 2 * UNITS_PER_GOOD, "production",
                       "x", 3, used.evidence, WOOD)  # fmt: skip
    w.refused([between], InvalidTransfer, "between its issuer and a trader")


def test_a_report_is_recorded_whole_or_not_at_all(w: World, monkeypatch) -> None:
    used, made = w.production()
    # The output without the input the environment reported it from: refused at commit.
    w.refused([made], BadEvidence, "'x.3.in' are not in this round")
    # An input that cannot be paid is refused, and so then is the round.
    w.ledger.commit_round(
        w.sign(Transfer("x.2.all", "x.a.0/wood", "x.b.0/wood", 5 * UNITS_PER_GOOD, "delivery",
                        "x", 2, asset=WOOD))
    )  # fmt: skip
    before = w.state()
    with w.ledger.begin_round() as r:
        r.add(made)
        with pytest.raises(Exception, match="holds 0 units"):
            r.add(used)
        with pytest.raises(BadEvidence, match=r"'x.3.in'"):
            r.commit()
    assert w.state() == before
    # Forced into the log past the commit-time check, the audit finds it.
    monkeypatch.setattr(round_module, "unrecorded", lambda verified: [])
    w.ledger.commit_round([made])
    with pytest.raises(CorruptLedger, match=r"'x.3.in' are not in the log"):
        w.ledger.audit()


def test_a_production_report_body_is_read_strictly(w: World) -> None:
    used, made = w.production()

    def sealed(body: object):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return crypto.SignedEnvelope.seal(w.env, "Production", data)

    good = json.loads(made.evidence.data)
    for body, message in (
        (b"{not json", "not JSON"),
        ({**good, "extra": 1}, "must hold exchange"),
        ({**good, "round": -1}, "round"),
        ({**good, "items": [["x.3.out", "x.a.0/plank", PLANK, 0, "output"]]}, "units > 0"),
        ({**good, "items": [["x.3.out", "x.a.0/plank", PLANK, 1, "made"]]}, "input"),
        ({**good, "items": [["x.3.out", "x.a.0/plank", "credits", 1, "output"]]}, "credits"),
        ({**good, "items": [["x.3.out", "x.a.0/plank", "plank", 1, "output"]]}, "asset"),
        ({**good, "items": [good["items"][1], good["items"][1]]}, "listed twice"),
    ):
        w.refused([used, replace(made, evidence=sealed(body))], BadEvidence, message)


# --- the encoding ----------------------------------------------------------------------------

#: Leaf bytes computed by the code before goods (commit 932b69f) for these entries: an
#: opening of a trader, of a keyless treasury, and a rent transfer, unsigned and signed.
_KEY = crypto.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OLD_LEAVES = {
    "trader": "0101000c7461736b2e616c6963652e3000067472616465720000002003a107bff3ce10be1d70dd18e"
    "74bc09967e4d6309ba50d5f1ddc8664125531b8",
    "treasury": "0101000d7461736b2e74726561737572790008747265617375727900000000",
    "rent": "010200087461736b2e332e31000c7461736b2e616c6963652e30000d7461736b2e7472656173757279"
    "00000000001312d0000472656e7400047461736b000000000000000300",
    "signed rent": "010200087461736b2e332e31000c7461736b2e616c6963652e30000d7461736b2e74726561"
    "7375727900000000001312d0000472656e7400047461736b00000000000000030100064465626974730000008c"
    "7b22646562697473223a5b5b227461736b2e332e31222c227461736b2e7472656173757279222c313235303030"
    "302c2272656e74222c2d315d5d2c2265786368616e6765223a22636174616c6c61782e746573742f6173736574"
    "73222c227061796572223a227461736b2e616c6963652e30222c22726f756e64223a332c227461736b223a2274"
    "61736b227d0000002003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b800000040"
    "7bd3c7fdc548d699031d6f601af0c9282f6fbb71af3dc7de7d4eabe8acff61d5c228c3a937469d3b6953c78625"
    "732911a2201180606994c236daa0463822ff03",
}


def test_entries_of_credits_encode_exactly_as_before_goods() -> None:
    rent = Transfer("task.3.1", "task.alice.0", "task.treasury", 1_250_000, "rent", "task", 3)
    (signed,) = authorize_transfers([rent], {"task.alice.0": _KEY}, "catallax.test/assets")
    entries = {
        "trader": Opening(Account("task.alice.0", "trader", pub(_KEY))),
        "treasury": Opening(Account("task.treasury", "treasury")),
        "rent": rent,
        "signed rent": signed,
    }
    for name, entry in entries.items():
        data = bytes.fromhex(OLD_LEAVES[name])
        assert encode_entry(entry) == data, name
        back = decode_entry(data)
        assert back == entry, name
        assert (back.asset if isinstance(back, Transfer) else back.account.asset) == CREDITS


def test_entries_of_goods_carry_their_asset_in_version_2() -> None:
    opening = Opening(Account("x.a.0/wood", "trader", pub(_KEY), WOOD))
    delivery = Transfer("d", "x.a.0/wood", "x.b.0/wood", 7, "delivery", "x", 2, asset=WOOD)
    for entry in (opening, delivery):
        data = encode_entry(entry)
        assert data[0] == 2 and b"good:wood" in data
        assert decode_entry(data) == entry
        # The same entry of credits is version 1, without the asset.
        if isinstance(entry, Transfer):
            plain = encode_entry(replace(entry, asset=CREDITS, kind="trade"))
        else:
            plain = encode_entry(Opening(replace(entry.account, asset=CREDITS)))
        assert plain[0] == 1 and b"credits" not in plain and b"good:" not in plain
    # One encoding per value: a version-2 entry naming credits is refused.
    data = encode_entry(opening).replace(b"\x00\x09good:wood", b"\x00\x07credits")
    with pytest.raises(MalformedEntry, match="not canonical"):
        decode_entry(data)
    with pytest.raises(MalformedEntry, match="asset"):
        decode_entry(encode_entry(opening).replace(b"good:wood", b"good:Wood"))
    with pytest.raises(MalformedEntry, match="trailing"):
        decode_entry(encode_entry(opening) + b"\x00")
    with pytest.raises(MalformedEntry, match="truncated"):
        decode_entry(encode_entry(delivery)[:-3])


def test_a_tampered_goods_entry_or_asset_is_detected(w: World, catallax_cli) -> None:
    w.ledger.commit_round(w.clearing())
    index = w.ledger.transfer_index("x.2.0")
    w.ledger.close()
    path = w.folder / "ledger.sqlite"
    db = sqlite3.connect(path)
    (data,) = db.execute("SELECT data FROM entries WHERE idx = ?", (index,)).fetchone()
    # 2 wood -> 3 wood delivered, the leaf bytes edited in place.
    forged = data.replace((2 * UNITS_PER_GOOD).to_bytes(8, "big"),
                          (3 * UNITS_PER_GOOD).to_bytes(8, "big"))  # fmt: skip
    assert forged != data and decode_entry(forged).amount == 3 * UNITS_PER_GOOD
    db.execute("UPDATE entries SET data = ? WHERE idx = ?", (forged, index))
    db.commit()
    status, out, _ = catallax_cli("ledger", "verify", str(w.folder))
    assert status == 1 and out.startswith(f"FAILED entry {index}:"), out
    with pytest.raises(TamperedEntry) as info:
        open_ledger(w.folder)
    assert info.value.index == index
    db.execute("UPDATE entries SET data = ? WHERE idx = ?", (data, index))
    # An account's stored asset changed: the log opens it with another, so refused.
    db.execute("UPDATE accounts SET asset = 'good:ore' WHERE id = 'x.b.0/wood'")
    db.commit()
    db.close()
    with pytest.raises(TamperedState, match=r"'x.b.0/wood': stored as a trader of 'good:ore'"):
        open_ledger(w.folder, key=w.exchange)
    status, out, _ = catallax_cli("ledger", "audit", str(w.folder))
    assert status == 1 and "x.b.0/wood" in out, out
    db = sqlite3.connect(path)
    db.execute("UPDATE accounts SET asset = 'good:wood' WHERE id = 'x.b.0/wood'")
    db.commit()
    db.close()
    w.ledger = open_ledger(w.folder, key=w.exchange)  # as it was: opens again
    assert w.ledger.audit().supply[WOOD] == 5 * UNITS_PER_GOOD


# --- the command line ------------------------------------------------------------------------


def test_the_cli_shows_each_accounts_asset_and_audits_every_asset(w: World, catallax_cli) -> None:
    w.ledger.commit_round(w.clearing())
    w.ledger.commit_round(w.production())
    folder = str(w.folder)
    status, out, _ = catallax_cli("ledger", "balances", folder, "--json")
    assert status == 0
    rows = {r["account"]: r for r in json.loads(out)["accounts"]}
    assert rows["x.a.0/plank"] == {"account": "x.a.0/plank", "kind": "trader",
                                   "asset": PLANK, "balance": UNITS_PER_GOOD}  # fmt: skip
    assert rows["x.a.0"]["asset"] == CREDITS and rows["x.issuer/wood"]["balance"] == -3_000_000
    status, out, _ = catallax_cli("ledger", "balances", folder)
    line = next(x for x in out.splitlines() if x.startswith("x.b.0/wood"))
    assert line.split() == ["x.b.0/wood", "trader", WOOD, "2000000", "2.000000"]
    assert out.splitlines()[0].split() == ["account", "kind", "asset", "units", "amount"]
    status, out, _ = catallax_cli("ledger", "audit", folder)
    assert status == 0
    assert "balances sum to 0 in each asset (credits, good:plank, good:wood)" in out
    status, out, _ = catallax_cli("ledger", "tail", folder, "-n", "4")
    assert "x.3.out: x.issuer/plank -> x.a.0/plank 1000000 units of good:plank" in out
    assert "[Production signed]" in out
    status, out, _ = catallax_cli("ledger", "tail", folder, "-n", "1", "--json")
    assert json.loads(out)["asset"] == PLANK


# --- ledgers written before goods --------------------------------------------------------


def _vector_key(name: str) -> crypto.Ed25519PrivateKey:
    return crypto.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())


@pytest.fixture
def old_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copyfile(VECTORS / "ledger.sqlite", folder / "ledger.sqlite")
    return folder


def test_a_ledger_written_before_goods_verifies_and_audits_unchanged(
    old_folder, catallax_cli
) -> None:
    with open_ledger(old_folder) as old:
        assert old.verify().size == 10 and old._store.schema == 2
        report = old.audit()
        assert report.assets == (CREDITS,) and report.supply == {CREDITS: 8_700_000}
        assert old.balances() == {"env": -700_000, "mint": -8_000_000, "t0": 3_750_000,
                                  "t1": 4_940_000, "treasury": 10_000}  # fmt: skip
        assert all(s.account.asset == CREDITS for s in old.accounts())
        # Every stored leaf re-encodes to its bytes (the audit checks it too).
        for index, entry in old.entries():
            assert encode_entry(entry) == old.entry_bytes(index)
    status, out, _ = catallax_cli("ledger", "audit", str(old_folder))
    assert status == 0 and "root pWQXkfWCZaCev40qJDzdcP1ln8RTkWJNMyo/Wc8goc8=" in out
    assert "balances sum to 0 in each asset (credits)" in out
    status, out, _ = catallax_cli("ledger", "balances", str(old_folder), "--json")
    assert {r["asset"] for r in json.loads(out)["accounts"]} == {CREDITS}


def test_a_ledger_written_before_goods_takes_credits_but_no_goods(old_folder) -> None:
    ex, t0 = _vector_key("exchange"), _vector_key("t0")
    with open_ledger(old_folder, key=ex) as old:
        assert not old._store.holds_goods
        (bid,) = authorize_transfers([Transfer("bid-2", "t0", "t1", 50, "bid", "x", 3)],
                                     {"t0": t0}, old.origin)  # fmt: skip
        old.commit_round([bid])
        before = (old.size, old.root, old.balances())
        wood = Opening(Account("t0/wood", "trader", pub(t0), WOOD))
        with pytest.raises(LedgerStateError, match=r"credits only .*SQLite schema 2"):
            old.commit_round([Opening(Account("t9", "treasury")), wood])
        assert (old.size, old.root, old.balances()) == before
    db = sqlite3.connect(old_folder / "ledger.sqlite")
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (2,)
    db.close()
    with open_ledger(old_folder) as again:
        assert again.audit().size == 11 and again.balance("t1") == 4_940_050
