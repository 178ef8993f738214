"""Ed25519 key files: PEM encoding, and reading and writing keys on disk.

The keys themselves, signing and verification are pure functions in
:mod:`catallax.exchange.crypto`; this module is the file side, used by the command line
(``catallax keys``, ``catallax ledger``) and the nodes. The private key is stored as
unencrypted PKCS#8 PEM (mode 0600), the public key as SubjectPublicKeyInfo PEM in
``FILE.pub``. Every failure is a :class:`~catallax.node.errors.KeyFileError` (a
``NodeError`` and an ``OSError``) whose message starts with the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from catallax.exchange.crypto import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    public_key_bytes,
    public_key_from_bytes,
)
from catallax.node.errors import KeyFileError

__all__ = [
    "KeyFileError",
    "load_private_key",
    "load_public_key",
    "private_key_from_pem",
    "private_key_to_pem",
    "public_key_to_pem",
    "save_private_key",
]


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_to_pem(key: Ed25519PrivateKey | Ed25519PublicKey | bytes) -> bytes:
    """The public key as SubjectPublicKeyInfo PEM (from a key object or raw bytes)."""
    if isinstance(key, bytes | bytearray):
        key = public_key_from_bytes(bytes(key))
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_key_from_pem(data: bytes) -> Ed25519PrivateKey:
    """Parse a PKCS#8 PEM private key; :class:`KeyFileError` unless it is Ed25519."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


def save_private_key(key: Ed25519PrivateKey, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the private key PEM to ``path`` (mode 0600) and its public PEM to ``path.pub``.

    Refuses (:class:`KeyFileError`) to replace an existing file unless ``overwrite``.
    Returns the path of the private key file.
    """
    path = Path(path)
    pub = path.with_name(path.name + ".pub")
    if not overwrite:
        for target in (path, pub):
            if target.exists():
                raise KeyFileError(f"{target}: already exists (refusing to overwrite a key)")
    if not path.parent.is_dir():
        raise KeyFileError(f"{path.parent}: no such directory")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_to_pem(key))
    pub.write_bytes(public_key_to_pem(key))
    return path


def _read_key_file(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file ({exc.strerror or exc})") from exc


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PEM file."""
    try:
        return private_key_from_pem(_read_key_file(path))
    except KeyFileError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise KeyFileError(f"{path}: {exc}") from exc


def load_public_key(path: str | Path) -> bytes:
    """The raw public key held in a PEM file: a public key PEM, or a private key PEM."""
    data = _read_key_file(path)
    if b"PRIVATE KEY" in data:
        try:
            return public_key_bytes(private_key_from_pem(data))
        except KeyFileError as exc:
            raise KeyFileError(f"{path}: {exc}") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: expected an Ed25519 public key, got {type(key).__name__}")
    return key.public_bytes_raw()
