"""Signed bids as ledger evidence: member accounts, and the ledger's reader of ``Bids``.

On the network a trader's debits are authorised by its signed ``Bids`` message for the
round (``catallax.v1``): the exchange stores that envelope, exactly as received, as the
evidence of every debit it authorises. The ledger reads it as a
:class:`~catallax.exchange.ledger.evidence.Mandate` through :func:`read_bids`, which
:mod:`catallax.node` registers on import (the ledger itself never parses protobuf).

A trader identity is one Ed25519 key; a population of ``n`` members trades as ``n``
accounts, all opened with that key, named by :func:`member_account`. A bid names its
member, so the mandate's ceilings are per account: the sum of that member's bids in the
round, in units. A negative bid (an ask: the member wants to be paid to take the state)
names its account but adds nothing to the ceiling: it pays nothing; what its signer may
pay as the seller of that state in the next round is bounded by its balance.
"""

from __future__ import annotations

import hashlib
import re
from typing import TypeVar

from catallax.exchange.crypto import SignedEnvelope
from catallax.exchange.ledger.errors import BadEvidence
from catallax.exchange.ledger.evidence import Mandate
from catallax.node.errors import Malformed

M = TypeVar("M")

__all__ = [
    "TASK_NAME",
    "check_task_name",
    "evidence_body",
    "identity_name",
    "member_account",
    "read_bids",
]

#: What a task name may be: a letter or digit, then letters, digits, ``_`` or ``-``.
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_task_name(name: str) -> str:
    """``name`` if it is a valid task name, else :class:`Malformed` (a ``ValueError``)
    saying why."""
    if not isinstance(name, str) or not TASK_NAME.fullmatch(name):
        raise Malformed(
            f"task name {name!r}: expected 1-64 letters, digits, '_' or '-', starting with "
            "a letter or digit"
        )
    return name


def identity_name(public_key: bytes) -> str:
    """The name of an identity in account ids: 32 hex digits of its key's SHA-256
    (128 bits, so that nobody can make a key with another's name)."""
    return hashlib.sha256(bytes(public_key)).hexdigest()[:32]


def member_account(task: str, public_key: bytes, member: int) -> str:
    """The account of member ``member`` of the identity ``public_key`` on ``task``."""
    return f"{task}.{identity_name(public_key)}.{int(member)}"


def evidence_body(evidence: SignedEnvelope, message: type[M], what: str) -> M:
    """The ``message`` that ``evidence`` signed (``what``: its name, for the error).

    Raises:
        BadEvidence: the bytes do not parse as ``message``.
    """
    from google.protobuf.message import DecodeError

    try:
        return message.FromString(evidence.data)  # type: ignore[attr-defined]
    except DecodeError as exc:
        raise BadEvidence(f"{what} body that does not parse ({exc})") from None


def read_bids(evidence: SignedEnvelope) -> Mandate:
    """A signed ``Bids`` message as the mandate it gives (the signature is checked by
    the ledger before it trusts what this returns).

    Raises:
        BadEvidence: the body does not parse.
    """
    from catallax.v1 import exchange_pb2

    body = evidence_body(evidence, exchange_pb2.Bids, "a Bids")
    ceilings: dict[str, int] = {}
    for bid in body.bids:
        account = member_account(body.task, evidence.public_key, bid.member)
        ceilings[account] = ceilings.get(account, 0) + max(int(bid.amount), 0)
    return Mandate(body.exchange, body.task, int(body.round), ceilings, body.rules.hex())
