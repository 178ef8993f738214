"""``catallax keys``: Ed25519 key files.

``catallax keys new FILE`` writes the private key to FILE (PKCS#8 PEM, mode 0600) and
the public key to FILE.pub, and prints the public key (base64 of the raw 32 bytes).
``catallax keys show FILE`` prints the public key of a private or public key file.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

import typer

from catallax.exchange.crypto import generate_private_key, key_fingerprint, public_key_bytes
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


@app.command("show")
def show(file: Annotated[Path, typer.Argument(help="A private or public key PEM file.")]) -> None:
    """Print the public key held in a key file."""
    try:
        raw = load_public_key(file)
    except KeyFileError as exc:
        fail(str(exc))
    _print_public(raw)
