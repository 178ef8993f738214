"""``catallax ledger``: inspect and check a ledger folder (``DIR/ledger.sqlite``).

Every command opens the ledger read-only and never writes to it. ``verify`` recomputes
every hash and the tree and checks every checkpoint signature; ``audit`` also replays
every entry (evidence signatures, balances). A ledger that fails prints
``FAILED entry <n>: <what>`` and exits with status 1; bad input (no such folder, an
index out of range) is one line on stderr and status 2.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from catallax.exchange.crypto import key_fingerprint
from catallax.exchange.ledger import (
    UNITS_PER_CREDIT,
    CorruptLedger,
    Ledger,
    LedgerError,
    LedgerStateError,
    Opening,
    ProofError,
    Transfer,
    open_ledger,
    verify_inclusion,
)
from catallax.node.cli._common import fail, new_app, one_line, out
from catallax.node.keys import KeyFileError, load_public_key

app = new_app("Inspect and verify a signed wealth ledger folder.")

#: Exit status of a ledger that fails verification or audit.
FAILED = 1

_Dir = Annotated[Path, typer.Argument(help="The ledger folder (holding ledger.sqlite).")]
_Key = Annotated[
    Path | None,
    typer.Option("--key", help="The exchange's public key file; checkpoints must be signed by it."),
]
_Json = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _failed(exc: CorruptLedger) -> typer.Exit:
    message = one_line(str(exc))
    where = f"entry {exc.index}" if exc.index is not None else "ledger"
    if not message.startswith(f"{where}:"):
        message = f"{where}: {message}"
    out.print(f"FAILED {message}", markup=False)
    return typer.Exit(FAILED)


@contextmanager
def _opened(folder: Path, *, verify: bool, key_file: Path | None = None) -> Iterator[Ledger]:
    """Open ``folder`` read-only; map damage to exit 1 and bad input to exit 2."""
    if not folder.is_dir():
        fail(f"{folder}: no such ledger folder")
    expected = None
    if key_file is not None:
        try:
            expected = load_public_key(key_file)
        except KeyFileError as exc:
            fail(str(exc))
    try:
        ledger = open_ledger(folder, verify=verify)
    except CorruptLedger as exc:
        raise _failed(exc) from exc
    except LedgerStateError as exc:
        fail(str(exc))
    try:
        if expected is not None and expected != ledger.public_key:
            out.print(
                f"FAILED ledger: checkpoints are signed by key {key_fingerprint(ledger.public_key)}"
                f", not by {key_fingerprint(expected)} ({key_file})",
                markup=False,
            )
            raise typer.Exit(FAILED)
        yield ledger
    except CorruptLedger as exc:
        raise _failed(exc) from exc
    finally:
        ledger.close()


@app.command("verify")
def verify(folder: _Dir, key: _Key = None) -> None:
    """Recompute every hash and the tree; check every checkpoint signature."""
    with _opened(folder, verify=False, key_file=key) as ledger:
        report = ledger.verify()
        out.print(
            f"ok: {report.size} entries, root {_b64(report.root)}, "
            f"{report.checkpoints} checkpoints verified (origin {ledger.origin})",
            markup=False,
        )


@app.command("audit")
def audit(folder: _Dir, key: _Key = None) -> None:
    """Verify, then replay every entry: evidence signatures and balances."""
    with _opened(folder, verify=False, key_file=key) as ledger:
        report = ledger.audit()
        out.print(
            f"ok: {report.size} entries, {report.accounts} accounts, {report.transfers} "
            f"transfers, {report.evidence} evidence signatures checked, balances sum to 0, "
            f"root {_b64(report.root)}",
            markup=False,
        )


@app.command("balances")
def balances(folder: _Dir, as_json: _Json = False) -> None:
    """Every account's kind and balance (units; 1 credit = 10^6 units)."""
    with _opened(folder, verify=False) as ledger:
        states = ledger.accounts()
        if as_json:
            rows = [
                {"account": s.account.id, "kind": s.account.kind.value, "balance": s.balance}
                for s in states
            ]
            out.print(json.dumps({"size": ledger.size, "accounts": rows}), markup=False)
            return
        width = max([len(s.account.id) for s in states] + [7])
        out.print(f"{'account':<{width}}  {'kind':<8}  {'units':>20}  {'credits':>16}")
        for s in states:
            credits = s.balance / UNITS_PER_CREDIT
            out.print(
                f"{s.account.id:<{width}}  {s.account.kind.value:<8}  {s.balance:>20}  "
                f"{credits:>16.6f}",
                markup=False,
            )


def _describe(index: int, entry: Opening | Transfer) -> dict:
    if isinstance(entry, Opening):
        key = entry.account.public_key
        return {
            "index": index,
            "type": "open",
            "account": entry.account.id,
            "kind": entry.account.kind.value,
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
                out.print(json.dumps(d), markup=False)
            elif d["type"] == "open":
                out.print(f"{index:>8}  open      {d['account']} ({d['kind']})", markup=False)
            else:
                ev = d["evidence"]
                signed = "" if ev is None else f"  [{ev['message']} signed]"
                out.print(
                    f"{index:>8}  {d['kind']:<9} {d['id']}: {d['payer']} -> {d['payee']} "
                    f"{d['amount']} units  task={d['task'] or '-'} round={d['round']}{signed}",
                    markup=False,
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
        out.print(json.dumps(result, indent=2), markup=False)
