"""Building inclusion and consistency proofs (RFC 9162 sections 2.1.3.1 and 2.1.4.1).

Proofs are built from stored perfect nodes through a ``get_node(level, index)`` callable,
so a proof costs O(log n) node reads (a subtree that is not perfect, on the right edge,
is hashed from the O(log n) perfect nodes it is made of). Pure: the caller supplies
the reader.
"""

from __future__ import annotations

from collections.abc import Callable

from catallax.exchange.ledger.errors import MalformedProof
from catallax.exchange.ledger.hashing import EMPTY_ROOT, node_hash

__all__ = ["NodeReader", "consistency_proof", "inclusion_proof", "subtree_hash"]

#: Reads the hash of perfect node ``(level, index)`` (leaves are level 0).
NodeReader = Callable[[int, int], bytes]


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(begin: int, end: int, get_node: NodeReader) -> bytes:
    """MTH of leaves ``[begin, end)`` as RFC 6962 splits them; ``begin`` is aligned."""
    n = end - begin
    if n <= 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return get_node(level, begin >> level)
    k = _split(n)
    return node_hash(
        subtree_hash(begin, begin + k, get_node), subtree_hash(begin + k, end, get_node)
    )


def inclusion_proof(index: int, size: int, get_node: NodeReader) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
    if not 0 <= index < size:
        raise MalformedProof(f"index: leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    begin, end, m = 0, size, index
    while end - begin > 1:
        k = _split(end - begin)
        if m < k:
            path.append(subtree_hash(begin + k, end, get_node))
            end = begin + k
        else:
            path.append(subtree_hash(begin, begin + k, get_node))
            begin, m = begin + k, m - k
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, get_node: NodeReader) -> list[bytes]:
    """The proof that the tree of ``size1`` leaves is a prefix of the one of ``size2``.

    Defined for ``0 < size1 <= size2`` (empty when the sizes are equal).
    """
    if not 0 < size1 <= size2:
        raise MalformedProof(
            f"sizes: a consistency proof needs 0 < size1 <= size2, got {size1} and {size2}"
        )
    path: list[bytes] = []
    begin, end, m, complete = 0, size2, size1, True
    while m != end - begin:
        n = end - begin
        k = _split(n)
        if m <= k:
            path.append(subtree_hash(begin + k, end, get_node))
            end = begin + k
        else:
            path.append(subtree_hash(begin, begin + k, get_node))
            begin, m, complete = begin + k, m - k, False
    if not complete:
        path.append(subtree_hash(begin, end, get_node))
    path.reverse()
    return path
