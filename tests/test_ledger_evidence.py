"""Evidence bound to its transfer: a signature pays only for what it names.

Each attack is a transfer whose evidence is a real signature by the payer, used for
something it did not authorise; the ledger must refuse it at commit, and an operator
who forces it into the log (bypassing the commit-time check) must fail the audit.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import catallax.exchange.ledger.round as round_module
from catallax.exchange import crypto
from catallax.exchange.ledger import (
    BadEvidence,
    IdempotencyConflict,
    MissingEvidence,
    TamperedEntry,
    Transfer,
    open_ledger,
)
from catallax.exchange.ledger.evidence import (
    Authorization,
    Debit,
    authorize,
    authorize_transfers,
    decode_authorization,
)

ORIGIN = "catallax.test/evidence"


class Setup:
    """A ledger whose issuer has its own key (an environment node), two traders."""

    def __init__(self, folder: Path) -> None:
        self.exchange = crypto.generate_private_key()
        self.env = crypto.generate_private_key()
        self.alice = crypto.generate_private_key()
        self.keys = {"env": self.env, "alice": self.alice}
        self.ledger = open_ledger(folder, key=self.exchange, origin=ORIGIN, create=True)
        pub = crypto.public_key_bytes
        self.ledger.open_account("env", "issuer", pub(self.env))
        self.ledger.open_account("alice", "trader", pub(self.alice))
        self.ledger.open_account("bob", "trader", pub(crypto.generate_private_key()))
        self.ledger.open_account("treasury", "treasury")
        self.ledger.commit_round(self.sign(Transfer("a0", "env", "alice", 1000, "allowance")))

    def sign(self, *transfers: Transfer) -> list[Transfer]:
        return authorize_transfers(transfers, self.keys, ORIGIN)

    def state(self) -> tuple:
        return self.ledger.size, self.ledger.root, self.ledger.balances()


@pytest.fixture
def s(tmp_path: Path):
    setup = Setup(tmp_path / "ledger")
    yield setup
    setup.ledger.close()


def _refused(s: Setup, transfers: list[Transfer], error: type[Exception], match: str) -> None:
    before = s.state()
    with pytest.raises(error, match=match):
        s.ledger.commit_round(transfers)
    assert s.state() == before


def test_a_signed_bid_pays_only_the_transfer_it_names(s: Setup) -> None:
    (paid,) = s.sign(Transfer("b1", "alice", "bob", 50, "bid", task="chain", round=1))
    s.ledger.commit_round([paid])
    ev = paid.evidence
    # The same signature for a rent payment in another round: refused.
    rent = Transfer("r2", "alice", "treasury", 50, "rent", task="chain", round=2, evidence=ev)
    _refused(s, [rent], BadEvidence, "round")
    # ... for another id in the same round: refused.
    other = Transfer("b1-again", "alice", "bob", 50, "bid", task="chain", round=1, evidence=ev)
    _refused(s, [other], BadEvidence, "does not authorise this id")
    # ... for the same id again: the ledger records the id once, so nothing is paid twice.
    assert s.ledger.commit_round([paid]).duplicates == ("b1",)
    assert s.ledger.balance("alice") == 950
    # ... for the same id with other content: refused.
    changed = replace(paid, payee="treasury")
    _refused(s, [changed], IdempotencyConflict, "different transfer")


def test_evidence_cannot_be_overspent_or_moved(s: Setup) -> None:
    auth = Authorization(ORIGIN, "chain", 1, "alice", (Debit("b2", "bob", 10, "bid", 3),))
    ev = authorize(s.alice, auth)
    assert decode_authorization(ev) == auth
    cases = [
        (Transfer("b2", "alice", "bob", 11, "bid", "chain", 1, ev), "at most 10"),
        (Transfer("b2", "alice", "treasury", 10, "bid", "chain", 1, ev), "to 'bob'"),
        (Transfer("b2", "alice", "bob", 10, "rent", "chain", 1, ev), "a bid to"),
        (Transfer("b2", "alice", "bob", 10, "bid", "other-task", 1, ev), "task"),
    ]
    for transfer, match in cases:
        _refused(s, [transfer], BadEvidence, match)
    # Signed for another exchange: refused here.
    elsewhere = authorize(s.alice, replace(auth, exchange="catallax.test/elsewhere"))
    _refused(s, [Transfer("b2", "alice", "bob", 10, "bid", "chain", 1, elsewhere)],
             BadEvidence, "exchange")  # fmt: skip
    # What it does authorise goes through, and less than the most is fine.
    s.ledger.commit_round([Transfer("b2", "alice", "bob", 7, "bid", "chain", 1, ev)])
    assert s.ledger.balance("bob") == 7


def test_allowances_and_rewards_carry_the_issuers_signature(s: Setup, tmp_path: Path) -> None:
    _refused(s, [Transfer("a1", "env", "alice", 5, "allowance")], MissingEvidence, "allowance")
    _refused(s, [Transfer("w1", "env", "alice", 5, "reward")], MissingEvidence, "reward")
    # Signed by a trader instead of the issuer: refused.
    (forged,) = authorize_transfers([Transfer("a2", "env", "alice", 5, "allowance")],
                                    {"env": s.alice}, ORIGIN)  # fmt: skip
    _refused(s, [forged], BadEvidence, "but payer 'env' has key")
    # An issuer holding the exchange's own key is signed by the checkpoints.
    key = crypto.generate_private_key()
    with open_ledger(tmp_path / "own", key=key, origin=ORIGIN, create=True) as own:
        own.open_account("env", "issuer", crypto.public_key_bytes(key))
        own.open_account("bob", "trader", crypto.public_key_bytes(crypto.generate_private_key()))
        own.commit_round([Transfer("a", "env", "bob", 5, "allowance")])
        assert own.audit().balances["bob"] == 5


def test_malformed_evidence_bodies_are_refused(s: Setup) -> None:
    bodies = [
        (b"not json", "not JSON"),
        (b'{"exchange":"x"}', "must hold"),
        (b'{"debits":[["b3","bob",0,"bid",0]],"exchange":"%s","payer":"alice","round":1,'
         b'"task":"chain"}' % ORIGIN.encode(), "units > 0"),
        (b'{"debits": [], "exchange": "x", "payer": "alice", "payer": "bob", "round": 1, '
         b'"task": "chain"}', "repeats a key"),
        (b'{"debits": [], "exchange": "x", "payer": "alice", "round": NaN, "task": "chain"}',
         "NaN"),
    ]  # fmt: skip
    for data, match in bodies:
        ev = crypto.SignedEnvelope.seal(s.alice, "Debits", data)
        _refused(s, [Transfer("b3", "alice", "bob", 1, "bid", "chain", 1, ev)], BadEvidence, match)
    ev = crypto.SignedEnvelope.seal(s.alice, "Bid", b"an old-style bid")
    _refused(
        s,
        [Transfer("b4", "alice", "bob", 1, "bid", evidence=ev)],
        BadEvidence,
        "no reader here knows",
    )


def test_an_operator_forcing_reused_evidence_into_the_log_fails_the_audit(
    s: Setup, monkeypatch
) -> None:
    (paid,) = s.sign(Transfer("b5", "alice", "bob", 40, "bid", task="chain", round=1))
    s.ledger.commit_round([paid])
    s.ledger.audit()
    # The operator holds the exchange's key and skips the commit-time check: the log, its
    # hashes and its checkpoint are all valid, only the evidence is not.
    monkeypatch.setattr(round_module, "check_evidence", lambda *a, **k: None)
    reuse = Transfer("b6", "alice", "treasury", 40, "rent", "chain", 2, paid.evidence)
    s.ledger.commit_round([reuse])
    monkeypatch.undo()
    s.ledger.verify()  # hashes and signatures of the log are fine
    with pytest.raises(TamperedEntry, match=f"entry {s.ledger.size - 1}:.*round") as info:
        s.ledger.audit()
    assert info.value.index == s.ledger.size - 1
