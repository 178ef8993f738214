"""A real process is SIGKILLed while it commits rounds; the reopened ledger is intact.

The child appends rounds of 10 transfers to a SQLite ledger and prints each round's
number after its commit returns (the acknowledgement). The parent reads acks, kills
the child with SIGKILL at once (it is usually inside a commit by then), reopens the
ledger (which verifies the whole log), and checks that every acknowledged round is
there whole, that no round is there in part, and that the audit passes. Twice, the
second child continuing the first one's ledger.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from catallax.exchange import crypto
from catallax.exchange.ledger import open_ledger
from catallax.node import keys

ORIGIN = "catallax.test/crash"
PER_ROUND = 10
ACKS = 25

CHILD = r"""
import sys
from catallax.exchange import crypto
from catallax.exchange.ledger import Transfer, open_ledger
from catallax.exchange.ledger.evidence import authorize_transfers
from catallax.node import keys

folder, key_file, trader_file, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ledger = open_ledger(folder, key=keys.load_private_key(key_file))
trader = keys.load_private_key(trader_file)
r = first
while True:
    transfers = [
        Transfer(f"r{r}-{i}", "env", f"t{i % 3}", 1 + i, "allowance", task="crash", round=r)
        for i in range(9)
    ]
    rent = Transfer(f"r{r}-9", "t0", "treasury", 1, "rent", task="crash", round=r)
    transfers += authorize_transfers([rent], {"t0": trader}, ledger.origin)
    ledger.commit_round(transfers)
    print(r, flush=True)
    r += 1
"""


def _setup(folder: Path) -> tuple[Path, Path]:
    key, trader = crypto.generate_private_key(), crypto.generate_private_key()
    key_file = keys.save_private_key(key, folder.parent / "exchange.pem")
    trader_file = keys.save_private_key(trader, folder.parent / "t0.pem")
    with open_ledger(folder, key=key, origin=ORIGIN, create=True) as ledger:
        ledger.open_account("env", "issuer", crypto.public_key_bytes(key))
        ledger.open_account("t0", "trader", crypto.public_key_bytes(trader))
        ledger.open_account("t1", "trader", crypto.public_key_bytes(crypto.generate_private_key()))
        ledger.open_account("t2", "trader", crypto.public_key_bytes(crypto.generate_private_key()))
        ledger.open_account("treasury", "treasury")
    return key_file, trader_file


def _run_and_kill(folder: Path, key_file: Path, trader_file: Path, first: int) -> list[int]:
    """Start the child, read ACKS acknowledgements, SIGKILL it; return the acked rounds."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), str(key_file), str(trader_file), str(first)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acked: list[int] = []
    try:
        assert child.stdout is not None
        while len(acked) < ACKS:
            line = child.stdout.readline()
            if not line:
                raise AssertionError(
                    f"child died early: {child.stderr.read() if child.stderr else ''}"
                )
            acked.append(int(line))
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    return acked


def _check(folder: Path, key_file: Path, acked: list[int]) -> int:
    """Reopen, check every acked round whole and no partial round; return rounds present."""
    with open_ledger(folder, key=keys.load_private_key(key_file)) as ledger:
        per_round = Counter(
            entry.round for _, entry in ledger.entries() if getattr(entry, "task", "") == "crash"
        )
        for r in acked:
            assert per_round[r] == PER_ROUND, f"acknowledged round {r} is not whole"
            for i in range(PER_ROUND):
                assert ledger.transfer_index(f"r{r}-{i}") is not None
        assert all(n == PER_ROUND for n in per_round.values()), "a round is there in part"
        rounds = sorted(per_round)
        assert rounds == list(range(len(rounds))), "rounds are missing in the middle"
        # At most the one round in flight at the kill may be there unacknowledged.
        assert len(rounds) - 1 <= max(acked) + 1
        report = ledger.audit()
        assert report.transfers == len(rounds) * PER_ROUND
        assert sum(report.balances.values()) == 0
        assert report.balances["treasury"] == len(rounds)
        return len(rounds)


def test_sigkill_while_committing_loses_no_acknowledged_round(tmp_path: Path) -> None:
    folder = tmp_path / "ledger"
    key_file, trader_file = _setup(folder)
    acked = _run_and_kill(folder, key_file, trader_file, first=0)
    assert acked == list(range(ACKS))
    present = _check(folder, key_file, acked)
    acked2 = _run_and_kill(folder, key_file, trader_file, first=present)
    assert acked2[0] == present
    _check(folder, key_file, acked + acked2)
