"""One key, many tasks: the process behind ``catallax trader run``.

:func:`run_traders` starts one :class:`~.session.TraderSession` per ``(exchange, task)``
pair, all signing with one key and one :class:`~catallax.node.wire.Sequencer` (so their
sequence numbers never repeat), each with its own population built from the task's
spaces. It is one identity everywhere: each exchange opens its own accounts for it and
keeps its own ledger of them. It runs until SIGTERM or SIGINT (or ``stop``), and fails
as soon as a session fails for good.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from typing import Any

import grpc

from catallax.exchange.crypto import Ed25519PrivateKey, public_key_bytes
from catallax.node.errors import OptionError
from catallax.node.trader.session import TraderSession
from catallax.node.trader.wide_session import WideSession
from catallax.node.wire import Sequencer
from catallax.node.wire.mandate import check_task_name
from catallax.traders import PluginError, load_family, load_trader

__all__ = ["Join", "parse_joins", "run_traders"]


@dataclass(frozen=True)
class Join:
    """One task of one exchange to trade on."""

    address: str
    task: str


def parse_joins(exchanges: list[str], tasks: list[str]) -> list[Join]:
    """Pair repeated ``--exchange`` and ``--task`` options: one exchange with any number
    of tasks, or as many exchanges as tasks, in order."""
    if not exchanges or not tasks:
        raise OptionError("give at least one --exchange HOST:PORT and one --task NAME")
    if len(exchanges) == 1:
        exchanges = exchanges * len(tasks)
    if len(exchanges) != len(tasks):
        raise OptionError(
            f"{len(exchanges)} --exchange and {len(tasks)} --task options: give one exchange "
            "for all tasks, or one exchange per task, in order"
        )
    joins = []
    for address, task in zip(exchanges, tasks, strict=True):
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise OptionError(f"--exchange {address!r}: expected HOST:PORT")
        try:
            check_task_name(task)
        except ValueError as exc:
            raise OptionError(f"--task: {exc}") from None
        joins.append(Join(address, task))
    if len(set(joins)) != len(joins):
        raise OptionError("the same task of the same exchange is given twice")
    return joins


def make_sessions(
    spec: str,
    joins: list[Join],
    key: Ed25519PrivateKey,
    *,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    exchange_key: bytes | None = None,
    credentials: grpc.ChannelCredentials | None = None,
) -> list[TraderSession]:
    """One session per join, sharing ``key``'s sequencer; populations are built from
    ``spec`` (a family id or ``module:Class``) once each task's spaces are known. A
    family with ``for_economy`` (wide-market producers) trades on wide tasks
    (:class:`~.wide_session.WideSession`), built from the task's economy."""
    sequencer = Sequencer(public_key_bytes(key))
    sessions: list = []
    try:
        family = load_family(spec)
    except PluginError as exc:
        raise OptionError(str(exc)) from exc
    for i, join in enumerate(joins):
        if hasattr(family, "for_economy"):  # a wide-market family: producers of goods
            sessions.append(
                WideSession(
                    join.address, join.task, key,
                    lambda economy, _f=family: _f.for_economy(economy, **(options or {})),
                    sequencer=sequencer, exchange_key=exchange_key, credentials=credentials,
                    family=spec,
                )
            )  # fmt: skip
            continue

        def make(obs_space, act_space, _seed=seed + i):
            try:
                return load_trader(spec, obs_space, act_space, seed=_seed, **(options or {}))
            except PluginError as exc:
                raise OptionError(str(exc)) from exc

        sessions.append(
            TraderSession(
                join.address, join.task, key, make, sequencer=sequencer,
                exchange_key=exchange_key, credentials=credentials, family=spec,
            )
        )  # fmt: skip
    return sessions


async def run_traders(sessions: list, *, handle_signals: bool = True) -> None:
    """Run ``sessions`` until a signal (or until they all end); the first session that
    fails for good stops the others and its error is raised."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    runs = [asyncio.ensure_future(s.run()) for s in sessions]
    stopper = asyncio.ensure_future(stop.wait())
    try:
        pending = set(runs)
        while pending:
            done, pending = await asyncio.wait(
                pending | {stopper}, return_when=asyncio.FIRST_COMPLETED
            )
            if stopper in done:
                break
            pending.discard(stopper)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()
    finally:
        for s in sessions:
            s.stop()
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        stopper.cancel()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
