"""Reading an exchange's tasks from outside: ``ListTasks`` once, or until a condition.

For the demo's progress bar, the benchmarks and the tests: :func:`list_tasks` asks
once; :func:`wait_task` asks every ``interval`` seconds until ``until(info)`` holds for
the named task (or the time runs out), handing each answer to ``on_info``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

from catallax.node.errors import CallFailed, UnknownTask
from catallax.v1 import exchange_pb2, exchange_pb2_grpc

__all__ = ["list_tasks", "task_info", "wait_task"]

#: Statuses after which ``wait_task`` asks again (the exchange is busy or restarting).
_RETRY = frozenset({grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE})


def list_tasks(address: str, timeout: float = 5.0) -> exchange_pb2.ListTasksReply:
    """The exchange's ``ListTasks`` reply; :class:`CallFailed` if it does not answer."""
    with grpc.insecure_channel(address) as channel:
        stub = exchange_pb2_grpc.ExchangeStub(channel)
        try:
            return stub.ListTasks(exchange_pb2.ListTasksRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            raise CallFailed(
                f"{address}: ListTasks: {exc.code().name}: {exc.details()}", code=exc.code()
            ) from exc


def task_info(address: str, task: str, timeout: float = 5.0) -> exchange_pb2.TaskInfo:
    """One task's :class:`~catallax.v1.exchange_pb2.TaskInfo`."""
    for info in list_tasks(address, timeout).tasks:
        if info.name == task:
            return info
    raise UnknownTask(f"{address} has no task {task!r}")


def wait_task(
    address: str,
    task: str,
    until: Callable[[exchange_pb2.TaskInfo], bool],
    *,
    timeout: float = 300.0,
    interval: float = 0.2,
    on_info: Callable[[exchange_pb2.TaskInfo], None] | None = None,
) -> exchange_pb2.TaskInfo:
    """Ask until ``until(info)``; :class:`TimeoutError` (with the last state) otherwise.
    A call that times out or finds the exchange unavailable is asked again until
    ``timeout``; any other refusal is raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = task_info(address, task)
        except CallFailed as exc:  # a busy or restarting exchange: ask again, in time
            if exc.code not in _RETRY or time.monotonic() > deadline:
                raise
            time.sleep(interval)
            continue
        if on_info is not None:
            on_info(info)
        if until(info):
            return info
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"task {task} on {address}: still {info.state!r} after {timeout:g} s "
                f"({info.rounds} rounds, {info.episodes} episodes)"
            )
        time.sleep(interval)
