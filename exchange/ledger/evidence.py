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

A second form, the :class:`Mandate`, is what a trader signs on the network before any
transfer id exists: its sealed bids for one round (the ``Bids`` message of
``catallax.v1``). A mandate names the exchange, the task, the round and, for each of the
signer's accounts that bid, the most it pays in that round for what it buys (the sum
of its bids, in units). It authorises, for those accounts only,

- ``bid`` and ``tax`` debits in that round, together at most the account's ceiling
  (the ledger adds up what each mandate has paid for, so the ceiling holds over all
  the round's transfers);
- the consequences of owning what it bought, under the task's rules (the rules'
  digest is part of the signed bid): ``cost`` and ``rent`` in that round; an ``ask``
  in the next round (where the next state's price is negative, the owner pays its
  buyer to take it: a state is held for one round and sold in the next); and a
  ``royalty`` and its ``royalty_tax`` in that round or a later one (they are settled
  when the episode ends).

Their amounts are bounded by the payer's balance (no trader account may go below zero),
not by the mandate: recomputing a rent, a cost or the next round's price needs the
market's state. A negative bid (an ask to be paid for taking the state) adds nothing to
its account's ceiling: it pays nothing.

A third form, the :class:`ProductionReport` (message name ``Production``, JSON written
like an authorisation), is what an environment signs about a trader's recipe runs: for
one exchange, task and round, each ``production`` transfer it justifies, itemised as
``[transfer id, producer account, asset, units, "input" | "output"]``: an input is the
producer's good consumed (producer to the good's issuer), an output a good made for it
(issuer to producer). The ledger accepts a production only with such a report, signed
by the key of the good's issuer account and listing exactly that transfer (id,
producer, asset, units, direction), and only when every item of the report is recorded
(in the same round), so that outputs are never recorded without their inputs.

The ledger
does not parse protobuf (``exchange`` imports nothing of ``node``); the network
registers a reader for its message with :func:`register_reader`, and a ledger holding
such evidence is audited by a process that has imported that reader (``catallax.node``
does so on import).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from catallax.exchange.crypto import Ed25519PrivateKey, SignedEnvelope
from catallax.exchange.ledger.errors import BadEvidence, MissingEvidence
from catallax.exchange.ledger.model import Transfer, check_asset

__all__ = [
    "DEBITS_MESSAGE",
    "INPUT",
    "MANDATE_KINDS",
    "NEXT_KINDS",
    "OUTPUT",
    "PRODUCTION_MESSAGE",
    "Authorization",
    "Debit",
    "Evidence",
    "Mandate",
    "ProductionItem",
    "ProductionReport",
    "authorize",
    "authorize_transfers",
    "decode_authorization",
    "decode_production",
    "read_evidence",
    "register_reader",
    "report_production",
]

#: The message name of an authorisation (the domain of its signature).
DEBITS_MESSAGE = "Debits"
#: The message name of an environment's production report.
PRODUCTION_MESSAGE = "Production"
#: A production item's direction: the producer's good consumed, or a good made for it.
INPUT, OUTPUT = "input", "output"


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


#: Transfer kinds a mandate can authorise: what a purchase costs and entails.
MANDATE_KINDS = frozenset({"bid", "tax", "cost", "rent", "ask", "royalty", "royalty_tax"})
#: The kinds that count against a mandate's ceilings.
CEILING_KINDS = frozenset({"bid", "tax"})
#: The kinds a mandate also authorises in later rounds (settled at the episode end).
LATE_KINDS = frozenset({"royalty", "royalty_tax"})
#: The kinds a mandate authorises only in the round after its own (the sale of what it
#: bought: an ask, where that sale's price is negative).
NEXT_KINDS = frozenset({"ask"})


@dataclass(frozen=True, slots=True)
class Mandate:
    """A signed bid message read as evidence (see the module docstring).

    Attributes:
        exchange, task, round: where and when the bids were made.
        ceilings: account id -> the most it pays for purchases in ``round`` (units).
        rules: the digest of the task's rules the signer accepted (hex; informational).
        kinds: the transfer kinds it authorises (a deep market's ``Bids``:
            :data:`MANDATE_KINDS`; a wide market's ``Orders``: trades and deliveries).
        ceiling_kinds: the kinds that count against the ceilings (the others are
            bounded by the payer's balance).
    """

    exchange: str
    task: str
    round: int
    ceilings: Mapping[str, int] = field(default_factory=dict)
    rules: str = ""
    kinds: frozenset[str] = MANDATE_KINDS
    ceiling_kinds: frozenset[str] = CEILING_KINDS


@dataclass(frozen=True, slots=True)
class ProductionItem:
    """One production transfer a report justifies.

    Attributes:
        id: the transfer id.
        account: the producer's account of ``asset`` (the trader side of the transfer).
        asset: the good (``"good:<name>"``).
        amount: units of the good (exactly the transfer's amount).
        direction: ``"input"`` (consumed: producer to issuer) or ``"output"`` (made:
            issuer to producer).
    """

    id: str
    account: str
    asset: str
    amount: int
    direction: str


@dataclass(frozen=True, slots=True)
class ProductionReport:
    """What an environment reports of recipe runs in one round of one task on one
    exchange: the production transfers they give, itemised (see the module docstring)."""

    exchange: str
    task: str
    round: int
    items: tuple[ProductionItem, ...]

    def encode(self) -> bytes:
        """The canonical bytes of the body (what is signed)."""
        body = {
            "exchange": self.exchange,
            "task": self.task,
            "round": self.round,
            "items": [[i.id, i.account, i.asset, i.amount, i.direction] for i in self.items],
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()

    def item(self, transfer_id: str) -> ProductionItem | None:
        """The listed item with this transfer id, or None."""
        for i in self.items:
            if i.id == transfer_id:
                return i
        return None


#: What a piece of evidence can say.
Evidence = Authorization | Mandate | ProductionReport
#: Readers of evidence messages other than ``Debits`` and ``Production``, by message name.
_READERS: dict[str, Callable[[SignedEnvelope], Evidence]] = {}


def register_reader(message: str, reader: Callable[[SignedEnvelope], Evidence]) -> None:
    """Let the ledger read evidence of ``message`` with ``reader`` (which raises
    :class:`BadEvidence` for a body it cannot read). Registering again replaces it."""
    if message in (DEBITS_MESSAGE, PRODUCTION_MESSAGE):
        raise BadEvidence(f"{message!r} evidence is read by the ledger itself")
    _READERS[message] = reader


def read_evidence(evidence: SignedEnvelope) -> Evidence:
    """What an evidence envelope authorises (its signature is not checked here).

    Raises:
        BadEvidence: a message no reader knows, or a body its reader refuses.
    """
    if evidence.message == DEBITS_MESSAGE:
        return decode_authorization(evidence)
    if evidence.message == PRODUCTION_MESSAGE:
        return decode_production(evidence)
    reader = _READERS.get(evidence.message)
    if reader is None:
        raise BadEvidence(
            f"evidence is a {evidence.message!r} message, which no reader here knows "
            "(network bids are read once catallax.node is imported)"
        )
    out = reader(evidence)
    if not isinstance(out, Authorization | Mandate | ProductionReport):
        raise BadEvidence(f"the {evidence.message!r} reader returned {type(out).__name__}")
    return out


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


def report_production(key: Ed25519PrivateKey, report: ProductionReport) -> SignedEnvelope:
    """Sign ``report`` with the environment's key: the evidence of its productions."""
    return SignedEnvelope.seal(key, PRODUCTION_MESSAGE, report.encode())


def _json_body(evidence: SignedEnvelope) -> object:
    try:
        return json.loads(evidence.data, object_pairs_hook=_unique, parse_constant=_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEvidence(f"evidence body is not JSON ({exc})") from None


def decode_production(evidence: SignedEnvelope) -> ProductionReport:
    """The production report an evidence envelope carries (its signature is not checked
    here).

    Raises:
        BadEvidence: not a ``Production`` message, not well-formed JSON, a field of the
            wrong type, an asset that is not a good, or a transfer id listed twice.
    """
    if evidence.message != PRODUCTION_MESSAGE:
        raise BadEvidence(f"evidence is a {evidence.message!r} message, not {PRODUCTION_MESSAGE!r}")
    body = _json_body(evidence)
    if not isinstance(body, dict) or set(body) != {"exchange", "task", "round", "items"}:
        raise BadEvidence("production report must hold exchange, task, round and items")
    for name in ("exchange", "task"):
        if not isinstance(body[name], str):
            raise BadEvidence(f"production report {name}: expected a string")
    if type(body["round"]) is not int or body["round"] < 0:
        raise BadEvidence("production report round: expected an int >= 0")
    if not isinstance(body["items"], list):
        raise BadEvidence("production report items: expected a list")
    items = []
    for item in body["items"]:
        ok = (
            isinstance(item, list)
            and len(item) == 5
            and all(isinstance(item[k], str) for k in (0, 1, 2, 4))
            and type(item[3]) is int
            and item[3] > 0
            and item[4] in (INPUT, OUTPUT)
        )
        if not ok:
            raise BadEvidence(
                "production report items: each is [transfer id, account, asset, units > 0, "
                '"input" or "output"]'
            )
        if item[2] == "credits":
            raise BadEvidence("production report items: credits are not produced")
        try:
            check_asset(item[2], "production report asset")
        except ValueError as exc:
            raise BadEvidence(str(exc)) from None
        items.append(ProductionItem(*item))
    if len({i.id for i in items}) != len(items):
        raise BadEvidence("production report items: a transfer id is listed twice")
    return ProductionReport(body["exchange"], body["task"], body["round"], tuple(items))


def decode_authorization(evidence: SignedEnvelope) -> Authorization:
    """The authorisation an evidence envelope carries (its signature is not checked here).

    Raises:
        BadEvidence: not a ``Debits`` message, not well-formed JSON, or a field of the wrong
            type, named in the message.
    """
    if evidence.message != DEBITS_MESSAGE:
        raise BadEvidence(f"evidence is a {evidence.message!r} message, not {DEBITS_MESSAGE!r}")
    body = _json_body(evidence)
    if not isinstance(body, dict) or set(body) != {"exchange", "task", "round", "payer", "debits"}:
        raise BadEvidence("evidence body must hold exchange, task, round, payer and debits")
    for name in ("exchange", "task", "payer"):
        if not isinstance(body[name], str):
            raise BadEvidence(f"evidence {name}: expected a string")
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
