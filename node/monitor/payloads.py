"""The JSON payloads of the MQTT topics, as values (docs/mqtt.md, docs/mqtt.schema.json).

Each topic's payload is one JSON object with ``"v": 1`` and the publishing exchange's
id; bytes are standard base64, money is integer units (1 credit = 10^6). A ``*_payload``
function makes a payload's bytes, a ``parse_*`` function reads one back and checks every
field it uses (:class:`~catallax.node.errors.BadPayload` otherwise). A ``ledger`` message
holds consecutive entries, each with its index; an entry travels as its canonical leaf
bytes, which is what its leaf hash covers; the decoded
fields beside them are for people reading with ``mosquitto_sub``, and a receiver decodes
the bytes itself (:func:`catallax.exchange.ledger.decode_entry`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from catallax.exchange.ledger import Opening, Transfer, decode_entry
from catallax.exchange.ledger.errors import LedgerError
from catallax.exchange.ledger.model import MAX_AMOUNT as MAX_UNITS
from catallax.node.errors import BadPayload

__all__ = [
    "VERSION",
    "CheckpointMsg",
    "EntryMsg",
    "RoundMsg",
    "Status",
    "TaskStatus",
    "checkpoint_payload",
    "entry_payload",
    "parse_checkpoint_msg",
    "ledger_payload",
    "parse_entry",
    "parse_ledger",
    "parse_round",
    "parse_status",
    "round_payload",
    "status_payload",
]

#: The payload format's version (``"v"``).
VERSION = 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps({"v": VERSION, **obj}, separators=(",", ":")).encode()


class _Fields:
    """Typed reads of one payload's fields, each failure a :class:`BadPayload`."""

    def __init__(self, what: str, payload: bytes | str | dict) -> None:
        self.what = what
        if isinstance(payload, dict):
            obj = payload
        else:
            try:
                obj = json.loads(payload)
            except (ValueError, UnicodeDecodeError) as exc:
                raise BadPayload(f"{what}: not JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise BadPayload(f"{what}: expected a JSON object")
        self.obj = obj
        if obj.get("v") != VERSION:
            raise BadPayload(f"{what}: expected version {VERSION}, got {obj.get('v')!r}")

    def get(self, name: str, kind: type | tuple[type, ...], obj: dict | None = None) -> Any:
        src = self.obj if obj is None else obj
        value = src.get(name)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise BadPayload(f"{self.what}: field {name!r}: expected {_kind(kind)}, got {value!r}")
        return value

    def count(self, name: str, obj: dict | None = None) -> int:
        value = self.get(name, int, obj)
        if value < 0:
            raise BadPayload(f"{self.what}: field {name!r}: expected an int >= 0, got {value}")
        return value

    def blob(self, name: str, obj: dict | None = None, value: Any = None) -> bytes:
        text = self.get(name, str, obj) if value is None else value
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise BadPayload(f"{self.what}: field {name!r}: not base64") from None

    def items(self, name: str, obj: dict | None = None) -> list:
        return self.get(name, list, obj)


def _kind(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


# --- status ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One task an exchange offers: its name, market, environment, auction, slots."""

    name: str
    market: str = "deep"
    env_id: str = ""
    auction: str = ""
    slots: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    """The retained ``status``: where the exchange answers and what it offers.

    ``state`` is ``"online"`` (published at each connection) or ``"offline"`` (the last
    will, or a clean stop); ``ledger_size`` is the size of the ledger when it was sent.
    """

    exchange: str
    origin: str
    public_key: bytes
    address: str
    tasks: tuple[TaskStatus, ...]
    state: str
    ledger_size: int = 0
    time_ms: int = 0

    def offers(self, task: str) -> bool:
        return any(t.name == task for t in self.tasks)


def status_payload(status: Status) -> bytes:
    return _dump(
        {
            "exchange": status.exchange,
            "state": status.state,
            "origin": status.origin,
            "public_key": _b64(status.public_key),
            "address": status.address,
            "tasks": [
                {
                    "name": t.name,
                    "market": t.market,
                    "env_id": t.env_id,
                    "auction": t.auction,
                    "slots": t.slots,
                }
                for t in status.tasks
            ],
            "ledger_size": status.ledger_size,
            "time_ms": status.time_ms,
        }
    )


def parse_status(payload: bytes | str) -> Status:
    f = _Fields("status", payload)
    state = f.get("state", str)
    if state not in ("online", "offline"):
        raise BadPayload(f"status: field 'state': expected online or offline, got {state!r}")
    tasks = []
    for item in f.items("tasks"):
        if not isinstance(item, dict):
            raise BadPayload("status: field 'tasks': expected objects")
        tasks.append(
            TaskStatus(
                f.get("name", str, item), f.get("market", str, item),
                f.get("env_id", str, item), f.get("auction", str, item), f.count("slots", item),
            )
        )  # fmt: skip
    key = f.blob("public_key")
    if len(key) != 32:
        raise BadPayload(f"status: field 'public_key': expected 32 bytes, got {len(key)}")
    return Status(
        f.get("exchange", str), f.get("origin", str), key, f.get("address", str),
        tuple(tasks), state, f.count("ledger_size"), f.count("time_ms"),
    )  # fmt: skip


# --- checkpoint ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointMsg:
    """The retained ``checkpoint``: a signed note, and the consistency proof from the
    tree of ``previous_size`` entries (the checkpoint published before it; 0 and no
    proof for the first one)."""

    exchange: str
    note: str
    size: int
    previous_size: int = 0
    proof: tuple[bytes, ...] = ()


def checkpoint_payload(msg: CheckpointMsg) -> bytes:
    return _dump(
        {
            "exchange": msg.exchange,
            "note": msg.note,
            "size": msg.size,
            "previous_size": msg.previous_size,
            "proof": [_b64(h) for h in msg.proof],
        }
    )


def parse_checkpoint_msg(payload: bytes | str) -> CheckpointMsg:
    f = _Fields("checkpoint", payload)
    proof = tuple(f.blob("proof", value=h) for h in f.items("proof"))
    return CheckpointMsg(
        f.get("exchange", str), f.get("note", str), f.count("size"),
        f.count("previous_size"), proof,
    )  # fmt: skip


# --- ledger entries --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryMsg:
    """One ``ledger`` message: the entry at ``index``, its canonical bytes and their
    decoded value."""

    exchange: str
    index: int
    data: bytes
    entry: Opening | Transfer


def _decoded(entry: Opening | Transfer) -> dict[str, Any]:
    if isinstance(entry, Opening):
        a = entry.account
        return {"type": "opening", "account": a.id, "account_kind": str(a.kind),
                "asset": a.asset}  # fmt: skip
    return {"type": "transfer", "id": entry.id, "payer": entry.payer, "payee": entry.payee,
            "amount": entry.amount, "kind": str(entry.kind), "asset": entry.asset,
            "task": entry.task, "round": entry.round}  # fmt: skip


def entry_payload(exchange: str, index: int, data: bytes, entry: Opening | Transfer) -> bytes:
    """A ``ledger`` message of the one entry at ``index``."""
    return ledger_payload(exchange, [(index, data, entry)])


def ledger_payload(exchange: str, rows: list[tuple[int, bytes, Opening | Transfer]]) -> bytes:
    """A ``ledger`` message of consecutive entries ``(index, bytes, entry)``, each with
    its index (one MQTT message per batch: what a message costs the publisher is paid
    once for up to :data:`~.publisher.PAGE` entries)."""
    items = [{"index": i, "entry": _b64(data), **_decoded(e)} for i, data, e in rows]
    return _dump({"exchange": exchange, "entries": items})


def parse_ledger(payload: bytes | str) -> list[EntryMsg]:
    """The entries of a ``ledger`` message: at least one, consecutive indices."""
    f = _Fields("ledger", payload)
    exchange = f.get("exchange", str)
    items = f.items("entries")
    if not items:
        raise BadPayload("ledger: field 'entries': expected at least one entry")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise BadPayload("ledger: field 'entries': expected objects")
        index, data = f.count("index", item), f.blob("entry", item)
        if out and index != out[-1].index + 1:
            raise BadPayload(f"ledger: entry {index} follows entry {out[-1].index}")
        try:
            entry = decode_entry(data)
        except LedgerError as exc:
            raise BadPayload(f"ledger: entry {index}: {exc}") from None
        out.append(EntryMsg(exchange, index, data, entry))
    return out


def parse_entry(payload: bytes | str) -> EntryMsg:
    """The one entry of a ``ledger`` message that must hold exactly one."""
    rows = parse_ledger(payload)
    if len(rows) != 1:
        raise BadPayload(f"ledger: expected one entry, got {len(rows)}")
    return rows[0]


# --- rounds ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundMsg:
    """A settled round of a task, from its ledger entries (:mod:`.rounds`).

    ``winners``: ``(account, price in units)`` for each winning bid paid (negative: an
    ask, what the winner was paid to take the state); ``rewards``: ``(account, units)``
    for each reward paid (negative: a cost the owner paid); ``transfers`` and ``volume`` (units)
    count every transfer of the round but allowances; ``first_index`` .. ``last_index``
    are its first and last such entries.
    """

    exchange: str
    task: str
    round: int
    first_index: int
    last_index: int
    winners: tuple[tuple[str, int], ...]
    rewards: tuple[tuple[str, int], ...]
    transfers: int
    volume: int


def round_payload(msg: RoundMsg) -> bytes:
    return _dump(
        {
            "exchange": msg.exchange,
            "task": msg.task,
            "round": msg.round,
            "first_index": msg.first_index,
            "last_index": msg.last_index,
            "winners": [{"account": a, "price": p} for a, p in msg.winners],
            "rewards": [{"account": a, "units": u} for a, u in msg.rewards],
            "transfers": msg.transfers,
            "volume": msg.volume,
        }
    )


def parse_round(payload: bytes | str) -> RoundMsg:
    f = _Fields("rounds", payload)

    def pairs(name: str, amount: str) -> tuple[tuple[str, int], ...]:
        out = []
        for item in f.items(name):
            if not isinstance(item, dict):
                raise BadPayload(f"rounds: field {name!r}: expected objects")
            units = f.get(amount, int, item)
            if not -MAX_UNITS <= units <= MAX_UNITS:
                raise BadPayload(f"rounds: field {amount!r}: beyond the signed 64-bit range")
            out.append((f.get("account", str, item), units))
        return tuple(out)

    return RoundMsg(
        f.get("exchange", str), f.get("task", str), f.count("round"), f.count("first_index"),
        f.count("last_index"), pairs("winners", "price"), pairs("rewards", "units"),
        f.count("transfers"), f.count("volume"),
    )  # fmt: skip
