"""A restarted exchange goes on from how far its tasks had trained.

The record (``progress.json`` beside the ledger) is read back only for the ledger it
trails and the rules it was written under. Over the network: a task that was done is
done again at once after a restart, with the same counts and evaluation and nothing new
on the ledger; one killed mid-training trains only what is left of its limit.
"""

from __future__ import annotations

import json
import logging
import re

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import Transfer, open_ledger
from catallax.node.exchange.progress import PROGRESS_FILE, ProgressBook
from catallax.node.exchange.watch import task_info, wait_task
from catallax.node.localnet import start_deep_network

CHAIN = "catallax/Chain-v0"


@pytest.fixture
def ledger(tmp_path):
    key = crypto.generate_private_key()
    led = open_ledger(tmp_path / "ledger", key=key, origin="catallax.test/p", create=True)
    led.open_account("issuer", "issuer", crypto.public_key_bytes(key))
    led.open_account("t", "treasury")
    yield led
    led.close()


def test_the_record_is_read_back_for_its_ledger_and_rules_only(tmp_path, ledger, caplog):
    folder = tmp_path / "data"
    folder.mkdir()
    book = ProgressBook(folder, interval=3600)
    assert book.restore("chain", "aa", ledger).rounds == 0
    book.note("chain", ledger.size, ledger.root, rounds=7, episodes=3, evaluated=[0.5])
    assert (folder / PROGRESS_FILE).is_file()  # the first note writes at once
    book.note("chain", ledger.size, ledger.root, rounds=8)  # within the interval: kept
    assert json.loads((folder / PROGRESS_FILE).read_text())["tasks"]["chain"]["rounds"] == 7
    book.close()  # a graceful stop writes what is left
    assert json.loads((folder / PROGRESS_FILE).read_text())["tasks"]["chain"]["rounds"] == 8
    assert [p.name for p in folder.iterdir()] == [PROGRESS_FILE]  # no temporary file left

    got = ProgressBook(folder).restore("chain", "aa", ledger)
    assert (got.rounds, got.episodes, got.evaluated) == (8, 3, [0.5])
    # The ledger grew after the record: still its ledger, the record trails it.
    ledger.commit_round([Transfer("x", "issuer", "t", 5, "allowance", "chain", 9)])
    assert ProgressBook(folder).restore("chain", "aa", ledger).rounds == 8

    caplog.set_level(logging.WARNING, "catallax.node.exchange")
    assert ProgressBook(folder).restore("chain", "bb", ledger).rounds == 0
    assert "the task's rules changed" in caplog.text
    data = json.loads((folder / PROGRESS_FILE).read_text())
    data["tasks"]["chain"]["ledger_size"] = ledger.size + 1
    (folder / PROGRESS_FILE).write_text(json.dumps(data))
    assert ProgressBook(folder).restore("chain", "aa", ledger).rounds == 0
    assert f"the ledger holds {ledger.size}" in caplog.text
    data["tasks"]["chain"]["ledger_size"] = 1  # a size it has, but another root there
    (folder / PROGRESS_FILE).write_text(json.dumps(data))
    assert ProgressBook(folder).restore("chain", "aa", ledger).rounds == 0
    assert "root at size 1 is not the recorded one" in caplog.text
    (folder / PROGRESS_FILE).write_text('{"tasks": {"chain": {"rules": "aa", "rounds": "x"')
    assert ProgressBook(folder).restore("chain", "aa", ledger).rounds == 0
    assert "event=progress_unreadable" in caplog.text
    (folder / PROGRESS_FILE).write_text('{"rounds": 8}')
    assert ProgressBook(folder).restore("chain", "aa", ledger).rounds == 0
    assert "no tasks table" in caplog.text


def _training_rounds(net) -> set[int]:
    """The round labels of the ledger's bids: one per training round (every round of
    these tasks has a winner)."""
    with open_ledger(net.ledger_dir) as led:
        return {
            e.round for _, e in led.entries() if isinstance(e, Transfer) and e.kind.value == "bid"
        }


@pytest.mark.timeout(300)
def test_a_done_task_stays_done_and_a_killed_one_trains_only_what_is_left(tmp_path):
    rules = {"rounds": 60, "eval_episodes": 2, "bid_deadline_ms": 5000}
    net = start_deep_network(
        tmp_path / "a", CHAIN, slots=2, task="chain", rules=rules, traders=[("adaptive", {})]
    )
    try:
        done = wait_task(net.exchange.address, "chain", lambda i: i.state == "done", timeout=120)
        with open_ledger(net.ledger_dir) as led:
            size = led.size
        net.restart("exchange", kill=False)  # SIGTERM, then the same command
        again = wait_task(net.exchange.address, "chain", lambda i: i.state == "done", timeout=60)
        assert (again.rounds, again.episodes) == (done.rounds, done.episodes) == (60, done.episodes)
        assert list(again.greedy_returns) == list(done.greedy_returns)
        assert len(again.greedy_returns) == 2
        assert again.mean_return == pytest.approx(done.mean_return)  # from the episode log
        log = net.exchange.log.read_text()
        assert "event=progress_restored rounds=60" in log, log[-2000:]
    finally:
        net.stop()
    with open_ledger(net.ledger_dir) as led:
        assert led.size == size  # nothing trained again

    rules = {"rounds": 400, "eval_episodes": 0, "bid_deadline_ms": 5000}
    net = start_deep_network(
        tmp_path / "b", CHAIN, slots=2, task="chain", rules=rules, traders=[("adaptive", {})]
    )
    try:
        wait_task(net.exchange.address, "chain", lambda i: i.rounds >= 150, timeout=120)
        net.restart("exchange", kill=True)  # SIGKILL: the record may trail by a few rounds
        info = wait_task(net.exchange.address, "chain", lambda i: i.state == "done", timeout=120)
        assert info.rounds == 400
        assert task_info(net.exchange.address, "chain").rounds == 400
    finally:
        net.stop()
    log = net.exchange.log.read_text()  # both runs, appended
    restored = [int(m) for m in re.findall(r"event=progress_restored rounds=(\d+)", log)]
    assert len(restored) == 1, restored
    after = log[log.index("event=progress_restored") :]
    resumed = int(re.search(r"event=state state='training' round=(\d+)", after)[1])
    # The record trails the kill (by up to its write interval, 0.5 s of rounds), never
    # leads it: the second run began at round label `resumed` (the ledger's next) and
    # trained what the record said was left, 400 - restored rounds, not the whole limit.
    assert 1 <= restored[0] <= resumed, (restored, resumed)
    last = max(_training_rounds(net))
    assert resumed + (400 - restored[0]) - 20 <= last + 1 <= resumed + (400 - restored[0])
    audit = net.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr
