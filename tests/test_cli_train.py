"""The command line as a user runs it: real subprocesses of the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from catallax.node.cli.demo import DEEP_ROUNDS

SCRIPT = Path(sys.executable).parent / "catallax"


def catallax(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    assert SCRIPT.exists(), f"the catallax script is not installed next to {sys.executable}"
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["demo"],
        ["train"],
        ["trader"],
        ["trader", "list"],
        ["trader", "check"],
        ["keys"],
        ["ledger"],
    ],
)
def test_every_command_has_help(args):
    r = catallax(*args, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout and "--help" in r.stdout


def test_train_json_is_one_line_with_the_promised_fields(tmp_path):
    plot = tmp_path / "run.png"
    r = catallax(
        "train", "catallax/Chain-v0", "--episodes", "200", "--envs", "2", "--seed", "3",
        "--eval-episodes", "20", "--json", "--plot", str(plot),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    s = json.loads(lines[0])
    assert s["env"] == "catallax/Chain-v0" and s["episodes"] == 200 and s["seed"] == 3
    assert s["eval_episodes"] == 20
    assert s["optimal_return"] == pytest.approx(0.8)
    assert s["greedy_return"] == pytest.approx(0.8)
    assert s["traders_alive"] >= 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_summary_table_for_people():
    r = catallax("train", "catallax/Bandit-v0", "--episodes", "50", "--auction", "first-price")
    assert r.returncode == 0, r.stderr
    assert "greedy return" in r.stdout and "first-price" in r.stdout


def test_train_works_on_any_discrete_gymnasium_env():
    r = catallax("train", "FrozenLake-v1", "--episodes", "100", "--eval-episodes", "10", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["optimal_return"] == pytest.approx(0.744, abs=0.01)
    assert 0.0 <= s["greedy_return"] <= 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NoSuchEnv-v0"], "unknown environment 'NoSuchEnv-v0'"),
        (["Pendulum-v1"], "needs Discrete actions"),
        (["catallax/Chain-v0", "--episodes", "0"], "--episodes must be >= 1"),
        (["catallax/Chain-v0", "--envs", "-2"], "--envs must be >= 1"),
        (["catallax/Chain-v0", "--episodes", "many"], "Invalid value for '--episodes'"),
        (["catallax/Chain-v0", "--auction", "dutch"], "'dutch' is not one of"),
        (["catallax/Chain-v0", "--rent", "1.5"], "rent must be in [0, 1)"),
        (["catallax/Chain-v0", "--allowance", "-1"], "allowance must be >= 0"),
        (["catallax/Chain-v0", "--trader", "nope"], "unknown trader family 'nope'"),
        (["catallax/Chain-v0", "--plot", "out.txt"], "--plot must name a .png file"),
        (["catallax/Chain-v0", "--plot", "/no/such/dir/a.png"], "does not exist"),
        (["catallax/Chain-v0", "--memory", "-1"], "--memory must be >= 0"),
        (["catallax/Chain-v0", "--royalty", "2"], "royalty must be in [0, 1]"),
        (["catallax/Chain-v0", "--discount", "0"], "discount must be in (0, 1]"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(args, message, tmp_path):
    r = catallax("train", *args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("catallax: error: ") and message in err, err
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_memory_goods_solve_the_tmaze_with_the_default_royalty():
    r = catallax("train", "catallax/TMaze-v0", "--memory", "2", "--episodes", "1500", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["royalty"] == 0.9 and s["memory"] == 2
    assert s["greedy_return"] == pytest.approx(1.0)


def test_trader_list_and_check():
    r = catallax("trader", "list", "--json")
    assert r.returncode == 0, r.stderr
    ids = {row["id"] for row in json.loads(r.stdout)}
    assert {"adaptive", "enumerated"} <= ids
    r = catallax("trader", "check", "enumerated", "catallax/Duality-v0")
    assert r.returncode == 0 and "ok" in r.stdout
    r = catallax("trader", "check", "nope")
    assert r.returncode == 2 and "unknown trader family" in r.stderr


def test_demo_runs_a_network_that_learns_chain_and_audits(tmp_path):
    folder = tmp_path / "demo"
    r = catallax("demo", "--data-dir", str(folder), "--json")  # the defaults a user runs
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    s = json.loads(lines[0])
    for key in ("rounds", "greedy_return", "optimal_return", "ledger_verified",
                "ledger_audited", "data_dir"):  # fmt: skip
        assert key in s, key
    assert s["rounds"] == DEEP_ROUNDS and s["optimal_return"] == pytest.approx(0.8)
    assert s["greedy_return"] >= 0.95 * s["optimal_return"], s
    assert s["ledger_verified"] and s["ledger_audited"]
    assert len(s["richest"]) == 3 and all(t["credits"] > 0 for t in s["richest"])
    # Everything a user would look at stays in the folder, and the ledger audits from it.
    assert (folder / "exchange" / "ledger.sqlite").exists()
    assert {p.name for p in (folder / "logs").iterdir()} == {
        "env.log",
        "exchange.log",
        "trader-0.log",
        "trader-1.log",
        "trader-2.log",
    }
    audit = catallax("ledger", "audit", str(folder / "exchange"), "--key",
                     str(folder / "keys" / "exchange.pem.pub"))  # fmt: skip
    assert audit.returncode == 0 and audit.stdout.startswith("ok:"), audit.stdout + audit.stderr
    # A second demo in the same folder replaces the first; a folder of other files is refused.
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    r = catallax("demo", "--rounds", "5", "--data-dir", str(other))
    assert r.returncode == 2 and r.stderr.startswith("catallax: error: --data-dir")
    assert (other / "notes.txt").read_text() == "keep me"


def test_seeds_0_and_1_share_no_environment_stream(catallax_cli):
    """Every environment stream (each training slot, each evaluation episode) is a
    SeedSequence child of the run's seed: two seeds share none (slot i of seed s used
    s + i before, so --seed 0 and --seed 1 shared 7 of 8 training streams)."""
    runs = {}
    for seed in ("0", "1"):
        code, out, err = catallax_cli(
            "train", "FrozenLake-v1", "--episodes", "16", "--eval-episodes", "12",
            "--seed", seed, "--json",
        )  # fmt: skip
        assert code == 0, err
        runs[seed] = json.loads(out)
    streams = {}
    for seed, s in runs.items():
        seeds = s["env_seeds"]
        assert len(seeds["train"]) == s["envs"] == 8 and len(seeds["eval"]) == 12
        streams[seed] = seeds["train"] + seeds["eval"]
        assert len(set(streams[seed])) == 20  # no two streams of one run alike
    assert not set(streams["0"]) & set(streams["1"])
    # The same seed gives the same streams (and so the same run).
    code, out, _ = catallax_cli(
        "train", "FrozenLake-v1", "--episodes", "16", "--eval-episodes", "12", "--seed", "0",
        "--json",
    )  # fmt: skip
    again = json.loads(out)
    assert again["env_seeds"] == runs["0"]["env_seeds"]
    assert again["greedy_return"] == runs["0"]["greedy_return"]


def test_an_environment_without_a_time_limit_is_evaluated_to_the_cap(catallax_cli):
    """CliffWalking-v1 sets no limit: evaluation plays each episode to its end or to the
    documented cap, and the optimum is known over that horizon."""
    code, out, err = catallax_cli(
        "train", "CliffWalking-v1", "--max-steps", "16", "--episodes", "5",
        "--eval-episodes", "2", "--json",
    )  # fmt: skip
    assert code == 0, err
    s = json.loads(out)
    assert s["optimal_return"] == -13.0
    assert s["eval_cap"] == 1000 and s["eval_episodes"] == 2
    assert s["greedy_return"] <= -13.0 and 0 <= s["eval_capped"] <= 2
    assert s["greedy_return_se"] >= 0.0


def test_an_error_after_option_parsing_is_one_line_without_a_blank_one(catallax_cli):
    code, out, err = catallax_cli("train", "catallax/Chain-v0", "--envs", "0")
    assert code == 2 and out == ""
    assert err == "catallax: error: --envs must be >= 1, got 0\n"
