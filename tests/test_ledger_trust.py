"""Trust anchors, rollbacks and forks: ``catallax ledger verify|audit|checkpoint|consistency``
with ``--key``, ``--pin`` and ``--since``, and ``catallax keys show --vkey``.

Every CLI call runs the real command in a subprocess. The ledgers hold account openings
only: what is checked here is which key signs the log and whether one log extends
another, which needs no transfers (nor their evidence).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catallax.exchange import crypto
from catallax.exchange.ledger import (
    Account,
    CheckpointError,
    Opening,
    key_id,
    open_checkpoint,
    open_ledger,
    verifier_key,
    verify_consistency,
)
from catallax.exchange.ledger._reference import naive_consistency
from catallax.exchange.ledger.checkpoint import parse_checkpoint, parse_verifier_key
from catallax.node import keys
from catallax.node.trust import NO_ANCHOR_WARNING

ORIGIN = "catallax.test/trust"
COMMAND = [sys.executable, "-c", "from catallax.node.cli import main; main()"]


def cli(*argv: object) -> subprocess.CompletedProcess:
    """Run ``catallax argv...`` as a subprocess."""
    return subprocess.run([*COMMAND, *map(str, argv)], capture_output=True, text=True, timeout=60)


def failed(result: subprocess.CompletedProcess, start: str) -> None:
    """The ledger failed: exit 1 and one ``FAILED`` line on stdout."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout.startswith(start), result.stdout
    assert result.stdout.count("\n") == 1 and "Traceback" not in result.stderr


def bad_input(result: subprocess.CompletedProcess) -> str:
    """Bad input: exit 2, nothing on stdout, one ``catallax: error:`` line on stderr."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("catallax: error: ") and result.stderr.count("\n") == 1
    return result.stderr


def grow(folder: Path, key: Ed25519PrivateKey, count: int, *, tag: str = "t") -> None:
    """Append ``count`` account openings (one round each), creating the ledger if needed."""
    with open_ledger(folder, key=key, origin=ORIGIN, create=True, checkpoint_interval=4) as led:
        for _ in range(count):
            trader = crypto.public_key_bytes(crypto.generate_private_key())
            led.open_account(f"{tag}{led.size}", "trader", trader)


@dataclass
class Exchange:
    key: Ed25519PrivateKey
    pub: Path  # the exchange's public key file, kept by the user
    folder: Path  # the ledger folder
    tmp: Path


@pytest.fixture
def exchange(tmp_path: Path) -> Exchange:
    key = crypto.generate_private_key()
    keys.save_private_key(key, tmp_path / "exchange.pem")
    folder = tmp_path / "ledger"
    grow(folder, key, 6)
    return Exchange(key, tmp_path / "exchange.pem.pub", folder, tmp_path)


def resign_in_place(folder: Path, attacker: Ed25519PrivateKey) -> None:
    """A full rewrite: the same origin, the entries with one changed, another key."""
    with open_ledger(folder) as led:
        entries = [entry for _, entry in led.entries()]
    victim = entries[1].account
    mine = crypto.public_key_bytes(attacker)
    entries[1] = Opening(Account(victim.id, victim.kind, mine))  # the attacker takes t1
    forged = folder.with_name("forged")
    with open_ledger(forged, key=attacker, origin=ORIGIN, create=True) as fake:
        for entry in entries:
            fake.commit_round([entry])
    shutil.rmtree(folder)
    forged.rename(folder)


def keep_checkpoint(folder: Path, path: Path, *anchor: object) -> str:
    result = cli("ledger", "checkpoint", folder, *anchor)
    assert result.returncode == 0, result.stderr
    path.write_text(result.stdout)
    return result.stdout


def roots(note: str) -> str:
    return base64.b64encode(parse_checkpoint(note).root).decode()


# --- 1. which key is trusted -----------------------------------------------------------


def test_a_resigned_rewrite_passes_without_an_anchor_but_with_a_loud_warning(exchange) -> None:
    resign_in_place(exchange.folder, crypto.generate_private_key())
    for command in ("verify", "audit"):
        result = cli("ledger", command, exchange.folder)
        assert result.returncode == 0 and result.stdout.startswith("ok: 6 entries")
        assert result.stderr == NO_ANCHOR_WARNING + "\n"
    assert NO_ANCHOR_WARNING.startswith("WARNING: no trust anchor: the key stored in the ledger")


def test_a_resigned_rewrite_fails_with_the_exchange_key(exchange) -> None:
    resign_in_place(exchange.folder, crypto.generate_private_key())
    for command in ("verify", "audit", "checkpoint"):
        result = cli("ledger", command, exchange.folder, "--key", exchange.pub)
        failed(result, "FAILED ledger: checkpoints are signed by key")
        assert "WARNING" not in result.stderr


def test_a_pin_made_before_the_rewrite_catches_it(exchange) -> None:
    pin = exchange.tmp / "exchange.pin"
    first = cli("ledger", "verify", exchange.folder, "--pin", pin)
    assert first.returncode == 0 and first.stdout.startswith("ok: 6 entries")
    vkey = verifier_key(ORIGIN, crypto.public_key_bytes(exchange.key))
    assert f"pinned: {pin} now holds {vkey}" in first.stderr and "WARNING" not in first.stderr
    kept = pin.read_text()
    assert [line for line in kept.splitlines() if not line.startswith("#")] == [vkey]
    again = cli("ledger", "verify", exchange.folder, "--pin", pin)
    assert again.returncode == 0 and again.stderr == ""
    attacker = crypto.generate_private_key()
    resign_in_place(exchange.folder, attacker)
    for command in ("verify", "audit", "checkpoint"):
        result = cli("ledger", command, exchange.folder, "--pin", pin)
        failed(
            result,
            f"FAILED ledger: key {crypto.key_fingerprint(crypto.public_key_bytes(attacker))} "
            f"is not the pinned key {crypto.key_fingerprint(crypto.public_key_bytes(exchange.key))}"
            f" of {ORIGIN} ({pin})",
        )
    assert pin.read_text() == kept


def test_a_pin_of_another_origin_fails_and_a_failing_ledger_is_never_pinned(exchange) -> None:
    pin = exchange.tmp / "other.pin"
    pin.write_text(verifier_key("catallax.test/other", crypto.public_key_bytes(exchange.key)))
    failed(
        cli("ledger", "verify", exchange.folder, "--pin", pin),
        f"FAILED ledger: origin '{ORIGIN}' is not the pinned origin 'catallax.test/other'",
    )
    fresh = exchange.tmp / "fresh.pin"
    keys.save_private_key(crypto.generate_private_key(), exchange.tmp / "wrong.pem")
    result = cli("ledger", "verify", exchange.folder, "--key", exchange.tmp / "wrong.pem.pub",
                 "--pin", fresh)  # fmt: skip
    failed(result, "FAILED ledger: checkpoints are signed by key")
    assert not fresh.exists()


def test_a_pin_can_be_the_verifier_key_the_exchange_publishes(exchange) -> None:
    published = cli("keys", "show", exchange.pub, "--vkey", "--name", ORIGIN)
    assert published.returncode == 0
    pin = exchange.tmp / "published.vkey"
    pin.write_text(published.stdout)
    result = cli("ledger", "verify", exchange.folder, "--pin", pin, "--key", exchange.pub)
    assert result.returncode == 0 and result.stderr == ""


# --- 2. rollback and forks ---------------------------------------------------------------


def test_checkpoint_prints_the_latest_signed_note_exactly(exchange) -> None:
    result = cli("ledger", "checkpoint", exchange.folder, "--key", exchange.pub)
    assert result.returncode == 0 and result.stderr == ""
    with open_ledger(exchange.folder) as led:
        assert result.stdout == led.checkpoint
        head = open_checkpoint(result.stdout, crypto.public_key_bytes(exchange.key))
        assert (head.origin, head.size, head.root) == (ORIGIN, 6, led.root)
    unanchored = cli("ledger", "checkpoint", exchange.folder)
    assert unanchored.stdout == result.stdout and unanchored.stderr == NO_ANCHOR_WARNING + "\n"


def test_a_genuine_extension_passes(exchange) -> None:
    kept = exchange.tmp / "kept.checkpoint"
    keep_checkpoint(exchange.folder, kept, "--key", exchange.pub)
    same = cli("ledger", "verify", exchange.folder, "--since", kept, "--key", exchange.pub)
    assert same.returncode == 0 and "consistency proof 6 -> 6, 0 hashes, verified" in same.stdout
    grow(exchange.folder, exchange.key, 7)
    for command in ("verify", "audit"):
        result = cli("ledger", command, exchange.folder, "--since", kept, "--key", exchange.pub)
        assert result.returncode == 0, result.stdout
        lines = result.stdout.splitlines()
        assert lines[0].startswith("ok: 13 entries")
        assert lines[1].startswith(
            f"ok: extends the kept checkpoint (size 6, root {roots(kept.read_text())}"
        )
        assert "consistency proof 6 -> 13" in lines[1]


def test_a_rollback_to_an_older_copy_fails(exchange) -> None:
    old_copy = exchange.tmp / "old-copy"
    shutil.copytree(exchange.folder, old_copy)
    grow(exchange.folder, exchange.key, 5)
    kept = exchange.tmp / "kept.checkpoint"
    newer = keep_checkpoint(exchange.folder, kept, "--key", exchange.pub)
    # The old copy is a healthy ledger on its own: only the kept checkpoint exposes it.
    assert cli("ledger", "verify", old_copy, "--key", exchange.pub).returncode == 0
    with open_ledger(old_copy) as led:
        older = led.checkpoint
    for command in ("verify", "audit"):
        result = cli("ledger", command, old_copy, "--since", kept, "--key", exchange.pub)
        failed(result, "FAILED ledger: rollback: the log (checkpoint size 6, root ")
        assert roots(older) in result.stdout and roots(newer) in result.stdout
        assert "the kept checkpoint (size 11" in result.stdout


def test_a_fork_after_a_common_prefix_fails(exchange) -> None:
    # The rolled-back copy is written to again: same key, same prefix, another history.
    fork = exchange.tmp / "fork"
    shutil.copytree(exchange.folder, fork)
    grow(exchange.folder, exchange.key, 5, tag="a")
    kept = exchange.tmp / "kept.checkpoint"
    newer = keep_checkpoint(exchange.folder, kept, "--key", exchange.pub)
    for extra in (5, 3):  # the fork reaches the kept size, then grows beyond it
        grow(fork, exchange.key, extra, tag="b")
        assert cli("ledger", "verify", fork, "--key", exchange.pub).returncode == 0
        with open_ledger(fork) as led:
            forked = led.checkpoint
        result = cli("ledger", "verify", fork, "--since", kept, "--key", exchange.pub)
        failed(result, "FAILED ledger: fork: the log (checkpoint size ")
        assert roots(forked) in result.stdout and roots(newer) in result.stdout
        assert "does not extend the kept checkpoint (size 11" in result.stdout


def test_a_kept_checkpoint_exposes_a_resigned_rewrite_even_without_an_anchor(exchange) -> None:
    kept = exchange.tmp / "kept.checkpoint"
    keep_checkpoint(exchange.folder, kept, "--key", exchange.pub)
    resign_in_place(exchange.folder, crypto.generate_private_key())
    result = cli("ledger", "verify", exchange.folder, "--since", kept)
    failed(result, "FAILED ledger: the kept checkpoint (size 6, root ")
    assert "is not signed by the trusted key" in result.stdout
    assert result.stderr == NO_ANCHOR_WARNING + "\n"


def test_a_kept_checkpoint_of_another_log_or_with_a_changed_root_fails(exchange) -> None:
    kept = exchange.tmp / "kept.checkpoint"
    note = keep_checkpoint(exchange.folder, kept, "--key", exchange.pub)
    other = exchange.tmp / "other"
    with open_ledger(other, key=exchange.key, origin="catallax.test/other", create=True) as led:
        led.open_account("x", "treasury")
    failed(
        cli("ledger", "verify", other, "--since", kept, "--key", exchange.pub),
        "FAILED ledger: the kept checkpoint (size 6, root ",
    )
    body, _, signature = note.partition("\n\n")
    lines = body.split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()
    kept.write_text("\n".join(lines) + "\n\n" + signature)
    result = cli("ledger", "verify", exchange.folder, "--since", kept, "--key", exchange.pub)
    failed(result, "FAILED ledger: the kept checkpoint (size 6, root AAAA")
    assert "is not signed by the trusted key" in result.stdout


def test_consistency_prints_and_checks_the_proof(exchange) -> None:
    grow(exchange.folder, exchange.key, 7)
    with open_ledger(exchange.folder) as led:
        leaves = [led.entry_bytes(i) for i in range(led.size)]
        note = led.checkpoint
    for size1, size2 in ((1, 13), (3, 7), (4, 13), (6, 6), (13, 13)):
        args = [size1] if size2 == 13 else [size1, size2]
        plain = cli("ledger", "consistency", exchange.folder, *args)
        assert plain.returncode == 0 and plain.stderr.startswith(f"ok: the log at {size1} ")
        proof = [base64.b64decode(line) for line in plain.stdout.splitlines()]
        assert proof == naive_consistency(size1, leaves[:size2])
        doc = json.loads(cli("ledger", "consistency", exchange.folder, *args, "--json").stdout)
        assert (doc["origin"], doc["size1"], doc["size2"]) == (ORIGIN, size1, size2)
        assert [base64.b64decode(h) for h in doc["proof"]] == proof
        assert doc["checkpoint"] == (note if size2 == 13 else None)
        root1, root2 = base64.b64decode(doc["root1"]), base64.b64decode(doc["root2"])
        verify_consistency(size1, size2, proof, root1, root2)
    head = open_checkpoint(doc["checkpoint"], crypto.public_key_bytes(exchange.key))
    assert head.root == root2


def test_account_ids_and_origins_are_printed_as_they_are(tmp_path: Path) -> None:
    # rich would turn ":smile:" into an emoji; ids and notes must come out byte for byte.
    key = crypto.generate_private_key()
    folder = tmp_path / "ledger"
    with open_ledger(folder, key=key, origin="example.com:smile:/log", create=True) as led:
        led.open_account("t:smile:1", "treasury")
        note = led.checkpoint
    assert '"t:smile:1"' in cli("ledger", "tail", folder, "--json").stdout
    assert "t:smile:1" in cli("ledger", "tail", folder).stdout
    assert "t:smile:1" in cli("ledger", "balances", folder).stdout
    assert cli("ledger", "checkpoint", folder).stdout == note
    assert "(origin example.com:smile:/log)" in cli("ledger", "verify", folder).stdout


# --- 3. the signed-note verifier key -------------------------------------------------------

# Test vectors of Go's golang.org/x/mod/sumdb/note (sumdb/note/note_test.go, BSD-3-Clause,
# Copyright 2019 The Go Authors): only the key, vkey and signature values are copied.
GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
GO_ENOCH_KEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_BAD_KEYS = (
    "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # length
    "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # algorithm
)


def _go_private_key() -> Ed25519PrivateKey:
    _, _, name, _, encoded = GO_SIGNER_KEY.split("+", 4)
    assert name == "PeterNeumann"
    raw = base64.b64decode(encoded)
    assert raw[0] == 1
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def test_key_id_and_verifier_key_match_go_sumdb_note_vectors() -> None:
    key = _go_private_key()
    public = crypto.public_key_bytes(key)
    assert key_id("PeterNeumann", public).hex() == "c74f20a3"
    assert verifier_key("PeterNeumann", public) == GO_VERIFIER_KEY
    assert parse_verifier_key(GO_VERIFIER_KEY) == ("PeterNeumann", public)
    # A signature line is base64(key id || Ed25519 signature of the text), as Go signs it.
    blob = key_id("PeterNeumann", public) + key.sign(GO_TEXT.encode())
    assert base64.b64encode(blob).decode() == GO_SIGNATURE
    name, enoch = parse_verifier_key(GO_ENOCH_KEY)
    assert name == "EnochRoot" and key_id(name, enoch).hex() == "af0cfe78"


def test_a_verifier_key_whose_base64_holds_a_plus_reads_back() -> None:
    for _ in range(1000):
        public = crypto.public_key_bytes(crypto.generate_private_key())
        if b"+" in base64.b64encode(b"\x01" + public):
            break
    vkey = verifier_key(ORIGIN, public)
    assert vkey.count("+") > 2
    assert parse_verifier_key(vkey) == (ORIGIN, public)


def test_mangled_verifier_keys_are_refused_like_go_does() -> None:
    for bad in GO_BAD_KEYS:
        with pytest.raises(CheckpointError):
            parse_verifier_key(bad)
    vkey = GO_VERIFIER_KEY
    for i in range(len(vkey)):
        with pytest.raises(CheckpointError):
            parse_verifier_key(vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :])
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if (i, j) != (0, len(vkey)):
                with pytest.raises(CheckpointError):
                    parse_verifier_key(vkey[i:j])


def test_keys_show_vkey_names_the_key_by_the_ledgers_origin(exchange) -> None:
    public = crypto.public_key_bytes(exchange.key)
    expected = verifier_key(ORIGIN, public) + "\n"
    by_name = cli("keys", "show", "--vkey", exchange.pub, "--name", ORIGIN)
    assert (by_name.returncode, by_name.stdout, by_name.stderr) == (0, expected, "")
    by_ledger = cli("keys", "show", exchange.tmp / "exchange.pem", "--vkey", "--ledger",
                    exchange.folder)  # fmt: skip
    assert (by_ledger.returncode, by_ledger.stdout) == (0, expected)
    # `catallax train --ledger DIR` keeps exchange.pem beside the ledger: the default name.
    shutil.copy(exchange.pub, exchange.folder / "exchange.pem.pub")
    beside = cli("keys", "show", "--vkey", exchange.folder / "exchange.pem.pub")
    assert (beside.returncode, beside.stdout) == (0, expected)
    # The verifier key checks the ledger's checkpoints, and anything else is refused.
    name, key = parse_verifier_key(by_name.stdout.strip())
    with open_ledger(exchange.folder) as led:
        assert open_checkpoint(led.checkpoint, key, name=name).size == led.size
    plain = cli("keys", "show", exchange.pub)
    assert plain.returncode == 0 and "fingerprint:" in plain.stdout


# --- 4. bad input ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    """One ledger of 6 entries, its key files, and malformed checkpoint, pin and key files."""
    tmp = tmp_path_factory.mktemp("bad")
    key = crypto.generate_private_key()
    keys.save_private_key(key, tmp / "exchange.pem")
    folder = tmp / "ledger"
    grow(folder, key, 6)
    with open_ledger(folder) as led:
        note = led.checkpoint
    (tmp / "garbage").write_text("not a checkpoint, a pin or a key\n")
    (tmp / "binary").write_bytes(b"\xff\xfe\x00 binary")
    (tmp / "empty").write_bytes(b"")
    (tmp / "truncated.checkpoint").write_text(note[:-20])
    (tmp / "bad-size.checkpoint").write_text(note.replace("\n6\n", "\n06\n", 1))
    vkey = verifier_key(ORIGIN, crypto.public_key_bytes(key))
    (tmp / "two.pin").write_text(f"{vkey}\n{vkey}\n")
    (tmp / "bad-id.pin").write_text(vkey.replace("+", "+0", 1)[:-1] + "\n")
    (tmp / "no-ledger").mkdir()
    keys.save_private_key(crypto.generate_private_key(), tmp / "wrong.pem")
    return Exchange(key, tmp / "exchange.pem.pub", folder, tmp)


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (
            ["ledger", "verify", "{dir}", "--since", "{tmp}/missing.checkpoint"],
            "missing.checkpoint: cannot read a checkpoint file",
        ),
        (["ledger", "verify", "{dir}", "--since", "{tmp}"], "is a folder, not a checkpoint file"),
        (
            ["ledger", "verify", "{dir}", "--since", "{tmp}/garbage"],
            "garbage: not a signed checkpoint: not a signed note",
        ),
        (
            ["ledger", "verify", "{dir}", "--since", "{tmp}/binary"],
            "binary: not a checkpoint file: not UTF-8 text",
        ),
        (["ledger", "verify", "{dir}", "--since", "{tmp}/empty"], "empty: not a signed checkpoint"),
        (
            ["ledger", "verify", "{dir}", "--since", "{tmp}/truncated.checkpoint"],
            "truncated.checkpoint: not a signed checkpoint",
        ),
        (
            ["ledger", "audit", "{dir}", "--since", "{tmp}/bad-size.checkpoint"],
            "size must be a decimal number, got '06'",
        ),
        (["ledger", "verify", "{dir}", "--pin", "{tmp}/garbage"], "garbage: not a pin file"),
        (
            ["ledger", "verify", "{dir}", "--pin", "{tmp}/two.pin"],
            "expected one verifier key line (origin+keyid+key), found 2",
        ),
        (
            ["ledger", "verify", "{dir}", "--pin", "{tmp}/bad-id.pin"],
            "bad-id.pin: not a pin file: verifier key: the key id",
        ),
        (["ledger", "verify", "{dir}", "--pin", "{tmp}"], "is a folder, not a pin file"),
        (
            ["ledger", "verify", "{dir}", "--pin", "{tmp}/no-such-folder/new.pin"],
            "new.pin: cannot write the pin: no folder",
        ),
        (["ledger", "verify", "{dir}", "--key", "{tmp}/garbage"], "garbage: not a PEM public key"),
        (
            ["ledger", "audit", "{dir}", "--key", "{tmp}/missing.pem"],
            "missing.pem: cannot read key file",
        ),
        (
            ["ledger", "checkpoint", "{dir}", "--key", "{tmp}/garbage"],
            "garbage: not a PEM public key",
        ),
        (["ledger", "checkpoint", "{tmp}/no-ledger"], "no-ledger: no ledger here"),
        (["ledger", "consistency", "{dir}", "0"], "SIZE1: expected 1..6, got 0"),
        (["ledger", "consistency", "{dir}", "-1"], "-1"),
        (["ledger", "consistency", "{dir}", "7"], "SIZE1: expected 1..6, got 7"),
        (["ledger", "consistency", "{dir}", "4", "3"], "SIZE2: expected 4..6"),
        (["ledger", "consistency", "{dir}", "2", "7"], "SIZE2: expected 2..6"),
        (["ledger", "consistency", "{dir}", "two"], "size1"),
        (["ledger", "consistency", "{tmp}/no-ledger", "1"], "no-ledger: no ledger here"),
        (["keys", "show", "--vkey", "{tmp}/exchange.pem.pub"], "--vkey needs the key's name"),
        (
            ["keys", "show", "--vkey", "{tmp}/exchange.pem.pub", "--name", "has space"],
            "--name: expected printable ASCII",
        ),
        (
            ["keys", "show", "--vkey", "{tmp}/exchange.pem.pub", "--name", "a+b"],
            "--name: expected printable ASCII",
        ),
        (
            ["keys", "show", "--vkey", "{tmp}/exchange.pem.pub", "--ledger", "{tmp}/no-ledger"],
            "--ledger",
        ),
        (
            ["keys", "show", "--vkey", "{tmp}/wrong.pem", "--ledger", "{dir}"],
            "wrong.pem: not the key of the ledger in",
        ),
        (
            ["keys", "show", "--vkey", "{tmp}/exchange.pem", "--name", "x", "--ledger", "{dir}"],
            "give --name or --ledger, not both",
        ),
        (
            ["keys", "show", "{tmp}/exchange.pem", "--name", "x"],
            "--name and --ledger go with --vkey",
        ),
        (
            ["keys", "show", "--vkey", "{tmp}/garbage", "--name", "x"],
            "garbage: not a PEM public key",
        ),
    ],
)
def test_bad_input_is_one_line_and_status_2(bad_files: Exchange, argv, what) -> None:
    tmp = bad_files.tmp
    args = [a.format(dir=bad_files.folder, tmp=tmp) for a in argv]
    message = bad_input(cli(*args))
    assert what in message and "Traceback" not in message
    assert not (tmp / "no-such-folder").exists()
