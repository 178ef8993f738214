"""The values the ledger records: accounts, their opening, and transfers.

Every change of wealth is one :class:`Transfer` of a positive integer ``amount`` in the
smallest unit (1 credit = ``UNITS_PER_CREDIT`` units) from ``payer`` to ``payee``. An
account is opened once by an :class:`Opening` entry in the log, so that anyone holding
the log can replay every balance. Constructors validate every field and raise a
specific :class:`~catallax.exchange.ledger.errors.TransferError`; a value that exists
is well formed.

Assets (``docs/decisions/ledger-assets.md``): an account holds one asset, fixed when it
is opened: :data:`CREDITS` (money, the default) or a good ``"good:<name>"`` (its
quantity in integer units, 1 unit of a good = ``UNITS_PER_GOOD`` ledger units). A
transfer names the asset it moves, which both its accounts must hold; goods move only
by the kinds in :data:`GOODS_KINDS`, credits by every other kind. A trader keeps one
account per asset (:func:`asset_account`: ``<account>/<good>``), and each good has its
own issuer account (the environment that creates and consumes it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from catallax.exchange.crypto import PUBLIC_KEY_SIZE, SignedEnvelope
from catallax.exchange.ledger.errors import AssetMismatch, InvalidAmount, InvalidTransfer
from catallax.exchange.ledger.keycheck import check_public_key

__all__ = [
    "CREDITS",
    "GOODS_KINDS",
    "MAX_AMOUNT",
    "UNITS_PER_CREDIT",
    "UNITS_PER_GOOD",
    "Account",
    "AccountKind",
    "Entry",
    "Opening",
    "Transfer",
    "TransferKind",
    "asset_account",
    "check_asset",
    "good_asset",
    "is_good",
]

#: 1 credit = 10**6 units; amounts and balances are integers of units.
UNITS_PER_CREDIT = 1_000_000
#: The largest amount (and absolute balance): what a signed 64-bit SQLite INTEGER holds.
MAX_AMOUNT = 2**63 - 1

#: 1 unit of a good = 10**6 ledger units, so that divisible quantities round as money does.
UNITS_PER_GOOD = 1_000_000
#: The asset of money: what every account held before goods, and the default.
CREDITS = "credits"
#: The prefix of a good's asset name: ``good:<name>``.
GOOD_PREFIX = "good:"

_NAME = re.compile(r"[\x21-\x7e]{1,200}")  # printable ASCII, no spaces
#: A good's name: a lower-case letter or digit, then lower-case letters, digits, _ or -.
_GOOD = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_TASK = re.compile(r"[\x21-\x7e]{0,200}")


class AccountKind(StrEnum):
    """Who holds an account; only issuers may go below zero."""

    TRADER = "trader"
    """A trader's wealth; debits need the trader's signed evidence."""
    ISSUER = "issuer"
    """An environment acting as consumer: it issues allowances and rewards."""
    TREASURY = "treasury"
    """The exchange's own account; it collects rent."""


class TransferKind(StrEnum):
    """Why wealth moved."""

    ALLOWANCE = "allowance"
    """Endowment from an issuer when a trader enters the economy."""
    BID = "bid"
    """A winning bid paid by the new owner (to the previous owner)."""
    RENT = "rent"
    """The owner's anti-holdout rent, paid to the treasury."""
    REWARD = "reward"
    """Reward paid by an issuer for a step; carries the environment's signed report."""
    TRADE = "trade"
    """A payment for goods in a wide-market clearing."""
    TAX = "tax"
    """The ``1 − γ`` share of a payment to a seller, paid to the treasury."""
    MINT = "mint"
    """Credits an issuer creates for a seller (the non-conserving Vickrey auction)."""
    COST = "cost"
    """A negative reward: the owner pays the issuer for the state its action reached."""
    ROYALTY = "royalty"
    """A buyer pays its seller a share of the value its ownership realised."""
    ROYALTY_TAX = "royalty_tax"
    """The ``1 − γ`` share of a royalty, paid to the treasury with it."""
    ASK = "ask"
    """Where a state's price is negative: its previous owner pays the buyer to take it
    (``γ`` of ``|price|``; the issuer at an episode's first sale)."""
    DELIVERY = "delivery"
    """A good moved from its seller to its buyer (a wide-market clearing), or to a
    consumer; the seller's signed authorisation is its evidence."""
    PRODUCTION = "production"
    """A recipe run: a good's issuer creates an output for a trader (issuer to trader)
    or consumes an input of it (trader to issuer); the environment's signed production
    report is its evidence."""


#: The kinds a good moves by (an endowment, a delivery, a production); credits move by
#: every other kind.
GOODS_KINDS = frozenset({TransferKind.ALLOWANCE, TransferKind.DELIVERY, TransferKind.PRODUCTION})
_GOODS_ONLY = GOODS_KINDS - {TransferKind.ALLOWANCE}


def is_good(asset: str) -> bool:
    """True for a good's asset name (``good:<name>``), False for credits."""
    return asset != CREDITS


def check_asset(value: object, field: str = "asset") -> str:
    """``value`` if it names an asset: ``"credits"`` or ``"good:<name>"`` (``<name>``: 1-64
    lower-case letters, digits, ``_`` or ``-``, starting with a letter or digit); else
    :class:`InvalidTransfer` naming ``field``."""
    if isinstance(value, str) and (
        value == CREDITS
        or (value.startswith(GOOD_PREFIX) and _GOOD.fullmatch(value[len(GOOD_PREFIX) :]))
    ):
        return value
    raise InvalidTransfer(
        f"{field}: expected {CREDITS!r} or 'good:<name>' (<name>: 1-64 lower-case letters, "
        f"digits, '_' or '-'), got {value!r}"
    )


def good_asset(name: str) -> str:
    """The asset name of the good ``name`` (``"wood"`` -> ``"good:wood"``), checked."""
    return check_asset(f"{GOOD_PREFIX}{name}")


def asset_account(account_id: str, asset: str) -> str:
    """The id of the account holding ``asset`` beside the credits account ``account_id``.

    Credits: ``account_id`` itself; a good: ``<account_id>/<name>`` (the naming every
    market uses, so that ``t.x.0/wood`` is ``t.x.0``'s wood; the ledger checks the asset
    an account was opened with, not its name)."""
    check_asset(asset)
    if not is_good(asset):
        return _name("account id", account_id)
    return _name("account id", f"{account_id}/{asset[len(GOOD_PREFIX) :]}")


def _name(field: str, value: object, pattern: re.Pattern[str] = _NAME) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidTransfer(
            f"{field}: expected printable ASCII without spaces (at most 200 characters), "
            f"got {value!r}"
        )
    return value


def _check_public_key(field: str, value: object) -> None:
    if not isinstance(value, bytes) or len(value) != PUBLIC_KEY_SIZE:
        raise InvalidTransfer(f"{field}: expected {PUBLIC_KEY_SIZE} raw Ed25519 key bytes")
    # A point of the curve, not of small order: refused before anything is staged.
    check_public_key(value, field)


@dataclass(frozen=True, slots=True)
class Account:
    """An account: its id, its kind, (for traders and issuers) its signer's public key,
    and the one asset it holds.

    ``public_key`` is the raw 32-byte Ed25519 key whose signatures justify debits from
    the account (a trader's bids, an environment's step reports); it is required for
    traders and issuers and optional for the treasury. ``asset`` is :data:`CREDITS` or a
    good (``"good:<name>"``), fixed at the opening: the balance counts units of it.
    """

    id: str
    kind: AccountKind
    public_key: bytes | None = None
    asset: str = CREDITS

    def __post_init__(self) -> None:
        _name("account id", self.id)
        check_asset(self.asset, "account asset")
        try:
            object.__setattr__(self, "kind", AccountKind(self.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in AccountKind)
            raise InvalidTransfer(
                f"account kind: expected one of {kinds}, got {self.kind!r}"
            ) from None
        if self.public_key is None:
            if self.kind is not AccountKind.TREASURY:
                raise InvalidTransfer(f"public key: a {self.kind} account needs its signer's key")
        else:
            _check_public_key("public key", self.public_key)


@dataclass(frozen=True, slots=True)
class Opening:
    """The log entry that opens an account (balance zero)."""

    account: Account


@dataclass(frozen=True, slots=True)
class Transfer:
    """One change of wealth: ``amount`` units of ``asset`` from ``payer`` to ``payee``.

    ``id`` is chosen by the client for idempotency: committing the same id with the same
    content again is a no-op, with other content it is refused. ``task`` and ``round``
    say which market step it settles; ``evidence`` is the signed message that justifies
    it (a trader's bid, an environment's step report), signed by the payer's key (a
    production's by the good's issuer). ``asset`` (default :data:`CREDITS`) must be the
    asset of both accounts, and one the ``kind`` moves (:data:`GOODS_KINDS` for goods):
    :class:`AssetMismatch` otherwise.
    """

    id: str
    payer: str
    payee: str
    amount: int
    kind: TransferKind
    task: str = ""
    round: int = 0
    evidence: SignedEnvelope | None = None
    asset: str = CREDITS

    def __post_init__(self) -> None:
        _name("transfer id", self.id)
        _name("payer", self.payer)
        _name("payee", self.payee)
        if self.payer == self.payee:
            raise InvalidTransfer(f"payee: {self.payee!r} cannot pay itself")
        amount = self.amount
        if type(amount) is not int:
            raise InvalidAmount(
                f"amount: expected an int of units (1 credit = {UNITS_PER_CREDIT}), "
                f"got {type(amount).__name__} {amount!r}"
            )
        if not 0 < amount <= MAX_AMOUNT:
            raise InvalidAmount(f"amount: expected 1..{MAX_AMOUNT} units, got {amount}")
        try:
            object.__setattr__(self, "kind", TransferKind(self.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in TransferKind)
            raise InvalidTransfer(f"kind: expected one of {kinds}, got {self.kind!r}") from None
        check_asset(self.asset)
        if is_good(self.asset) and self.kind not in GOODS_KINDS:
            raise AssetMismatch(
                f"transfer {self.id!r}: a {self.kind} moves credits, not {self.asset!r}"
            )
        if not is_good(self.asset) and self.kind in _GOODS_ONLY:
            raise AssetMismatch(f"transfer {self.id!r}: a {self.kind} moves goods, not credits")
        _name("task", self.task, _TASK)
        if type(self.round) is not int or not 0 <= self.round <= MAX_AMOUNT:
            raise InvalidTransfer(f"round: expected an int >= 0, got {self.round!r}")
        ev = self.evidence
        if ev is not None:
            if not isinstance(ev, SignedEnvelope):
                raise InvalidTransfer(
                    f"evidence: expected a SignedEnvelope, got {type(ev).__name__}"
                )
            if not all(isinstance(x, bytes) for x in (ev.data, ev.public_key, ev.signature)):
                raise InvalidTransfer("evidence: data, public key and signature must be bytes")
            _name("evidence message", ev.message)


#: A log entry.
Entry = Opening | Transfer
