"""The canonical byte encoding of log entries: the leaf data of the Merkle tree.

One encoding per value, so equal entries have equal bytes and equal leaf hashes.
All integers are big-endian and unsigned; strings are UTF-8 (ASCII in practice) with
a 2-byte length, byte strings with a 4-byte length::

    entry    = version:u8  type:u8  body
    version 1: an entry of credits (every entry written before goods, unchanged)
    opening  (type 1) = str id, str kind, bytes public_key (empty: none)
    transfer (type 2) = str id, str payer, str payee, u64 amount, str kind, str task,
                        u64 round, u8 has_evidence,
                        [str message, bytes data, bytes public_key, bytes signature]
    version 2: an entry of a good (asset "good:<name>")
    opening  (type 1) = version 1's fields, then str asset
    transfer (type 2) = version 1's fields up to round, then str asset, then
                        u8 has_evidence and the evidence as in version 1

An entry of credits is always version 1 (so old ledgers verify unchanged and no value
has two encodings); a version-2 entry naming credits is refused. Decoding is strict:
trailing bytes, short reads, unknown versions or types, and field values the
constructors refuse all raise :class:`MalformedEntry`.
"""

from __future__ import annotations

import struct

from catallax.exchange.crypto import SignedEnvelope
from catallax.exchange.ledger.errors import MalformedEntry, NotAnEntry, TransferError
from catallax.exchange.ledger.model import CREDITS, Account, Entry, Opening, Transfer

__all__ = ["ASSET_ENCODING_VERSION", "ENCODING_VERSION", "decode_entry", "encode_entry"]

#: The first byte of every encoded entry of credits.
ENCODING_VERSION = 1
#: The first byte of an entry of a good (it carries the asset's name).
ASSET_ENCODING_VERSION = 2
_OPENING = 1
_TRANSFER = 2
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_TRANSFER_HEAD = bytes((ENCODING_VERSION, _TRANSFER))
_GOODS_TRANSFER_HEAD = bytes((ASSET_ENCODING_VERSION, _TRANSFER))


def _str(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _U16.pack(len(raw)) + raw


def _bytes(value: bytes) -> bytes:
    return _U32.pack(len(value)) + value


def encode_entry(entry: Entry) -> bytes:
    """The canonical bytes of an entry (the leaf data of the Merkle tree)."""
    if isinstance(entry, Transfer):
        # Written out flat: this runs once per transfer on the commit path.
        tid, payer, payee = entry.id.encode(), entry.payer.encode(), entry.payee.encode()
        kind, task = entry.kind.value.encode(), entry.task.encode()
        good = entry.asset != CREDITS
        parts = [
            _GOODS_TRANSFER_HEAD if good else _TRANSFER_HEAD,
            _U16.pack(len(tid)),
            tid,
            _U16.pack(len(payer)),
            payer,
            _U16.pack(len(payee)),
            payee,
            _U64.pack(entry.amount),
            _U16.pack(len(kind)),
            kind,
            _U16.pack(len(task)),
            task,
            _U64.pack(entry.round),
        ]
        if good:
            parts.append(_str(entry.asset))
        ev = entry.evidence
        if ev is None:
            parts.append(b"\x00")
        else:
            parts += [
                b"\x01",
                _str(ev.message),
                _bytes(ev.data),
                _bytes(ev.public_key),
                _bytes(ev.signature),
            ]
        return b"".join(parts)
    if isinstance(entry, Opening):
        account = entry.account
        good = account.asset != CREDITS
        parts = [
            bytes((ASSET_ENCODING_VERSION if good else ENCODING_VERSION, _OPENING)),
            _str(account.id),
            _str(account.kind.value),
            _bytes(account.public_key or b""),
        ]
        if good:
            parts.append(_str(account.asset))
        return b"".join(parts)
    raise NotAnEntry(f"entry: expected an Opening or a Transfer, got {type(entry).__name__}")


class _Reader:
    """Reads canonical fields from entry bytes, refusing to run past their end."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.end = len(data)
        self.pos = 0

    def _need(self, n: int) -> None:
        raise MalformedEntry(f"entry: truncated at byte {self.pos} (needs {n} more)")

    def u8(self) -> int:
        pos = self.pos
        if pos >= self.end:
            self._need(1)
        self.pos = pos + 1
        return self.data[pos]

    def u64(self) -> int:
        pos = self.pos
        if pos + 8 > self.end:
            self._need(8)
        self.pos = pos + 8
        return _U64.unpack_from(self.data, pos)[0]

    def str(self) -> str:
        pos = self.pos
        if pos + 2 > self.end:
            self._need(2)
        (n,) = _U16.unpack_from(self.data, pos)
        start, stop = pos + 2, pos + 2 + n
        if stop > self.end:
            self.pos = start
            self._need(n)
        self.pos = stop
        try:
            return self.data[start:stop].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedEntry(f"entry: a string is not UTF-8 at byte {stop}") from exc

    def bytes(self) -> bytes:
        pos = self.pos
        if pos + 4 > self.end:
            self._need(4)
        (n,) = _U32.unpack_from(self.data, pos)
        start, stop = pos + 4, pos + 4 + n
        if stop > self.end:
            self.pos = start
            self._need(n)
        self.pos = stop
        return self.data[start:stop]


def _good(r: _Reader) -> str:
    """The asset of a version-2 entry: a good (credits are encoded as version 1)."""
    asset = r.str()
    if asset == CREDITS:
        raise MalformedEntry(
            f"entry: a version {ASSET_ENCODING_VERSION} entry names {CREDITS!r}, which are "
            f"encoded as version {ENCODING_VERSION} (not canonical)"
        )
    return asset


def decode_entry(data: bytes) -> Entry:
    """Parse canonical entry bytes; :class:`MalformedEntry` unless they are exactly that."""
    r = _Reader(bytes(data))
    try:
        version, kind = r.u8(), r.u8()
        if version not in (ENCODING_VERSION, ASSET_ENCODING_VERSION):
            raise MalformedEntry(f"entry: unknown encoding version {version}")
        good = version == ASSET_ENCODING_VERSION
        if kind == _OPENING:
            account_id, account_kind, key = r.str(), r.str(), r.bytes()
            asset = _good(r) if good else CREDITS
            entry: Entry = Opening(Account(account_id, account_kind, key or None, asset))  # type: ignore[arg-type]
        elif kind == _TRANSFER:
            fields = (r.str(), r.str(), r.str(), r.u64(), r.str(), r.str(), r.u64())
            asset = _good(r) if good else CREDITS
            flag = r.u8()
            if flag not in (0, 1):
                raise MalformedEntry(f"entry: evidence flag must be 0 or 1, got {flag}")
            evidence = SignedEnvelope(r.str(), r.bytes(), r.bytes(), r.bytes()) if flag else None
            entry = Transfer(*fields, evidence=evidence, asset=asset)  # type: ignore[arg-type]
        else:
            raise MalformedEntry(f"entry: unknown entry type {kind}")
    except TransferError as exc:
        raise MalformedEntry(f"entry: a field is invalid ({exc})") from exc
    if r.pos != r.end:
        raise MalformedEntry(f"entry: {r.end - r.pos} trailing bytes")
    return entry
