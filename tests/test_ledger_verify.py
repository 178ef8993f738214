"""The chunked verification against the entry-by-entry one, on logs of several chunks.

``check_entries`` checks whole chunks of ``CHUNK`` entries with list operations and only
falls back to the entry-by-entry check when a chunk does not match; both must accept
the same logs and name the same first bad entry.
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from catallax.exchange import crypto
from catallax.exchange.ledger import (
    BadCheckpoint,
    Checkpoint,
    CompactTree,
    CorruptLedger,
    Ledger,
    MemoryStore,
    TamperedEntry,
    Transfer,
    open_checkpoint,
    sign_checkpoint,
)
from catallax.exchange.ledger._reference import naive_root
from catallax.exchange.ledger.rebuild import CHUNK, check_entries, check_entries_one_by_one

ORIGIN = "catallax.test/verify"
SIZE = 2 * CHUNK + 1811  # two whole chunks (the second merges with the first) and a part


@pytest.fixture(scope="module")
def log() -> tuple[list[tuple[int, bytes, bytes]], dict[int, bytes], Ledger]:
    key = crypto.generate_private_key()
    ledger = Ledger(MemoryStore(), key=key, origin=ORIGIN, checkpoint_interval=700)
    ledger.open_account("env", "issuer", crypto.public_key_bytes(key))
    ledger.open_account("treasury", "treasury")
    r = 0
    while ledger.size < SIZE:
        n = min(1 + (r * 37) % 500, SIZE - ledger.size)
        ledger.commit_round(
            [Transfer(f"r{r}-{i}", "env", "treasury", 1 + i, "allowance") for i in range(n)]
        )
        r += 1
    store = ledger._store
    roots = {}
    for note in [*store.checkpoints(), ledger.checkpoint]:
        cp = open_checkpoint(note, ledger.public_key)
        roots[cp.size] = cp.root
    assert len(roots) > 10 and any(s % CHUNK for s in roots)  # checkpoints inside chunks
    return list(store.entries()), roots, ledger


def _outcome(check) -> tuple[type, int | None] | None:
    try:
        check()
    except CorruptLedger as exc:
        return type(exc), exc.index
    return None


def _both(rows, roots) -> tuple:
    fast = _outcome(lambda: check_entries(rows, SIZE, roots))
    slow = _outcome(lambda: _one_by_one(rows, roots))
    return fast, slow


def _one_by_one(rows, roots) -> None:
    tree = check_entries_one_by_one(rows, CompactTree(), SIZE, roots)
    if tree.size != SIZE:
        raise TamperedEntry(f"entry {tree.size}: missing", index=tree.size)


def test_an_intact_log_of_several_chunks_verifies(log) -> None:
    rows, roots, ledger = log
    assert len(rows) == SIZE
    assert _both(rows, roots) == (None, None)
    assert ledger.verify().size == SIZE
    assert roots[SIZE] == naive_root([data for _, data, _ in rows])


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0x10]) + blob[at + 1 :]


@pytest.mark.parametrize(
    ("index", "field", "at", "message"),
    [
        (5, "data", 3, "its bytes do not match"),
        (CHUNK + 100, "data", 10, "its bytes do not match"),
        (2 * CHUNK + 1000, "data", 0, "its bytes do not match"),
        (SIZE - 1, "data", 7, "its bytes do not match"),
        (CHUNK + 31, "nodes", 5 * 32 + 1, "over entries 4096..4127"),
        (CHUNK - 1, "nodes", 12 * 32, "over entries 0..4095"),
        (2 * CHUNK - 1, "nodes", 13 * 32 + 9, "over entries 0..8191"),
        (2 * CHUNK - 1, "nodes", 12 * 32, "over entries 4096..8191"),
    ],
)
def test_a_tampered_entry_is_named_by_both(log, index, field, at, message) -> None:
    rows, roots, _ = log
    i, data, nodes = rows[index]
    row = (i, _flip(data, at), nodes) if field == "data" else (i, data, _flip(nodes, at))
    bad = [*rows[:index], row, *rows[index + 1 :]]
    fast, slow = _both(bad, roots)
    assert fast == slow == (TamperedEntry, index)
    with pytest.raises(TamperedEntry, match=message):
        check_entries(bad, SIZE, roots)


def test_missing_extra_and_reordered_entries(log) -> None:
    rows, roots, _ = log
    gap = [*rows[:5000], *rows[5001:]]
    assert _both(gap, roots)[0] == (TamperedEntry, 5000)
    short = rows[:-3]
    assert _both(short, roots) == ((TamperedEntry, SIZE - 3), (TamperedEntry, SIZE - 3))
    padded = [*rows[:100], (100, rows[100][1], rows[100][2] + b"\x00"), *rows[101:]]
    assert _both(padded, roots) == ((TamperedEntry, 100), (TamperedEntry, 100))
    swapped = [*rows[: CHUNK + 2], rows[CHUNK + 3], rows[CHUNK + 2], *rows[CHUNK + 4 :]]
    assert _both(swapped, roots)[0] == (TamperedEntry, CHUNK + 2)


def test_a_signed_checkpoint_with_another_root_is_caught_inside_a_chunk(log) -> None:
    rows, roots, ledger = log
    size = CHUNK + 777
    forged = {**roots, size: b"\x55" * 32}
    fast, slow = _both(rows, forged)
    assert fast == slow == (BadCheckpoint, size - 1)
    note = sign_checkpoint(Checkpoint(ORIGIN, size, b"\x55" * 32), ledger._key)
    assert open_checkpoint(note, ledger.public_key).size == size


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_flipped_byte_is_named_by_both(log, data) -> None:
    rows, roots, _ = log
    index = data.draw(st.integers(0, SIZE - 1), label="entry")
    i, entry, nodes = rows[index]
    in_nodes = data.draw(st.booleans(), label="in nodes")
    blob = nodes if in_nodes else entry
    at = data.draw(st.integers(0, len(blob) - 1), label="byte")
    row = (i, entry, _flip(nodes, at)) if in_nodes else (i, _flip(entry, at), nodes)
    bad = [*rows[:index], row, *rows[index + 1 :]]
    fast, slow = _both(bad, roots)
    assert fast == slow == (TamperedEntry, index)


def test_a_sqlite_log_of_several_chunks_verifies_and_names_a_changed_byte(tmp_path) -> None:
    from catallax.exchange.ledger import open_ledger

    key = crypto.generate_private_key()
    folder = tmp_path / "ledger"
    with open_ledger(folder, key=key, origin=ORIGIN, create=True) as ledger:
        ledger.open_account("env", "issuer", crypto.public_key_bytes(key))
        ledger.open_account("treasury", "treasury")
        for r in range(3):
            ledger.commit_round(
                [Transfer(f"s{r}-{i}", "env", "treasury", 7, "allowance") for i in range(3000)]
            )
        target = CHUNK + 1234
        data = ledger.entry_bytes(target)
        assert ledger.verify().size == 9002
    path = folder / "ledger.sqlite"
    raw = path.read_bytes()
    assert raw.count(data) == 1
    at = raw.index(data) + len(data) // 2
    path.write_bytes(raw[:at] + bytes([raw[at] ^ 0x04]) + raw[at + 1 :])
    with pytest.raises(TamperedEntry, match=f"entry {target}:") as info:
        open_ledger(folder)
    assert info.value.index == target
