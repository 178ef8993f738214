"""``catallax keys`` and ``catallax ledger`` on real ledger folders.

Most calls go through the real entry point in-process (``main(argv)``, output captured);
the tamper check also runs the installed command as a subprocess.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import (
    TamperedEntry,
    Transfer,
    leaf_hash,
    open_checkpoint,
    open_ledger,
    verify_inclusion,
)
from catallax.exchange.ledger.evidence import authorize_transfers
from catallax.node import keys

ORIGIN = "catallax.test/cli"


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    key = crypto.generate_private_key()
    keys.save_private_key(key, tmp_path / "exchange.pem")
    trader = crypto.generate_private_key()
    folder = tmp_path / "ledger"
    with open_ledger(folder, key=key, origin=ORIGIN, create=True, checkpoint_interval=4) as led:
        # The issuer holds the exchange's key: its allowances are signed by the checkpoints.
        led.open_account("env", "issuer", crypto.public_key_bytes(key))
        led.open_account("t1", "trader", crypto.public_key_bytes(trader))
        led.open_account("treasury", "treasury")
        led.commit_round([Transfer("allow", "env", "t1", 3_000_000, "allowance")])
        for r in range(3):
            rent = Transfer(f"rent-{r}", "t1", "treasury", 1000 + r, "rent", "chain", r)
            led.commit_round(authorize_transfers([rent], {"t1": trader}, ORIGIN))
    return folder


def test_keys_new_writes_a_usable_key_pair(catallax_cli, tmp_path: Path) -> None:
    status, out, _ = catallax_cli("keys", "new", str(tmp_path / "k.pem"))
    assert status == 0
    key = keys.load_private_key(tmp_path / "k.pem")
    public = crypto.public_key_bytes(key)
    assert keys.load_public_key(tmp_path / "k.pem.pub") == public
    assert crypto.key_fingerprint(public) in out
    status, out2, _ = catallax_cli("keys", "show", str(tmp_path / "k.pem.pub"))
    assert status == 0 and crypto.key_fingerprint(public) in out2


def test_keys_bad_input_is_one_line_and_status_2(catallax_cli, tmp_path: Path) -> None:
    catallax_cli("keys", "new", str(tmp_path / "k.pem"))
    before = (tmp_path / "k.pem").read_bytes()
    status, _, err = catallax_cli("keys", "new", str(tmp_path / "k.pem"))
    assert status == 2 and "already exists" in err and err.count("\n") == 1
    assert (tmp_path / "k.pem").read_bytes() == before
    status, _, err = catallax_cli("keys", "show", str(tmp_path / "missing.pem"))
    assert status == 2 and err.startswith("catallax: error:")


def test_verify_and_audit_pass_on_an_intact_ledger(catallax_cli, ledger_dir: Path) -> None:
    status, out, _ = catallax_cli("ledger", "verify", str(ledger_dir))
    assert status == 0 and out.startswith("ok: 7 entries")
    status, out, _ = catallax_cli(
        "ledger",
        "verify",
        str(ledger_dir),
        "--key",
        str(ledger_dir.parent / "exchange.pem"),
    )
    assert status == 0
    status, out, _ = catallax_cli("ledger", "audit", str(ledger_dir))
    assert status == 0 and "3 evidence signatures checked" in out


def test_verify_with_another_key_fails(catallax_cli, ledger_dir: Path, tmp_path: Path) -> None:
    keys.save_private_key(crypto.generate_private_key(), tmp_path / "other.pem")
    status, out, _ = catallax_cli(
        "ledger", "verify", str(ledger_dir), "--key", str(tmp_path / "other.pem")
    )
    assert status == 1 and out.startswith("FAILED ledger: checkpoints are signed by key")


def test_balances_tail_and_proof(catallax_cli, ledger_dir: Path) -> None:
    status, out, _ = catallax_cli("ledger", "balances", str(ledger_dir), "--json")
    assert status == 0
    doc = json.loads(out)
    balances = {row["account"]: row["balance"] for row in doc["accounts"]}
    assert balances == {"env": -3_000_000, "t1": 3_000_000 - 3003, "treasury": 3003}
    status, out, _ = catallax_cli("ledger", "balances", str(ledger_dir))
    assert status == 0 and "-3000000" in out and "-3.000000" in out
    status, out, _ = catallax_cli("ledger", "tail", str(ledger_dir), "-n", "2", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [d["index"] for d in lines] == [5, 6]
    assert lines[-1]["id"] == "rent-2" and lines[-1]["evidence"]["message"] == "Debits"
    status, out, _ = catallax_cli("ledger", "tail", str(ledger_dir))
    assert status == 0 and len(out.splitlines()) == 7 and "rent-0" in out
    status, out, _ = catallax_cli("ledger", "proof", str(ledger_dir), "4")
    assert status == 0
    doc = json.loads(out)
    with open_ledger(ledger_dir) as ledger:
        head = open_checkpoint(doc["checkpoint"], ledger.public_key)
        data = ledger.entry_bytes(4)
    import base64

    proof = [base64.b64decode(h) for h in doc["proof"]]
    verify_inclusion(leaf_hash(data), 4, head.size, proof, head.root)
    status, out, _ = catallax_cli("ledger", "proof", str(ledger_dir), "1", "--size", "5")
    assert status == 0 and json.loads(out)["tree_size"] == 5


@pytest.mark.parametrize(
    "argv",
    [
        ["ledger", "verify", "{missing}"],
        ["ledger", "balances", "{missing}"],
        ["ledger", "proof", "{dir}", "7"],
        ["ledger", "proof", "{dir}", "-1"],
        ["ledger", "proof", "{dir}", "0", "--size", "99"],
        ["ledger", "tail", "{dir}", "-n", "0"],
        ["ledger", "verify", "{dir}", "--key", "{missing}"],
    ],
)
def test_ledger_bad_input_is_one_line_and_status_2(catallax_cli, ledger_dir: Path, argv) -> None:
    args = [a.format(dir=ledger_dir, missing=ledger_dir / "nope") for a in argv]
    status, out, err = catallax_cli(*args)
    assert status == 2, (out, err)
    assert err.startswith("catallax: error:") and err.count("\n") == 1


def _entry_offset(ledger_dir: Path, index: int) -> tuple[int, int]:
    with open_ledger(ledger_dir) as ledger:
        data = ledger.entry_bytes(index)
    raw = (ledger_dir / "ledger.sqlite").read_bytes()
    assert raw.count(data) == 1
    return raw.index(data), len(data)


def _flip(path: Path, offset: int) -> bytes:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([byte ^ 0x01]))
    return path.read_bytes()


def test_every_changed_byte_of_a_stored_transfer_is_named(ledger_dir: Path) -> None:
    # The check behind `catallax ledger verify`, over every byte of entry 5's record.
    path = ledger_dir / "ledger.sqlite"
    start, length = _entry_offset(ledger_dir, 5)
    for offset in range(start, start + length):
        damaged = _flip(path, offset)
        with pytest.raises(TamperedEntry) as info:
            open_ledger(ledger_dir)
        assert info.value.index == 5, f"byte {offset - start} of entry 5: {info.value}"
        assert path.read_bytes() == damaged, "opening wrote to the damaged ledger"
        _flip(path, offset)
    open_ledger(ledger_dir).close()


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_verify_names_the_entry_whose_byte_changed(
    catallax_cli, ledger_dir: Path, where: str
) -> None:
    path = ledger_dir / "ledger.sqlite"
    start, length = _entry_offset(ledger_dir, 5)
    offset = {"first": start, "middle": start + length // 2, "last": start + length - 1}[where]
    damaged = _flip(path, offset)
    status, out, _ = catallax_cli("ledger", "verify", str(ledger_dir))
    assert status == 1
    assert out.startswith("FAILED entry 5: its bytes do not match its stored leaf hash"), out
    assert path.read_bytes() == damaged, "verify wrote to the ledger"
    _flip(path, offset)
    assert catallax_cli("ledger", "verify", str(ledger_dir))[0] == 0


def test_the_installed_command_names_a_tampered_entry(ledger_dir: Path) -> None:
    path = ledger_dir / "ledger.sqlite"
    start, _ = _entry_offset(ledger_dir, 3)
    raw = bytearray(path.read_bytes())
    raw[start + 20] ^= 0x40
    path.write_bytes(bytes(raw))
    command = [sys.executable, "-c", "from catallax.node.cli import main; main()"]
    result = subprocess.run(
        [*command, "ledger", "verify", str(ledger_dir)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED entry 3: its bytes do not match its stored leaf hash")
    audit = subprocess.run(
        [*command, "ledger", "audit", str(ledger_dir)], capture_output=True, text=True, timeout=60
    )
    assert audit.returncode == 1 and "entry 3" in audit.stdout


def test_rows_removed_or_rewritten_through_sqlite_are_caught(
    catallax_cli, ledger_dir: Path
) -> None:
    path = ledger_dir / "ledger.sqlite"
    original = path.read_bytes()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM entries WHERE idx >= 5")
    db.commit()
    db.close()
    status, out, _ = catallax_cli("ledger", "verify", str(ledger_dir))
    assert status == 1 and out.startswith("FAILED entry 5: missing")
    path.write_bytes(original)
    # A forger who rewrites an amount and its leaf hash is caught by the tree above it.
    with open_ledger(ledger_dir) as ledger:
        data = bytearray(ledger.entry_bytes(4))
    forged = bytes(data).replace((1000).to_bytes(8, "big"), (9).to_bytes(8, "big"))
    assert forged != bytes(data)
    db = sqlite3.connect(path)
    db.execute("UPDATE entries SET data = ? WHERE idx = 4", (forged,))
    with open_ledger(ledger_dir) as ledger:
        nodes = ledger._store.entry_nodes(4)
    db.execute("UPDATE entries SET nodes = ? WHERE idx = 4", (leaf_hash(forged) + nodes[32:],))
    db.commit()
    db.close()
    status, out, _ = catallax_cli("ledger", "verify", str(ledger_dir))
    assert status == 1
    assert out.startswith("FAILED entry 5: stored tree node over entries 4..5 is wrong"), out
    status, out, _ = catallax_cli("ledger", "audit", str(ledger_dir))
    assert status == 1
