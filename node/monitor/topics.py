"""MQTT topic names: ``catallax/v1/<exchange>/...`` (docs/mqtt.md).

An exchange's id in topics is :func:`exchange_id`, the fingerprint of its public key
(16 hex digits): topic levels cannot hold the ``/`` that origins have, and the key, not
the origin, is what a monitor verifies checkpoints against. Under it:

- ``status``: retained, the exchange's address, key and tasks; its last will says
  ``offline``;
- ``checkpoint``: retained, the latest signed checkpoint (with a consistency proof from
  the one published before it);
- ``ledger``: each entry with its index (QoS 1);
- ``tasks/<task>/rounds``: each settled round's winners, prices and rewards (QoS 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from catallax.exchange.crypto import key_fingerprint
from catallax.node.errors import BadPayload

__all__ = [
    "PREFIX",
    "Topic",
    "exchange_id",
    "parse_topic",
    "topic",
]

#: The first two levels of every topic.
PREFIX = "catallax/v1"
#: The kinds of topic under an exchange.
KINDS = ("status", "checkpoint", "ledger", "rounds")


def exchange_id(public_key: bytes) -> str:
    """The id of the exchange whose key is ``public_key`` in topics (16 hex digits)."""
    return key_fingerprint(public_key)


def topic(exchange: str, kind: str, task: str = "") -> str:
    """The topic of ``kind`` (``status``, ``checkpoint``, ``ledger``, ``rounds``; a task's
    ``rounds`` name it) under ``exchange``."""
    if kind == "rounds":
        return f"{PREFIX}/{exchange}/tasks/{task}/rounds"
    return f"{PREFIX}/{exchange}/{kind}"


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: the exchange's id, the kind, and (for ``rounds``) the task."""

    exchange: str
    kind: str
    task: str = ""


def parse_topic(name: str) -> Topic:
    """The :class:`Topic` of ``name``; :class:`BadPayload` for a topic that is not one of
    ours."""
    parts = name.split("/")
    if len(parts) >= 3 and "/".join(parts[:2]) == PREFIX and parts[2]:
        rest = parts[3:]
        if len(rest) == 1 and rest[0] in KINDS[:3]:
            return Topic(parts[2], rest[0])
        if len(rest) == 3 and rest[0] == "tasks" and rest[2] == "rounds" and rest[1]:
            return Topic(parts[2], "rounds", rest[1])
    raise BadPayload(f"topic {name!r}: not a catallax/v1 topic (docs/mqtt.md)")
