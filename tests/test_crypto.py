"""Ed25519 keys and domain-separated signatures (PEM files: test_keys.py)."""

from __future__ import annotations

import pytest

from catallax.exchange import crypto
from catallax.exchange.crypto import (
    BadSignature,
    InvalidKey,
    InvalidMessageName,
    MissingSignature,
    SignedEnvelope,
)


def test_sign_and_verify_round_trip() -> None:
    key = crypto.generate_private_key()
    pub = crypto.public_key_bytes(key)
    assert len(pub) == crypto.PUBLIC_KEY_SIZE
    sig = crypto.sign(key, "Bid", b"payload")
    assert len(sig) == crypto.SIGNATURE_SIZE
    crypto.verify(pub, "Bid", b"payload", sig)


def test_signature_covers_the_domain_prefix() -> None:
    key = crypto.generate_private_key()
    pub = crypto.public_key_bytes(key)
    assert crypto.signing_input("Bid", b"x") == b"catallax/v1/Bid\x00x"
    sig = crypto.sign(key, "Bid", b"Report")
    # The same bytes under another message name do not verify...
    with pytest.raises(BadSignature):
        crypto.verify(pub, "StepReport", b"Report", sig)
    # ...nor does a shift of bytes between the name and the data.
    with pytest.raises(BadSignature):
        crypto.verify(pub, "BidReport", b"", sig)
    # A raw signature over the undecorated bytes is not a catallax signature.
    with pytest.raises(BadSignature):
        crypto.verify(pub, "Bid", b"Report", key.sign(b"Report"))


def test_tampered_bytes_key_or_signature_are_refused() -> None:
    key = crypto.generate_private_key()
    env = SignedEnvelope.seal(key, "StepReport", b"reward=1")
    env.verify()
    assert env.is_valid()
    other = crypto.public_key_bytes(crypto.generate_private_key())
    bad_sig = bytes([env.signature[0] ^ 1]) + env.signature[1:]
    for bad in (
        SignedEnvelope(env.message, b"reward=2", env.public_key, env.signature),
        SignedEnvelope(env.message, env.data, other, env.signature),
        SignedEnvelope(env.message, env.data, env.public_key, bad_sig),
        SignedEnvelope(env.message, env.data, env.public_key, env.signature[:-1]),
    ):
        with pytest.raises(BadSignature):
            bad.verify()
        assert not bad.is_valid()


def test_a_signature_verified_once_is_remembered_and_nothing_else(monkeypatch) -> None:
    """The same key, bytes and signature verify from memory the second time; other
    bytes, another key or another signature are checked (and refused) as ever, a failure
    is never remembered, and the memory keeps only the latest VERIFIED_MEMORY."""
    key = crypto.generate_private_key()
    pub = crypto.public_key_bytes(key)
    sig = crypto.sign(key, "Bids", b"round 7")
    calls = []
    real = crypto.Ed25519PublicKey.from_public_bytes

    def counting(raw):  # the real key object, its verifications counted
        obj = real(raw)

        class Counted:
            def verify(self, signature, data):
                calls.append(data)
                return obj.verify(signature, data)

        return Counted()

    monkeypatch.setattr(crypto, "public_key_from_bytes", counting)
    crypto.verify(pub, "Bids", b"round 7", sig)
    crypto.verify(pub, "Bids", b"round 7", sig)
    assert len(calls) == 1
    for data, name, signer, signature in (
        (b"round 8", "Bids", pub, sig),
        (b"round 7", "Orders", pub, sig),
        (b"round 7", "Bids", crypto.public_key_bytes(crypto.generate_private_key()), sig),
        (b"round 7", "Bids", pub, bytes([sig[0] ^ 1]) + sig[1:]),
    ):
        for _ in range(2):  # a failure is checked again, never remembered
            with pytest.raises(BadSignature):
                crypto.verify(signer, name, data, signature)
    assert len(calls) == 1 + 4 * 2
    monkeypatch.setattr(crypto, "VERIFIED_MEMORY", 2)
    for k in range(3):
        crypto.verify(pub, "Bids", b"n%d" % k, crypto.sign(key, "Bids", b"n%d" % k))
    assert len(crypto._VERIFIED) <= 2


def test_missing_signature_is_an_error_not_a_pass() -> None:
    key = crypto.generate_private_key()
    with pytest.raises(MissingSignature):
        crypto.verify(crypto.public_key_bytes(key), "Bid", b"x", b"")


@pytest.mark.parametrize("name", ["", "bad name", "Bid\x00", "x" * 200, "1Bid", "Bid/x"])
def test_bad_message_names_are_refused(name: str) -> None:
    key = crypto.generate_private_key()
    with pytest.raises(InvalidMessageName):
        crypto.sign(key, name, b"x")


@pytest.mark.parametrize("raw", [b"", b"\x00" * 31, b"\x00" * 33, "abc"])
def test_bad_public_keys_are_refused(raw) -> None:
    with pytest.raises(InvalidKey):
        crypto.public_key_from_bytes(raw)


def test_exported_names_exist() -> None:
    public = {n for n in dir(crypto) if not n.startswith("_")}
    assert set(crypto.__all__) <= public
    assert len(crypto.__all__) == len(set(crypto.__all__))
