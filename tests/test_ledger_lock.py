"""One writer per ledger folder: opening for writing takes an exclusive lock.

The second writer, in another process or in the same one, is refused when it opens
(not at its first commit) with ``another writer holds DIR``; readers are never
blocked; the lock goes with the writer, also when it is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import LedgerStateError, Transfer, open_ledger
from catallax.node import keys

ORIGIN = "catallax.test/lock"

HOLDER = r"""
import sys
from catallax.exchange.ledger import Transfer, open_ledger
from catallax.node import keys

ledger = open_ledger(sys.argv[1], key=keys.load_private_key(sys.argv[2]))
print("holding", flush=True)
for line in sys.stdin:
    ledger.commit_round([Transfer(line.strip(), "env", "t0", 1, "allowance")])
    print("committed", flush=True)
"""

TRY_WRITER = r"""
import sys
from catallax.exchange.ledger import LedgerStateError, open_ledger
from catallax.node import keys

try:
    ledger = open_ledger(sys.argv[1], key=keys.load_private_key(sys.argv[2]))
except LedgerStateError as exc:
    print("refused:", exc)
else:
    print("opened")
"""

TRY_READER = r"""
import sys
from catallax.exchange.ledger import open_ledger

with open_ledger(sys.argv[1]) as ledger:
    print("read", ledger.size, ledger.audit().transfers)
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    key = crypto.generate_private_key()
    key_file = keys.save_private_key(key, tmp_path / "exchange.pem")
    folder = tmp_path / "ledger"
    with open_ledger(folder, key=key, origin=ORIGIN, create=True) as ledger:
        ledger.open_account("env", "issuer", crypto.public_key_bytes(key))
        ledger.open_account("t0", "trader", crypto.public_key_bytes(crypto.generate_private_key()))
    return folder, key_file


def _run(script: str, *argv: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, argv)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_second_writer_process_is_refused_at_once_and_readers_are_not(setup) -> None:
    folder, key_file = setup
    with open_ledger(folder, key=keys.load_private_key(key_file)) as ledger:
        assert _run(TRY_WRITER, folder, key_file) == f"refused: another writer holds {folder}"
        assert _run(TRY_READER, folder) == "read 2 0"
        ledger.commit_round([Transfer("a", "env", "t0", 1, "allowance")])
        assert _run(TRY_READER, folder) == "read 3 1"
    assert _run(TRY_WRITER, folder, key_file) == "opened"


def test_a_second_writer_in_the_same_process_is_refused(setup) -> None:
    folder, key_file = setup
    key = keys.load_private_key(key_file)
    first = open_ledger(folder, key=key)
    with pytest.raises(LedgerStateError, match=f"another writer holds {folder}"):
        open_ledger(folder, key=key)
    with open_ledger(folder) as reader:
        assert reader.size == 2
    first.close()
    open_ledger(folder, key=key).close()


def test_the_lock_goes_with_a_killed_writer(setup) -> None:
    folder, key_file = setup
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), str(key_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == "holding\n", holder.stderr.read()
        key = keys.load_private_key(key_file)
        with pytest.raises(LedgerStateError, match="another writer holds"):
            open_ledger(folder, key=key)
        holder.stdin.write("from-holder\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "committed\n"
        with open_ledger(folder) as reader:
            assert reader.transfer_index("from-holder") == 2
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    with open_ledger(folder, key=key) as ledger:
        ledger.commit_round([Transfer("after", "env", "t0", 1, "allowance")])
        assert ledger.size == 4
