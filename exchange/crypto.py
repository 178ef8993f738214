"""Ed25519 keys and domain-separated signatures, as pure functions.

Every signature catallax makes is over a domain-separation prefix followed by the
bytes being signed::

    b"catallax/v1/" + message_name + b"\\x00" + data

``message_name`` names what the bytes are (``Bid``, ``StepReport``...), so a signature
made for one kind of message can never be replayed as another. The NUL byte ends the
name (names never contain one), so no (name, data) pair shares its signing input with
another. Verification always uses the bytes received, never a re-serialization.

A :class:`SignedEnvelope` carries the three things a verifier needs besides the name:
the bytes, the signer's raw 32-byte public key and the 64-byte signature.

Keys are key objects or raw bytes here; nothing in this module reads or writes files.
PEM key files are read and written by :mod:`catallax.node.keys`. Errors::

    CryptoError                 root of everything this module raises
    ├── InvalidKey              public key bytes are not a valid Ed25519 key (ValueError)
    ├── InvalidMessageName      a message name is not an identifier (ValueError)
    ├── InvalidData             the data to sign or verify is not bytes (TypeError)
    └── SignatureError          a signature does not check out
        ├── MissingSignature    there is no signature where one is required
        └── BadSignature        the signature does not verify for these bytes and key
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "DOMAIN_PREFIX",
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "BadSignature",
    "CryptoError",
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "InvalidData",
    "InvalidKey",
    "InvalidMessageName",
    "MissingSignature",
    "SignatureError",
    "SignedEnvelope",
    "generate_private_key",
    "key_fingerprint",
    "public_key_bytes",
    "public_key_from_bytes",
    "sign",
    "signing_input",
    "verify",
]

#: Every signing input starts with this.
DOMAIN_PREFIX = b"catallax/v1/"
#: Raw Ed25519 public keys are 32 bytes, signatures 64.
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

_MESSAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,127}")


class CryptoError(Exception):
    """Root of the errors raised by :mod:`catallax.exchange.crypto`."""


class InvalidKey(CryptoError, ValueError):
    """Public key bytes are not a valid raw Ed25519 public key."""


class InvalidMessageName(CryptoError, ValueError):
    """A message name is empty or not an identifier (letters, digits, ``_`` and ``.``)."""


class InvalidData(CryptoError, TypeError):
    """The data to sign or verify is not ``bytes`` (or ``bytearray``)."""


class SignatureError(CryptoError):
    """A signature does not check out."""


class MissingSignature(SignatureError):
    """A signature is required but absent (empty)."""


class BadSignature(SignatureError):
    """The signature does not verify for these bytes, this key and this message name."""


# --- keys ---------------------------------------------------------------------------


def generate_private_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key from the operating system's random source."""
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key of a private or public key."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidKey(f"key: expected an Ed25519 key, got {type(key).__name__}")
    return key.public_bytes_raw()


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    """Load a raw 32-byte public key; :class:`InvalidKey` if it is not one."""
    if not isinstance(raw, bytes | bytearray) or len(raw) != PUBLIC_KEY_SIZE:
        size = len(raw) if isinstance(raw, bytes | bytearray) else type(raw).__name__
        raise InvalidKey(f"public key: expected {PUBLIC_KEY_SIZE} raw bytes, got {size}")
    return _loaded(bytes(raw))


@functools.lru_cache(maxsize=4096)
def _loaded(raw: bytes) -> Ed25519PublicKey:
    """Loaded keys are kept: an audit verifies many signatures of few keys."""
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise InvalidKey(f"public key: not a valid Ed25519 key ({exc})") from exc


def key_fingerprint(public_key: bytes) -> str:
    """A short hex name for a raw public key (first 8 bytes of its SHA-256), for display."""
    return hashlib.sha256(public_key).hexdigest()[:16]


# --- signatures ---------------------------------------------------------------------


#: Signing prefixes of message names already checked.
_PREFIXES: dict[str, bytes] = {}
#: How many verified signatures a process remembers (the latest): the same bytes, key and
#: signature verified once need not be again (an exchange checks a body as it arrives and
#: its ledger checks the same body as a transfer's evidence). Only successes are kept,
#: each by its key, its signature and the SHA-256 of the signed bytes.
VERIFIED_MEMORY = 4096
_VERIFIED: dict[tuple[bytes, bytes, bytes], None] = {}
_VERIFIED_LOCK = threading.Lock()


def signing_input(message: str, data: bytes) -> bytes:
    """The exact bytes signed for ``data`` as a ``message``: prefix, name, NUL, data."""
    prefix = _PREFIXES.get(message) if isinstance(message, str) else None
    if prefix is None:
        if not isinstance(message, str) or not _MESSAGE_NAME.fullmatch(message):
            raise InvalidMessageName(
                f"message name: expected an identifier like 'Bid' or 'StepReport', got {message!r}"
            )
        prefix = DOMAIN_PREFIX + message.encode("ascii") + b"\x00"
        if len(_PREFIXES) < 1024:  # the few names in use, checked once each
            _PREFIXES[message] = prefix
    if not isinstance(data, bytes | bytearray):
        raise InvalidData(f"data: expected bytes, got {type(data).__name__}")
    return prefix + bytes(data)


def sign(key: Ed25519PrivateKey, message: str, data: bytes) -> bytes:
    """Sign ``data`` as a ``message`` (domain-separated); returns the 64-byte signature."""
    return key.sign(signing_input(message, data))


def verify(public_key: bytes, message: str, data: bytes, signature: bytes) -> None:
    """Check a signature made by :func:`sign`; raise a :class:`SignatureError` if it fails.

    A missing (empty) signature raises :class:`MissingSignature`, never passes.
    """
    if not signature:
        raise MissingSignature(f"{message}: the signature is missing")
    key = public_key_from_bytes(public_key)
    if len(signature) != SIGNATURE_SIZE:
        raise BadSignature(
            f"{message}: a signature is {SIGNATURE_SIZE} bytes, got {len(signature)}"
        )
    signed = signing_input(message, data)
    seen = (bytes(public_key), bytes(signature), hashlib.sha256(signed).digest())
    if seen in _VERIFIED:
        return
    try:
        key.verify(bytes(signature), signed)
    except InvalidSignature as exc:
        fingerprint = key_fingerprint(bytes(public_key))
        raise BadSignature(
            f"{message}: the signature does not verify for key {fingerprint}"
        ) from exc
    with _VERIFIED_LOCK:  # a ledger's worker thread verifies beside the event loop
        _VERIFIED[seen] = None
        while len(_VERIFIED) > VERIFIED_MEMORY:
            del _VERIFIED[next(iter(_VERIFIED))]


@dataclass(frozen=True, slots=True)
class SignedEnvelope:
    """Signed bytes as received: what they are, the bytes, who signed them, the signature.

    ``message`` is the domain name (``Bid``, ``StepReport``...), ``data`` the serialized
    inner message exactly as signed, ``public_key`` the signer's raw 32-byte Ed25519 key
    and ``signature`` the 64-byte signature over :func:`signing_input`.
    """

    message: str
    data: bytes
    public_key: bytes
    signature: bytes

    @classmethod
    def seal(cls, key: Ed25519PrivateKey, message: str, data: bytes) -> SignedEnvelope:
        """Sign ``data`` as a ``message`` with ``key`` and wrap the result."""
        data = bytes(data)
        return cls(message, data, public_key_bytes(key), sign(key, message, data))

    def verify(self) -> None:
        """Raise a :class:`SignatureError` unless the signature checks out."""
        verify(self.public_key, self.message, self.data, self.signature)

    def is_valid(self) -> bool:
        """True when :meth:`verify` would pass (bad keys and names count as invalid)."""
        try:
            self.verify()
        except CryptoError:
            return False
        return True
