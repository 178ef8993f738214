"""The episodes an exchange finishes, recorded beside its ledger, and ``catallax plot``
drawing them: a real network (environment node, exchange, trader processes)."""

from __future__ import annotations

import statistics

import pytest

from catallax.exchange.ledger import Transfer, TransferKind, open_ledger
from catallax.node.exchange.episodes import EPISODES_FILE, EpisodeLog, read_episodes
from catallax.node.exchange.watch import wait_task
from catallax.node.localnet import start_deep_network

ROUNDS = 120


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("episodes")
    net = start_deep_network(
        folder, "catallax/Chain-v0", slots=2, rules={"rounds": ROUNDS, "min_traders": 2},
        traders=[("adaptive", {})] * 2,
    )  # fmt: skip
    try:
        info = wait_task(net.exchange.address, "task", lambda i: i.state == "done", timeout=120)
    finally:
        net.stop()
    return net, info


def test_every_finished_episode_is_recorded_with_its_round_and_return(trained):
    net, info = trained
    episodes = read_episodes(net.ledger_dir)
    assert len(episodes) == info.episodes > 0
    assert {e["task"] for e in episodes} == {"task"} and {e["slot"] for e in episodes} <= {0, 1}
    recent = [e["return"] for e in episodes][-100:]
    assert statistics.fmean(recent) == pytest.approx(info.mean_return, abs=1e-9)
    # the episodes ended in rounds the ledger has settled, in order
    with open_ledger(net.ledger_dir, verify=False) as ledger:
        rounds = {
            e.round for _, e in ledger.entries() if isinstance(e, Transfer) and e.task == "task"
            and e.kind is not TransferKind.ALLOWANCE
        }  # fmt: skip
    ends = [e["round"] for e in episodes]
    assert ends == sorted(ends) and min(rounds) <= ends[0] and ends[-1] <= max(rounds)


def test_plot_draws_the_recorded_episodes(trained, catallax_cli, tmp_path):
    net, _ = trained
    out = tmp_path / "history.png"
    code, printed, err = catallax_cli("plot", str(net.ledger_dir), "-o", str(out))
    assert code == 0, err
    assert printed.strip() == f"wrote {out}" and out.read_bytes().startswith(b"\x89PNG")


def test_a_torn_last_line_is_left_out(tmp_path):
    log = EpisodeLog(tmp_path)
    log.add("t", 3, [(0, 1.5), (1, -2.0)])
    log.add("t", 4, [])
    log.close()
    with (tmp_path / EPISODES_FILE).open("a") as f:
        f.write('{"task": "t", "round": 5, "sl')  # a crash mid-write
    assert read_episodes(tmp_path) == [
        {"task": "t", "round": 3, "slot": 0, "return": 1.5},
        {"task": "t", "round": 3, "slot": 1, "return": -2.0},
    ]
    assert read_episodes(tmp_path / "none") == []
