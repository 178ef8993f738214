"""RFC 6962 / RFC 9162 hashing: the two domain-separation prefixes and the empty root.

A leaf hash is SHA-256(0x00 || data) and an interior node hash SHA-256(0x01 || left ||
right), so a leaf can never be passed off as an interior node (second-preimage
resistance). The root of the empty tree is SHA-256 of nothing.
"""

from __future__ import annotations

from hashlib import sha256

__all__ = ["EMPTY_ROOT", "HASH_SIZE", "LEAF_PREFIX", "NODE_PREFIX", "leaf_hash", "node_hash"]

#: Prefix of a leaf's hash input (RFC 6962 section 2.1).
LEAF_PREFIX = b"\x00"
#: Prefix of an interior node's hash input.
NODE_PREFIX = b"\x01"
#: Bytes in a SHA-256 digest.
HASH_SIZE = 32
#: MTH({}) = SHA-256() for the empty tree.
EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf holding ``data``: SHA-256(0x00 || data)."""
    return sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return sha256(NODE_PREFIX + left + right).digest()
