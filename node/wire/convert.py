"""Library values to protobuf messages and back: ``x_to_proto`` / ``x_from_proto`` pairs.

The one place where ``catallax.v1`` messages meet library values (STYLE.md 6): tensors
and observations (numpy arrays), Gymnasium spaces, a trader's bids, the awards of a
deep-market :class:`~catallax.exchange.Decision`, :class:`~catallax.exchange.Outcomes`,
checkpoints and ledger entries (as the bytes they are). ``exchange/`` and ``traders/``
never see a ``_pb2`` type.

Money is integers on the wire: prices, rewards and receipts travel as ``int64`` units
and come back as float credits (``units / 10**6``); a credit amount converts exactly
when it is a whole number of units, and is rounded to the nearest unit otherwise
(:func:`catallax.exchange.money.to_units`), as it would be when it moves.

Every ``x_from_proto`` checks what it reads: a message that breaks a rule raises
:class:`~catallax.node.errors.Malformed` (a bad tensor :class:`~catallax.node.errors.BadTensor`);
a library value with no wire form raises :class:`~catallax.node.errors.Unconvertible`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from catallax.exchange import Decision, Outcomes
from catallax.exchange.errors import MoneyError
from catallax.exchange.ledger import Entry, LedgerError, decode_entry, encode_entry
from catallax.exchange.ledger.checkpoint import parse_checkpoint
from catallax.exchange.money import UNITS_PER_CREDIT, to_units
from catallax.node.errors import BadTensor, Malformed, Unconvertible
from catallax.v1 import common_pb2, exchange_pb2, ledger_pb2

__all__ = [
    "DTYPES",
    "Awards",
    "BidBatch",
    "awards_from_proto",
    "awards_to_proto",
    "bids_from_proto",
    "bids_to_proto",
    "checkpoint_from_proto",
    "checkpoint_to_proto",
    "entry_from_proto",
    "entry_to_proto",
    "outcomes_from_proto",
    "outcomes_to_proto",
    "space_from_proto",
    "space_to_proto",
    "tensor_from_proto",
    "tensor_to_proto",
    "value_from_proto",
    "value_to_proto",
]

#: The dtypes a Tensor may carry (numpy names).
DTYPES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
    | {"float16", "float32", "float64"}
)


# --- tensors and values ---------------------------------------------------------------


def tensor_to_proto(array: np.ndarray) -> common_pb2.Tensor:
    """A numpy array (or anything ``np.asarray`` takes) as a little-endian Tensor."""
    array = np.asarray(array)
    if array.dtype.name not in DTYPES:
        raise Unconvertible(f"tensor: dtype {array.dtype} has no wire form")
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return common_pb2.Tensor(shape=array.shape, dtype=array.dtype.name, data=little.tobytes())


def tensor_from_proto(msg: common_pb2.Tensor) -> np.ndarray:
    """A Tensor as a fresh, writable, native-order numpy array."""
    _check_type(msg, common_pb2.Tensor, "tensor")
    if msg.dtype not in DTYPES:
        raise BadTensor(f"tensor: dtype {msg.dtype!r} is not one of {sorted(DTYPES)}")
    shape = tuple(msg.shape)
    if any(n < 0 for n in shape):
        raise BadTensor(f"tensor: negative dimension in shape {shape}")
    dtype = np.dtype(msg.dtype)
    expected = math.prod(shape) * dtype.itemsize
    if len(msg.data) != expected:
        raise BadTensor(
            f"tensor: shape {shape} of {msg.dtype} needs {expected} bytes, got {len(msg.data)}"
        )
    flat = np.frombuffer(msg.data, dtype=dtype.newbyteorder("<"))
    if dtype == np.bool_ and np.any(flat.view(np.uint8) > 1):
        raise BadTensor("tensor: a bool tensor holds bytes other than 0 and 1")
    try:
        return flat.astype(dtype, copy=True).reshape(shape)
    except ValueError as exc:  # more axes than numpy's 64, or too big (a 0 beside 2**62)
        raise BadTensor(f"tensor: shape {shape} has no numpy array ({exc})") from None


def value_to_proto(value: int | np.integer | np.ndarray) -> common_pb2.Value:
    """One observation or action: a Python or numpy integer is Discrete, an array a Tensor."""
    if isinstance(value, bool | np.bool_):
        raise Unconvertible("value: a bool is neither a Discrete index nor an array")
    if isinstance(value, int | np.integer):
        if not -(2**63) <= int(value) < 2**63:
            raise Unconvertible(f"value: {value} does not fit in int64")
        return common_pb2.Value(discrete=int(value))
    if isinstance(value, np.ndarray):
        return common_pb2.Value(tensor=tensor_to_proto(value))
    raise Unconvertible(f"value: expected an int or a numpy array, got {type(value).__name__}")


def value_from_proto(msg: common_pb2.Value) -> int | np.ndarray:
    """A Value as an ``int`` (Discrete) or a numpy array."""
    _check_type(msg, common_pb2.Value, "value")
    kind = msg.WhichOneof("kind")
    if kind == "discrete":
        return int(msg.discrete)
    if kind == "tensor":
        return tensor_from_proto(msg.tensor)
    raise Malformed("value: neither a discrete index nor a tensor")


def _values_to_proto(values: np.ndarray) -> list[common_pb2.Value]:
    """Rows of a batch: a 1-D integer array is Discrete indices, otherwise one tensor a row."""
    values = np.asarray(values)
    if values.ndim == 0:
        raise Unconvertible("values: expected a batch with a leading axis, got a scalar")
    if values.ndim == 1 and np.issubdtype(values.dtype, np.integer):
        return [common_pb2.Value(discrete=int(v)) for v in values]
    return [common_pb2.Value(tensor=tensor_to_proto(v)) for v in values]


def _values_from_proto(msgs: Sequence[common_pb2.Value], what: str) -> np.ndarray:
    """The inverse of :func:`_values_to_proto`: all Discrete, or tensors of one shape."""
    values = [value_from_proto(m) for m in msgs]
    if not values:
        return np.zeros(0, dtype=np.int64)
    if all(isinstance(v, int) for v in values):
        return np.array(values, dtype=np.int64)
    if any(isinstance(v, int) for v in values):
        raise Malformed(f"{what}: mixes discrete indices and tensors")
    first = values[0]
    if any(v.shape != first.shape or v.dtype != first.dtype for v in values):
        raise Malformed(f"{what}: tensors of different shapes or dtypes")
    return np.stack(values)


# --- spaces -----------------------------------------------------------------------------


def space_to_proto(space: gym.Space) -> common_pb2.Space:
    """A Gymnasium Discrete, Box, MultiDiscrete or MultiBinary space."""
    if isinstance(space, gym.spaces.Discrete):
        discrete = common_pb2.Discrete(n=int(space.n), start=int(space.start))
        return common_pb2.Space(discrete=discrete)
    if isinstance(space, gym.spaces.Box):
        box = common_pb2.Box(low=tensor_to_proto(space.low), high=tensor_to_proto(space.high))
        return common_pb2.Space(box=box)
    if isinstance(space, gym.spaces.MultiDiscrete):
        md = common_pb2.MultiDiscrete(
            nvec=tensor_to_proto(space.nvec), start=tensor_to_proto(space.start)
        )
        return common_pb2.Space(multi_discrete=md)
    if isinstance(space, gym.spaces.MultiBinary):
        return common_pb2.Space(multi_binary=common_pb2.MultiBinary(shape=space.shape))
    raise Unconvertible(f"space: {type(space).__name__} has no wire form")


def space_from_proto(msg: common_pb2.Space) -> gym.Space:
    """A Space message as the Gymnasium space it describes."""
    _check_type(msg, common_pb2.Space, "space")
    kind = msg.WhichOneof("kind")
    try:
        if kind == "discrete":
            return gym.spaces.Discrete(msg.discrete.n, start=msg.discrete.start)
        if kind == "box":
            low, high = tensor_from_proto(msg.box.low), tensor_from_proto(msg.box.high)
            if low.shape != high.shape or low.dtype != high.dtype:
                raise Malformed("space: a box's low and high differ in shape or dtype")
            return gym.spaces.Box(low, high, shape=low.shape, dtype=low.dtype)
        if kind == "multi_discrete":
            nvec = tensor_from_proto(msg.multi_discrete.nvec)
            start = tensor_from_proto(msg.multi_discrete.start)
            if nvec.shape != start.shape or not np.issubdtype(nvec.dtype, np.integer):
                raise Malformed("space: a multi-discrete's nvec and start must agree, as integers")
            return gym.spaces.MultiDiscrete(nvec, dtype=nvec.dtype, start=start)
        if kind == "multi_binary":
            shape = list(msg.multi_binary.shape)
            if not shape or any(n <= 0 for n in shape):
                raise Malformed(f"space: a multi-binary shape must be positive, got {shape}")
            return gym.spaces.MultiBinary(shape[0] if len(shape) == 1 else shape)
    except (ValueError, TypeError, AssertionError) as exc:
        if isinstance(exc, Malformed):
            raise
        raise Malformed(f"space: {kind}: {exc}") from exc
    raise Malformed("space: no kind of space is set")


# --- bids ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class BidBatch:
    """One trader's sealed bids for one round (the body of a ``Bids`` message).

    Attributes:
        exchange, task, round: what the bids are bound to.
        members: ``(K,)`` member ids of the trader's population.
        slots: ``(K,)`` episode slots.
        amounts: ``(K,)`` int64 units, each the most the member pays for its slot
            (negative: an ask, the least it must be paid to take the state).
        actions: ``(K,)`` ints (Discrete) or ``(K, ...)`` arrays: the action if it wins.
        rules: the SHA-256 of the task's rules the bids accept (``TaskInfo.rules``).
    """

    exchange: str
    task: str
    round: int
    members: np.ndarray
    slots: np.ndarray
    amounts: np.ndarray
    actions: np.ndarray
    rules: bytes = b""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BidBatch):
            return NotImplemented
        return (self.exchange, self.task, self.round, self.rules) == (
            other.exchange,
            other.task,
            other.round,
            other.rules,
        ) and all(
            _same_array(getattr(self, f), getattr(other, f))
            for f in ("members", "slots", "amounts", "actions")
        )

    __hash__ = None  # type: ignore[assignment]


def bids_to_proto(batch: BidBatch) -> exchange_pb2.Bids:
    """The body of a ``Bids`` message; the sender stamps sequence and timestamp."""
    members, slots = _ids(batch.members, "members"), _ids(batch.slots, "slots")
    amounts = _units(batch.amounts, "amounts")
    actions = _values_to_proto(batch.actions)
    if not len(members) == len(slots) == len(amounts) == len(actions):
        raise Unconvertible("bids: members, slots, amounts and actions differ in length")
    bids = [
        exchange_pb2.Bid(member=int(m), slot=int(s), amount=int(a), action=v)
        for m, s, a, v in zip(members, slots, amounts, actions, strict=True)
    ]
    return exchange_pb2.Bids(
        exchange=batch.exchange,
        task=batch.task,
        round=int(batch.round),
        bids=bids,
        rules=bytes(batch.rules),
    )


def bids_from_proto(msg: exchange_pb2.Bids) -> BidBatch:
    """A ``Bids`` body as a :class:`BidBatch`; refuses missing actions (a negative amount
    is an ask)."""
    _check_type(msg, exchange_pb2.Bids, "bids")
    bids = list(msg.bids)
    for k, bid in enumerate(bids):
        if not bid.HasField("action"):
            raise Malformed(f"bids: bid {k} has no action")
    return BidBatch(
        exchange=msg.exchange,
        task=msg.task,
        round=int(msg.round),
        members=np.array([b.member for b in bids], dtype=np.int64),
        slots=np.array([b.slot for b in bids], dtype=np.int64),
        amounts=np.array([b.amount for b in bids], dtype=np.int64),
        actions=_values_from_proto([b.action for b in bids], "bids: actions"),
        rules=bytes(msg.rules),
    )


# --- awards (a decision's winners and prices) ----------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Awards:
    """Each slot's winner in one round, as the traders are told.

    Attributes:
        slots: ``(E,)`` episode slots.
        accounts: account id of each slot's winner, ``""`` where the world acts.
        prices: ``(E,)`` int64 units the winner pays (negative: what it is paid, an ask).
        actions: ``(E,)`` ints or ``(E, ...)`` arrays: the action taken.
    """

    slots: np.ndarray
    accounts: tuple[str, ...]
    prices: np.ndarray
    actions: np.ndarray

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Awards):
            return NotImplemented
        return self.accounts == other.accounts and all(
            _same_array(getattr(self, f), getattr(other, f)) for f in ("slots", "prices", "actions")
        )

    __hash__ = None  # type: ignore[assignment]


def awards_to_proto(
    decision: Decision, account_id: Callable[[int], str]
) -> list[exchange_pb2.Award]:
    """A deep-market decision's winners, prices (in units) and actions, one Award a slot.

    ``account_id`` names a winner's row (``DeepMarket.account_id``); rows ``< 0`` (the
    world) become ``""``.
    """
    winner = np.asarray(decision.winner)
    try:
        prices = to_units(np.asarray(decision.price, dtype=np.float64))
    except MoneyError as exc:
        raise Unconvertible(f"awards: {exc}") from exc
    actions = _values_to_proto(decision.actions)
    if not len(winner) == len(prices) == len(actions):
        raise Unconvertible("awards: winner, price and actions differ in length")
    return [
        exchange_pb2.Award(
            slot=e,
            account=account_id(int(w)) if w >= 0 else "",
            price=int(p),
            action=a,
        )
        for e, (w, p, a) in enumerate(zip(winner, prices, actions, strict=True))
    ]


def awards_from_proto(msgs: Sequence[exchange_pb2.Award]) -> Awards:
    """Awards as arrays; refuses missing actions (a negative price is an ask)."""
    msgs = list(msgs)
    for m in msgs:
        _check_type(m, exchange_pb2.Award, "award")
        if not m.HasField("action"):
            raise Malformed(f"award: slot {m.slot} has no action")
    return Awards(
        slots=np.array([m.slot for m in msgs], dtype=np.int64),
        accounts=tuple(m.account for m in msgs),
        prices=np.array([m.price for m in msgs], dtype=np.int64),
        actions=_values_from_proto([m.action for m in msgs], "awards: actions"),
    )


# --- outcomes ----------------------------------------------------------------------------


def outcomes_to_proto(outcomes: Outcomes) -> exchange_pb2.Outcomes:
    """Finished ownerships; credit amounts travel as int64 units."""
    members = _ids(outcomes.members, "outcomes: members")
    k = len(members)
    cols = {}
    for name in ("price", "reward", "receipt"):
        try:
            cols[name] = to_units(np.asarray(getattr(outcomes, name), dtype=np.float64))
        except MoneyError as exc:
            raise Unconvertible(f"outcomes: {name}: {exc}") from exc
    ended = np.asarray(outcomes.ended, dtype=bool)
    obs, actions = np.asarray(outcomes.obs), np.asarray(outcomes.actions)
    lengths = [len(c) for c in cols.values()] + [len(ended), _rows(obs), _rows(actions)]
    if outcomes.provisional is not None:
        lengths.append(len(outcomes.provisional))
    if any(n != k for n in lengths):
        raise Unconvertible(f"outcomes: columns differ in length from members ({k})")
    msg = exchange_pb2.Outcomes(
        members=members.tolist(),
        obs=tensor_to_proto(obs),
        actions=tensor_to_proto(actions),
        price=cols["price"].tolist(),
        reward=cols["reward"].tolist(),
        receipt=cols["receipt"].tolist(),
        ended=ended.tolist(),
    )
    if outcomes.provisional is not None:
        flags = np.asarray(outcomes.provisional, dtype=bool).tolist()
        msg.provisional.CopyFrom(common_pb2.BoolList(values=flags))
    return msg


def outcomes_from_proto(msg: exchange_pb2.Outcomes) -> Outcomes:
    """An Outcomes message as :class:`~catallax.exchange.Outcomes` (amounts in credits)."""
    _check_type(msg, exchange_pb2.Outcomes, "outcomes")
    k = len(msg.members)
    for field in ("obs", "actions"):
        if not msg.HasField(field):
            raise Malformed(f"outcomes: {field} is missing")
    obs, actions = tensor_from_proto(msg.obs), tensor_from_proto(msg.actions)
    lengths = {
        "price": len(msg.price),
        "reward": len(msg.reward),
        "receipt": len(msg.receipt),
        "ended": len(msg.ended),
        "obs": _rows(obs),
        "actions": _rows(actions),
    }
    if msg.HasField("provisional"):
        lengths["provisional"] = len(msg.provisional.values)
    wrong = {name: n for name, n in lengths.items() if n != k}
    if wrong:
        raise Malformed(f"outcomes: {k} members but {wrong}")
    provisional = (
        np.array(msg.provisional.values, dtype=bool) if msg.HasField("provisional") else None
    )
    return Outcomes(
        members=np.array(msg.members, dtype=np.int64),
        obs=obs,
        actions=actions,
        price=_credits(msg.price),
        reward=_credits(msg.reward),
        receipt=_credits(msg.receipt),
        ended=np.array(msg.ended, dtype=bool),
        provisional=provisional,
    )


# --- the ledger: checkpoints and entries as their bytes ---------------------------------


def checkpoint_to_proto(note: str) -> ledger_pb2.Checkpoint:
    """A signed checkpoint note (C2SP tlog-checkpoint text) as its UTF-8 bytes."""
    if not isinstance(note, str):
        raise Unconvertible(f"checkpoint: expected the note's text, got {type(note).__name__}")
    return ledger_pb2.Checkpoint(note=note.encode("utf-8"))


def checkpoint_from_proto(msg: ledger_pb2.Checkpoint) -> str:
    """The note's text, its syntax checked (its signature is the receiver's to check)."""
    _check_type(msg, ledger_pb2.Checkpoint, "checkpoint")
    try:
        note = msg.note.decode("utf-8")
        parse_checkpoint(note)
    except (UnicodeDecodeError, LedgerError) as exc:
        raise Malformed(f"checkpoint: {exc}") from exc
    return note


def entry_to_proto(index: int, entry: Entry) -> ledger_pb2.Entry:
    """A ledger entry at ``index`` in the ledger's canonical leaf encoding."""
    if not isinstance(index, int | np.integer) or not 0 <= int(index) < 2**64:
        raise Unconvertible(f"entry: index must be an unsigned 64-bit integer, got {index!r}")
    return ledger_pb2.Entry(index=int(index), data=encode_entry(entry))


def entry_from_proto(msg: ledger_pb2.Entry) -> tuple[int, Entry]:
    """``(index, entry)``, decoding the canonical leaf bytes."""
    _check_type(msg, ledger_pb2.Entry, "entry")
    try:
        return int(msg.index), decode_entry(msg.data)
    except LedgerError as exc:
        raise Malformed(f"entry {msg.index}: {exc}") from exc


# --- helpers -----------------------------------------------------------------------------


def _check_type(msg: object, cls: type, what: str) -> None:
    if not isinstance(msg, cls):
        raise Malformed(f"{what}: expected a {cls.__name__} message, got {type(msg).__name__}")


def _ids(values: np.ndarray, what: str) -> np.ndarray:
    """Non-negative integer ids that fit in uint32."""
    values = np.asarray(values)
    if values.ndim != 1 or not (values.size == 0 or np.issubdtype(values.dtype, np.integer)):
        raise Unconvertible(f"{what}: expected a 1-D integer array")
    values = values.astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= 2**32):
        raise Unconvertible(f"{what}: ids must lie in [0, 2**32)")
    return values


def _units(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or not (values.size == 0 or np.issubdtype(values.dtype, np.integer)):
        raise Unconvertible(f"{what}: money crosses the wire as a 1-D integer array of units")
    return values.astype(np.int64)


def _credits(units: Sequence[int]) -> np.ndarray:
    return np.array(units, dtype=np.int64).astype(np.float64) / UNITS_PER_CREDIT


def _rows(array: np.ndarray) -> int:
    return array.shape[0] if array.ndim else -1


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
