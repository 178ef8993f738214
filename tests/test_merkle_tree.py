"""The optimised tree and proof builders against the naive tree written from the RFC."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from catallax.exchange.ledger import (
    CompactTree,
    MalformedProof,
    ProofError,
    RootMismatch,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_position,
    verify_consistency,
    verify_inclusion,
)
from catallax.exchange.ledger._reference import naive_consistency, naive_path, naive_root
from catallax.exchange.ledger.tree import node_count

leaf_lists = st.lists(st.binary(max_size=40), min_size=1, max_size=70)


def _build(leaves: list[bytes]) -> tuple[CompactTree, list[bytes]]:
    """Append every leaf; return the tree and all completed nodes in post-order."""
    tree = CompactTree()
    stored: list[bytes] = []
    for data in leaves:
        stored.extend(tree.append(leaf_hash(data)))
    return tree, stored


def _reader(stored: list[bytes]):
    return lambda level, index: stored[node_position(level, index)]


@settings(max_examples=60, deadline=None)
@given(leaf_lists)
def test_compact_tree_matches_naive_root_at_every_size(leaves: list[bytes]) -> None:
    tree = CompactTree()
    assert tree.root() == naive_root([])
    for i, data in enumerate(leaves):
        tree.append(leaf_hash(data))
        assert tree.root() == naive_root(leaves[: i + 1])
    restored = CompactTree.from_frontier_bytes(tree.size, tree.frontier_bytes())
    assert restored.root() == tree.root()


@settings(max_examples=40, deadline=None)
@given(leaf_lists)
def test_stored_nodes_sit_at_their_post_order_positions(leaves: list[bytes]) -> None:
    tree, stored = _build(leaves)
    assert len(stored) == node_count(tree.size)
    for level in range(tree.size.bit_length()):
        for index in range(tree.size >> level):
            width = 1 << level
            chunk = leaves[index * width : (index + 1) * width]
            assert stored[node_position(level, index)] == naive_root(chunk)


@settings(max_examples=40, deadline=None)
@given(leaf_lists, st.data())
def test_proofs_equal_the_naive_ones_and_verify(leaves: list[bytes], data) -> None:
    _, stored = _build(leaves)
    get = _reader(stored)
    n = len(leaves)
    size = data.draw(st.integers(1, n), label="size")
    m = data.draw(st.integers(0, size - 1), label="leaf")
    root = naive_root(leaves[:size])
    proof = inclusion_proof(m, size, get)
    assert proof == naive_path(m, leaves[:size])
    verify_inclusion(leaf_hash(leaves[m]), m, size, proof, root)
    size1 = data.draw(st.integers(1, size), label="size1")
    cproof = consistency_proof(size1, size, get)
    assert cproof == naive_consistency(size1, leaves[:size])
    verify_consistency(size1, size, cproof, naive_root(leaves[:size1]), root)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=2, max_size=40), st.data())
def test_a_flipped_bit_anywhere_in_a_proof_is_caught(leaves: list[bytes], data) -> None:
    _, stored = _build(leaves)
    get = _reader(stored)
    n = len(leaves)
    m = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(m, n, get)
    root = naive_root(leaves)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = bytearray(proof[i])
        bad[bit // 8] ^= 1 << (bit % 8)
        mutated = [*proof[:i], bytes(bad), *proof[i + 1 :]]
        with pytest.raises(RootMismatch):
            verify_inclusion(leaf_hash(leaves[m]), m, n, mutated, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(leaves[m] + b"x"), m, n, proof, root)
    size1 = data.draw(st.integers(1, n - 1))
    cproof = consistency_proof(size1, n, get)
    with pytest.raises(ProofError):
        verify_consistency(size1, n, cproof, naive_root(leaves[: size1 - 1]), root)
    with pytest.raises(ProofError):
        verify_consistency(size1, n, cproof[:-1], naive_root(leaves[:size1]), root)


def test_bad_sizes_are_malformed_proofs() -> None:
    h = leaf_hash(b"")
    with pytest.raises(MalformedProof, match="index"):
        verify_inclusion(h, 3, 3, [], h)
    with pytest.raises(MalformedProof, match="32-byte"):
        verify_inclusion(b"short", 0, 1, [], h)
    with pytest.raises(MalformedProof, match="too long"):
        verify_inclusion(h, 0, 1, [h], h)
    with pytest.raises(MalformedProof, match="empty tree"):
        verify_consistency(0, 4, [], h, h)
    with pytest.raises(MalformedProof):
        inclusion_proof(0, 0, _reader([]))
    with pytest.raises(MalformedProof):
        CompactTree(3, [h])
