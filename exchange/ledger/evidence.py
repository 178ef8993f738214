"""Evidence bound to the transfers it authorises.

A debit is authorised by a signed :class:`Authorization`: the payer's Ed25519
signature (message name ``Debits``) over a JSON body naming the exchange (the
ledger's origin), the task, the round, the payer, and each debit it allows, itemised:
transfer id, payee, amount in units, kind and episode slot. The ledger accepts a
transfer only if its evidence verifies under the payer's registered key *and* lists
exactly that transfer (id, payee, amount, kind) for that exchange, task and round. So
one signature cannot pay for anything it does not name: not another round, not another
amount, not another task or exchange; and since a listed item names its transfer id,
which the ledger records once, no piece of evidence is spent twice.

The body is JSON; :meth:`Authorization.encode` writes it with sorted keys and no spaces.
The ledger reads any spelling of the same object (the signature fixes the bytes, so a
spelling cannot be changed by anyone but the signer) but refuses what parsers could
read differently: a repeated key, ``NaN`` or ``Infinity``, a field of another type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from catallax.exchange.crypto import Ed25519PrivateKey, SignedEnvelope
from catallax.exchange.ledger.errors import BadEvidence, MissingEvidence
from catallax.exchange.ledger.model import Transfer

__all__ = [
    "DEBITS_MESSAGE",
    "Authorization",
    "Debit",
    "authorize",
    "authorize_transfers",
    "decode_authorization",
]

#: The message name of an authorisation (the domain of its signature).
DEBITS_MESSAGE = "Debits"


@dataclass(frozen=True, slots=True)
class Debit:
    """One debit an authorisation allows: transfer id, payee, units, kind, episode slot."""

    id: str
    payee: str
    amount: int
    kind: str
    slot: int = -1


@dataclass(frozen=True, slots=True)
class Authorization:
    """What a payer authorises in one round of one task on one exchange."""

    exchange: str
    task: str
    round: int
    payer: str
    debits: tuple[Debit, ...]

    def encode(self) -> bytes:
        """The canonical bytes of the body (what is signed)."""
        body = {
            "exchange": self.exchange,
            "task": self.task,
            "round": self.round,
            "payer": self.payer,
            "debits": [[d.id, d.payee, d.amount, d.kind, d.slot] for d in self.debits],
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()

    def allows(self, transfer_id: str) -> Debit | None:
        """The listed debit with this transfer id, or None."""
        for d in self.debits:
            if d.id == transfer_id:
                return d
        return None


def _unique(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object without repeated keys (which parsers resolve differently)."""
    body = dict(pairs)
    if len(body) != len(pairs):
        raise BadEvidence("evidence body repeats a key")
    return body


def _constant(name: str) -> None:
    raise BadEvidence(f"evidence body holds {name}, which is not a JSON number")


def authorize(key: Ed25519PrivateKey, authorization: Authorization) -> SignedEnvelope:
    """Sign ``authorization`` with the payer's key: the evidence of its debits."""
    return SignedEnvelope.seal(key, DEBITS_MESSAGE, authorization.encode())


def decode_authorization(evidence: SignedEnvelope) -> Authorization:
    """The authorisation an evidence envelope carries (its signature is not checked here).

    Raises:
        BadEvidence: not a ``Debits`` message, not well-formed JSON, or a field of the wrong
            type, named in the message.
    """
    if evidence.message != DEBITS_MESSAGE:
        raise BadEvidence(f"evidence is a {evidence.message!r} message, not {DEBITS_MESSAGE!r}")
    try:
        body = json.loads(evidence.data, object_pairs_hook=_unique, parse_constant=_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEvidence(f"evidence body is not JSON ({exc})") from None
    if not isinstance(body, dict) or set(body) != {"exchange", "task", "round", "payer", "debits"}:
        raise BadEvidence("evidence body must hold exchange, task, round, payer and debits")
    for field in ("exchange", "task", "payer"):
        if not isinstance(body[field], str):
            raise BadEvidence(f"evidence {field}: expected a string")
    if type(body["round"]) is not int or body["round"] < 0:
        raise BadEvidence("evidence round: expected an int >= 0")
    debits = []
    if not isinstance(body["debits"], list):
        raise BadEvidence("evidence debits: expected a list")
    for item in body["debits"]:
        ok = (
            isinstance(item, list)
            and len(item) == 5
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and type(item[2]) is int
            and item[2] > 0
            and isinstance(item[3], str)
            and type(item[4]) is int
        )
        if not ok:
            raise BadEvidence(
                "evidence debits: each item is [transfer id, payee, units > 0, kind, slot]"
            )
        debits.append(Debit(*item))
    return Authorization(body["exchange"], body["task"], body["round"], body["payer"],
                         tuple(debits))  # fmt: skip


def authorize_transfers(
    transfers: Iterable[Transfer], keys: Mapping[str, Ed25519PrivateKey], origin: str
) -> list[Transfer]:
    """The transfers, each with its payer's signed authorisation of exactly that transfer
    (``keys`` maps payer ids to keys; ``origin`` names the exchange).

    One signature per transfer keeps every entry small (an authorisation listing a whole
    round's debits would be stored in full with each of them).

    Raises:
        MissingEvidence: a payer has no key in ``keys``.
    """
    out = []
    for t in transfers:
        key = keys.get(t.payer)
        if key is None:
            raise MissingEvidence(f"no key to sign for payer {t.payer!r}")
        debit = Debit(t.id, t.payee, t.amount, t.kind.value)
        evidence = authorize(key, Authorization(origin, t.task, t.round, t.payer, (debit,)))
        out.append(replace(t, evidence=evidence))
    return out
