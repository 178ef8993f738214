"""A plugin package as a new user writes it: the README's files, installed, trading remotely.

The package is the one in README.md's "Write a remote trader" section (each code block
headed ``# my-trader/<file>`` is written to that file), so README and test cannot drift.
It is installed with pip into this venv (and uninstalled afterwards), found by
``catallax trader list --json``, checked by ``catallax trader check``, and then trades
on a real loopback network (environment node, exchange, the trader as a ``catallax
trader run my-trader`` subprocess): rounds settle, the trader's members hold accounts
on the exchange's ledger that paid with the trader's signed bids, and the ledger audits.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from catallax.node.exchange.watch import wait_task
from catallax.node.keys import load_public_key
from catallax.node.localnet import catallax_command, start_deep_network
from catallax.node.wire.mandate import identity_name

pytestmark = pytest.mark.timeout(300)

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Write a remote trader"
CHAIN = "catallax/Chain-v0"


def readme_files() -> dict[str, str]:
    """The files of the README's plugin package: ``{relative path: text}``."""
    text = README.read_text()
    assert SECTION in text, "README.md lost its 'Write a remote trader' section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    files = {}
    for body in re.findall(r"```\w+\n(.*?)```", section, re.S):
        first = body.partition("\n")[0]
        if first.startswith("# my-trader/"):
            files[first.removeprefix("# ")] = body
    return files


def cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*catallax_command(), *argv], capture_output=True, text=True, timeout=timeout
    )


def pip(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *argv, "--disable-pip-version-check"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip


@pytest.fixture
def installed(tmp_path):
    """The README's package, pip-installed into the current venv for this test."""
    files = readme_files()
    assert set(files) == {"my-trader/pyproject.toml", "my-trader/my_trader.py"}
    assert len(files["my-trader/my_trader.py"].splitlines()) < 30  # as the README promises
    for name, body in files.items():
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    before = cli("trader", "list", "--json")
    assert "my-trader" not in {f["id"] for f in json.loads(before.stdout)}, (
        "my-trader is installed already (pip uninstall my-trader)"
    )
    done = pip("install", "--no-deps", "--no-build-isolation", str(tmp_path / "src" / "my-trader"))
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield tmp_path / "src" / "my-trader"
    finally:
        gone = pip("uninstall", "-y", "my-trader")
        assert gone.returncode == 0, gone.stdout + gone.stderr


def test_the_readme_plugin_installs_checks_and_trades_remotely(installed, tmp_path):
    listed = cli("trader", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    mine = [f for f in json.loads(listed.stdout) if f["id"] == "my-trader"]
    assert len(mine) == 1, listed.stdout
    assert mine[0]["target"] == "my_trader:MyTrader"
    assert mine[0]["source"] == "my-trader"
    assert mine[0]["summary"].startswith("One member per action")

    checked = cli("trader", "check", "my-trader")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"my-trader: ok on {CHAIN} (2 members)"), checked.stdout

    net = start_deep_network(
        tmp_path / "net", CHAIN, slots=2, task="chain",
        rules={"bid_deadline_ms": 10_000}, traders=[("my-trader", {})],
    )  # fmt: skip
    try:
        info = wait_task(net.exchange.address, "chain", lambda i: i.rounds >= 40, timeout=200)
        assert info.identities == 1 and info.sessions == 1
        assert info.episodes >= 1
        trader = net.traders[0]
        assert trader.alive(), trader.tail()
        assert trader.stop() == 0, trader.tail()
        assert "event=registered" in trader.log.read_text()
    finally:
        net.stop()

    name = identity_name(load_public_key(tmp_path / "net" / "keys" / "trader-0.pem.pub"))
    balances = cli("ledger", "balances", str(net.ledger_dir), "--json")
    assert balances.returncode == 0, balances.stderr
    accounts = {
        row["account"]: row["balance"]
        for row in json.loads(balances.stdout)["accounts"]
        if row["account"].startswith(f"chain.{name}.")
    }
    assert set(accounts) == {f"chain.{name}.0", f"chain.{name}.1"}, accounts
    assert sum(accounts.values()) > 0

    tail = cli("ledger", "tail", str(net.ledger_dir), "-n", "1000000", "--json")
    assert tail.returncode == 0, tail.stderr
    entries = [json.loads(line) for line in tail.stdout.splitlines()]
    paid = [
        e for e in entries
        if e["type"] == "transfer" and e["payer"] in accounts and e["evidence"] is not None
    ]  # fmt: skip
    assert paid, "the trader's members never paid for a right to act"
    assert {e["evidence"]["message"] for e in paid} == {"Bids"}
    assert len({e["round"] for e in paid}) > 5  # in many rounds

    audit = cli("ledger", "audit", str(net.ledger_dir), "--key", str(net.exchange_pub))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert audit.stdout.startswith("ok:")
