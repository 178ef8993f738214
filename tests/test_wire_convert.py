"""Round trips of every x_to_proto / x_from_proto pair, and refusal of malformed input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from catallax.exchange import Decision, Outcomes
from catallax.exchange.crypto import generate_private_key, public_key_bytes
from catallax.exchange.ledger import Account, AccountKind, Opening, Transfer, TransferKind
from catallax.exchange.ledger.checkpoint import Checkpoint, sign_checkpoint
from catallax.node.errors import BadTensor, Malformed, Unconvertible, WireError
from catallax.node.wire import convert as wire
from catallax.v1 import common_pb2, exchange_pb2, ledger_pb2

DTYPES = sorted(wire.DTYPES)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


# --- tensors -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(
    dtype=st.sampled_from(DTYPES).flatmap(
        lambda d: st.sampled_from([np.dtype(d), np.dtype(d).newbyteorder(">")])
    ),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
))  # fmt: skip
def test_tensor_round_trip(array):
    msg = wire.tensor_to_proto(array)
    assert msg.dtype == array.dtype.name
    back = wire.tensor_from_proto(common_pb2.Tensor.FromString(msg.SerializeToString()))
    assert back.dtype == array.dtype.newbyteorder("=") and back.dtype.isnative
    assert _same(back, array)
    assert back.flags.writeable


def test_tensor_bytes_are_little_endian():
    assert wire.tensor_to_proto(np.array([1], dtype=">u2")).data == b"\x01\x00"
    assert wire.tensor_to_proto(np.array([1], dtype="<u2")).data == b"\x01\x00"


def test_tensor_of_a_non_contiguous_view():
    array = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2].T
    assert _same(wire.tensor_from_proto(wire.tensor_to_proto(array)), array)


@pytest.mark.parametrize(
    "msg",
    [
        common_pb2.Tensor(shape=[2], dtype="float128", data=b"\0" * 32),
        common_pb2.Tensor(shape=[2], dtype="object", data=b""),
        common_pb2.Tensor(shape=[2], dtype="", data=b""),
        common_pb2.Tensor(shape=[2], dtype="int32", data=b"\0" * 7),
        common_pb2.Tensor(shape=[2, 3], dtype="int8", data=b"\0" * 5),
        common_pb2.Tensor(shape=[-1], dtype="int8", data=b""),
        common_pb2.Tensor(shape=[-2, -3], dtype="int8", data=b"\0" * 6),
        common_pb2.Tensor(shape=[2**40, 2**40], dtype="int8", data=b""),
        common_pb2.Tensor(shape=[], dtype="int16", data=b""),
        common_pb2.Tensor(shape=[2], dtype="bool", data=b"\x00\x02"),
    ],
    ids=lambda m: f"{m.dtype or 'empty'}{list(m.shape)}-{len(m.data)}",
)
def test_malformed_tensors_are_refused(msg):
    with pytest.raises(BadTensor) as info:
        wire.tensor_from_proto(msg)
    assert isinstance(info.value, Malformed | ValueError | WireError)


@pytest.mark.parametrize(
    "array", [np.array(["a"]), np.array([object()]), np.array([1j]), np.array([1.0], "f16")]
)
def test_arrays_without_a_wire_form(array):
    if array.dtype.name in wire.DTYPES:  # float128 is float64 on some platforms
        pytest.skip("this platform's longdouble is float64")
    with pytest.raises(Unconvertible):
        wire.tensor_to_proto(array)


def test_not_a_tensor_message():
    with pytest.raises(Malformed):
        wire.tensor_from_proto(common_pb2.Value(discrete=1))


# --- values --------------------------------------------------------------------------------


@given(st.integers(-(2**63), 2**63 - 1))
def test_discrete_value_round_trip(n):
    for value in (n, np.int64(n)):
        back = wire.value_from_proto(wire.value_to_proto(value))
        assert back == n and type(back) is int


def test_array_value_round_trip():
    obs = np.array([[0.5, -1.0]], dtype=np.float32)
    back = wire.value_from_proto(wire.value_to_proto(obs))
    assert _same(back, obs) and back.dtype == np.float32


@pytest.mark.parametrize("value", [True, 2**63, 1.5, "1", [1, 2], None])
def test_values_without_a_wire_form(value):
    with pytest.raises(Unconvertible):
        wire.value_to_proto(value)


def test_an_empty_value_is_malformed():
    with pytest.raises(Malformed):
        wire.value_from_proto(common_pb2.Value())


# --- spaces --------------------------------------------------------------------------------

SPACES = [
    gym.spaces.Discrete(4),
    gym.spaces.Discrete(3, start=-1),
    gym.spaces.Box(0.0, 1.0, (2,), dtype=np.float32),
    gym.spaces.Box(-np.inf, np.inf, (3, 2), dtype=np.float64),
    gym.spaces.Box(np.array([0, -2]), np.array([5, 7]), dtype=np.int64),
    gym.spaces.Box(0, 255, (2, 2, 3), dtype=np.uint8),
    gym.spaces.MultiDiscrete([2, 3, 4]),
    gym.spaces.MultiDiscrete(np.array([[2, 3], [4, 5]]), start=np.array([[0, 1], [-1, 0]])),
    gym.spaces.MultiBinary(5),
    gym.spaces.MultiBinary([2, 3]),
]


@pytest.mark.parametrize("space", SPACES, ids=str)
def test_space_round_trip(space):
    msg = common_pb2.Space.FromString(wire.space_to_proto(space).SerializeToString())
    back = wire.space_from_proto(msg)
    assert back == space and type(back) is type(space)
    assert back.shape == space.shape and back.dtype == space.dtype


@pytest.mark.parametrize(
    "space",
    [gym.spaces.Tuple([gym.spaces.Discrete(2)]), gym.spaces.Dict({}), gym.spaces.Text(3)],
    ids=lambda s: type(s).__name__,
)
def test_spaces_without_a_wire_form(space):
    with pytest.raises(Unconvertible):
        wire.space_to_proto(space)


def _box(low, high):
    return common_pb2.Space(
        box=common_pb2.Box(low=wire.tensor_to_proto(low), high=wire.tensor_to_proto(high))
    )


@pytest.mark.parametrize(
    "msg",
    [
        common_pb2.Space(),
        common_pb2.Space(discrete=common_pb2.Discrete(n=0)),
        common_pb2.Space(discrete=common_pb2.Discrete(n=-3)),
        _box(np.zeros(2, np.float32), np.ones(3, np.float32)),
        _box(np.zeros(2, np.float32), np.ones(2, np.float64)),
        common_pb2.Space(box=common_pb2.Box()),
        common_pb2.Space(
            multi_discrete=common_pb2.MultiDiscrete(
                nvec=wire.tensor_to_proto(np.array([2, 3])),
                start=wire.tensor_to_proto(np.array([0])),
            )
        ),
        common_pb2.Space(
            multi_discrete=common_pb2.MultiDiscrete(
                nvec=wire.tensor_to_proto(np.array([2.0])),
                start=wire.tensor_to_proto(np.array([0.0])),
            )
        ),
        common_pb2.Space(multi_binary=common_pb2.MultiBinary(shape=[])),
        common_pb2.Space(multi_binary=common_pb2.MultiBinary(shape=[2, 0])),
    ],
    ids=lambda m: str(m).replace("\n", " ")[:40] or "empty",
)
def test_malformed_spaces_are_refused(msg):
    with pytest.raises(Malformed):
        wire.space_from_proto(msg)


# --- bids --------------------------------------------------------------------------------


@st.composite
def bid_batches(draw):
    k = draw(st.integers(0, 6))
    ids = hnp.arrays(np.int64, k, elements=st.integers(0, 2**32 - 1))
    if draw(st.booleans()):
        actions = draw(hnp.arrays(np.int64, k, elements=st.integers(-(2**63), 2**63 - 1)))
    else:
        shape = (k, *draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=3)))
        actions = draw(hnp.arrays(np.float32, shape, elements=st.floats(-10, 10, width=32)))
    return wire.BidBatch(
        exchange=draw(st.text(max_size=10)),
        task=draw(st.text(max_size=10)),
        round=draw(st.integers(0, 2**64 - 1)),
        members=draw(ids),
        slots=draw(ids),
        # negative amounts are asks (to be paid to take the state)
        amounts=draw(hnp.arrays(np.int64, k, elements=st.integers(-(2**63), 2**63 - 1))),
        actions=actions,
    )


@settings(max_examples=100, deadline=None)
@given(bid_batches())
def test_bids_round_trip(batch):
    msg = exchange_pb2.Bids.FromString(wire.bids_to_proto(batch).SerializeToString())
    back = wire.bids_from_proto(msg)
    if len(batch.members) == 0:
        assert len(back.members) == len(back.actions) == 0
        assert (back.exchange, back.task, back.round) == (batch.exchange, batch.task, batch.round)
    else:
        assert back == batch


def _bid(**fields):
    fields.setdefault("action", common_pb2.Value(discrete=1))
    return exchange_pb2.Bid(**fields)


@pytest.mark.parametrize(
    "bids",
    [
        [exchange_pb2.Bid(amount=5)],
        [_bid(amount=1), _bid(amount=1, action=wire.value_to_proto(np.zeros(2)))],
        [
            _bid(action=wire.value_to_proto(np.zeros(2))),
            _bid(action=wire.value_to_proto(np.zeros(3))),
        ],
        [_bid(action=common_pb2.Value(tensor=common_pb2.Tensor(shape=[2], dtype="int8")))],
    ],
    ids=["no action", "mixed actions", "ragged actions", "bad tensor"],
)
def test_malformed_bids_are_refused(bids):
    with pytest.raises(Malformed):
        wire.bids_from_proto(exchange_pb2.Bids(exchange="x", task="t", round=1, bids=bids))


@pytest.mark.parametrize(
    "change",
    [
        {"amounts": np.array([1.5])},
        {"members": np.array([-1])},
        {"slots": np.array([2**32])},
        {"members": np.array([0, 1])},
    ],
    ids=["float money", "negative member", "huge slot", "ragged"],
)
def test_bids_without_a_wire_form(change):
    fields = dict(
        exchange="x", task="t", round=1, members=np.array([0]), slots=np.array([0]),
        amounts=np.array([5]), actions=np.array([1]),
    )  # fmt: skip
    fields.update(change)
    with pytest.raises(Unconvertible):
        wire.bids_to_proto(wire.BidBatch(**fields))


# --- awards ----------------------------------------------------------------------------------


def _decision(actions):
    e = len(actions)
    return Decision(
        obs=np.arange(e), winner=np.array([2, -1, 0][:e]), actions=actions,
        price=np.array([1.25, 0.0, -3e-6][:e]), proceeds=np.zeros(e), top=np.zeros(e),
        second=np.zeros(e),
    )  # fmt: skip


@pytest.mark.parametrize(
    "actions", [np.array([1, 0, 3]), np.array([[0.5, 1.0], [0.0, 0.0], [-1.0, 2.0]])]
)
def test_awards_round_trip(actions):
    names = {0: "alice", 2: "carol"}
    msgs = wire.awards_to_proto(_decision(actions), names.__getitem__)
    wire_msg = exchange_pb2.Settled(awards=msgs).SerializeToString()
    back = wire.awards_from_proto(exchange_pb2.Settled.FromString(wire_msg).awards)
    assert back == wire.Awards(
        slots=np.arange(3), accounts=("carol", "", "alice"),
        prices=np.array([1_250_000, 0, -3]), actions=actions,  # -3: an ask paid
    )  # fmt: skip


def test_malformed_awards_are_refused():
    with pytest.raises(Malformed):
        wire.awards_from_proto([exchange_pb2.Award(slot=0, price=1)])


def test_awards_refuse_unmovable_prices():
    decision = _decision(np.array([1, 0, 3]))
    object.__setattr__(decision, "price", np.array([np.nan, 0.0, 1.0]))
    with pytest.raises(Unconvertible):
        wire.awards_to_proto(decision, str)


# --- outcomes ------------------------------------------------------------------------------------


@st.composite
def outcomes(draw):
    k = draw(st.integers(0, 5))
    # Credits are float64 units / 10**6: units -> credits -> units is exact below 2**51
    # units (the two roundings err by at most |units| * 2**-52, under half a unit), and
    # may miss by one unit between 2**51 and the money limit of 2**53 (hypothesis found
    # 4,428,087,990,000,000 units, about 4.4e9 credits). Amounts travel as units.
    units = hnp.arrays(np.int64, k, elements=st.integers(-(2**51), 2**51))
    return Outcomes(
        members=draw(hnp.arrays(np.int64, k, elements=st.integers(0, 2**32 - 1))),
        obs=draw(st.sampled_from([
            np.arange(k, dtype=np.int64), np.ones((k, 3), dtype=np.float32)
        ])),
        actions=draw(hnp.arrays(np.int64, k, elements=st.integers(0, 9))),
        price=np.abs(draw(units)) / 10**6,
        reward=draw(units) / 10**6,
        receipt=draw(units) / 10**6,
        ended=draw(hnp.arrays(np.bool_, k)),
        provisional=draw(st.one_of(st.none(), hnp.arrays(np.bool_, k))),
    )  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(outcomes())
def test_outcomes_round_trip(value):
    msg = exchange_pb2.Outcomes.FromString(wire.outcomes_to_proto(value).SerializeToString())
    back = wire.outcomes_from_proto(msg)
    for name in ("members", "obs", "actions", "price", "reward", "receipt", "ended"):
        a, b = getattr(value, name), getattr(back, name)
        assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b), name
    if value.provisional is None:
        assert back.provisional is None
    else:
        assert np.array_equal(back.provisional, value.provisional)
    assert np.array_equal(back.value, value.value)


def test_outcomes_round_credits_to_units():
    value = Outcomes(
        members=np.array([0]), obs=np.array([0]), actions=np.array([1]),
        price=np.array([0.1234567]), reward=np.array([2.5e-7]), receipt=np.array([0.0]),
        ended=np.array([True]),
    )  # fmt: skip
    back = wire.outcomes_from_proto(wire.outcomes_to_proto(value))
    assert back.price.tolist() == [0.123457] and back.reward.tolist() == [0.0]
    # A negative price (an ask: the buyer was paid to take the state) travels as it is.
    back = wire.outcomes_from_proto(_outcomes_msg(price=[-1_500_000, 2]))
    assert back.price.tolist() == [-1.5, 2e-6]


def test_outcomes_without_a_wire_form():
    good = dict(
        members=np.array([0]), obs=np.array([0]), actions=np.array([1]),
        price=np.array([1.0]), reward=np.array([0.0]), receipt=np.array([0.0]),
        ended=np.array([False]),
    )  # fmt: skip
    for change in ({"reward": np.array([np.inf])}, {"ended": np.array([True, False])}):
        with pytest.raises(Unconvertible):
            wire.outcomes_to_proto(Outcomes(**(good | change)))


def _outcomes_msg(**change):
    msg = wire.outcomes_to_proto(
        Outcomes(
            members=np.array([0, 1]), obs=np.array([0, 1]), actions=np.array([1, 0]),
            price=np.array([1.0, 2.0]), reward=np.array([0.0, 1.0]),
            receipt=np.array([0.0, 0.5]), ended=np.array([False, True]),
        )
    )  # fmt: skip
    for name, value in change.items():
        if value is None:
            msg.ClearField(name)
        elif isinstance(value, list):
            del getattr(msg, name)[:]
            getattr(msg, name).extend(value)
        else:
            getattr(msg, name).CopyFrom(value)
    return msg


@pytest.mark.parametrize(
    "change",
    [
        {"price": [1]},
        {"ended": [True]},
        {"obs": None},
        {"actions": wire.tensor_to_proto(np.zeros(3, np.int64))},
        {"obs": wire.tensor_to_proto(np.int64(0))},
        {"provisional": common_pb2.BoolList(values=[True])},
    ],
    ids=["short price", "short ended", "no obs", "long actions",
         "scalar obs", "short provisional"],
)  # fmt: skip
def test_malformed_outcomes_are_refused(change):
    with pytest.raises(Malformed):
        wire.outcomes_from_proto(_outcomes_msg(**change))


# --- the ledger ----------------------------------------------------------------------------------


def test_checkpoint_round_trip():
    key = generate_private_key()
    note = sign_checkpoint(Checkpoint("example.org/exchange", 3, b"\x01" * 32), key)
    msg = ledger_pb2.Checkpoint.FromString(wire.checkpoint_to_proto(note).SerializeToString())
    assert wire.checkpoint_from_proto(msg) == note


@pytest.mark.parametrize("note", [b"", b"\xff\xfe", b"origin\nnot a size\n"])
def test_malformed_checkpoints_are_refused(note):
    with pytest.raises(Malformed):
        wire.checkpoint_from_proto(ledger_pb2.Checkpoint(note=note))


def test_checkpoint_needs_text():
    with pytest.raises(Unconvertible):
        wire.checkpoint_to_proto(b"bytes")


ENTRIES = [
    Opening(Account("alice", AccountKind.TRADER, public_key_bytes(generate_private_key()))),
    Transfer("t1", "issuer", "alice", 1_000_000, TransferKind.ALLOWANCE, task="chain", round=1),
]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: type(e).__name__)
def test_entry_round_trip(entry):
    msg = ledger_pb2.Entry.FromString(wire.entry_to_proto(7, entry).SerializeToString())
    assert wire.entry_from_proto(msg) == (7, entry)


def test_malformed_entries_are_refused():
    with pytest.raises(Malformed):
        wire.entry_from_proto(ledger_pb2.Entry(index=0, data=b"\x00garbage"))
    with pytest.raises(Unconvertible):
        wire.entry_to_proto(-1, ENTRIES[0])
