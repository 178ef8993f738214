"""MQTT publishing and following, in process, against real brokers and real ledgers.

- payloads: each ``*_payload`` parses back to its value and validates against
  ``docs/mqtt.schema.json``; bad payloads and topics are :class:`BadPayload`;
- the checkpoint chain: an extension verifies with its consistency proof; a rollback,
  the same size with another root, a fork and a forged signature alarm, naming both;
- the publisher and a follower through a broker restart: every index reaches the view
  exactly once (the gap while the broker was down filled from the Ledger service), every
  checkpoint verified, every payload valid, the retained checkpoint the latest;
- the web monitor's endpoints: the page, the snapshot, the event stream, refusals.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import aiomqtt
import jsonschema
import pytest

from catallax.exchange.crypto import generate_private_key, public_key_bytes
from catallax.exchange.ledger import (
    Account,
    AccountKind,
    Ledger,
    MemoryStore,
    Opening,
    Transfer,
    TransferKind,
    decode_entry,
    open_ledger,
)
from catallax.exchange.ledger.evidence import authorize_transfers
from catallax.node.errors import BadPayload, NotTrusted, Rollback, SplitView
from catallax.node.ledger_service import serve_ledger
from catallax.node.monitor import (
    CheckpointChain,
    CheckpointMsg,
    Follower,
    MqttPublisher,
    NetworkView,
    Status,
    TaskStatus,
    checkpoint_payload,
    entry_payload,
    exchange_id,
    follow_mqtt,
    ledger_payload,
    parse_checkpoint_msg,
    parse_entry,
    parse_ledger,
    parse_round,
    parse_status,
    parse_topic,
    round_payload,
    status_payload,
    summarise_rounds,
    topic,
)

pytestmark = pytest.mark.timeout(120)

SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "mqtt.schema.json").read_text())
ORIGIN = "catallax.test/mqtt"
TASK = "t"


def valid(kind: str, payload: bytes) -> dict:
    """``payload`` parsed, after checking it against the schema's ``$defs/<kind>``."""
    obj = json.loads(payload)
    schema = {**SCHEMA, "oneOf": None, "$ref": f"#/$defs/{kind}"}
    del schema["oneOf"]
    jsonschema.validate(obj, schema)
    return obj


# --- ledgers to publish ------------------------------------------------------------------


class Books:
    """A signed ledger with an issuer and two traders, one round of rewards per call."""

    def __init__(self, ledger: Ledger, key, traders: list[bytes] | None = None) -> None:
        self.ledger = ledger
        self.pub = public_key_bytes(key)
        self.round = 0
        traders = traders or [public_key_bytes(generate_private_key()) for _ in range(2)]
        self.accounts = [f"{TASK}.{i}{i}{i}.0" for i in range(2)]
        ledger.commit_round(
            [Opening(Account(f"{TASK}.issuer", AccountKind.ISSUER, self.pub))]
            + [
                Opening(Account(a, AccountKind.TRADER, k))
                for a, k in zip(self.accounts, traders, strict=True)
            ]
        )

    def trade(self, rounds: int = 1, salt: int = 0) -> None:
        for _ in range(rounds):
            r = self.round = self.round + 1
            self.ledger.commit_round(
                Transfer(f"{TASK}.{r}.{k}", f"{TASK}.issuer", a, 1000 * r + k + salt,
                         TransferKind.REWARD, task=TASK, round=r)
                for k, a in enumerate(self.accounts)
            )  # fmt: skip


def memory_books(key, traders: list[bytes] | None = None) -> Books:
    return Books(Ledger(MemoryStore(), key=key, origin=ORIGIN), key, traders)


# --- payloads ----------------------------------------------------------------------------


def test_payloads_round_trip_and_match_the_schema():
    key = generate_private_key()
    books = memory_books(key)
    books.trade(3)
    ledger = books.ledger
    ex = exchange_id(books.pub)
    tasks = (TaskStatus(TASK, "deep", "e", "vickrey", 2),)
    status = Status(ex, ORIGIN, books.pub, "127.0.0.1:5", tasks, "online", ledger.size, 7)
    assert parse_status(valid("status", status_payload(status))) == status
    cp = CheckpointMsg(ex, ledger.checkpoint, ledger.size, 3, tuple(ledger.consistency_proof(3)))
    assert parse_checkpoint_msg(valid("checkpoint", checkpoint_payload(cp))) == cp
    rows = []
    for i, entry in ledger.entries():
        data = ledger.entry_bytes(i)
        msg = parse_entry(valid("ledger", entry_payload(ex, i, data, entry)))
        assert (msg.index, msg.data, msg.entry) == (i, data, entry)
        rows.append((i, entry))
    rounds = summarise_rounds(ex, rows)
    assert [r.round for r in rounds] == [1, 2, 3]  # the openings make no round
    assert rounds[1].rewards == ((books.accounts[0], 2000), (books.accounts[1], 2001))
    assert rounds[1].first_index == 5 and rounds[1].last_index == 6
    for r in rounds:
        assert parse_round(valid("rounds", round_payload(r))) == r


def test_a_round_of_asks_and_costs_has_negative_prices_and_rewards():
    """On a task of costs the winners are paid to take the state (an ``ask``, from the
    seller or the issuer) and pay costs: the round's summary says so with negative
    prices and rewards, and the payload keeps them (the schema's ``signed_units``)."""
    key = generate_private_key()
    traders = [generate_private_key() for _ in range(2)]
    books = memory_books(key, [public_key_bytes(t) for t in traders])
    a, b = books.accounts
    books.ledger.commit_round([
        Transfer("t.1.0", f"{TASK}.issuer", a, 5000, TransferKind.ALLOWANCE, TASK, 0),
        Transfer("t.1.1", f"{TASK}.issuer", b, 5000, TransferKind.ALLOWANCE, TASK, 0),
    ])  # fmt: skip
    signers = {f"{TASK}.issuer": key, **dict(zip(books.accounts, traders, strict=True))}
    books.ledger.commit_round(authorize_transfers([
        Transfer("t.2.0", f"{TASK}.issuer", a, 700, TransferKind.ASK, TASK, 2),  # a is paid
        Transfer("t.2.1", a, f"{TASK}.issuer", 100, TransferKind.COST, TASK, 2),
        Transfer("t.2.2", b, a, 40, TransferKind.BID, TASK, 2),  # b buys at a positive price
        Transfer("t.2.3", f"{TASK}.issuer", b, 3, TransferKind.REWARD, TASK, 2),
    ], signers, ORIGIN))  # fmt: skip
    ex = exchange_id(books.pub)
    (r,) = summarise_rounds(ex, list(books.ledger.entries()))
    assert r.round == 2
    assert r.winners == ((a, -700), (b, 40))
    assert r.rewards == ((a, -100), (b, 3))
    assert parse_round(valid("rounds", round_payload(r))) == r
    with pytest.raises(BadPayload, match="beyond the signed 64-bit range"):
        parse_round(round_payload(replace(r, winners=((a, -(2**63)),))))


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"{", "not JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"v": 2}', "expected version 1"),
        (b'{"v": 1, "exchange": "x", "entries": []}', "expected at least one entry"),
        (b'{"v": 1, "exchange": "x", "entries": [{"index": -1, "entry": ""}]}', "int >= 0"),
        (b'{"v": 1, "exchange": "x", "entries": [{"index": 0, "entry": "!!"}]}', "not base64"),
        (b'{"v": 1, "exchange": "x", "entries": [{"index": 0, "entry": "AAAA"}]}', "entry 0:"),
        (b'{"v": 1, "exchange": "x", "entries": [{"index": true, "entry": ""}]}', "expected int"),
        (b'{"v": 1, "exchange": 7, "entries": []}', "field 'exchange'"),
    ],
)
def test_a_bad_ledger_payload_is_refused_saying_why(payload, says):
    with pytest.raises(BadPayload, match=says):
        parse_ledger(payload)


def test_a_ledger_message_holds_consecutive_entries():
    key = generate_private_key()
    books = memory_books(key)
    books.trade(2)
    ledger, ex = books.ledger, exchange_id(books.pub)
    rows = [(i, ledger.entry_bytes(i), e) for i, e in ledger.entries()]
    msgs = parse_ledger(valid("ledger", ledger_payload(ex, rows)))
    assert [(m.index, m.data, m.entry) for m in msgs] == rows
    with pytest.raises(BadPayload, match="entry 2 follows entry 0"):
        parse_ledger(ledger_payload(ex, [rows[0], rows[2]]))
    with pytest.raises(BadPayload, match="expected one entry, got 2"):
        parse_entry(ledger_payload(ex, rows[:2]))


def test_topics_parse_and_foreign_ones_are_refused():
    assert parse_topic(topic("ab", "status")).kind == "status"
    assert parse_topic(topic("ab", "rounds", "chain")).task == "chain"
    for name in ("catallax/v1/ab", "catallax/v2/ab/status", "catallax/v1/ab/other",
                 "catallax/v1/ab/tasks/x/other", "catallax/v1//status"):  # fmt: skip
        with pytest.raises(BadPayload, match="not a catallax/v1 topic"):
            parse_topic(name)


# --- the checkpoint chain ----------------------------------------------------------------


def test_the_chain_verifies_extensions_and_alarms_on_rollbacks_and_forks():
    key = generate_private_key()
    traders = [public_key_bytes(generate_private_key()) for _ in range(2)]
    line, fork = memory_books(key, traders), memory_books(key, traders)
    notes = {}
    for books, salt, name in ((line, 0, "line"), (fork, 7, "fork")):
        books.trade(1)
        notes[name, 5] = books.ledger.checkpoint  # 3 openings + 2 rewards: both agree
        books.trade(3, salt=salt)
        notes[name, 11] = books.ledger.checkpoint  # here they differ
    assert line.ledger.size == 11 and notes["line", 5] == notes["fork", 5]
    line.trade(2)
    notes["line", 15] = line.ledger.checkpoint

    chain = CheckpointChain(line.pub, ORIGIN)
    first = chain.advance(notes["line", 5], chain.open(notes["line", 5]))
    assert (first.proved_from, first.new) == (0, True)
    head = chain.open(notes["line", 11])
    assert chain.wants(head) == (5, 11)
    step = chain.advance(notes["line", 11], head, line.ledger.consistency_proof(5, 11))
    assert (step.head.size, step.proved_from) == (11, 5)
    assert not chain.advance(notes["line", 11], head).new  # the same again: nothing new

    with pytest.raises(Rollback) as rollback:
        chain.advance(notes["line", 5], chain.open(notes["line", 5]))
    assert "size 11" in str(rollback.value) and "size 5" in str(rollback.value)
    assert (rollback.value.first, rollback.value.second) == (notes["line", 11], notes["line", 5])
    with pytest.raises(SplitView, match="same size, different roots") as same:
        chain.advance(notes["fork", 11], chain.open(notes["fork", 11]))
    assert same.value.second == notes["fork", 11]
    # A fork that grew past the line: the proof the fork serves does not fit the line.
    fork.trade(3)
    grown = fork.ledger.checkpoint
    with pytest.raises(SplitView, match="not consistent") as split:
        chain.advance(grown, chain.open(grown), fork.ledger.consistency_proof(11))
    assert (split.value.first, split.value.second) == (notes["line", 11], grown)
    # A checkpoint under another key, or of another log, is not opened at all.
    other = memory_books(generate_private_key())
    with pytest.raises(NotTrusted, match="no signature by key"):
        chain.open(other.ledger.checkpoint)
    renamed = Ledger(MemoryStore(), key=key, origin="catallax.test/other")
    with pytest.raises(NotTrusted, match=r"names 'catallax\.test/other'"):
        chain.open(renamed.checkpoint)
    step = chain.advance(notes["line", 15], chain.open(notes["line", 15]),
                         line.ledger.consistency_proof(11, 15))  # fmt: skip
    assert step.proved_from == 11


# --- publishing through a broker restart -------------------------------------------------


async def _until(view: NetworkView, ex: str, size: int, timeout: float = 60) -> None:
    reached = asyncio.Event()

    def check(event: dict) -> None:
        if event["event"] == "checkpoint" and event["exchange"] == ex and event["size"] >= size:
            reached.set()

    view.listen(check)
    cp = view.exchange(ex).checkpoint
    if cp is None or cp["size"] < size:
        await asyncio.wait_for(reached.wait(), timeout)


async def test_publisher_and_follower_through_a_broker_restart(tmp_path, own_broker):
    key = generate_private_key()
    folder = tmp_path / "ledger"
    ledger = open_ledger(folder, key=key, origin=ORIGIN, create=True)
    books = Books(ledger, key)
    server, port = await serve_ledger(folder, poll_interval=0.02)
    ex = exchange_id(books.pub)
    publisher = MqttPublisher(
        own_broker.host, own_broker.port, location=folder,
        address=f"127.0.0.1:{port}", tasks=lambda: [TaskStatus(TASK)],
        cursor=tmp_path / "cursor.json", poll=0.01,
    )  # fmt: skip
    view = NetworkView()
    events: list[dict] = []
    view.listen(events.append)
    follower = Follower(view, only={ex})
    raw: list[tuple[str, bytes]] = []

    async def record() -> None:  # every message as published, for the schema
        while True:
            try:
                async with aiomqtt.Client(own_broker.host, own_broker.port) as client:
                    await client.subscribe(f"catallax/v1/{ex}/#", qos=1)
                    async for m in client.messages:
                        raw.append((str(m.topic), bytes(m.payload)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    tasks = [asyncio.ensure_future(follow_mqtt(follower, own_broker.host, own_broker.port)),
             asyncio.ensure_future(record())]  # fmt: skip
    publisher.start()
    try:
        books.trade(5)
        await _until(view, ex, ledger.size)
        await asyncio.to_thread(own_broker.stop)
        books.trade(6)  # committed while the broker is down: the exchange trades on
        await asyncio.to_thread(own_broker.start)
        books.trade(2)
        await _until(view, ex, ledger.size)
    finally:
        await publisher.stop(5)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await follower.close()
        await server.stop(0)
    indices = [e["index"] for e in events if e["event"] == "entry"]
    assert indices == list(range(ledger.size))  # each index once, in order
    checkpoints = [e for e in events if e["event"] == "checkpoint"]
    assert checkpoints[-1]["size"] == ledger.size and checkpoints[-1]["entries_match"]
    assert all(c["proved_from"] < c["size"] for c in checkpoints)
    assert not [e for e in events if e["event"] == "alarm"]
    rounds = [e["round"] for e in events if e["event"] == "round"]
    assert rounds == list(range(1, books.round + 1))
    assert view.exchange(ex).balances == {a: ledger.balance(a) for a in view.exchange(ex).balances}
    kinds = {"status": "status", "checkpoint": "checkpoint", "ledger": "ledger", "rounds": "rounds"}
    for name, payload in raw:
        if payload:
            valid(kinds[parse_topic(name).kind], payload)
    assert {parse_topic(n).kind for n, _ in raw} == set(kinds)
    # What a newcomer finds retained: the latest checkpoint, and the status (offline now).
    async with aiomqtt.Client(own_broker.host, own_broker.port) as client:
        await client.subscribe(topic(ex, "checkpoint"), qos=1)
        async for m in client.messages:
            assert parse_checkpoint_msg(bytes(m.payload)).note == ledger.checkpoint
            break
        await client.subscribe(topic(ex, "status"), qos=1)
        async for m in client.messages:
            assert parse_status(bytes(m.payload)).state == "offline"
            break
    assert json.loads((tmp_path / "cursor.json").read_text())["size"] == ledger.size
    for entry in (decode_entry(ledger.entry_bytes(i)) for i in range(ledger.size)):
        assert entry is not None
    ledger.close()


async def test_the_publisher_reopens_a_postgres_ledger_whose_session_the_server_ended(
    tmp_path, postgres_url, postgres_server, mqtt_broker
):
    """The server ends the publisher's session (a PostgreSQL restart): it opens the store
    again and publishes on, every index reaching a follower exactly once, in order."""
    import psycopg

    host, port = mqtt_broker
    key = generate_private_key()
    ledger = open_ledger(postgres_url, key=key, origin=ORIGIN, create=True)
    books = Books(ledger, key)
    server, ledger_port = await serve_ledger(postgres_url, poll_interval=0.02)
    ex = exchange_id(books.pub)
    cursor = tmp_path / "cursor.json"
    publisher = MqttPublisher(
        host, port, location=postgres_url, address=f"127.0.0.1:{ledger_port}",
        tasks=lambda: [TaskStatus(TASK)], cursor=cursor,
        poll=0.01,
    )  # fmt: skip
    view = NetworkView()
    events: list[dict] = []
    view.listen(events.append)
    follower = Follower(view, only={ex})
    following = asyncio.ensure_future(follow_mqtt(follower, host, port))
    publisher.start()
    try:
        books.trade(3)
        await _until(view, ex, ledger.size)
        (pid,) = publisher._store._db.execute("SELECT pg_backend_pid()").fetchone()
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        books.trade(4)
        await _until(view, ex, ledger.size)
        assert not publisher.task.done()  # it published on, with a store opened again
    finally:
        await publisher.stop(5)
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await follower.close()
        await server.stop(0)
        ledger.close()
    indices = [e["index"] for e in events if e["event"] == "entry"]
    assert indices == list(range(ledger.size))  # each index once, in order
    assert not [e for e in events if e["event"] == "alarm"]
