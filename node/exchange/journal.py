"""A task's part of the exchange's ledger: each value committed as one round, with evidence.

:class:`TaskJournal` turns a deep-market value (a settlement or an admission) into ledger
entries and commits them as one atomic round, before the market applies the value:

- accounts: ``<task>.issuer`` (the exchange's key: allowances, rewards and mints need no
  evidence of their own, the checkpoints sign them), ``<task>.treasury`` (no key: it
  never pays), and each member's ``<task>.<identity>.<k>`` opened with the identity's key;
- transfer ids: ``<task>.<round>.<k>`` for a settlement, ``<task>.join.<identity>.<k>``
  for an admission (an identity joins once), so committing a value twice is a no-op;
- evidence: every trader debit carries its payer's signed ``Bids`` as received
  (:mod:`catallax.node.wire.mandate`): the round's for bids, taxes, costs and rent; the
  purchase's for an ask (the seller of a state of negative price pays its buyer, in the
  round after its purchase) and for a royalty and its tax, settled at the episode's end
  (:meth:`TaskJournal.bought` keeps, per slot, each buyer account's latest purchase);
- after the commit, every balance the round touched is compared with what the market
  will hold once it applies the value (:class:`LedgerMismatch` otherwise, and the
  market does not apply it).

The entries are built on the event loop; the commit (an fsync'd SQLite transaction) and
the check run in a worker thread, one commit at a time for the whole exchange
(``ExchangeContext.ledger_lock``: the tasks share one ledger).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from catallax.exchange.crypto import SignedEnvelope
from catallax.exchange.deep import Admission, DeepMarket, Settlement
from catallax.exchange.ledger import Account, AccountKind, Entry, Ledger, Opening, Transfer
from catallax.exchange.transfers import FlowKind, special_slots
from catallax.node.exchange.remote import RemoteMembers
from catallax.node.exchange.restore import special_accounts
from catallax.node.recording import LedgerMismatch

__all__ = ["LedgerMismatch", "TaskJournal"]

#: Debits authorised by the purchase's bids rather than the round's: what owning it
#: entails after the round it was bought in.
_OF_PURCHASE = (FlowKind.ASK, FlowKind.ROYALTY, FlowKind.ROYALTY_TAX)


class TaskJournal:
    """Commits one task's values to the ledger (see the module docstring)."""

    def __init__(
        self,
        task: str,
        ledger: Ledger,
        issuer_key: bytes,
        remote: RemoteMembers,
        lock: asyncio.Lock,
    ) -> None:
        self.task = task
        self.ledger = ledger
        self.issuer_key = issuer_key
        self.remote = remote
        self.lock = lock
        self.issuer_id, self.treasury_id = special_accounts(task)
        #: This round's signed bids, by identity key.
        self.bids: dict[bytes, SignedEnvelope] = {}
        #: Per slot, for the episode under way: buyer row -> its latest purchase's bids.
        self.owned: list[dict[int, SignedEnvelope]] = []
        #: The ledger's size and root right after this journal's last commit (taken
        #: under the commit lock, so the two agree; at first, the ledger's when opened).
        self.committed: tuple[int, bytes] = (ledger.size, ledger.root)

    def new_episodes(self, slots: int) -> None:
        """Every slot begins a new episode: no purchase is owed a royalty any more."""
        self.owned = [{} for _ in range(slots)]

    def bought(self, market: DeepMarket, winner: np.ndarray, ended: list[int]) -> None:
        """After a settlement: each slot's buyer row holds this round's bids as its
        purchase's evidence, until the episode ends."""
        for e in np.flatnonzero(winner >= 0).tolist():
            row = int(winner[e])
            owner = self.remote.owner_of(int(market.accounts.member[row]))
            self.owned[e][row] = self.bids[owner.public_key]
        for e in ended:
            self.owned[e] = {}

    async def commit(self, market: DeepMarket, value: Settlement | Admission, round_: int) -> None:
        """Commit ``value`` as one ledger round labelled ``round_``, then check it."""
        entries, name = self.entries(market, value, round_)
        expected = self._expected(market, value, name)
        async with self.lock:
            await asyncio.to_thread(self._commit_and_check, entries, expected)

    def entries(
        self, market: DeepMarket, value: Settlement | Admission, round_: int
    ) -> tuple[list[Entry], Callable[[int], str]]:
        """The entries of ``value`` and the namer of its account handles."""
        entries: list[Entry] = []
        if self.ledger.account(self.issuer_id) is None:
            entries.append(Opening(Account(self.issuer_id, AccountKind.ISSUER, self.issuer_key)))
            entries.append(Opening(Account(self.treasury_id, AccountKind.TREASURY)))
        admission = isinstance(value, Admission)
        first = value.first_row if admission else market.size
        new = value.ids if admission else ()
        joining = None
        if new:
            joining = self.remote.owner_of(int(value.member[0]))
            for account in new:
                entries.append(Opening(Account(account, AccountKind.TRADER, joining.public_key)))

        def name(handle: int) -> str:
            if handle >= first:
                return new[handle - first]
            if handle >= 0:
                return market.accounts.ids[handle]
            return self.issuer_id if market.account_id(handle) == "issuer" else self.treasury_id

        slots = value.transfers.slot.tolist()
        for k, (payer, payee, amount, kind, _) in enumerate(value.transfers.rows()):
            if joining is not None and payee >= first:
                # One allowance per new account, named by it: "<task>.join.<identity>.<k>"
                # for member k, whether it joined at registration or was born later.
                tid = f"{self.task}.join.{name(payee).removeprefix(self.task + '.')}"
            elif joining is not None:
                tid = f"{self.task}.join.{joining.name}.{k}"
            elif admission:
                tid = f"{self.task}.{round_}.endow.{k}"
            else:
                tid = f"{self.task}.{round_}.{k}"
            evidence = self._evidence(market, payer, kind, slots[k]) if payer >= 0 else None
            entries.append(
                Transfer(
                    id=tid, payer=name(payer), payee=name(payee), amount=amount,
                    kind=kind.ledger, task=self.task, round=round_, evidence=evidence,
                )
            )  # fmt: skip
        return entries, name

    def _evidence(self, market: DeepMarket, row: int, kind: FlowKind, slot: int):
        owner = self.remote.owner_of(int(market.accounts.member[row]))
        ev = None
        if kind in _OF_PURCHASE and 0 <= slot < len(self.owned):
            ev = self.owned[slot].get(row)
        if ev is None and kind is not FlowKind.ASK:
            ev = self.bids.get(owner.public_key)
        if ev is None:
            raise LedgerMismatch(
                f"a {kind.ledger} debit of {market.accounts.ids[row]!r} without its signed bids"
            )
        return ev

    def _expected(
        self, market: DeepMarket, value: Settlement | Admission, name: Callable[[int], str]
    ) -> dict[str, int]:
        """Each touched trader account's balance once the market applies ``value``."""
        t = value.transfers
        rows = {int(h) for h in (*t.payer.tolist(), *t.payee.tolist()) if h >= 0}
        if isinstance(value, Settlement):
            after = value.balances
        else:
            n = value.first_row + len(value.ids)
            base = np.zeros(n, dtype=np.int64)
            base[: len(market.accounts.balance)] = market.accounts.balance
            after, _ = t.effect(base, special_slots(len(market.consumers)))
        return {name(row): int(after[row]) for row in rows}

    def _commit_and_check(self, entries: list[Entry], expected: dict[str, int]) -> None:
        self.ledger.commit_round(entries)
        self.committed = (self.ledger.size, self.ledger.root)
        for account, units in expected.items():
            held = self.ledger.balance(account)
            if held != units:
                raise LedgerMismatch(
                    f"account {account!r}: the ledger holds {held} units, the market {units}"
                )
