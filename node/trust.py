"""Trust anchors for checking a ledger: which key to trust, and what it signed before.

A ledger file carries its own public key. Checking the log against that key proves only
that the file agrees with itself: whoever rewrites the whole log and signs it again with
a key of their own passes. A verifier needs a **trust anchor** kept outside the ledger
folder:

- the exchange's public key, from a PEM file (``--key FILE``); or
- a **pin** (``--pin FILE``): a file holding the ledger's signed-note verifier key
  (``origin+keyid+base64(0x01 || key)``, one line; ``#`` lines are comments). If the
  file does not exist it is written from the ledger on first use (trust on first use,
  like SSH's ``known_hosts``); it may also be made beforehand from what the exchange
  publishes (``catallax keys show --vkey``). Once it exists, the ledger's origin and key
  must be the pinned ones. One pin file names one ledger.

A **kept checkpoint** (``--since FILE``: a signed note that ``catallax ledger checkpoint``
printed earlier) catches a rollback or a fork: its signature must verify with the trusted
key, and the ledger's latest checkpoint must extend it, proved with an RFC 9162
consistency proof from the ledger's own tree nodes.

Bad files raise :class:`~catallax.node.errors.TrustFileError` (bad input); a ledger that
fails a check raises :class:`~catallax.node.errors.NotTrusted`.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from catallax.exchange.crypto import key_fingerprint
from catallax.exchange.ledger import (
    EMPTY_ROOT,
    Checkpoint,
    CheckpointError,
    Ledger,
    ProofError,
    open_checkpoint,
    verifier_key,
    verify_consistency,
)
from catallax.exchange.ledger.checkpoint import parse_checkpoint, parse_verifier_key
from catallax.node.errors import NotTrusted, TrustFileError
from catallax.node.keys import load_public_key

__all__ = [
    "NO_ANCHOR_WARNING",
    "Anchors",
    "Extension",
    "KeptCheckpoint",
    "Pin",
    "check_anchors",
    "check_extends",
    "describe",
    "load_anchors",
    "read_checkpoint_file",
    "read_pin",
    "write_pin",
]

#: Printed on stderr when a ledger is checked against nothing but its own key.
NO_ANCHOR_WARNING = (
    "WARNING: no trust anchor: the key stored in the ledger itself was trusted; pass --key or --pin"
)

#: Largest pin or checkpoint file read (a note is a few hundred bytes).
_MAX_FILE = 64 * 1024


def describe(checkpoint: Checkpoint) -> str:
    """``size N, root <base64>``: how messages name a checkpoint."""
    return f"size {checkpoint.size}, root {base64.b64encode(checkpoint.root).decode()}"


def _read_text(path: Path, what: str) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_FILE + 1)
    except OSError as exc:
        raise TrustFileError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    if len(data) > _MAX_FILE:
        raise TrustFileError(f"{path}: not {what}: larger than {_MAX_FILE} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TrustFileError(f"{path}: not {what}: not UTF-8 text") from exc


# --- pins -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pin:
    """A pinned ledger identity: its origin and the raw public key that signs it."""

    path: Path
    origin: str
    public_key: bytes

    @property
    def vkey(self) -> str:
        """The signed-note verifier key the pin file holds."""
        return verifier_key(self.origin, self.public_key)


def read_pin(path: str | Path) -> Pin | None:
    """The pin in ``path``, or None if there is no such file (a first use)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return None
    text = _read_text(path, "a pin file")
    lines = [s for s in (line.strip() for line in text.splitlines()) if s and s[0] != "#"]
    if len(lines) != 1:
        raise TrustFileError(
            f"{path}: not a pin file: expected one verifier key line (origin+keyid+key), "
            f"found {len(lines)}"
        )
    try:
        origin, public_key = parse_verifier_key(lines[0])
    except CheckpointError as exc:
        raise TrustFileError(f"{path}: not a pin file: {exc}") from exc
    return Pin(path, origin, public_key)


def write_pin(pin: Pin, *, source: str = "") -> None:
    """Create ``pin.path`` holding ``pin``; refuses to replace an existing file.

    Written to a temporary file first and linked into place, so that a crash leaves no
    half-written pin and two first uses cannot both win.
    """
    path = pin.path
    if not path.parent.is_dir():
        raise TrustFileError(f"{path}: cannot write the pin: no folder {path.parent}")
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    origin = f" from {source}" if source else ""
    text = (
        f"# catallax ledger pin: the key that signs {pin.origin}, pinned on first use"
        f"{origin} at {when}\n{pin.vkey}\n"
    )
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise TrustFileError(f"{path}: cannot write the pin ({exc.strerror or exc})") from exc
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system
            if path.exists():
                raise FileExistsError(path) from None
            os.replace(tmp, path)
    except FileExistsError as exc:
        raise TrustFileError(f"{path}: cannot write the pin: the file appeared meanwhile") from exc
    except OSError as exc:
        raise TrustFileError(f"{path}: cannot write the pin ({exc.strerror or exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)


# --- anchors ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Anchors:
    """The trust anchors given to a check: a key file's key, a pin file (existing or not)."""

    key: bytes | None = None
    key_path: Path | None = None
    pin_path: Path | None = None
    pin: Pin | None = None

    @property
    def anchored(self) -> bool:
        """False when nothing but the ledger's own key can be trusted."""
        return self.key is not None or self.pin_path is not None


def load_anchors(key_file: str | Path | None, pin_file: str | Path | None) -> Anchors:
    """Read the anchors; a bad key or pin file is :class:`TrustFileError`/``KeyFileError``."""
    key = None
    if key_file is not None:
        key = load_public_key(key_file)
    pin = None
    if pin_file is not None:
        pin_file = Path(pin_file)
        if pin_file.is_dir():
            raise TrustFileError(f"{pin_file}: is a folder, not a pin file")
        pin = read_pin(pin_file)
    return Anchors(
        key,
        None if key_file is None else Path(key_file),
        None if pin_file is None else Path(pin_file),
        pin,
    )


def check_anchors(anchors: Anchors, origin: str, public_key: bytes) -> Pin | None:
    """Check a ledger's ``origin`` and ``public_key`` against the anchors.

    Raises :class:`NotTrusted` on a mismatch. Returns the pin to write when the pin file
    does not exist yet (the caller writes it once the ledger has passed), else None.
    """
    if anchors.key is not None and anchors.key != public_key:
        raise NotTrusted(
            f"checkpoints are signed by key {key_fingerprint(public_key)}, not by "
            f"{key_fingerprint(anchors.key)} ({anchors.key_path})"
        )
    if anchors.pin_path is None:
        return None
    pin = anchors.pin
    if pin is None:
        return Pin(anchors.pin_path, origin, public_key)
    if pin.origin != origin:
        raise NotTrusted(f"origin {origin!r} is not the pinned origin {pin.origin!r} ({pin.path})")
    if pin.public_key != public_key:
        raise NotTrusted(
            f"key {key_fingerprint(public_key)} is not the pinned key "
            f"{key_fingerprint(pin.public_key)} of {pin.origin} ({pin.path})"
        )
    return None


# --- kept checkpoints -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeptCheckpoint:
    """A checkpoint note a user kept, parsed but not yet verified."""

    path: Path
    note: str
    checkpoint: Checkpoint


def read_checkpoint_file(path: str | Path) -> KeptCheckpoint:
    """Read and parse a kept checkpoint note; :class:`TrustFileError` if it is not one."""
    path = Path(path)
    if path.is_dir():
        raise TrustFileError(f"{path}: is a folder, not a checkpoint file")
    note = _read_text(path, "a checkpoint file")
    try:
        checkpoint = parse_checkpoint(note)
    except CheckpointError as exc:
        reason = str(exc).removeprefix("checkpoint: ")
        raise TrustFileError(f"{path}: not a signed checkpoint: {reason}") from exc
    return KeptCheckpoint(path, note, checkpoint)


@dataclass(frozen=True, slots=True)
class Extension:
    """A proof that the log's latest checkpoint ``head`` extends the ``kept`` one."""

    kept: Checkpoint
    head: Checkpoint
    proof: list[bytes]


def check_extends(ledger: Ledger, kept: KeptCheckpoint, public_key: bytes) -> Extension:
    """Prove that ``ledger`` extends ``kept``, both signed by ``public_key``.

    Raises :class:`NotTrusted` naming both checkpoints when the kept one is of another
    origin or key, when the log is shorter (a rollback), or when the consistency proof
    fails (a fork: another history under the same key).
    """
    old = kept.checkpoint
    where = f"the kept checkpoint ({describe(old)}; {kept.path})"
    if old.origin != ledger.origin:
        raise NotTrusted(f"{where} is of origin {old.origin!r}; this ledger is {ledger.origin!r}")
    try:
        open_checkpoint(kept.note, public_key)
    except CheckpointError as exc:
        raise NotTrusted(
            f"{where} is not signed by the trusted key {key_fingerprint(public_key)}: {exc}"
        ) from exc
    try:
        head = open_checkpoint(ledger.checkpoint, public_key)
    except CheckpointError as exc:
        raise NotTrusted(f"the ledger's latest checkpoint does not verify: {exc}") from exc
    log = f"the log (checkpoint {describe(head)})"
    if old.size > head.size:
        raise NotTrusted(f"rollback: {log} holds fewer entries than {where}")
    if old.size == 0:
        if old.root != EMPTY_ROOT:
            raise NotTrusted(f"fork: {where} is empty but its root is not the empty tree's")
        return Extension(old, head, [])
    proof = ledger.consistency_proof(old.size, head.size)
    try:
        verify_consistency(old.size, head.size, proof, old.root, head.root)
    except ProofError as exc:
        raise NotTrusted(f"fork: {log} does not extend {where}: {exc}") from exc
    return Extension(old, head, proof)
