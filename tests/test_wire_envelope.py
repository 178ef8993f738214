"""Signed envelopes and persistent sequence numbers: what is refused, also after a restart."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from catallax.exchange.crypto import generate_private_key, public_key_bytes, signing_input
from catallax.node.errors import (
    BadSignature,
    Malformed,
    MissingSignature,
    Replayed,
    SequenceFileError,
    Stale,
    WireError,
    WrongMessage,
)
from catallax.node.wire.envelope import Envelope, message_class, open_envelope, receive, seal
from catallax.node.wire.sequence import RESERVATION_US, SequenceBook, Sequencer
from catallax.v1 import common_pb2, environment_pb2, exchange_pb2

KEY = generate_private_key()
NOW = 1_700_000_000_000


def _bids(sequence=1, timestamp_ms=NOW, **fields):
    fields = {"exchange": "ex.example", "task": "chain", "round": 3} | fields
    bid = exchange_pb2.Bid(member=0, slot=1, amount=5, action=common_pb2.Value(discrete=1))
    return exchange_pb2.Bids(sequence=sequence, timestamp_ms=timestamp_ms, bids=[bid], **fields)


def _wire(envelope: Envelope) -> Envelope:
    return Envelope.FromString(envelope.SerializeToString())


# --- envelopes ---------------------------------------------------------------------------


def test_seal_and_open():
    body = _bids()
    envelope = _wire(seal(KEY, "Bids", body))
    assert envelope.message == "Bids" and envelope.public_key == public_key_bytes(KEY)
    assert envelope.body == body.SerializeToString()
    assert open_envelope(envelope, "Bids") == body
    assert open_envelope(envelope, exchange_pb2.Bids) == body


def test_each_key_seals_with_its_own_public_key_every_time():
    body = _bids()
    first = seal(KEY, "Bids", body)
    assert seal(KEY, "Bids", body) == first  # the key derived once, deterministic signatures
    other_key = generate_private_key()
    other = seal(other_key, "Bids", body)
    assert other.public_key == public_key_bytes(other_key) != first.public_key
    assert open_envelope(_wire(other), "Bids") == body
    # Another key's public key on this key's signature: no receiver accepts it.
    forged = Envelope()
    forged.CopyFrom(first)
    forged.public_key = other.public_key
    with pytest.raises(BadSignature):
        open_envelope(_wire(forged), "Bids")


def test_the_signature_covers_the_domain_and_the_body():
    envelope = seal(KEY, exchange_pb2.Bids, _bids())
    KEY.public_key().verify(envelope.signature, signing_input("Bids", envelope.body))


def test_verifies_the_bytes_received_not_a_reserialization():
    """A non-canonical encoding (a field repeated: the last one wins) verifies as sent."""
    body = _bids().SerializeToString() + exchange_pb2.Bids(round=9).SerializeToString()
    envelope = Envelope(
        body=body,
        public_key=public_key_bytes(KEY),
        signature=KEY.sign(signing_input("Bids", body)),
        message="Bids",
    )
    opened = open_envelope(_wire(envelope), "Bids")
    assert opened.round == 9
    assert opened.SerializeToString() != body


def test_a_changed_body_is_refused():
    envelope = seal(KEY, "Bids", _bids())
    envelope.body = _bids(round=4).SerializeToString()
    with pytest.raises(BadSignature):
        open_envelope(envelope, "Bids")


def test_another_key_is_refused():
    envelope = seal(KEY, "Bids", _bids())
    envelope.public_key = public_key_bytes(generate_private_key())
    with pytest.raises(BadSignature):
        open_envelope(envelope, "Bids")


@pytest.mark.parametrize("verify", [True, False])
def test_a_missing_signature_is_an_error_never_a_skipped_check(verify):
    envelope = seal(KEY, "Bids", _bids())
    envelope.ClearField("signature")
    with pytest.raises(MissingSignature) as info:
        open_envelope(envelope, "Bids", verify=verify)
    assert isinstance(info.value, BadSignature)


@pytest.mark.parametrize("size", [0, 31, 33])
def test_a_public_key_of_the_wrong_size_is_malformed(size):
    envelope = seal(KEY, "Bids", _bids())
    envelope.public_key = b"\x01" * size
    with pytest.raises(Malformed):
        open_envelope(envelope, "Bids")


def test_an_invalid_public_key_is_a_bad_signature():
    envelope = seal(KEY, "Bids", _bids())
    envelope.public_key = b"\x02" + b"\xff" * 31  # not a point of the curve
    with pytest.raises(WireError):
        open_envelope(envelope, "Bids")


def test_a_signature_for_another_message_is_refused():
    """Same bytes, other name: the domain differs, so the signature does not carry over."""
    envelope = seal(KEY, "Bids", _bids())
    with pytest.raises(WrongMessage):
        open_envelope(envelope, "Hello")
    envelope.message = "Hello"
    with pytest.raises(BadSignature):
        open_envelope(envelope, "Hello")


def test_a_body_that_does_not_parse_is_malformed():
    body = b"\xff\xff\xff"
    envelope = Envelope(
        body=body, public_key=public_key_bytes(KEY),
        signature=KEY.sign(signing_input("Bids", body)), message="Bids",
    )  # fmt: skip
    with pytest.raises(Malformed):
        open_envelope(envelope, "Bids")


def test_not_an_envelope():
    with pytest.raises(Malformed):
        open_envelope(_bids(), "Bids")


def test_seal_checks_the_body_type():
    with pytest.raises(WrongMessage):
        seal(KEY, "Hello", _bids())
    with pytest.raises(WrongMessage):
        seal(KEY, "NoSuchMessage", _bids())


def test_message_classes():
    assert message_class("StepReply") is environment_pb2.StepReply
    assert message_class(exchange_pb2.Bids) is exchange_pb2.Bids
    for bad in ("", "Bid s", None, Envelope.DESCRIPTOR):
        with pytest.raises(WrongMessage):
            message_class(bad)


# --- the sequence book ---------------------------------------------------------------------


class Clock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def book(tmp_path):
    with SequenceBook(tmp_path / "seq.db", clock=Clock()) as book:
        yield book


def test_sequences_must_grow_per_signer(book):
    alice, bob = b"a" * 32, b"b" * 32
    book.check(alice, 1, NOW)
    book.check(alice, 5, NOW)
    book.check(bob, 1, NOW)
    for sequence in (5, 4, 1):
        with pytest.raises(Replayed):
            book.check(alice, sequence, NOW)
    book.check(alice, 6, NOW)
    assert book.last(alice) == (6, NOW) and book.last(bob) == (1, NOW)
    assert book.last(b"c" * 32) is None


@pytest.mark.parametrize("sequence", [0, 2**63])
def test_sequence_bounds(book, sequence):
    with pytest.raises(Malformed):
        book.check(b"a" * 32, sequence, NOW)


@pytest.mark.parametrize("offset", [-30_001, 30_001, -(10**12), 10**12])
def test_stale_timestamps_are_refused_and_not_recorded(book, offset):
    with pytest.raises(Stale):
        book.check(b"a" * 32, 1, NOW + offset)
    assert book.last(b"a" * 32) is None
    book.check(b"a" * 32, 1, NOW + offset // abs(offset) * 30_000)  # the window's edge


def test_the_window_is_configurable(tmp_path):
    with SequenceBook(tmp_path / "s.db", window_ms=1_000, clock=Clock()) as book:
        with pytest.raises(Stale):
            book.check(b"a" * 32, 1, NOW + 1_001)
        book.check(b"a" * 32, 1, NOW + 1_000)
    for window in (0, -1, 1.5):
        with pytest.raises(Malformed):
            SequenceBook(tmp_path / "t.db", window_ms=window)


def test_replays_are_refused_after_reopening(tmp_path):
    path = tmp_path / "seq.db"
    with SequenceBook(path, clock=Clock()) as book:
        book.check(b"a" * 32, 7, NOW)
    with SequenceBook(path, clock=Clock()) as book:
        assert book.last(b"a" * 32) == (7, NOW)
        with pytest.raises(Replayed):
            book.check(b"a" * 32, 7, NOW)
        book.check(b"a" * 32, 8, NOW)


def test_replays_are_refused_after_a_process_restart(tmp_path):
    """A real process accepts an envelope and exits; a new one refuses the same envelope."""
    path = tmp_path / "seq.db"
    envelope = seal(KEY, "Bids", Sequencer(public_key_bytes(KEY)).stamp(_bids()))
    script = textwrap.dedent(
        """
        import sys
        from catallax.node.errors import Replayed
        from catallax.node.wire.envelope import Envelope, receive
        from catallax.node.wire.sequence import SequenceBook

        envelope = Envelope.FromString(sys.stdin.buffer.read())
        with SequenceBook(sys.argv[1]) as book:
            try:
                receive(envelope, "Bids", book)
            except Replayed:
                print("replayed")
            else:
                print("accepted")
        """
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            input=envelope.SerializeToString(), capture_output=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode().strip()

    assert run() == "accepted"
    assert run() == "replayed"


def test_receive_verifies_before_it_records(book):
    envelope = seal(KEY, "Bids", _bids(sequence=10))
    forged = Envelope()
    forged.CopyFrom(envelope)
    forged.signature = bytes(64)
    with pytest.raises(BadSignature):
        receive(forged, "Bids", book)
    assert book.last(envelope.public_key) is None
    assert receive(envelope, "Bids", book).sequence == 10
    with pytest.raises(Replayed):
        receive(envelope, "Bids", book)


def test_receive_refuses_a_stale_envelope(book):
    with pytest.raises(Stale):
        receive(seal(KEY, "Bids", _bids(timestamp_ms=NOW - 60_000)), "Bids", book)


def test_a_body_without_sequence_fields(book):
    with pytest.raises(Malformed):
        book.accept(b"a" * 32, exchange_pb2.Bid())


def test_a_file_that_is_not_a_sequence_book(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(SequenceFileError) as info:
        SequenceBook(junk)
    assert isinstance(info.value, OSError)
    import sqlite3

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(SequenceFileError):
        SequenceBook(other)
    with pytest.raises(SequenceFileError):
        SequenceBook(tmp_path / "missing" / "dir" / "seq.db")


# --- the sender's side -----------------------------------------------------------------------


def test_a_sequencer_grows_and_stamps():
    sequencer = Sequencer(b"a" * 32, clock=Clock())
    numbers = [sequencer.next() for _ in range(100)]
    assert numbers == sorted(set(numbers))
    body = sequencer.stamp(_bids(sequence=0, timestamp_ms=0))
    assert body.sequence > numbers[-1] and body.timestamp_ms == NOW


def test_a_persisted_sequencer_grows_across_restarts(tmp_path, monkeypatch):
    path = tmp_path / "sent.db"
    with SequenceBook(path) as book:
        first = Sequencer(b"a" * 32, book=book).next()
    import time

    monkeypatch.setattr(time, "time_ns", lambda: 0)  # the clock went back
    with SequenceBook(path) as book:
        again = Sequencer(b"a" * 32, book=book)
        # above the whole reservation the first run may have used, then one by one
        assert again.next() == first + RESERVATION_US + 1
        assert [again.next() for _ in range(3)] == [first + RESERVATION_US + k for k in (2, 3, 4)]


def test_a_persisted_sequencer_writes_once_per_reservation(tmp_path, monkeypatch):
    """One durable write serves every number up to the ceiling; the next one past it
    writes a new ceiling before it is used."""
    import time

    now = [10**15]  # ns
    monkeypatch.setattr(time, "time_ns", lambda: now[0])
    with SequenceBook(tmp_path / "sent.db") as book:
        writes = []
        reserve = book._reserve
        book._reserve = lambda *a: writes.append(a) or reserve(*a)
        sequencer = Sequencer(b"a" * 32, book=book)
        numbers = [sequencer.next() for _ in range(1000)]
        assert len(writes) == 1 and numbers == sorted(set(numbers))
        ceiling = book._db.execute("SELECT sequence FROM sent").fetchone()[0]
        assert ceiling == numbers[0] + RESERVATION_US >= numbers[-1]
        now[0] += (RESERVATION_US + 5) * 1000  # the clock passes the ceiling
        beyond = sequencer.next()
        assert len(writes) == 2 and beyond > ceiling
        assert (
            book._db.execute("SELECT sequence FROM sent").fetchone()[0] == beyond + RESERVATION_US
        )


def test_sealed_stamped_bodies_pass_a_real_clock(tmp_path):
    sequencer = Sequencer(public_key_bytes(KEY))
    with SequenceBook(tmp_path / "seq.db") as book:
        for _ in range(3):
            receive(seal(KEY, "Bids", sequencer.stamp(_bids())), "Bids", book)


def test_exported_names():
    import catallax.node.wire as wire

    assert set(wire.__all__) == {
        "Envelope", "as_evidence", "message_class", "open_envelope", "receive", "seal",
        "DEFAULT_WINDOW_MS", "MAX_SEQUENCE", "MemoryBook", "SequenceBook", "Sequencer",
        "now_ms", "scoped",
    }  # fmt: skip
    for name in wire.__all__:
        assert hasattr(wire, name)
