"""The rules a transfer must follow, as pure functions shared by commit and audit.

- Evidence: every transfer carries its payer's signed authorisation
  (:mod:`catallax.exchange.ledger.evidence`): a trader's for its bids, costs, rent and
  royalties, the issuer's (the environment's or the exchange's key) for allowances,
  rewards and mints. It must verify under the payer's registered key and list this
  transfer (id, payee, at least this amount, kind) for this exchange, task and round;
  or be a :class:`~catallax.exchange.ledger.evidence.Mandate` (a signed bid message)
  naming the payer on this exchange and task, for a kind it allows in this round
  (a royalty and its tax: this round or a later one), with bids and taxes within its
  ceiling.
  One exception: an issuer whose registered key is the exchange's own key signs its
  debits with the checkpoint that covers them (the exchange signs every entry's tree
  head), so they need no evidence of their own. An account without a key (a keyless
  treasury) cannot pay.
- Balances: the payer loses and the payee gains ``amount``; no account but an issuer
  may go below zero, and no balance may leave the signed 64-bit range.
"""

from __future__ import annotations

from catallax.exchange.crypto import CryptoError, MissingSignature, key_fingerprint
from catallax.exchange.ledger.errors import BadEvidence, InvalidAmount, MissingEvidence, Overdraft
from catallax.exchange.ledger.evidence import (
    CEILING_KINDS,
    LATE_KINDS,
    MANDATE_KINDS,
    Authorization,
    Mandate,
    read_evidence,
)
from catallax.exchange.ledger.model import MAX_AMOUNT, Account, AccountKind, Transfer
from catallax.exchange.ledger.store import AccountState

__all__ = ["Verified", "apply_transfer", "check_evidence", "evidence_required"]


def evidence_required(transfer: Transfer, payer: Account) -> bool:
    """True: every transfer must carry its payer's signed authorisation."""
    return True


class Verified:
    """Memo of checked evidence, kept over one commit or one audit.

    ``auths`` maps an envelope's fields to what it authorises (so one signature is
    checked once); ``spent`` adds up, per mandate and payer, the bids and taxes it has
    paid for (so a ceiling holds over all the transfers it covers).
    """

    __slots__ = ("auths", "spent")

    def __init__(self) -> None:
        self.auths: dict[tuple[bytes, ...], Authorization | Mandate] = {}
        self.spent: dict[tuple[tuple[bytes, ...], str], int] = {}


def check_evidence(
    transfer: Transfer,
    payer: Account,
    verified: Verified | None = None,
    *,
    origin: str,
    exchange_key: bytes | None = None,
) -> None:
    """Raise :class:`MissingEvidence` or :class:`BadEvidence` unless the transfer's
    evidence is its payer's signed authorisation of exactly this transfer on the exchange
    named ``origin`` (see :mod:`catallax.exchange.ledger.evidence`).

    ``verified`` memoises envelopes already checked (one authorisation covers all the
    payer's debits of a round) and what each mandate has paid for; without it, a
    mandate's ceiling is checked against this transfer alone. ``exchange_key`` is the
    ledger's own public key: an issuer holding it needs no evidence (its checkpoint
    signature covers the entry).
    """
    ev = transfer.evidence
    if (
        ev is None
        and payer.kind is AccountKind.ISSUER
        and exchange_key is not None
        and payer.public_key == exchange_key
    ):
        return
    if payer.public_key is None:
        raise MissingEvidence(
            f"transfer {transfer.id!r}: account {payer.id!r} has no key, so it cannot pay"
        )
    if ev is None:
        raise MissingEvidence(
            f"transfer {transfer.id!r}: a {transfer.kind} from {payer.id!r} needs its signed "
            "authorisation"
        )
    if ev.public_key != payer.public_key:
        raise BadEvidence(
            f"transfer {transfer.id!r}: evidence signed by key {key_fingerprint(ev.public_key)}, "
            f"but payer {payer.id!r} has key {key_fingerprint(payer.public_key)}"
        )
    memo = (ev.message.encode(), ev.data, ev.public_key, ev.signature)
    auth = verified.auths.get(memo) if verified is not None else None
    if auth is None:
        try:
            ev.verify()
        except MissingSignature as exc:
            raise MissingEvidence(f"transfer {transfer.id!r}: evidence signature missing") from exc
        except CryptoError as exc:
            raise BadEvidence(f"transfer {transfer.id!r}: {exc}") from exc
        try:
            auth = read_evidence(ev)
        except BadEvidence as exc:
            raise BadEvidence(f"transfer {transfer.id!r}: {exc}") from exc
        if verified is not None:
            verified.auths[memo] = auth
    if isinstance(auth, Mandate):
        _check_mandate(transfer, auth, origin, memo, verified)
    else:
        _check_binding(transfer, auth, origin)


def _check_mandate(
    transfer: Transfer,
    mandate: Mandate,
    origin: str,
    memo: tuple[bytes, ...],
    verified: Verified | None,
) -> None:
    """The mandate names this exchange, task and payer, allows this kind in this round,
    and (for bids and taxes) has room left under the payer's ceiling."""
    where = (("exchange", mandate.exchange, origin), ("task", mandate.task, transfer.task))
    for field, signed, actual in where:
        if signed != actual:
            raise BadEvidence(
                f"transfer {transfer.id!r}: the signed bids are for {field} {signed!r}, "
                f"not {actual!r}"
            )
    kind = transfer.kind.value
    ceiling = mandate.ceilings.get(transfer.payer)
    if ceiling is None:
        raise BadEvidence(
            f"transfer {transfer.id!r}: the signed bids hold no bid of {transfer.payer!r}"
        )
    if kind not in MANDATE_KINDS:
        raise BadEvidence(f"transfer {transfer.id!r}: signed bids cannot authorise a {kind}")
    late_ok = kind in LATE_KINDS
    if transfer.round != mandate.round and not (late_ok and transfer.round > mandate.round):
        raise BadEvidence(
            f"transfer {transfer.id!r}: the signed bids are for round {mandate.round}, "
            f"not {transfer.round}"
        )
    if kind in CEILING_KINDS:
        key = (memo, transfer.payer)
        spent = (verified.spent.get(key, 0) if verified is not None else 0) + transfer.amount
        if spent > ceiling:
            raise BadEvidence(
                f"transfer {transfer.id!r}: {transfer.payer!r} bid at most {ceiling} units in "
                f"round {mandate.round}; this {kind} brings its purchases to {spent}"
            )
        if verified is not None:
            verified.spent[key] = spent


def _check_binding(transfer: Transfer, auth: Authorization, origin: str) -> None:
    """The authorisation names this exchange, task, round and payer, and this transfer."""
    where = (
        ("exchange", auth.exchange, origin),
        ("task", auth.task, transfer.task),
        ("round", auth.round, transfer.round),
        ("payer", auth.payer, transfer.payer),
    )
    for field, signed, actual in where:
        if signed != actual:
            raise BadEvidence(
                f"transfer {transfer.id!r}: evidence authorises {field} {signed!r}, not {actual!r}"
            )
    debit = auth.allows(transfer.id)
    if debit is None:
        raise BadEvidence(f"transfer {transfer.id!r}: the evidence does not authorise this id")
    if debit.payee != transfer.payee or debit.kind != transfer.kind.value:
        raise BadEvidence(
            f"transfer {transfer.id!r}: the evidence authorises a {debit.kind} to "
            f"{debit.payee!r}, not a {transfer.kind} to {transfer.payee!r}"
        )
    if transfer.amount > debit.amount:
        raise BadEvidence(
            f"transfer {transfer.id!r}: {transfer.amount} units, but the evidence "
            f"authorises at most {debit.amount}"
        )


def apply_transfer(
    transfer: Transfer, payer: AccountState, payee: AccountState
) -> tuple[AccountState, AccountState]:
    """The payer's and payee's states after the transfer; :class:`Overdraft` if refused."""
    paid = payer.balance - transfer.amount
    if paid < 0 and payer.account.kind is not AccountKind.ISSUER:
        raise Overdraft(
            f"transfer {transfer.id!r}: {payer.account.id!r} holds {payer.balance} units, "
            f"cannot pay {transfer.amount}"
        )
    received = payee.balance + transfer.amount
    if paid < -MAX_AMOUNT or received > MAX_AMOUNT:
        raise InvalidAmount(
            f"transfer {transfer.id!r}: a balance would leave the range +-{MAX_AMOUNT} units"
        )
    return AccountState(payer.account, paid), AccountState(payee.account, received)
