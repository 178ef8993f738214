"""Checkpoints: the signed tree head as a C2SP tlog-checkpoint signed note.

A checkpoint body is three lines, each ending in a newline::

    <origin>
    <tree size, decimal>
    <root hash, standard base64>

and the note adds a blank line and one signature line per signer::

    — <key name> <base64(key id (4 bytes) || Ed25519 signature (64 bytes))>

as in C2SP ``signed-note`` and ``tlog-checkpoint``: the signature is over the body bytes
exactly, and the key id is the first 4 bytes of SHA-256(key name || "\\n" || 0x01 ||
public key). The key name is the origin. A verifier key string
(``name+keyid+base64(0x01 || key)``) is what tlog tools take to check our notes;
:func:`parse_verifier_key` reads one back. :func:`parse_checkpoint` checks a note's
syntax without a key (for a checkpoint a user kept), :func:`open_checkpoint` also its
signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature

from catallax.exchange.crypto import (
    CryptoError,
    Ed25519PrivateKey,
    public_key_bytes,
    public_key_from_bytes,
)
from catallax.exchange.ledger.errors import CheckpointError
from catallax.exchange.ledger.hashing import HASH_SIZE

__all__ = [
    "Checkpoint",
    "check_origin",
    "key_id",
    "open_checkpoint",
    "parse_checkpoint",
    "parse_verifier_key",
    "sign_checkpoint",
    "verifier_key",
]

_DASH = "\u2014"
_ED25519 = b"\x01"
_ORIGIN = re.compile(r"[\x21-\x2a\x2c-\x7e]{1,200}")  # printable ASCII, no space, no '+'
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_KEY_ID = re.compile(r"[0-9a-f]{8}")


def check_origin(origin: str) -> str:
    """Return ``origin`` if it can name a log and a key (printable, no spaces, no '+')."""
    if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
        raise CheckpointError(
            f"origin: expected printable ASCII without spaces or '+', like "
            f"'catallax.local/exchange', got {origin!r}"
        )
    return origin


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's ``origin``, its ``size`` in entries and its ``root`` hash."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        """The checkpoint text that is signed."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte signed-note key id of an Ed25519 key named ``name``."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The signed-note verifier key string: ``name+<key id hex>+<base64(0x01 || key)>``."""
    encoded = base64.b64encode(_ED25519 + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_verifier_key(vkey: str) -> tuple[str, bytes]:
    """The key name and raw Ed25519 public key of a verifier key string.

    The inverse of :func:`verifier_key`: ``name+<8 hex digits>+<base64(0x01 || key)>``,
    where the hex digits must be the key id of that name and key. Raises
    :class:`CheckpointError` naming what is wrong.
    """
    if not isinstance(vkey, str):
        raise CheckpointError(f"verifier key: expected a string, got {type(vkey).__name__}")
    parts = vkey.split("+", 2)  # the base64 key may hold '+' too
    if len(parts) != 3:
        raise CheckpointError("verifier key: expected name+keyid+key (three parts joined by '+')")
    name, hex_id, encoded = parts
    if not _ORIGIN.fullmatch(name):
        raise CheckpointError(f"verifier key: the name {name!r} is not a printable key name")
    if not _KEY_ID.fullmatch(hex_id):
        raise CheckpointError(
            f"verifier key: the key id must be 8 lowercase hex digits, not {hex_id!r}"
        )
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError("verifier key: the key is not base64") from exc
    if len(blob) != 1 + 32 or blob[:1] != _ED25519:
        raise CheckpointError("verifier key: not an Ed25519 key (0x01 and 32 bytes)")
    public_key = blob[1:]
    try:
        public_key_from_bytes(public_key)
    except CryptoError as exc:
        raise CheckpointError(f"verifier key: {exc}") from exc
    if key_id(name, public_key).hex() != hex_id:
        raise CheckpointError(f"verifier key: the key id {hex_id} is not this name's and key's")
    return name, public_key


def sign_checkpoint(
    checkpoint: Checkpoint, key: Ed25519PrivateKey, *, public_key: bytes | None = None
) -> str:
    """The signed note of ``checkpoint``, signed by ``key`` under the origin's name.

    ``public_key`` (the key's raw public key) saves deriving it again on every commit.
    """
    check_origin(checkpoint.origin)
    body = checkpoint.body()
    name = checkpoint.origin
    signature = key.sign(body.encode())
    public_key = public_key_bytes(key) if public_key is None else public_key
    blob = base64.b64encode(key_id(name, public_key) + signature).decode()
    return f"{body}\n{_DASH} {name} {blob}\n"


def _parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("checkpoint: the body needs origin, size and root lines")
    origin, size, root_b64 = lines[0], lines[1], lines[2]
    check_origin(origin)
    if not _SIZE.fullmatch(size):
        raise CheckpointError(f"checkpoint: size must be a decimal number, got {size!r}")
    try:
        root = base64.b64decode(root_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError("checkpoint: the root is not base64") from exc
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"checkpoint: the root must be {HASH_SIZE} bytes, got {len(root)}")
    return Checkpoint(origin, int(size), root)


def _split_note(note: str) -> tuple[str, Checkpoint, list[tuple[str, bytes]]]:
    """Body text, checkpoint and (name, key id || signature) of every signature line."""
    if not isinstance(note, str) or "\n\n" not in note:
        raise CheckpointError("checkpoint: not a signed note (no blank line before signatures)")
    if any(ch < " " and ch != "\n" for ch in note):
        raise CheckpointError("checkpoint: control characters in the note")
    split = note.rindex("\n\n")
    body, signatures = note[: split + 1], note[split + 2 :]
    checkpoint = _parse_body(body)
    if not signatures.endswith("\n"):
        raise CheckpointError("checkpoint: the signature lines must end with a newline")
    lines = []
    for line in signatures[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or not parts[1]:
            raise CheckpointError(f"checkpoint: malformed signature line {line!r}")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CheckpointError("checkpoint: a signature is not base64") from exc
        if len(blob) < 5:
            raise CheckpointError(f"checkpoint: the signature by {parts[1]} is too short")
        lines.append((parts[1], blob))
    return body, checkpoint, lines


def parse_checkpoint(note: str) -> Checkpoint:
    """The checkpoint of a signed note, checking its syntax but no signature.

    For a checkpoint kept in a file, before the key it must verify against is known.
    Raises :class:`CheckpointError` if the note is malformed.
    """
    return _split_note(note)[1]


def open_checkpoint(note: str, public_key: bytes, *, name: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note against ``public_key`` and return the checkpoint.

    ``name`` is the signer's key name (default: the checkpoint's origin). Raises
    :class:`CheckpointError` if the note is malformed or no signature line by this key
    verifies.
    """
    body, checkpoint, lines = _split_note(note)
    name = checkpoint.origin if name is None else name
    try:
        key = public_key_from_bytes(public_key)
    except CryptoError as exc:
        raise CheckpointError(f"checkpoint: {exc}") from exc
    wanted_id = key_id(name, public_key)
    for signer, blob in lines:
        if signer != name or len(blob) != 4 + 64 or blob[:4] != wanted_id:
            continue
        try:
            key.verify(blob[4:], body.encode())
        except InvalidSignature as exc:
            raise CheckpointError(
                f"checkpoint: the signature by {name} does not verify (size {checkpoint.size})"
            ) from exc
        return checkpoint
    raise CheckpointError(f"checkpoint: no signature by key {name!r} with this public key")
