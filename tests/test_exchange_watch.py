"""wait_task asks a busy or absent exchange again until its own timeout, then says why."""

from __future__ import annotations

import socket
import time

import grpc
import pytest

from catallax.node.errors import CallFailed
from catallax.node.exchange.watch import wait_task


def test_an_exchange_that_does_not_answer_is_asked_again_until_the_timeout() -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    calls = []
    start = time.monotonic()
    with pytest.raises(CallFailed) as info:
        wait_task(f"127.0.0.1:{port}", "t", lambda i: calls.append(i) or True,
                  timeout=1.0, interval=0.1)  # fmt: skip
    assert info.value.code is grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - start >= 1.0  # it kept asking, it did not give up at once
    assert calls == []
