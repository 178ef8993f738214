"""The bare network of the network benchmarks' limits (``bench/network.py``,
``bench/wide_network.py``): a ``grpc.aio`` server of raw bytes and a stream hub that
writes one message to every connected stream and waits for one answer from each."""

from __future__ import annotations

import asyncio

import grpc

__all__ = ["SERVICE", "Hub", "bare_server"]

#: The service name of the bare handlers (raw bytes, no serializers).
SERVICE = "catallax.bench.Bare"


class Hub:
    """The bare stream server: one outbox per connected client, answers counted."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.outboxes: list[asyncio.Queue[bytes | None]] = []
        self.joined = asyncio.Event()
        self.answered = asyncio.Event()
        self.left = 0

    async def handle(self, request_iterator, context) -> None:
        await context.read()  # the client's hello
        outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.outboxes.append(outbox)
        if len(self.outboxes) == self.n:
            self.joined.set()
        while (message := await outbox.get()) is not None:
            await context.write(message)
            await context.read()
            self.left -= 1
            if self.left == 0:
                self.answered.set()

    async def round(self, message: bytes) -> None:
        """Write ``message`` to every stream; return once each has answered."""
        self.left = len(self.outboxes)
        self.answered.clear()
        for outbox in self.outboxes:
            outbox.put_nowait(message)
        await self.answered.wait()


def bare_server(**handlers) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server of raw bytes (no serializers) on a free loopback port."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    return server, server.add_insecure_port("127.0.0.1:0")
