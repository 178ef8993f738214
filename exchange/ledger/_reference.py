"""A naive RFC 6962 Merkle tree, written straight from the RFC's recursive definitions.

MTH, PATH and PROOF as in RFC 6962 section 2.1 over a list of leaf inputs, with no
caching at all. Tests check the optimised tree, the proofs and the ledger against it.
"""

from __future__ import annotations

from hashlib import sha256

__all__ = ["naive_consistency", "naive_path", "naive_root"]


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_root(leaves: list[bytes]) -> bytes:
    """MTH(D[n])."""
    n = len(leaves)
    if n == 0:
        return sha256(b"").digest()
    if n == 1:
        return sha256(b"\x00" + leaves[0]).digest()
    k = _k(n)
    return sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf m."""
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_root(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_root(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_root(leaves)]
    k = _k(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), naive_root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), naive_root(leaves[:k])]


def naive_consistency(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): the consistency proof from the first m leaves to all of them."""
    return _subproof(m, leaves, True)
