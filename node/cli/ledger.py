"""``catallax ledger``: inspect and check a ledger folder (``DIR/ledger.sqlite``) or a
PostgreSQL ledger (a ``postgresql://USER@HOST:PORT/DB?schema=NAME`` URL in place of DIR).

Every command opens the ledger read-only and never writes to it. ``verify`` recomputes
every hash and the tree and checks every checkpoint signature; ``audit`` also replays
every entry (evidence signatures, balances) and checks that each asset's balances
(credits and every good) sum to zero, naming the assets it checked. A ledger that fails prints
``FAILED entry <n>: <what>`` (or ``FAILED ledger: <what>``) and exits with status 1; bad
input (no such folder, a malformed URL or a server that does not answer, an index out
of range, an unreadable key, pin or checkpoint file) is one line on stderr and status 2.

``verify``, ``audit`` and ``checkpoint`` check the ledger against a trust anchor kept
outside its folder (``--key FILE``, ``--pin FILE``; see :mod:`catallax.node.trust`);
without one they trust the key stored in the ledger, say so on stderr, and still exit 0
if the ledger agrees with itself. ``verify --since FILE`` proves that the log extends a
checkpoint kept earlier (``checkpoint`` prints it), so that a rollback or a fork fails;
``consistency`` prints and checks the proof between two sizes.

``watch`` follows running exchanges (``--mqtt HOST:PORT`` or ``--exchange HOST:PORT``) and
verifies each checkpoint as it arrives against the one before with a consistency proof;
a rollback or a split view prints ``ALARM`` with both checkpoints and exits with status 1.

``serve`` offers the ledger read-only over gRPC (:mod:`catallax.node.ledger_service`) to
monitors and :func:`catallax.node.ledger_client.verify_remote`, beside an exchange that
writes it, until SIGTERM.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from catallax.exchange.ledger import (
    CREDITS,
    UNITS_PER_CREDIT,
    UNITS_PER_GOOD,
    CorruptLedger,
    InvalidArgument,
    Ledger,
    LedgerError,
    LedgerStateError,
    Opening,
    ProofError,
    Transfer,
    is_good,
    open_checkpoint,
    open_ledger,
    verify_consistency,
    verify_inclusion,
)
from catallax.exchange.ledger.location import describe as describe_location
from catallax.exchange.ledger.location import is_url
from catallax.node.cli._common import err, fail, new_app, one_line, out
from catallax.node.errors import KeyFileError, NotTrusted, TrustFileError
from catallax.node.trust import (
    NO_ANCHOR_WARNING,
    Anchors,
    Extension,
    KeptCheckpoint,
    Pin,
    check_anchors,
    check_extends,
    describe,
    load_anchors,
    read_checkpoint_file,
    write_pin,
)

app = new_app("Inspect and verify a signed wealth ledger (a folder or a postgresql:// URL).")

#: Exit status of a ledger that fails verification or audit.
FAILED = 1

_Dir = Annotated[
    str,
    typer.Argument(
        help="The ledger folder (holding ledger.sqlite), or a PostgreSQL ledger's URL "
        "postgresql://USER@HOST:PORT/DB?schema=NAME.",
        metavar="LEDGER",
    ),
]
_Key = Annotated[
    Path | None,
    typer.Option("--key", help="The exchange's public key file; checkpoints must be signed by it."),
]
_Pin = Annotated[
    Path | None,
    typer.Option(
        "--pin",
        help="A pin file: the ledger's origin and key as a signed-note verifier key. Written "
        "from the ledger if it does not exist (trust on first use); else the ledger must match.",
    ),
]
_Since = Annotated[
    Path | None,
    typer.Option(
        "--since",
        help="A checkpoint kept earlier (catallax ledger checkpoint DIR > FILE); the log must "
        "extend it (a consistency proof), else it was rolled back or forked.",
    ),
]
_Json = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _print(text: str) -> None:
    out.print(text, markup=False, emoji=False)


def _failed(exc: CorruptLedger | NotTrusted) -> typer.Exit:
    message = one_line(str(exc))
    index = getattr(exc, "index", None)
    where = f"entry {index}" if index is not None else "ledger"
    if not message.startswith(f"{where}:"):
        message = f"{where}: {message}"
    _print(f"FAILED {message}")
    return typer.Exit(FAILED)


def _where(location: str) -> str | Path:
    """A folder as a path; a ``postgresql://`` URL as it is; no such folder is status 2."""
    if is_url(location):
        return location
    if location.partition("://")[1]:
        fail(
            f"{describe_location(location)}: not a ledger location (a folder, or postgresql://...)"
        )
    folder = Path(location)
    if not folder.is_dir():
        fail(f"{folder}: no such ledger folder")
    return folder


@contextmanager
def _opened(location: str, *, verify: bool) -> Iterator[Ledger]:
    """Open ``location`` read-only; map damage to exit 1 and bad input to exit 2 (a
    server lost while reading too)."""
    where = _where(location)
    try:
        ledger = open_ledger(where, verify=verify)
    except CorruptLedger as exc:
        raise _failed(exc) from exc
    except (LedgerStateError, InvalidArgument) as exc:
        fail(str(exc))
    try:
        yield ledger
    except (CorruptLedger, NotTrusted) as exc:
        raise _failed(exc) from exc
    except LedgerStateError as exc:
        fail(str(exc))
    finally:
        ledger.close()


def _anchors(key_file: Path | None, pin_file: Path | None) -> Anchors:
    try:
        return load_anchors(key_file, pin_file)
    except (KeyFileError, TrustFileError) as exc:
        fail(str(exc))


def _kept(since: Path | None) -> KeptCheckpoint | None:
    if since is None:
        return None
    try:
        return read_checkpoint_file(since)
    except TrustFileError as exc:
        fail(str(exc))


@contextmanager
def _trusted(folder: str, anchors: Anchors) -> Iterator[tuple[Ledger, Pin | None]]:
    """Open ``folder`` and check it against ``anchors``; yield it and the pin to write.

    Without an anchor, warn on stderr that the ledger's own key is trusted.
    """
    with _opened(folder, verify=False) as ledger:
        new_pin = check_anchors(anchors, ledger.origin, ledger.public_key)
        if not anchors.anchored:
            err.print(NO_ANCHOR_WARNING, markup=False, emoji=False)
        yield ledger, new_pin


def _pin_now(new_pin: Pin | None, folder: str) -> None:
    """Write a first-use pin (once the ledger has passed every check)."""
    if new_pin is None:
        return
    try:
        write_pin(new_pin, source=describe_location(folder))
    except TrustFileError as exc:
        fail(str(exc))


def _said_pinned(new_pin: Pin | None) -> None:
    if new_pin is not None:
        err.print(
            f"pinned: {new_pin.path} now holds {new_pin.vkey} (trust on first use: compare it "
            "with the key the exchange publishes; later checks with this --pin need this key)",
            markup=False,
            emoji=False,
        )


def _extended(ext: Extension | None, kept: KeptCheckpoint | None) -> None:
    if ext is None or kept is None:
        return
    _print(
        f"ok: extends the kept checkpoint ({describe(ext.kept)}; {kept.path}): consistency "
        f"proof {ext.kept.size} -> {ext.head.size}, {len(ext.proof)} hashes, verified"
    )


@app.command("verify")
def verify(folder: _Dir, key: _Key = None, pin: _Pin = None, since: _Since = None) -> None:
    """Recompute every hash and the tree; check every checkpoint signature.

    Trust the exchange's key from --key or --pin; without either, the key stored in the
    ledger is trusted and a warning says so on stderr (the exit status is still 0).
    """
    anchors, kept = _anchors(key, pin), _kept(since)
    with _trusted(folder, anchors) as (ledger, new_pin):
        report = ledger.verify()
        ext = None if kept is None else check_extends(ledger, kept, ledger.public_key)
        _pin_now(new_pin, folder)
        _print(
            f"ok: {report.size} entries, root {_b64(report.root)}, "
            f"{report.checkpoints} checkpoints verified (origin {ledger.origin})"
        )
        _extended(ext, kept)
        _said_pinned(new_pin)


@app.command("audit")
def audit(folder: _Dir, key: _Key = None, pin: _Pin = None, since: _Since = None) -> None:
    """Verify, then replay every entry: evidence signatures and balances.

    Trust anchors (--key, --pin) and --since work as for verify.
    """
    anchors, kept = _anchors(key, pin), _kept(since)
    with _trusted(folder, anchors) as (ledger, new_pin):
        report = ledger.audit()
        ext = None if kept is None else check_extends(ledger, kept, ledger.public_key)
        _pin_now(new_pin, folder)
        _print(
            f"ok: {report.size} entries, {report.accounts} accounts, {report.transfers} "
            f"transfers, {report.evidence} evidence signatures checked, balances sum to 0 "
            f"in each asset ({', '.join(report.assets)}), root {_b64(report.root)}"
        )
        _extended(ext, kept)
        _said_pinned(new_pin)


@app.command("checkpoint")
def checkpoint(folder: _Dir, key: _Key = None, pin: _Pin = None) -> None:
    """Print the latest signed checkpoint (a C2SP signed note), exactly, for you to keep.

    Keep it outside the ledger folder; later, `catallax ledger verify DIR --since FILE`
    proves that the log still extends it. The checkpoint's signature and its match with
    the stored tree are checked (run `verify` to check the whole log).
    """
    anchors = _anchors(key, pin)
    with _trusted(folder, anchors) as (ledger, new_pin):
        note = ledger.checkpoint
        try:
            ledger.head()
        except LedgerError as exc:
            raise _failed(CorruptLedger(f"latest checkpoint: {exc}")) from exc
        _pin_now(new_pin, folder)
        sys.stdout.write(note)
        sys.stdout.flush()
        _said_pinned(new_pin)


@app.command("consistency")
def consistency(
    folder: _Dir,
    size1: Annotated[int, typer.Argument(help="The older tree size (at least 1).")],
    size2: Annotated[
        int | None, typer.Argument(help="The newer tree size (default: the whole log).")
    ] = None,
    as_json: _Json = False,
) -> None:
    """The consistency proof that the log at SIZE1 is a prefix of the log at SIZE2, checked.

    Prints the proof's hashes (base64), one per line, or with --json the sizes, both
    roots, the proof and, when SIZE2 is the whole log, its signed checkpoint.
    """
    with _opened(folder, verify=False) as ledger:
        size = ledger.size
        if size == 0:
            fail("SIZE1: the log is empty; there is no consistency proof to give")
        if not 1 <= size1 <= size:
            fail(f"SIZE1: expected 1..{size}, got {size1}")
        tree_size = size if size2 is None else size2
        if not size1 <= tree_size <= size:
            fail(f"SIZE2: expected {size1}..{size} (SIZE1..the log's size), got {tree_size}")
        proof = ledger.consistency_proof(size1, tree_size)
        root1 = ledger.root_at(size1)
        if tree_size == size:
            root2, note = ledger.head().root, ledger.checkpoint
        else:
            root2, note = ledger.root_at(tree_size), None
        try:
            verify_consistency(size1, tree_size, proof, root1, root2)
        except ProofError as exc:
            raise _failed(
                CorruptLedger(f"consistency proof {size1} -> {tree_size} does not verify: {exc}")
            ) from exc
        if as_json:
            doc = {
                "origin": ledger.origin,
                "size1": size1,
                "size2": tree_size,
                "root1": _b64(root1),
                "root2": _b64(root2),
                "proof": [_b64(h) for h in proof],
                "checkpoint": note,
            }
            _print(json.dumps(doc, indent=2))
        else:
            for h in proof:
                _print(_b64(h))
        err.print(
            f"ok: the log at {size1} (root {_b64(root1)}) is a prefix of the log at "
            f"{tree_size} (root {_b64(root2)}); {len(proof)} hashes, verified",
            markup=False,
            emoji=False,
        )


@app.command("balances")
def balances(folder: _Dir, as_json: _Json = False) -> None:
    """Every account's kind, asset and balance (units of its asset: 1 credit, or 1 unit
    of a good, = 10^6 units)."""
    with _opened(folder, verify=False) as ledger:
        states = ledger.accounts()
        if as_json:
            rows = [
                {
                    "account": s.account.id,
                    "kind": s.account.kind.value,
                    "asset": s.account.asset,
                    "balance": s.balance,
                }
                for s in states
            ]
            _print(json.dumps({"size": ledger.size, "accounts": rows}))
            return
        width = max([len(s.account.id) for s in states] + [7])
        assets = max([len(s.account.asset) for s in states] + [7])
        _print(
            f"{'account':<{width}}  {'kind':<8}  {'asset':<{assets}}  {'units':>20}  {'amount':>16}"
        )
        for s in states:
            scale = UNITS_PER_GOOD if is_good(s.account.asset) else UNITS_PER_CREDIT
            _print(
                f"{s.account.id:<{width}}  {s.account.kind.value:<8}  "
                f"{s.account.asset:<{assets}}  {s.balance:>20}  {s.balance / scale:>16.6f}"
            )


def _describe(index: int, entry: Opening | Transfer) -> dict:
    if isinstance(entry, Opening):
        key = entry.account.public_key
        return {
            "index": index,
            "type": "open",
            "account": entry.account.id,
            "kind": entry.account.kind.value,
            "asset": entry.account.asset,
            "public_key": _b64(key) if key else None,
        }
    ev = entry.evidence
    return {
        "index": index,
        "type": "transfer",
        "id": entry.id,
        "payer": entry.payer,
        "payee": entry.payee,
        "amount": entry.amount,
        "asset": entry.asset,
        "kind": entry.kind.value,
        "task": entry.task,
        "round": entry.round,
        "evidence": None if ev is None else {"message": ev.message, "signer": _b64(ev.public_key)},
    }


@app.command("tail")
def tail(
    folder: _Dir,
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="How many entries.")] = 10,
    as_json: _Json = False,
) -> None:
    """The last entries of the log, oldest first."""
    with _opened(folder, verify=False) as ledger:
        try:
            entries = list(ledger.entries(max(ledger.size - count, 0)))
        except LedgerError as exc:
            raise _failed(CorruptLedger(str(exc))) from exc
        for index, entry in entries:
            d = _describe(index, entry)
            if as_json:
                _print(json.dumps(d))
            elif d["type"] == "open":
                held = "" if d["asset"] == CREDITS else f" of {d['asset']}"
                _print(f"{index:>8}  open      {d['account']} ({d['kind']}{held})")
            else:
                ev = d["evidence"]
                signed = "" if ev is None else f"  [{ev['message']} signed]"
                of = "" if d["asset"] == CREDITS else f" of {d['asset']}"
                _print(
                    f"{index:>8}  {d['kind']:<9} {d['id']}: {d['payer']} -> {d['payee']} "
                    f"{d['amount']} units{of}  task={d['task'] or '-'} round={d['round']}{signed}"
                )


@app.command("proof")
def proof(
    folder: _Dir,
    index: Annotated[int, typer.Argument(help="The entry index.")],
    size: Annotated[
        int | None, typer.Option("--size", help="Tree size (default: the whole log).")
    ] = None,
) -> None:
    """The inclusion proof of an entry, as JSON, with the signed checkpoint it verifies against."""
    with _opened(folder, verify=False) as ledger:
        tree_size = ledger.size if size is None else size
        if not 0 < tree_size <= ledger.size:
            fail(f"--size: expected 1..{ledger.size}, got {tree_size}")
        if not 0 <= index < tree_size:
            last = tree_size - 1
            fail(f"index: the tree of {tree_size} entries holds entries 0..{last}, not {index}")
        path = ledger.inclusion_proof(index, tree_size)
        leaf = ledger.leaf_hash(index)
        if tree_size == ledger.size:
            head = ledger.head()
            root, note = head.root, ledger.checkpoint
        else:
            root, note = ledger.root_at(tree_size), None
        try:
            verify_inclusion(leaf, index, tree_size, path, root)
        except ProofError as exc:
            raise _failed(CorruptLedger(f"proof does not verify: {exc}", index=index)) from exc
        result = {
            "index": index,
            "tree_size": tree_size,
            "leaf_hash": _b64(leaf),
            "proof": [_b64(h) for h in path],
            "root": _b64(root),
            "checkpoint": note,
        }
        _print(json.dumps(result, indent=2))


@app.command("serve")
def serve(
    folder: _Dir,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port; 0 picks a free one.")] = 0,
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds running calls get on SIGTERM.")
    ] = 5.0,
) -> int:
    """Serve the ledger read-only over gRPC (the catallax.v1.Ledger service).

    The whole log is verified first (a damaged ledger prints FAILED and exits 1). Then
    prints `listening on HOST:PORT` on stdout and serves checkpoints, entries, proofs and
    Tail (with health and reflection) beside any exchange writing the folder, until
    SIGTERM or SIGINT.
    """
    import asyncio

    from catallax.node.ledger_service import serve_ledger
    from catallax.node.serving import run_until_signal

    where = _where(folder)
    if not 0 <= port <= 65535:
        fail(f"--port: expected 0 .. 65535, got {port}")
    if grace < 0:
        fail(f"--grace: expected 0 or more seconds, got {grace}")

    async def run() -> None:
        try:
            server, bound = await serve_ledger(where, host, port)
        except RuntimeError as exc:
            fail(f"cannot listen on {host}:{port} ({one_line(str(exc))})")
        print(f"listening on {host}:{bound}", flush=True)
        await run_until_signal(server, grace)

    try:
        asyncio.run(run())
    except CorruptLedger as exc:
        raise _failed(exc) from exc
    except (LedgerStateError, InvalidArgument) as exc:
        fail(str(exc))
    return 0


@app.command("watch")
def watch(
    mqtt: Annotated[
        list[str], typer.Option("--mqtt", help="A broker HOST:PORT to follow; repeatable.")
    ] = [],  # noqa: B006  (typer reads the default)
    exchange: Annotated[
        list[str],
        typer.Option("--exchange", help="An exchange HOST:PORT to follow over gRPC; repeatable."),
    ] = [],  # noqa: B006
    key: Annotated[
        list[Path],
        typer.Option("--key", help="Watch only this exchange's key (PEM); repeatable."),
    ] = [],  # noqa: B006
    entries: Annotated[
        bool, typer.Option("--entries", help="Also print one line per ledger entry.")
    ] = False,
    since: Annotated[
        Path | None,
        typer.Option(
            "--since",
            help="Start from this kept checkpoint (`catallax ledger checkpoint`); needs --key.",
        ),
    ] = None,
) -> None:
    """Verify every checkpoint as it arrives against the one before (signature and RFC
    9162 consistency proof); alarm on a rollback or a split view: print ALARM with both
    checkpoints and exit with status 1. Runs until SIGTERM or SIGINT (status 0).

    With --since FILE the first checkpoint seen must extend the one kept in FILE."""
    import asyncio
    import logging

    from catallax.node.cli.monitor import run_until_signal, sources
    from catallax.node.errors import CheckpointAlarm, NotTrusted
    from catallax.node.monitor import Follower, NetworkView, follow_all

    brokers, addresses, pinned = sources(mqtt, exchange, key)
    kept: dict[str, str] = {}
    if since is not None:
        if len(pinned) != 1:
            fail("--since: give the one exchange's --key it was signed by")
        ((exchange_id, public_key),) = pinned.items()
        note = _kept(since).note  # type: ignore[union-attr]
        try:
            open_checkpoint(note, public_key)
        except LedgerError as exc:
            fail(f"--since {str(since)!r}: {exc}")
        kept[exchange_id] = note
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING,
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )  # fmt: skip
    view = NetworkView(keys=pinned, since=kept)
    follower = Follower(view, only=set(pinned) or None, stop_on_alarm=True)
    if not pinned:
        err.print(NO_ANCHOR_WARNING, markup=False)

    def show(event: dict) -> None:
        kind = event["event"]
        if kind == "checkpoint":
            how = (
                f"consistent with size {event['proved_from']}"
                if event["proved_from"]
                else "the first seen"
            )
            match = {True: "; its entries give its root", False: "; ITS ENTRIES DO NOT GIVE "
                     "ITS ROOT", None: ""}[event["entries_match"]]  # fmt: skip
            _print(f"checkpoint {event['exchange']} {event['origin']} size {event['size']} "
                   f"root {event['root']}: signature ok, {how}{match}")  # fmt: skip
        elif kind == "entry" and entries:
            what = event.get("account") or (
                f"{event['kind']} {event['payer']} -> {event['payee']} {event['amount']} units"
            )
            _print(f"entry {event['exchange']} {event['index']} {event['type']} {what}")
        elif kind == "status":
            _print(f"status {event['exchange']} {event['origin']} {event['state']} "
                   f"{event['address']}")  # fmt: skip

    view.listen(show)

    async def main(stop: asyncio.Event) -> None:
        await follow_all(follower, mqtt=brokers, exchanges=addresses, stop=stop)

    try:
        run_until_signal(main)
    except (CheckpointAlarm, NotTrusted) as exc:
        first = getattr(exc, "first", "")
        second = getattr(exc, "second", "")
        _print(f"ALARM {one_line(str(exc))}")
        _print(f"  first:  {_note_line(first)}")
        _print(f"  second: {_note_line(second)}")
        raise typer.Exit(FAILED) from exc


def _note_line(note: str) -> str:
    """A signed note on one line (its lines joined by `` | ``)."""
    return " | ".join(line for line in note.splitlines() if line) or "(none)"
