"""The rules a transfer must follow, as pure functions shared by commit and audit.

- Evidence: every transfer carries its payer's signed authorisation
  (:mod:`catallax.exchange.ledger.evidence`): a trader's for its bids, costs, rent and
  royalties, the issuer's (the environment's or the exchange's key) for allowances,
  rewards and mints. It must verify under the payer's registered key and list this
  transfer (id, payee, at least this amount, kind) for this exchange, task and round;
  or be a :class:`~catallax.exchange.ledger.evidence.Mandate` (a signed bid message)
  naming the payer on this exchange and task, for a kind it allows in this round
  (an ask: the next round; a royalty and its tax: this round or a later one), with
  bids and taxes within its ceiling.
  One exception: an issuer whose registered key is the exchange's own key signs its
  debits with the checkpoint that covers them (the exchange signs every entry's tree
  head), so they need no evidence of their own. An account without a key (a keyless
  treasury) cannot pay.
- Productions (a good made for a trader or consumed from it by the good's issuer)
  always carry the environment's signed
  :class:`~catallax.exchange.ledger.evidence.ProductionReport`, signed by the issuer
  side's registered key (also when that is the exchange's key), listing the transfer
  exactly (id, producer, asset, units, direction); every item of a report must be
  recorded (:func:`unrecorded` names the ones missing), so that a recipe's outputs are
  never recorded without its inputs.
- Assets: payer and payee hold the transfer's asset (:class:`AssetMismatch`).
- Balances: the payer loses and the payee gains ``amount``; no account but an issuer
  may go below zero, and no balance may leave the signed 64-bit range.
"""

from __future__ import annotations

from catallax.exchange.crypto import CryptoError, MissingSignature, key_fingerprint
from catallax.exchange.ledger.errors import (
    AssetMismatch,
    BadEvidence,
    InvalidAmount,
    InvalidTransfer,
    MissingEvidence,
    Overdraft,
)
from catallax.exchange.ledger.evidence import (
    INPUT,
    LATE_KINDS,
    NEXT_KINDS,
    OUTPUT,
    PRODUCTION_MESSAGE,
    Authorization,
    Evidence,
    Mandate,
    ProductionReport,
    read_evidence,
)
from catallax.exchange.ledger.model import (
    MAX_AMOUNT,
    Account,
    AccountKind,
    Transfer,
    TransferKind,
)
from catallax.exchange.ledger.store import AccountState

__all__ = [
    "Verified",
    "apply_transfer",
    "check_assets",
    "check_evidence",
    "evidence_required",
    "unrecorded",
]

Memo = tuple[bytes, ...]


def evidence_required(transfer: Transfer, payer: Account) -> bool:
    """True: every transfer must carry its payer's signed authorisation."""
    return True


class Verified:
    """Memo of checked evidence, kept over one commit or one audit.

    ``auths`` maps an envelope's fields to what it authorises (so one signature is
    checked once); ``spent`` adds up, per mandate and payer, the bids and taxes it has
    paid for (so a ceiling holds over all the transfers it covers); ``recorded`` holds,
    per production report, the ids of its items recorded so far with it as their
    evidence (:meth:`record`), so that :func:`unrecorded` can name the items left out.
    """

    __slots__ = ("auths", "recorded", "spent")

    def __init__(self) -> None:
        self.auths: dict[Memo, Evidence] = {}
        self.spent: dict[tuple[Memo, str], int] = {}
        self.recorded: dict[Memo, set[str]] = {}

    def record(self, transfer: Transfer) -> None:
        """Note a transfer recorded (staged in a round, or replayed): for a production,
        its report's item is done. Call it once the transfer has passed every check."""
        ev = transfer.evidence
        if transfer.kind is TransferKind.PRODUCTION and ev is not None:
            memo = (ev.message.encode(), ev.data, ev.public_key, ev.signature)
            self.recorded.setdefault(memo, set()).add(transfer.id)


def unrecorded(verified: Verified) -> list[str]:
    """The ids of the items of every production report with a recorded item (see
    :meth:`Verified.record`) that were not recorded with it, sorted; empty when every
    report used was recorded whole.

    A round recording any item of a report must record all of them (a report recorded
    earlier is whole in the log, so its items come again only as duplicates, which are
    skipped and never recorded)."""
    missing: set[str] = set()
    for memo, done in verified.recorded.items():
        report = verified.auths.get(memo)
        if isinstance(report, ProductionReport):
            missing.update(i.id for i in report.items if i.id not in done)
    return sorted(missing)


def check_assets(transfer: Transfer, payer: Account, payee: Account) -> None:
    """:class:`AssetMismatch` unless both accounts hold the asset the transfer names."""
    for role, account in (("payer", payer), ("payee", payee)):
        if account.asset != transfer.asset:
            raise AssetMismatch(
                f"transfer {transfer.id!r}: moves {transfer.asset!r}, but {role} "
                f"{account.id!r} holds {account.asset!r}"
            )


def check_evidence(
    transfer: Transfer,
    payer: Account,
    verified: Verified | None = None,
    *,
    origin: str,
    exchange_key: bytes | None = None,
    payee: Account | None = None,
) -> None:
    """Raise :class:`MissingEvidence` or :class:`BadEvidence` unless the transfer's
    evidence is its payer's signed authorisation of exactly this transfer on the exchange
    named ``origin`` (see :mod:`catallax.exchange.ledger.evidence`).

    ``verified`` memoises envelopes already checked (one authorisation covers all the
    payer's debits of a round) and what each mandate has paid for; without it, a
    mandate's ceiling is checked against this transfer alone. ``exchange_key`` is the
    ledger's own public key: an issuer holding it needs no evidence (its checkpoint
    signature covers the entry), except for a production. ``payee`` is the payee's
    account, needed for a production (whose signer may be the payee, the issuer that
    consumes the input).
    """
    ev = transfer.evidence
    if transfer.kind is TransferKind.PRODUCTION:
        _check_production(transfer, payer, payee, verified, origin)
        return
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
    memo, auth = _opened(transfer, verified)
    if isinstance(auth, Mandate):
        _check_mandate(transfer, auth, origin, memo, verified)
    elif isinstance(auth, ProductionReport):
        raise BadEvidence(
            f"transfer {transfer.id!r}: a production report authorises productions only, "
            f"not a {transfer.kind}"
        )
    else:
        _check_binding(transfer, auth, origin)


def _opened(transfer: Transfer, verified: Verified | None) -> tuple[Memo, Evidence]:
    """The memo key and the content of the transfer's evidence, its signature verified
    (once per envelope with ``verified``)."""
    ev = transfer.evidence
    assert ev is not None
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
    return memo, auth


def _check_production(
    transfer: Transfer,
    payer: Account,
    payee: Account | None,
    verified: Verified | None,
    origin: str,
) -> None:
    """A production moves a good between its issuer and a trader, with the issuer's
    signed report listing exactly this transfer (see the module docstring)."""
    tid = transfer.id
    if payee is None:
        raise InvalidTransfer(f"transfer {tid!r}: a production is checked with its payee")
    issuer, trader = AccountKind.ISSUER, AccountKind.TRADER
    if payer.kind is issuer and payee.kind is trader:
        source, producer, direction = payer, payee, OUTPUT
    elif payer.kind is trader and payee.kind is issuer:
        source, producer, direction = payee, payer, INPUT
    else:
        raise InvalidTransfer(
            f"transfer {tid!r}: a production moves a good between its issuer and a trader, "
            f"not from a {payer.kind} to a {payee.kind}"
        )
    ev = transfer.evidence
    if ev is None:
        raise MissingEvidence(
            f"transfer {tid!r}: a production needs the environment's signed production "
            f"report (signed by issuer {source.id!r})"
        )
    if ev.public_key != source.public_key:
        raise BadEvidence(
            f"transfer {tid!r}: evidence signed by key {key_fingerprint(ev.public_key)}, "
            f"but the production's issuer {source.id!r} has key "
            f"{key_fingerprint(source.public_key or b'')}"
        )
    _, report = _opened(transfer, verified)
    if not isinstance(report, ProductionReport):
        raise BadEvidence(
            f"transfer {tid!r}: a production's evidence is a {PRODUCTION_MESSAGE!r} report, "
            f"not a {ev.message!r} message"
        )
    _bound(tid, "the production report is for", (
        ("exchange", report.exchange, origin),
        ("task", report.task, transfer.task),
        ("round", report.round, transfer.round),
    ))  # fmt: skip
    item = report.item(tid)
    if item is None:
        raise BadEvidence(f"transfer {tid!r}: the production report does not list this id")
    listed = (item.account, item.asset, item.direction, item.amount)
    actual = (producer.id, transfer.asset, direction, transfer.amount)
    if listed != actual:
        raise BadEvidence(
            f"transfer {tid!r}: the production report lists {item.amount} units of "
            f"{item.asset!r} as an {item.direction} of {item.account!r}, not "
            f"{transfer.amount} units of {transfer.asset!r} as an {direction} of "
            f"{producer.id!r}"
        )


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
    if kind not in mandate.kinds:
        raise BadEvidence(f"transfer {transfer.id!r}: signed bids cannot authorise a {kind}")
    m, t = mandate.round, transfer.round
    if kind in NEXT_KINDS and t != m + 1:
        raise BadEvidence(
            f"transfer {transfer.id!r}: the signed bids of round {m} authorise an {kind} "
            f"in round {m + 1} only, not in round {t}"
        )
    if kind in LATE_KINDS and t < m:
        raise BadEvidence(
            f"transfer {transfer.id!r}: the signed bids of round {m} authorise a {kind} "
            f"in that round or a later one, not in round {t}"
        )
    if kind not in NEXT_KINDS and kind not in LATE_KINDS and t != m:
        raise BadEvidence(f"transfer {transfer.id!r}: the signed bids are for round {m}, not {t}")
    if kind in mandate.ceiling_kinds:
        key = (memo, transfer.payer)
        spent = (verified.spent.get(key, 0) if verified is not None else 0) + transfer.amount
        if spent > ceiling:
            raise BadEvidence(
                f"transfer {transfer.id!r}: {transfer.payer!r} bid at most {ceiling} units in "
                f"round {mandate.round}; this {kind} brings its purchases to {spent}"
            )
        if verified is not None:
            verified.spent[key] = spent


def _bound(tid: str, says: str, where: tuple[tuple[str, object, object], ...]) -> None:
    """:class:`BadEvidence` for the first ``(field, signed, actual)`` that differ: what
    the evidence was signed for is not what the transfer is."""
    for field, signed, actual in where:
        if signed != actual:
            raise BadEvidence(f"transfer {tid!r}: {says} {field} {signed!r}, not {actual!r}")


def _check_binding(transfer: Transfer, auth: Authorization, origin: str) -> None:
    """The authorisation names this exchange, task, round and payer, and this transfer."""
    _bound(transfer.id, "evidence authorises", (
        ("exchange", auth.exchange, origin),
        ("task", auth.task, transfer.task),
        ("round", auth.round, transfer.round),
        ("payer", auth.payer, transfer.payer),
    ))  # fmt: skip
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
    """The payer's and payee's states after the transfer; :class:`AssetMismatch` if an
    account holds another asset, :class:`Overdraft` if the payer cannot pay."""
    check_assets(transfer, payer.account, payee.account)
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
