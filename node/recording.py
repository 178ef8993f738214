"""Recording a market on a signed ledger: every value the market applies, one round.

:class:`LedgerRecorder` is a market journal (``DeepMarket(journal=...)``): the market
calls it with each :class:`~catallax.exchange.deep.Settlement` and
:class:`~catallax.exchange.deep.Admission` before applying it, and it commits the value's
transfers to the ledger as one atomic round. If the commit fails, the market does not
apply the value, so the ledger and the market never disagree.

Accounts: each trader's account id is its market account id, with an Ed25519 key of
its own (held here: an in-process trader has no key of its own); ``issuer`` and each
``consumer.<k>`` are issuer accounts under the environment's key; ``treasury`` is the
exchange's. Evidence: the payer of every transfer signs its authorisation
(:mod:`catallax.exchange.ledger.evidence`) of exactly that debit (transfer id, payee,
amount, kind, episode slot, with the exchange, task and round). Transfer
ids are ``<task>.<version>.<k>`` (the market version the value was computed at), so
a value recorded twice is a no-op.
"""

from __future__ import annotations

import numpy as np

from catallax.exchange.crypto import (
    Ed25519PrivateKey,
    generate_private_key,
    public_key_bytes,
)
from catallax.exchange.deep import Admission, DeepMarket, Settlement
from catallax.exchange.ledger import Account, AccountKind, Ledger, Opening, Transfer
from catallax.exchange.ledger.evidence import Authorization, Debit, authorize
from catallax.exchange.transfers import CONSUMER, ISSUER, TREASURY, special_slots
from catallax.node.errors import NodeError, OptionError

__all__ = ["LedgerMismatch", "LedgerRecorder"]


class LedgerMismatch(NodeError):
    """The ledger's balances and the market's differ (they never should), or a market's
    debit has no evidence to carry (``catallax train --ledger`` and the exchange node)."""


class LedgerRecorder:
    """A market journal that commits every settlement and admission to ``ledger``.

    Args:
        ledger: a writable ledger (opened with the exchange's key).
        task: the task name stamped on every transfer.
        issuer_key: the environment's key (signs rewards, allowances, mints); a new one
            by default. With the exchange's own key, the issuer's transfers need no
            evidence of their own: the signed checkpoints cover them.
        check: after each commit, compare every balance the round touched with what the
            market will hold once it applies the value (``"touched"``), every account
            (``"all"``), or nothing (``"none"``); a difference raises
            :class:`LedgerMismatch` and the market does not apply the value.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        task: str,
        issuer_key: Ed25519PrivateKey | None = None,
        check: str = "touched",
    ) -> None:
        if check not in ("touched", "all", "none"):
            raise OptionError(f"check: expected touched, all or none, got {check!r}")
        self.ledger = ledger
        self.task = task
        self.issuer_key = issuer_key or generate_private_key()
        self.check = check
        self.keys: dict[str, Ed25519PrivateKey] = {}
        # An issuer holding the exchange's key is signed by the checkpoints.
        self._issuer_is_exchange = public_key_bytes(self.issuer_key) == ledger.public_key
        self.rounds = 0

    # -- the journal --------------------------------------------------------------------

    def __call__(self, market: DeepMarket, value: Settlement | Admission) -> None:
        entries: list = []
        if not self.ledger.account("issuer"):
            entries.extend(self._openings_of_specials(market))
        if isinstance(value, Admission):
            for account_id in value.ids:
                key = generate_private_key()
                self.keys[account_id] = key
                entries.append(
                    Opening(Account(account_id, AccountKind.TRADER, public_key_bytes(key)))
                )
        names = self._namer(market, value)
        for k, (payer, payee, amount, kind, slot) in enumerate(value.transfers.rows()):
            transfer_id = f"{self.task}.{value.version}.{k}"
            src, dst = names(payer), names(payee)
            debit = Debit(transfer_id, dst, amount, kind.ledger, slot)
            key = self.keys.get(src)
            if key is None and not self._issuer_is_exchange:
                key = self.issuer_key  # the issuer and the consumers
            evidence = None
            if key is not None:
                auth = Authorization(self.ledger.origin, self.task, value.version, src, (debit,))
                evidence = authorize(key, auth)
            entries.append(
                Transfer(
                    id=transfer_id,
                    payer=src,
                    payee=dst,
                    amount=amount,
                    kind=kind.ledger,
                    task=self.task,
                    round=value.version,
                    evidence=evidence,
                )
            )
        self.ledger.commit_round(entries)
        self.rounds += 1
        if self.check != "none":
            self._compare(market, value, names)

    def _openings_of_specials(self, market: DeepMarket) -> list[Opening]:
        issuer = public_key_bytes(self.issuer_key)
        out = [
            Opening(Account("issuer", AccountKind.ISSUER, issuer)),
            Opening(Account("treasury", AccountKind.TREASURY)),
        ]
        for k in range(len(market.consumers)):
            out.append(
                Opening(Account(market.account_id(CONSUMER - k), AccountKind.ISSUER, issuer))
            )
        return out

    def _namer(self, market: DeepMarket, value: Settlement | Admission):
        """Account ids of handles, including rows an admission is about to create."""
        first = value.first_row if isinstance(value, Admission) else market.size
        new = value.ids if isinstance(value, Admission) else ()

        def name(handle: int) -> str:
            if handle >= first:
                return new[handle - first]
            return market.account_id(handle)

        return name

    # -- agreement --------------------------------------------------------------------

    def check_all(self, market: DeepMarket) -> None:
        """Every trader, issuer, consumer and treasury balance of the ledger equals the
        market's; :class:`LedgerMismatch` names the first that differs."""
        want = {market.account_id(row): int(b) for row, b in enumerate(market.accounts.balance)}
        want.update(_specials(market, np.zeros(special_slots(len(market.consumers)), np.int64)))
        got = self.ledger.balances()
        for account_id, units in want.items():
            _expect(account_id, got.get(account_id), units)
        extra = set(got) - set(want)
        if extra:
            raise LedgerMismatch(f"the ledger has accounts the market has not: {sorted(extra)}")

    def _compare(self, market: DeepMarket, value: Settlement | Admission, names) -> None:
        """The ledger after this round against the market once it applies the value."""
        if isinstance(value, Settlement):
            after, delta = value.balances, value.special
        else:
            n = value.first_row + len(value.ids)
            base = market.accounts.balance
            grown = base if n == len(base) else _padded(base, n)
            after, delta = value.transfers.effect(grown, special_slots(len(market.consumers)))
        if self.check == "all":
            rows = range(len(after))
        else:
            t = value.transfers
            rows = sorted({int(h) for h in (*t.payer.tolist(), *t.payee.tolist()) if h >= 0})
        for row in rows:
            _expect(names(row), self.ledger.balance(names(row)), int(after[row]))
        for account_id, units in _specials(market, delta).items():
            _expect(account_id, self.ledger.balance(account_id), units)


def _specials(market: DeepMarket, delta: np.ndarray) -> dict[str, int]:
    """The special accounts' balances once ``delta`` (handle ``h`` at ``-1 - h``) is added."""
    out = {
        "issuer": market.issuer_units + int(delta[-1 - ISSUER]),
        "treasury": market.treasury_units + int(delta[-1 - TREASURY]),
    }
    for k in range(len(market.consumers)):
        handle = CONSUMER - k
        out[market.account_id(handle)] = int(market.consumer_units[k]) + int(delta[-1 - handle])
    return out


def _expect(account_id: str, got: int | None, want: int) -> None:
    if got != want:
        raise LedgerMismatch(
            f"account {account_id!r}: the ledger holds {got} units, the market {want}"
        )


def _padded(balance: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.int64)
    out[: len(balance)] = balance
    return out
