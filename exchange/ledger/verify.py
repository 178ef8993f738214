"""Verifying inclusion and consistency proofs without the ledger (RFC 9162 2.1.3.2, 2.1.4.2).

Pure functions of hashes and sizes. Each raises :class:`MalformedProof` when the proof
cannot be right whatever the hashes, and :class:`RootMismatch` (with the expected and
the calculated root) when it leads elsewhere.

Sizes follow RFC 9162: a consistency proof is defined for ``0 < size1 <= size2``; the
proof between equal sizes is empty and the roots must be equal. Nothing is consistent
"from" the empty tree: that check proves nothing, so it is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

from catallax.exchange.ledger.errors import MalformedProof, RootMismatch
from catallax.exchange.ledger.hashing import HASH_SIZE, NODE_PREFIX

__all__ = ["root_from_inclusion_proof", "verify_consistency", "verify_inclusion"]


def _check_hashes(name: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise MalformedProof(f"{name}[{i}]: expected a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root that an audit path leads to from ``leaf_hash`` at ``index`` of ``size``."""
    if not 0 <= index < size:
        raise MalformedProof(f"index: leaf {index} is not in a tree of {size} leaves")
    _check_hashes("leaf hash", [leaf_hash])
    _check_hashes("proof", proof)
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise MalformedProof(f"proof: too long ({len(proof)} hashes) for this tree size")
        if fn & 1 or fn == sn:
            r = sha256(NODE_PREFIX + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MalformedProof(f"proof: too short ({len(proof)} hashes) for this tree size")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``."""
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if calculated != root:
        raise RootMismatch(
            f"inclusion of leaf {index} in tree of size {size}: the proof leads to another root",
            expected=bytes(root),
            calculated=calculated,
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size1`` leaves with ``root1`` is a prefix of ``size2``/``root2``."""
    if size1 > size2:
        raise MalformedProof(f"sizes: size1 ({size1}) is greater than size2 ({size2})")
    if size1 <= 0:
        raise MalformedProof("sizes: a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise MalformedProof("proof: must be empty between equal sizes")
        if root1 != root2:
            raise RootMismatch(
                f"equal sizes ({size1}) with different roots",
                expected=bytes(root2),
                calculated=bytes(root1),
            )
        return
    if not proof:
        raise MalformedProof("proof: empty, but the sizes differ")
    _check_hashes("proof", proof)
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise MalformedProof(f"proof: too long ({len(proof)} hashes) for these sizes")
        if fn & 1 or fn == sn:
            fr = sha256(NODE_PREFIX + c + fr).digest()
            sr = sha256(NODE_PREFIX + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha256(NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MalformedProof(f"proof: too short ({len(proof)} hashes) for these sizes")
    if fr != root1:
        raise RootMismatch(
            f"consistency {size1}->{size2}: the proof does not lead to the first root",
            expected=bytes(root1),
            calculated=fr,
        )
    if sr != root2:
        raise RootMismatch(
            f"consistency {size1}->{size2}: the proof does not lead to the second root",
            expected=bytes(root2),
            calculated=sr,
        )
