"""MemoryBook: the SequenceBook's checks without a file (what a trader keeps)."""

from __future__ import annotations

import pytest

from catallax.node.errors import Malformed, Replayed, Stale
from catallax.node.wire import MemoryBook, SequenceBook
from catallax.v1 import exchange_pb2

KEY = b"\x07" * 32
NOW = 1_000_000


def body(sequence: int, timestamp_ms: int = NOW) -> exchange_pb2.Hello:
    return exchange_pb2.Hello(sequence=sequence, timestamp_ms=timestamp_ms)


@pytest.mark.parametrize("make", [MemoryBook, lambda **k: SequenceBook(":memory:", **k)])
def test_memory_book_refuses_what_the_sequence_book_refuses(make) -> None:
    book = make(clock=lambda: NOW)
    book.accept(KEY, body(5), "a")
    with pytest.raises(Replayed):
        book.accept(KEY, body(5), "a")
    with pytest.raises(Replayed):
        book.accept(KEY, body(4), "a")
    book.accept(KEY, body(3), "b")  # another scope is another channel
    book.accept(KEY, body(6), "a")
    with pytest.raises(Stale):
        book.accept(KEY, body(7, NOW - 31_000), "a")
    with pytest.raises(Stale):
        book.accept(KEY, body(7, NOW + 31_000), "a")
    with pytest.raises(Malformed):
        book.accept(KEY, body(0), "a")
    book.accept(KEY, body(7, NOW - 29_000), "a")  # a refused body spent nothing
    book.close()
