"""Hosts on one machine for testing what crosses a network: namespaces, bad links, delay.

:class:`Lab` makes one Linux network namespace per host, joined by veth pairs to a
bridge in a namespace of its own, so that traffic between two hosts crosses two
interfaces and a bridge, as it does between machines (root and ``ip`` from iproute2
are needed; :func:`available` says whether they work here). On those links it can:

- drop packets at random (``iptables -m statistic --mode random``, both directions of
  a host's interface, :meth:`Lab.loss`);
- limit the rate (a ``tbf`` qdisc on both ends of a host's veth pair, so that
  messages queue, :meth:`Lab.rate`);
- cut a host off and bring it back (the veth link down and up, :meth:`Lab.down`,
  :meth:`Lab.up`).

This kernel has no ``netem``, so added delay comes from :func:`serve_delay`, a TCP
proxy that holds every chunk it forwards for a fixed time in each direction (``python
-m catallax.node.netlab proxy LISTEN TARGET --delay-ms 50``; it prints ``listening on
HOST:PORT`` like the nodes do).

Every address is in ``10.231.<n>.0/24`` with ``n`` from the lab's id (this machine
joins the bridge at ``.254``, to watch the hosts); names are prefixed so that labs of
concurrent test runs never collide, and :meth:`Lab.close` removes every namespace it
made (their interfaces and rules go with them, this machine's veth end too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence

from catallax.node.localnet import Host

__all__ = ["Lab", "LabError", "available", "serve_delay"]


class LabError(RuntimeError):
    """A namespace, link or rule could not be set up (the command's error is in it)."""


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def available() -> str:
    """Why namespaces cannot be used here (``""`` when they can): root, ``ip`` and
    ``iptables`` are needed, and a namespace must really be made."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "iptables", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    name = f"cxprobe{os.getpid()}"
    try:
        _run("ip", "netns", "add", name)
        _run("ip", "netns", "exec", name, "iptables", "-L", "-n")
    except (LabError, OSError) as exc:
        return f"cannot make a network namespace: {exc}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    return ""


class Lab:
    """Hosts in network namespaces, joined by a bridge (see the module docstring).

    Args:
        hosts: the hosts' names (letters and digits, at most 6 characters each).
    """

    def __init__(self, hosts: Sequence[str]) -> None:
        self.id = f"{os.getpid() % 100_000}{int(time.monotonic() * 1000) % 1000:03d}"
        self.subnet = 1 + int(self.id) % 250
        self.names = list(hosts)
        self._made: list[str] = []
        self.bridge = f"cx{self.id}br"
        try:
            self._ns(self.bridge)
            self._in(self.bridge, "ip", "link", "add", "br0", "type", "bridge")
            self._in(self.bridge, "ip", "link", "set", "br0", "up")
            for i, name in enumerate(self.names):
                self._host(name, i + 1)
            # This machine joins the bridge too (at .254), to watch the hosts.
            self.local = f"cx{self.id}h"
            _run("ip", "link", "add", self.local, "type", "veth", "peer", "name", "h0",
                 "netns", self.bridge)  # fmt: skip
            self._in(self.bridge, "ip", "link", "set", "h0", "master", "br0", "up")
            _run("ip", "addr", "add", f"10.231.{self.subnet}.254/24", "dev", self.local)
            _run("ip", "link", "set", self.local, "up")
        except BaseException:
            self.close()
            raise

    def _ns(self, ns: str) -> None:
        _run("ip", "netns", "add", ns)
        self._made.append(ns)
        self._in(ns, "ip", "link", "set", "lo", "up")

    @staticmethod
    def _in(ns: str, *argv: str) -> str:
        return _run("ip", "netns", "exec", ns, *argv)

    def namespace(self, name: str) -> str:
        return f"cx{self.id}{name}"

    def address(self, name: str) -> str:
        return f"10.231.{self.subnet}.{self.names.index(name) + 1}"

    def host(self, name: str) -> Host:
        """Where a node on host ``name`` binds and how to start it there."""
        return Host(self.address(name), ("ip", "netns", "exec", self.namespace(name)))

    def _host(self, name: str, index: int) -> None:
        ns = self.namespace(name)
        self._ns(ns)
        # The veth pair is made in the bridge's namespace, then one end moves to the host.
        self._in(self.bridge, "ip", "link", "add", f"p{index}", "type", "veth",
                 "peer", "name", "eth0", "netns", ns)  # fmt: skip
        self._in(self.bridge, "ip", "link", "set", f"p{index}", "master", "br0", "up")
        self._in(ns, "ip", "addr", "add", f"{self.address(name)}/24", "dev", "eth0")
        self._in(ns, "ip", "link", "set", "eth0", "up")

    def _port(self, name: str) -> str:
        return f"p{self.names.index(name) + 1}"

    def loss(self, name: str, probability: float) -> None:
        """Drop each packet in or out of host ``name`` with ``probability`` (0: none)."""
        ns = self.namespace(name)
        for chain in ("INPUT", "OUTPUT"):
            self._in(ns, "iptables", "-F", chain)
            if probability > 0:
                self._in(ns, "iptables", "-A", chain, "-m", "statistic", "--mode", "random",
                         "--probability", f"{probability:.6f}", "-j", "DROP")  # fmt: skip

    def rate(self, name: str, kbit: int | None) -> None:
        """Limit host ``name``'s link to ``kbit`` kbit/s each way (``None``: no limit)."""
        for ns, dev in ((self.namespace(name), "eth0"), (self.bridge, self._port(name))):
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root"],
                           capture_output=True, timeout=30)  # fmt: skip
            if kbit is not None:
                self._in(ns, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate",
                         f"{kbit}kbit", "burst", "16kbit", "latency", "2s")  # fmt: skip

    def down(self, name: str) -> None:
        """Cut host ``name`` off (its link down; packets to it are lost, not refused)."""
        self._in(self.bridge, "ip", "link", "set", self._port(name), "down")

    def up(self, name: str) -> None:
        self._in(self.bridge, "ip", "link", "set", self._port(name), "up")

    def close(self) -> None:
        """Remove every namespace this lab made."""
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self._made = []

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- a delaying TCP proxy --------------------------------------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived
    (in order; chunks arriving meanwhile are not held up by the wait of the one before)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.ensure_future(send())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, chunk))
    except ConnectionError:
        pass
    finally:
        queue.put_nowait((0.0, b""))
        with contextlib.suppress(ConnectionError):
            await sender
        writer.close()


async def serve_delay(listen: str, target: str, delay_ms: float) -> None:
    """Proxy TCP from ``listen`` (``HOST:PORT``, port 0: any) to ``target``, adding
    ``delay_ms`` in each direction; prints ``listening on HOST:PORT`` and runs forever."""
    host, port = listen.rsplit(":", 1)
    to_host, to_port = target.rsplit(":", 1)
    delay = delay_ms / 1000

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(to_host, int(to_port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, up_writer, delay), _pipe(up_reader, writer, delay),
            return_exceptions=True,
        )  # fmt: skip

    server = await asyncio.start_server(handle, host, int(port))
    bound = server.sockets[0].getsockname()
    print(f"listening on {bound[0]}:{bound[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catallax.node.netlab")
    sub = parser.add_subparsers(dest="command", required=True)
    proxy = sub.add_parser("proxy", help="a TCP proxy that delays both directions")
    proxy.add_argument("listen", help="HOST:PORT to listen on (port 0: any)")
    proxy.add_argument("target", help="HOST:PORT to forward to")
    proxy.add_argument("--delay-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_delay(args.listen, args.target, args.delay_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
