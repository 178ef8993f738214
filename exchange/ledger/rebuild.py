"""Rebuilding the tree from stored entries and checking every stored node and root.

:func:`check_entries` is the hot part of ``catallax ledger verify``. It streams the log
in aligned chunks of ``CHUNK`` entries and checks each chunk level by level with list
comprehensions (a leaf hash per entry, a node hash per pair, the stored nodes sliced
out of the entry rows and compared as lists), so the per-entry Python work stays
small. Whole chunks then join a frontier of chunk roots like leaves join a
:class:`~catallax.exchange.ledger.tree.CompactTree`. When a chunk does not match, it
is checked again entry by entry, which names the first bad entry. The last, partial
chunk is checked entry by entry. A row whose columns are not of their types (bytes for
the entry and its nodes) makes the fast path fail and is named by the slow one.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from hashlib import sha256
from itertools import islice
from typing import NoReturn

from catallax.exchange.ledger.errors import BadCheckpoint, TamperedEntry
from catallax.exchange.ledger.hashing import HASH_SIZE, LEAF_PREFIX, NODE_PREFIX
from catallax.exchange.ledger.tree import CompactTree

__all__ = ["CHUNK", "check_chunks", "check_entries", "check_entries_one_by_one"]

#: Entries per chunk (a power of two, so chunks are perfect subtrees).
CHUNK_LEVEL = 12
CHUNK = 1 << CHUNK_LEVEL

Row = tuple[int, bytes, bytes]

_SQL_TYPE = {str: "text", int: "an integer", float: "a real", type(None): "null"}


def _completed(j: int) -> int:
    """Bytes of nodes completed by the append of leaf ``j``: one per trailing 1 bit, plus one."""
    return HASH_SIZE * (1 + ((j ^ (j + 1)).bit_length() - 1))


#: Node bytes of each entry of a chunk (the chunk's last entry also holds the merges above).
_LENGTHS = [_completed(j) for j in range(CHUNK)]


def _fold(hashes: list[bytes]) -> bytes:
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = sha256(NODE_PREFIX + left + root).digest()
    return root


def _root_at(frontier: list[bytes], levels: list[list[bytes]], m: int) -> bytes:
    """Root of the tree of the chunk's first ``m`` entries after the ``frontier`` subtrees."""
    parts = list(frontier)
    prefix = 0
    for level in range(m.bit_length() - 1, -1, -1):
        if m >> level & 1:
            parts.append(levels[level][prefix >> level])
            prefix += 1 << level
    return _fold(parts)


def _fast_chunk(
    chunk: list[Row], start: int, frontier: list[bytes], size: int, checks: list[tuple[int, bytes]]
) -> list[bytes] | None:
    """The frontier after a whole matching chunk, or None if anything in it does not match."""
    indices, datas, blobs = zip(*chunk, strict=True)
    if start + CHUNK > size or indices != tuple(range(start, start + CHUNK)):
        return None
    level = [sha256(LEAF_PREFIX + d).digest() for d in datas]
    if level != [b[:HASH_SIZE] for b in blobs]:
        return None
    levels = [level]
    height = 0
    while len(level) > 1:
        height += 1
        pairs = zip(level[::2], level[1::2], strict=True)
        level = [sha256(NODE_PREFIX + a + b).digest() for a, b in pairs]
        at = height * HASH_SIZE
        if level != [b[at : at + HASH_SIZE] for b in blobs[(1 << height) - 1 :: 1 << height]]:
            return None
        levels.append(level)
    # The chunk's root joins the frontier; its last entry holds the merged nodes.
    new_frontier = list(frontier)
    node, i = levels[CHUNK_LEVEL][0], start >> CHUNK_LEVEL
    last, at = blobs[-1], (CHUNK_LEVEL + 1) * HASH_SIZE
    while i & 1:
        node = sha256(NODE_PREFIX + new_frontier.pop() + node).digest()
        if last[at : at + HASH_SIZE] != node:
            return None
        at += HASH_SIZE
        i >>= 1
    new_frontier.append(node)
    if len(last) != at or list(map(len, blobs[:-1])) != _LENGTHS[:-1]:
        return None
    for checkpoint_size, root in checks:
        if _root_at(frontier, levels, checkpoint_size - start) != root:
            return None
    return new_frontier


def check_entries(rows: Iterable[Row], size: int, roots: dict[int, bytes]) -> None:
    """Check ``rows`` (index, entry bytes, stored nodes) against themselves and ``roots``.

    ``roots`` maps tree sizes to the roots the checkpoints sign (it includes ``size``
    unless the log is empty). Raises :class:`TamperedEntry` or :class:`BadCheckpoint`
    naming the first bad entry.
    """
    stream = iter(rows)
    check_chunks(iter(lambda: list(islice(stream, CHUNK)), []), size, roots)


def check_chunks(chunks: Iterable[list[Row]], size: int, roots: dict[int, bytes]) -> None:
    """:func:`check_entries` over rows already grouped in lists of ``CHUNK`` (the last shorter)."""
    sizes = sorted(roots)
    frontier: list[bytes] = []
    start = 0
    slow: CompactTree | None = None  # once a chunk is short, the rest goes entry by entry
    for chunk in chunks:
        if slow is None and len(chunk) == CHUNK:
            lo, hi = bisect_right(sizes, start), bisect_right(sizes, start + CHUNK)
            checks = [(s, roots[s]) for s in sizes[lo:hi]]
            try:
                after = _fast_chunk(chunk, start, frontier, size, checks)
            except TypeError:  # a mistyped column; the slow path names it
                after = None
            if after is None:
                check_entries_one_by_one(chunk, CompactTree(start, frontier), size, roots)
                _inconsistent(start)
            frontier = after
            start += CHUNK
            continue
        if slow is None:
            slow = CompactTree(start, frontier)
        slow = check_entries_one_by_one(chunk, slow, size, roots)
    end = start if slow is None else slow.size
    if end != size:
        raise TamperedEntry(
            f"entry {end}: missing (the log ends at {end}, the checkpoint says {size})",
            index=end,
        )


def check_entries_one_by_one(
    rows: Iterable[Row], tree: CompactTree, size: int, roots: dict[int, bytes]
) -> CompactTree:
    """The same checks, entry by entry from ``tree``; slow, but names the exact fault."""
    frontier = tree.frontier
    expected = tree.size
    for index, data, nodes in rows:
        if type(data) is not bytes or type(nodes) is not bytes:
            field = "data" if type(data) is not bytes else "nodes"
            value = data if field == "data" else nodes
            got = _SQL_TYPE.get(type(value), type(value).__name__)
            raise TamperedEntry(
                f"entry {index}: {field}: stored as {got}, expected a blob", index=index
            )
        if index != expected:
            raise TamperedEntry(f"entry {expected}: missing from the log", index=expected)
        if index >= size:
            raise TamperedEntry(f"entry {index}: beyond the signed tree size {size}", index=index)
        node = sha256(LEAF_PREFIX + data).digest()
        if nodes[:HASH_SIZE] != node:
            _bad_node(index, 0)
        i, offset = index, HASH_SIZE
        while i & 1:
            node = sha256(NODE_PREFIX + frontier.pop() + node).digest()
            if nodes[offset : offset + HASH_SIZE] != node:
                _bad_node(index, offset // HASH_SIZE)
            offset += HASH_SIZE
            i >>= 1
        if len(nodes) != offset:
            raise TamperedEntry(f"entry {index}: extra bytes after its tree nodes", index=index)
        frontier.append(node)
        expected = tree.size = index + 1
        if expected in roots and roots[expected] != tree.root():
            raise BadCheckpoint(
                f"checkpoint of size {expected}: its root is not the tree's root "
                f"(entries up to {index})",
                index=index,
            )
    return tree


def _bad_node(index: int, level: int) -> NoReturn:
    """Raise :class:`TamperedEntry` for stored node ``level`` of entry ``index``."""
    if level == 0:
        raise TamperedEntry(
            f"entry {index}: its bytes do not match its stored leaf hash", index=index
        )
    first = index + 1 - (1 << level)
    raise TamperedEntry(
        f"entry {index}: stored tree node over entries {first}..{index} is wrong", index=index
    )


def _inconsistent(start: int) -> NoReturn:
    # The chunk failed the fast checks but passed entry by entry: should never happen.
    raise TamperedEntry(f"entries from {start}: the stored tree does not match", index=start)
