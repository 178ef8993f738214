"""Creating a ledger is atomic: a kill at any point leaves no ledger or a whole one.

The file is built under a temporary name in the same folder, synced, and renamed into
place (then the folder is synced), so ``ledger.sqlite`` never exists half made. Two
ways to kill the creating process: at each named step of the creation (the child
replaces the module's step hook with one that SIGKILLs itself there), and after a
random short delay. After every kill the folder must hold either no ledger, or one that
opens and verifies; and creating it again must work (the folder is never bricked).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import LedgerStateError, open_ledger
from catallax.node import keys

ORIGIN = "catallax.test/create"

CHILD = r"""
import os, signal, sys
from catallax.exchange.ledger import open_ledger
from catallax.node import keys

folder, key_file, stop_at = sys.argv[1], sys.argv[2], sys.argv[3]

def step(name):
    print(name, flush=True)
    if name == stop_at:
        os.kill(os.getpid(), signal.SIGKILL)

if stop_at != "none":
    import catallax.exchange.ledger.files as files

    files._step = step
key = keys.load_private_key(key_file)
print("ready", flush=True)
open_ledger(folder, key=key, origin="catallax.test/create", create=True).close()
print("done", flush=True)
"""


def _child(folder: Path, key_file: Path, stop_at: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), str(key_file), stop_at],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def _check_folder(folder: Path, key_file: Path) -> str:
    """No ledger, or a whole one; then (re)creating works. Returns which it was."""
    path = folder / "ledger.sqlite"
    if path.exists():
        with open_ledger(folder) as ledger:  # opens, verifies
            assert ledger.size == 0 and ledger.origin == ORIGIN
        found = "whole"
    else:
        if folder.exists():
            with pytest.raises(LedgerStateError, match="no ledger"):
                open_ledger(folder)
        found = "none"
    key = keys.load_private_key(key_file)
    with open_ledger(folder, key=key, origin=ORIGIN, create=True) as ledger:
        ledger.open_account("env", "issuer", crypto.public_key_bytes(key))
    with open_ledger(folder) as ledger:
        assert ledger.size == 1
    leftovers = [p.name for p in folder.iterdir() if p.name not in {"ledger.sqlite", "ledger.lock"}]
    assert leftovers == [] or all(n.startswith("ledger.sqlite-") for n in leftovers), leftovers
    return found


def _key_file(tmp_path: Path) -> Path:
    return keys.save_private_key(crypto.generate_private_key(), tmp_path / "exchange.pem")


def test_a_kill_at_every_step_of_creation_leaves_no_ledger_or_a_whole_one(tmp_path) -> None:
    key_file = _key_file(tmp_path)
    probe = _child(tmp_path / "probe", key_file, "list")
    out, err = probe.communicate(timeout=60)
    assert probe.returncode == 0, err
    steps = [line for line in out.splitlines() if line not in {"ready", "done"}]
    assert len(steps) >= 5 and "renamed" in steps, steps
    found = {}
    for n, step in enumerate(steps):
        folder = tmp_path / f"ledger-{n}"
        child = _child(folder, key_file, step)
        child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL, (step, child.returncode)
        found[step] = _check_folder(folder, key_file)
    assert found[steps[0]] == "none" and found[steps[-1]] == "whole", found


def test_random_kills_during_creation_never_brick_the_folder(tmp_path) -> None:
    key_file = _key_file(tmp_path)
    rng = random.Random(8)
    # How long does creation take here? Kill within that window.
    probe = _child(tmp_path / "probe", key_file, "none")
    assert probe.stdout is not None
    assert probe.stdout.readline() == "ready\n"
    t0 = time.perf_counter()
    probe.communicate(timeout=60)
    window = time.perf_counter() - t0
    outcomes = []
    for n in range(30):
        folder = tmp_path / f"ledger-{n}"
        child = _child(folder, key_file, "none")
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, window))  # the kill's timing, not a synchronisation
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        outcomes.append(_check_folder(folder, key_file))
    assert len(outcomes) == 30
