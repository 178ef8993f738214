"""The append-only Merkle tree kept as its frontier, and where its nodes are stored.

A tree of ``size`` leaves is the concatenation of perfect subtrees, one per set bit of
``size``, largest first. :class:`CompactTree` keeps only their roots (the *frontier*,
at most log2(size) + 1 hashes), so appending a leaf costs O(log n) hashing and never
reads an old leaf, and the root is a fold of the frontier.

Every perfect subtree (level ``l`` holding leaves ``[j * 2**l, (j + 1) * 2**l)``) is a
*node* ``(l, j)``; leaves are the nodes of level 0. The append of one leaf completes
the leaf and one node per level it closes; a store keeps these with the entry, so
node ``(l, j)`` is found at offset ``l`` among the nodes of entry
:func:`completing_leaf` ``(l, j)``, and verification streams entries and nodes together.
Taken over all entries the completed nodes come in post-order (:func:`node_position`).
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import sha256

from catallax.exchange.ledger.errors import MalformedProof
from catallax.exchange.ledger.hashing import EMPTY_ROOT, HASH_SIZE, NODE_PREFIX

__all__ = ["CompactTree", "completing_leaf", "node_count", "node_position"]


def completing_leaf(level: int, index: int) -> int:
    """The leaf whose append completes perfect node ``(level, index)``: its last leaf."""
    return ((index + 1) << level) - 1


def node_position(level: int, index: int) -> int:
    """The post-order position of perfect node ``(level, index)`` among all stored nodes.

    The node is completed by the append of leaf ``last = (index + 1) * 2**level - 1``;
    before that append ``2*last - popcount(last)`` nodes exist, then the leaf and its
    ``level`` ancestors up to this node are added.
    """
    last = ((index + 1) << level) - 1
    return 2 * last - last.bit_count() + level


def node_count(size: int) -> int:
    """How many perfect nodes (leaves included) a tree of ``size`` leaves has."""
    return 2 * size - size.bit_count()


class CompactTree:
    """An RFC 6962 tree held as its frontier: append a leaf hash, read the root.

    ``frontier`` lists the roots of the perfect subtrees that make up the tree, largest
    (leftmost) first; there is one per set bit of ``size``.
    """

    __slots__ = ("frontier", "size")

    def __init__(self, size: int = 0, frontier: Iterable[bytes] = ()) -> None:
        self.size = size
        self.frontier = list(frontier)
        if size < 0 or len(self.frontier) != size.bit_count():
            raise MalformedProof(
                f"frontier: a tree of {size} leaves has {max(size, 0).bit_count()} "
                f"subtree roots, got {len(self.frontier)}"
            )
        if any(len(h) != HASH_SIZE for h in self.frontier):
            raise MalformedProof("frontier: every subtree root is a 32-byte hash")

    def copy(self) -> CompactTree:
        """An independent copy (appends to it leave this one alone)."""
        return CompactTree(self.size, self.frontier)

    def append(self, leaf: bytes) -> list[bytes]:
        """Append a leaf hash; return the nodes it completes, in post-order.

        The first returned hash is the leaf itself, then one interior node per level
        that the leaf closes (as many as trailing one bits of the old size).
        """
        completed = [leaf]
        index = self.size
        node = leaf
        frontier = self.frontier
        while index & 1:
            node = sha256(NODE_PREFIX + frontier.pop() + node).digest()
            completed.append(node)
            index >>= 1
        frontier.append(node)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """The Merkle tree hash of all leaves appended so far."""
        if not self.frontier:
            return EMPTY_ROOT
        frontier = self.frontier
        root = frontier[-1]
        for left in reversed(frontier[:-1]):
            root = sha256(NODE_PREFIX + left + root).digest()
        return root

    def frontier_bytes(self) -> bytes:
        """The frontier as one byte string (32 bytes per subtree root), for storage."""
        return b"".join(self.frontier)

    @classmethod
    def from_frontier_bytes(cls, size: int, data: bytes) -> CompactTree:
        """Rebuild from :meth:`frontier_bytes`."""
        if len(data) % HASH_SIZE:
            raise MalformedProof(f"frontier: {len(data)} bytes is not a whole number of hashes")
        hashes = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        return cls(size, hashes)
