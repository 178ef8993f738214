"""The RFC 6962 test vectors in ``tests/vectors/rfc6962/`` (transparency-dev/merkle).

Every inclusion and consistency case, positive and mutated negative, goes through the
pure verifiers; the tree roots of ``tree.json`` through the compact tree, the naive
reference and the proof builders. A missing vector folder fails, it never skips.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from catallax.exchange.ledger import (
    CompactTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from catallax.exchange.ledger._reference import naive_root

VECTORS = Path(__file__).resolve().parent / "vectors" / "rfc6962"


def _vector_files(kind: str) -> list[Path]:
    folder = VECTORS / kind
    if not folder.is_dir():
        return []
    return sorted(folder.rglob("*.json"))


def _require(kind: str) -> list[Path]:
    files = _vector_files(kind)
    if not files:
        pytest.fail(
            f"RFC 6962 vectors not found: expected JSON files under {VECTORS / kind} "
            "(they are committed in tests/vectors/rfc6962/; see tests/vectors/README.md)"
        )
    return files


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text or "")


def _ids(files: list[Path]) -> list[str]:
    return [str(f.relative_to(VECTORS)) for f in files]


INCLUSION = _vector_files("inclusion")
CONSISTENCY = _vector_files("consistency")


def test_vector_folders_are_present_and_complete() -> None:
    # Fails loudly (never skips) when the vectors are missing.
    inclusion = _require("inclusion")
    consistency = _require("consistency")
    assert (VECTORS / "tree.json").is_file(), f"missing {VECTORS / 'tree.json'}"
    assert len(inclusion) >= 50 and len(consistency) >= 50
    for files in (inclusion, consistency):
        cases = [json.loads(f.read_text()) for f in files]
        assert any(c["wantErr"] for c in cases) and any(not c["wantErr"] for c in cases)


@pytest.mark.parametrize("path", INCLUSION, ids=_ids(INCLUSION))
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], proof, _b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_ids(CONSISTENCY))
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    args = (case["size1"], case["size2"], proof, _b64(case["root1"]), _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_tree_roots_of_tree_json() -> None:
    tree_file = VECTORS / "tree.json"
    if not tree_file.is_file():
        pytest.fail(f"RFC 6962 tree vectors not found at {tree_file}")
    spec = json.loads(tree_file.read_text())
    leaves = [bytes.fromhex(x) for x in spec["leaf_inputs_hex"]]
    roots = [bytes.fromhex(x) for x in spec["root_hex_by_size"]]
    assert len(roots) == len(leaves) + 1
    tree = CompactTree()
    assert tree.root() == roots[0]
    nodes: dict[tuple[int, int], bytes] = {}
    for i, data in enumerate(leaves):
        completed = tree.append(leaf_hash(data))
        for level, h in enumerate(completed):
            nodes[(level, i >> level)] = h
        size = i + 1
        assert tree.root() == roots[size], f"root of the first {size} leaves"
        assert naive_root(leaves[:size]) == roots[size]
        get = lambda level, index: nodes[(level, index)]  # noqa: E731
        for m in range(size):
            verify_inclusion(
                leaf_hash(leaves[m]), m, size, inclusion_proof(m, size, get), roots[size]
            )
        for m in range(1, size + 1):
            proof = consistency_proof(m, size, get)
            verify_consistency(m, size, proof, roots[m], roots[size])
