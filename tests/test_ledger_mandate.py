"""Signed bids as evidence: what a mandate pays for, and what it does not.

A trader's signed ``Bids`` (catallax.v1) is read by the ledger, through the reader
``catallax.node`` registers, as a mandate: for each of its accounts, a ceiling on the
round's purchases (bids and taxes together), and the costs, rent, asks and royalties
owning them entails. Every attack below uses a real signature of the payer for something it
did not authorise; the commit refuses it and nothing is written, and forcing it into
the log fails the audit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import catallax.exchange.ledger.round as round_module
import catallax.node  # noqa: F401  (registers the reader of Bids)
from catallax.exchange import crypto
from catallax.exchange.ledger import (
    BadEvidence,
    Overdraft,
    TamperedEntry,
    Transfer,
    open_ledger,
    read_evidence,
)
from catallax.exchange.ledger.evidence import Mandate
from catallax.node.wire.mandate import member_account
from catallax.v1 import common_pb2, exchange_pb2

ORIGIN = "catallax.test/mandate"
TASK = "chain"


class Setup:
    """An exchange-keyed issuer, a treasury, and an identity with two members."""

    def __init__(self, folder: Path) -> None:
        self.exchange = crypto.generate_private_key()
        self.trader = crypto.generate_private_key()
        pk = crypto.public_key_bytes(self.trader)
        self.a0, self.a1 = member_account(TASK, pk, 0), member_account(TASK, pk, 1)
        self.ledger = open_ledger(folder, key=self.exchange, origin=ORIGIN, create=True)
        self.ledger.open_account("issuer", "issuer", crypto.public_key_bytes(self.exchange))
        self.ledger.open_account("treasury", "treasury")
        for account in (self.a0, self.a1):
            self.ledger.open_account(account, "trader", pk)
        self.ledger.commit_round(
            [Transfer(f"grant.{a}", "issuer", a, 1000, "allowance", TASK, 0)
             for a in (self.a0, self.a1)]
        )  # fmt: skip

    def bids(self, round_: int, bids: list[tuple[int, int, int]], *, task: str = TASK,
             exchange: str = ORIGIN, key=None) -> crypto.SignedEnvelope:  # fmt: skip
        body = exchange_pb2.Bids(sequence=1, timestamp_ms=1, exchange=exchange, task=task,
                                 round=round_, rules=b"\x01" * 32)  # fmt: skip
        for member, slot, amount in bids:
            body.bids.add(member=member, slot=slot, amount=amount,
                          action=common_pb2.Value(discrete=0))  # fmt: skip
        return crypto.SignedEnvelope.seal(key or self.trader, "Bids", body.SerializeToString())

    def state(self) -> tuple:
        return self.ledger.size, self.ledger.root, self.ledger.balances()


@pytest.fixture
def s(tmp_path: Path):
    setup = Setup(tmp_path / "ledger")
    yield setup
    setup.ledger.close()


def _t(id_: str, payer: str, payee: str, amount: int, kind: str, round_: int, ev) -> Transfer:
    return Transfer(id_, payer, payee, amount, kind, TASK, round_, ev)


def _refused(s: Setup, transfers: list[Transfer], match: str) -> None:
    before = s.state()
    with pytest.raises(BadEvidence, match=match):
        s.ledger.commit_round(transfers)
    assert s.state() == before


def test_the_reader_gives_one_ceiling_per_member_account(s: Setup) -> None:
    ev = s.bids(3, [(0, 0, 100), (0, 1, 50), (1, 0, 7)])
    mandate = read_evidence(ev)
    assert isinstance(mandate, Mandate)
    assert (mandate.exchange, mandate.task, mandate.round) == (ORIGIN, TASK, 3)
    assert dict(mandate.ceilings) == {s.a0: 150, s.a1: 7}
    assert mandate.rules == "01" * 32


def test_a_purchase_its_tax_and_what_owning_entails_commit(s: Setup) -> None:
    ev = s.bids(3, [(0, 0, 100), (1, 0, 7)])
    s.ledger.commit_round([
        _t("b", s.a0, "issuer", 90, "bid", 3, ev),
        _t("x", s.a0, "treasury", 10, "tax", 3, ev),  # 100 in all: the whole ceiling
        _t("c", s.a0, "issuer", 300, "cost", 3, ev),  # costs and rent: bounded by balance
        _t("r", s.a0, "treasury", 5, "rent", 3, ev),
    ])  # fmt: skip
    # A royalty and its tax are settled at the episode's end, rounds later, on the
    # purchase's bids; they do not count against its ceiling (spent in full above).
    s.ledger.commit_round([
        _t("y", s.a0, s.a1, 40, "royalty", 9, ev),
        _t("yt", s.a0, "treasury", 4, "royalty_tax", 9, ev),
    ])  # fmt: skip
    report = s.ledger.audit()
    assert report.balances[s.a0] == 1000 - 100 - 300 - 5 - 40 - 4
    assert report.balances[s.a1] == 1040
    # A plain tax is the sale's: only in the purchase's round, within its ceiling.
    _refused(s, [_t("t9", s.a0, "treasury", 1, "tax", 9, ev)], "for round 3, not 9")


def test_an_ask_is_paid_in_the_round_after_the_purchase_and_negative_bids_pay_nothing(
    s: Setup,
) -> None:
    """Where the next state's price is negative, the owner pays its buyer to take it:
    the sale is in the round after the purchase, on the purchase's signed bids, bounded
    by the owner's balance (not by the ceiling). A negative bid names its account and
    adds nothing to the ceiling."""
    ev = s.bids(3, [(0, 0, 100), (0, 1, -40), (1, 0, -5)])
    mandate = read_evidence(ev)
    assert isinstance(mandate, Mandate)
    assert dict(mandate.ceilings) == {s.a0: 100, s.a1: 0}
    # a1 asked to be paid (bid -5): it can buy nothing with these bids...
    _refused(s, [_t("b", s.a1, "issuer", 1, "bid", 3, ev)], "bid at most 0 units")
    # ...and a0's ceiling is its positive bids only.
    _refused(s, [_t("b", s.a0, "issuer", 101, "bid", 3, ev)], "at most 100 units")
    # Each pays asks in round 4, the sale of what it held, beyond any ceiling.
    s.ledger.commit_round([
        _t("k0", s.a0, s.a1, 700, "ask", 4, ev),
        _t("k1", s.a1, s.a0, 30, "ask", 4, ev),
    ])  # fmt: skip
    report = s.ledger.audit()
    assert report.balances[s.a0] == 1000 - 700 + 30
    assert report.balances[s.a1] == 1000 + 700 - 30
    # Not in the purchase's own round, nor two rounds on, nor beyond the balance.
    _refused(s, [_t("k2", s.a0, s.a1, 1, "ask", 3, ev)], "in round 4 only, not in round 3")
    _refused(s, [_t("k3", s.a0, s.a1, 1, "ask", 5, ev)], "in round 4 only, not in round 5")
    before = s.state()
    with pytest.raises(Overdraft):
        s.ledger.commit_round([_t("k4", s.a0, s.a1, 10_000, "ask", 4, ev)])
    assert s.state() == before


def test_purchases_beyond_the_ceiling_are_refused_across_transfers(s: Setup) -> None:
    ev = s.bids(3, [(0, 0, 100)])
    _refused(s, [_t("b", s.a0, "issuer", 101, "bid", 3, ev)], "at most 100 units")
    _refused(
        s,
        [_t("b", s.a0, "issuer", 90, "bid", 3, ev), _t("x", s.a0, "treasury", 11, "tax", 3, ev)],
        "brings its purchases to 101",
    )
    # A ceiling spent in one commit stays spent in the next (the audit sees one memo).
    s.ledger.commit_round([_t("b", s.a0, "issuer", 60, "bid", 3, ev)])
    s.ledger.commit_round([_t("b2", s.a0, "issuer", 40, "bid", 3, ev)])
    assert s.ledger.audit().balances[s.a0] == 900


def test_a_mandate_pays_for_nothing_it_does_not_name(s: Setup) -> None:
    ev = s.bids(3, [(0, 0, 100)])
    cases = [
        (_t("b", s.a1, "issuer", 1, "bid", 3, ev), "no bid of"),  # a member that did not bid
        (_t("b", s.a0, "issuer", 1, "bid", 4, ev), "for round 3, not 4"),
        (_t("c", s.a0, "issuer", 1, "cost", 2, ev), "for round 3, not 2"),
        (_t("y", s.a0, s.a1, 1, "royalty", 2, ev), "later one, not in round 2"),  # too early
        (_t("yt", s.a0, "treasury", 1, "royalty_tax", 2, ev), "later one, not in round 2"),
        (_t("t", s.a0, s.a1, 1, "trade", 3, ev), "cannot authorise a trade"),
        (Transfer("b", s.a0, "issuer", 1, "bid", "other", 3, ev), "task 'chain', not 'other'"),
    ]
    for transfer, match in cases:
        _refused(s, [transfer], match)
    elsewhere = s.bids(3, [(0, 0, 100)], exchange="catallax.test/other")
    _refused(s, [_t("b", s.a0, "issuer", 1, "bid", 3, elsewhere)], "exchange")
    # Signed by another key than the account's: refused before the body is read.
    thief = s.bids(3, [(0, 0, 100)], key=crypto.generate_private_key())
    _refused(s, [_t("b", s.a0, "issuer", 1, "bid", 3, thief)], "signed by key")


def test_a_body_that_does_not_parse_is_refused(s: Setup) -> None:
    ev = crypto.SignedEnvelope.seal(s.trader, "Bids", b"\xff\xff not protobuf")
    _refused(s, [_t("b", s.a0, "issuer", 1, "bid", 3, ev)], "does not parse")


def test_an_operator_forcing_an_overspent_mandate_into_the_log_fails_the_audit(
    s: Setup, monkeypatch
) -> None:
    ev = s.bids(3, [(0, 0, 100)])
    s.ledger.commit_round([_t("b", s.a0, "issuer", 100, "bid", 3, ev)])
    monkeypatch.setattr(round_module, "check_evidence", lambda *a, **k: None)
    s.ledger.commit_round([_t("b2", s.a0, "issuer", 1, "tax", 3, ev)])
    monkeypatch.undo()
    with pytest.raises(TamperedEntry, match="brings its purchases to 101"):
        s.ledger.audit()
