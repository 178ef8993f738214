"""``catallax keys``: Ed25519 key files.

``catallax keys new FILE`` writes the private key to FILE (PKCS#8 PEM, mode 0600) and
the public key to FILE.pub, and prints the public key (base64 of the raw 32 bytes).
``catallax keys show FILE`` prints the public key of a private or public key file;
``catallax keys show FILE --vkey`` prints instead its C2SP signed-note verifier key,
``name+keyid+base64(0x01 || key)``, the form in which transparency-log tools (witnesses,
Go's ``golang.org/x/mod/sumdb/note``) take the key that signs a log's checkpoints. The
name is the key name of the checkpoints' signature lines, which for a catallax ledger is
its origin: ``--name ORIGIN``, or the origin of the ledger given with ``--ledger DIR``
(or a ``postgresql://`` ledger URL),
or by default that of the ledger in the key file's own folder (where
``catallax train --ledger DIR`` writes ``exchange.pem``).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

import typer

from catallax.exchange.crypto import generate_private_key, key_fingerprint, public_key_bytes
from catallax.exchange.ledger import (
    LEDGER_FILE,
    CheckpointError,
    CorruptLedger,
    LedgerError,
    check_origin,
    open_ledger,
    verifier_key,
)
from catallax.exchange.ledger.location import describe as describe_location
from catallax.exchange.ledger.location import is_url
from catallax.node.cli._common import fail, new_app, out
from catallax.node.keys import KeyFileError, load_public_key, save_private_key

app = new_app("Make and inspect Ed25519 key files (PEM).")


def _print_public(raw: bytes) -> None:
    out.print(f"public key: {base64.b64encode(raw).decode()}")
    out.print(f"fingerprint: {key_fingerprint(raw)}")


@app.command("new")
def new(
    file: Annotated[
        Path, typer.Argument(help="The private key file; FILE.pub gets the public key.")
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace existing key files.")] = False,
) -> None:
    """Make a new Ed25519 key pair: FILE (private, mode 0600) and FILE.pub."""
    key = generate_private_key()
    try:
        path = save_private_key(key, file, overwrite=force)
    except KeyFileError as exc:
        fail(str(exc))
    out.print(f"private key: {path}")
    out.print(f"public key file: {path}.pub")
    _print_public(public_key_bytes(key))


def _ledger_origin(folder: Path | str, raw: bytes, file: Path) -> str:
    """The origin of the ledger in ``folder`` (or at a URL), which ``raw`` must sign."""
    try:
        with open_ledger(folder, verify=False) as ledger:
            origin, signer = ledger.origin, ledger.public_key
    except (CorruptLedger, LedgerError, OSError) as exc:
        message = str(exc)
        where = describe_location(folder)
        if message.startswith(where):
            fail(f"--ledger: cannot read the ledger's origin ({message})")
        fail(f"--ledger {where}: cannot read the ledger's origin ({message})")
    folder = describe_location(folder)
    if signer != raw:
        fail(
            f"{file}: not the key of the ledger in {folder} (its checkpoints are signed by "
            f"key {key_fingerprint(signer)}); pass --name to name this key anyway"
        )
    return origin


@app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="A private or public key PEM file.")],
    vkey: Annotated[
        bool,
        typer.Option(
            "--vkey",
            help="Print the signed-note verifier key (name+keyid+base64) that transparency-log "
            "tools and witnesses use to check the checkpoints this key signs.",
        ),
    ] = False,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="With --vkey: the key name, i.e. the origin of the ledger the key signs "
            "(default: the origin of --ledger DIR, or of the ledger beside FILE).",
        ),
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            help="With --vkey: take the name from this ledger's origin (a folder, or a "
            "postgresql:// URL).",
        ),
    ] = None,
) -> None:
    """Print the public key held in a key file (or, with --vkey, its verifier key)."""
    if not vkey and (name is not None or ledger is not None):
        fail("--name and --ledger go with --vkey")
    if name is not None and ledger is not None:
        fail("--vkey: give --name or --ledger, not both")
    if name is not None:
        try:
            check_origin(name)
        except CheckpointError as exc:
            fail(f"--name: {str(exc).removeprefix('origin: ')}")
    try:
        raw = load_public_key(file)
    except KeyFileError as exc:
        fail(str(exc))
    if not vkey:
        _print_public(raw)
        return
    if name is None:
        if ledger is not None and is_url(ledger):
            name = _ledger_origin(ledger, raw, file)
        elif ledger is not None:
            if not (Path(ledger) / LEDGER_FILE).is_file():
                fail(f"--ledger {ledger}: no ledger here (expected {LEDGER_FILE})")
            name = _ledger_origin(Path(ledger), raw, file)
        elif (file.parent / LEDGER_FILE).is_file():
            name = _ledger_origin(file.parent, raw, file)
        else:
            fail(
                "--vkey needs the key's name, the origin of the ledger it signs: pass "
                "--name ORIGIN or --ledger DIR"
            )
    out.print(verifier_key(name, raw), markup=False, emoji=False)
