"""The web monitor: the same view as the terminal's, as a page that updates live.

:class:`WebMonitor` serves, from the monitor's own event loop (``asyncio.start_server``,
HTTP/1.1, no framework):

- ``GET /``: the page (:data:`~.page.PAGE`: exchanges, tasks, checkpoints, the
  richest identities, recent rounds and a wealth chart, drawn by its own script);
- ``GET /api/snapshot``: the view's snapshot as JSON (:meth:`NetworkView.snapshot`);
- ``GET /events``: Server-Sent Events, one ``data:`` line of the snapshot each time the
  view changes (at most :data:`MAX_RATE` a second), the first one at once.

Anything else is ``404``; a method other than ``GET`` is ``405``; a request that does
not parse is ``400``. A client that goes away ends its stream, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from catallax.node.monitor.page import PAGE
from catallax.node.monitor.view import NetworkView

__all__ = ["MAX_RATE", "WebMonitor"]

log = logging.getLogger("catallax.node.monitor")

#: Most snapshots a second an event stream sends.
MAX_RATE = 4.0
#: The largest request head read (bytes).
MAX_HEAD = 16 * 1024


def _response(status: str, body: bytes, kind: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class WebMonitor:
    """Serves ``view`` on ``host:port`` (0: a free port; :attr:`port` once started)."""

    def __init__(self, view: NetworkView, host: str = "127.0.0.1", port: int = 0) -> None:
        self.view = view
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._streams: set[asyncio.Event] = set()
        self._version = 0
        view.listen(self._on_event)

    def _on_event(self, event: dict) -> None:
        self._version += 1
        for changed in self._streams:
            changed.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            if len(head) > MAX_HEAD:
                writer.write(_response("431 Request Header Fields Too Large", b"too large\n"))
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                writer.write(_response("400 Bad Request", b"bad request line\n"))
                return
            method, path = parts[0], parts[1].split("?", 1)[0]
            if method != "GET":
                writer.write(_response("405 Method Not Allowed", b"GET only\n"))
            elif path == "/":
                writer.write(_response("200 OK", PAGE.encode(), "text/html; charset=utf-8"))
            elif path == "/api/snapshot":
                body = json.dumps(self.view.snapshot()).encode()
                writer.write(_response("200 OK", body, "application/json"))
            elif path == "/events":
                await self._events(writer)
            else:
                writer.write(_response("404 Not Found", b"not found\n"))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _events(self, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
            b"Connection: keep-alive\r\n\r\n"
        )
        changed = asyncio.Event()
        self._streams.add(changed)
        try:
            while True:
                changed.clear()
                data = json.dumps(self.view.snapshot(), separators=(",", ":"))
                writer.write(f"data: {data}\n\n".encode())
                await writer.drain()
                await asyncio.sleep(1 / MAX_RATE)  # a rate limit, not a wait for anything
                await changed.wait()
        finally:
            self._streams.discard(changed)
