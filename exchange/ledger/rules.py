"""The rules a transfer must follow, as pure functions shared by commit and audit.

- Evidence: a transfer whose payer is a trader (a debit from a trader) and every
  reward must carry signed evidence. Evidence, whenever present, must verify and be
  signed by the payer's registered key (a trader signs its bid, an environment node
  its step report).
- Balances: the payer loses and the payee gains ``amount``; no account but an issuer
  may go below zero, and no balance may leave the signed 64-bit range.
"""

from __future__ import annotations

from catallax.exchange.crypto import CryptoError, MissingSignature, key_fingerprint
from catallax.exchange.ledger.errors import BadEvidence, InvalidAmount, MissingEvidence, Overdraft
from catallax.exchange.ledger.model import MAX_AMOUNT, Account, AccountKind, Transfer, TransferKind
from catallax.exchange.ledger.store import AccountState

__all__ = ["apply_transfer", "check_evidence", "evidence_required"]


def evidence_required(transfer: Transfer, payer: Account) -> bool:
    """True when the transfer must carry signed evidence (trader debits and rewards)."""
    return payer.kind is AccountKind.TRADER or transfer.kind is TransferKind.REWARD


def check_evidence(
    transfer: Transfer, payer: Account, verified: set[tuple[bytes, ...]] | None = None
) -> None:
    """Raise :class:`MissingEvidence` or :class:`BadEvidence` unless the evidence holds.

    ``verified`` memoises signatures already checked (the same signed bid may justify
    several transfers of one round).
    """
    ev = transfer.evidence
    if ev is None:
        if evidence_required(transfer, payer):
            what = "a debit from a trader" if payer.kind is AccountKind.TRADER else "a reward"
            raise MissingEvidence(
                f"transfer {transfer.id!r}: {what} needs signed evidence from {payer.id!r}"
            )
        return
    if payer.public_key is not None and ev.public_key != payer.public_key:
        raise BadEvidence(
            f"transfer {transfer.id!r}: evidence signed by key {key_fingerprint(ev.public_key)}, "
            f"but payer {payer.id!r} has key {key_fingerprint(payer.public_key)}"
        )
    memo = (ev.message.encode(), ev.data, ev.public_key, ev.signature)
    if verified is not None and memo in verified:
        return
    try:
        ev.verify()
    except MissingSignature as exc:
        raise MissingEvidence(f"transfer {transfer.id!r}: evidence signature missing") from exc
    except CryptoError as exc:
        raise BadEvidence(f"transfer {transfer.id!r}: {exc}") from exc
    if verified is not None:
        verified.add(memo)


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
