"""PEM key files (catallax.node.keys): writing, reading, refusing bad files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from catallax.exchange import crypto
from catallax.node import keys
from catallax.node.errors import NodeError
from catallax.node.keys import KeyFileError


def test_pem_files_round_trip(tmp_path: Path) -> None:
    key = crypto.generate_private_key()
    path = keys.save_private_key(key, tmp_path / "exchange.pem")
    assert os.stat(path).st_mode & 0o777 == 0o600
    loaded = keys.load_private_key(path)
    assert crypto.public_key_bytes(loaded) == crypto.public_key_bytes(key)
    assert keys.load_public_key(tmp_path / "exchange.pem.pub") == crypto.public_key_bytes(key)
    assert keys.load_public_key(path) == crypto.public_key_bytes(key)
    with pytest.raises(KeyFileError, match="already exists"):
        keys.save_private_key(crypto.generate_private_key(), path)
    assert crypto.public_key_bytes(keys.load_private_key(path)) == crypto.public_key_bytes(key)


def test_bad_key_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        keys.load_private_key(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a key")
    with pytest.raises(KeyFileError):
        keys.load_private_key(junk)
    with pytest.raises(KeyFileError):
        keys.load_public_key(junk)
    ec = tmp_path / "ec.pem"
    ec_key = generate_private_key(SECP256R1())
    ec.write_bytes(ec_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with pytest.raises(KeyFileError, match="Ed25519"):
        keys.load_private_key(ec)
    with pytest.raises(KeyFileError, match="no such directory"):
        keys.save_private_key(crypto.generate_private_key(), tmp_path / "nope" / "k.pem")


def test_pem_encodings_round_trip() -> None:
    key = crypto.generate_private_key()
    raw = crypto.public_key_bytes(key)
    assert keys.public_key_to_pem(raw) == keys.public_key_to_pem(key)
    parsed = keys.private_key_from_pem(keys.private_key_to_pem(key))
    assert crypto.public_key_bytes(parsed) == raw
    with pytest.raises(KeyFileError):
        keys.private_key_from_pem(keys.public_key_to_pem(key))


def test_key_file_errors_are_node_errors_and_os_errors(tmp_path: Path) -> None:
    with pytest.raises(NodeError):
        keys.load_public_key(tmp_path / "missing.pem")
    with pytest.raises(OSError, match=r"missing\.pem"):
        keys.load_private_key(tmp_path / "missing.pem")


def test_the_exchange_keeps_no_file_io() -> None:
    moved = {
        "KeyFileError",
        "load_private_key",
        "load_public_key",
        "private_key_from_pem",
        "private_key_to_pem",
        "public_key_to_pem",
        "save_private_key",
    }
    assert moved <= set(keys.__all__)
    assert not moved & set(dir(crypto))
