"""Who trades in a deep market: accounts, admission, removal, growth and endowments.

:class:`Membership` is the part of :class:`~catallax.exchange.deep.market.DeepMarket`
that knows traders as accounts (``accounts.py``): their balances in units and in credits,
the special accounts, and the values that admit traders or endow them
(:class:`~catallax.exchange.deep.values.Admission`, applied by the market like any other
value). Removal changes no money: a removed trader keeps its balance, frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from catallax.exchange.deep.values import Admission
from catallax.exchange.errors import (
    DuplicateTrader,
    MarketInputError,
    MoneyError,
    UnknownTrader,
)
from catallax.exchange.money import UNITS_PER_CREDIT, to_units
from catallax.exchange.protocols import Enumerable
from catallax.exchange.transfers import CONSUMER, ISSUER, NO_SLOT, TREASURY, FlowKind, Transfers

__all__ = ["Membership"]


class Membership:
    """Accounts of a deep market (a part of :class:`DeepMarket`; see its attributes)."""

    # -- accounts -----------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of traders that ever entered (alive or not): the rows of the bid matrix."""
        return len(self.accounts)

    @property
    def n_alive(self) -> int:
        """Number of traders alive now."""
        return int(self.accounts.alive.sum())

    @property
    def alive(self) -> np.ndarray:
        """``(size,)`` bool: which rows may bid (a copy)."""
        return self.accounts.alive.copy()

    @property
    def balance(self) -> np.ndarray:
        """``(size,)`` int64 balances in units (a copy)."""
        return self.accounts.balance.copy()

    @property
    def wealth(self) -> np.ndarray:
        """``(size,)`` balances in credits (a copy)."""
        return self.accounts.balance / UNITS_PER_CREDIT

    @property
    def issuer(self) -> float:
        """The issuer's balance in credits (it may be negative)."""
        return self.issuer_units / UNITS_PER_CREDIT

    @property
    def treasury(self) -> float:
        """The treasury's balance in credits."""
        return self.treasury_units / UNITS_PER_CREDIT

    @property
    def consumer_balances(self) -> np.ndarray:
        """Each consumer's balance in credits."""
        return self.consumer_units / UNITS_PER_CREDIT

    def member(self, trader: int) -> tuple[int, int]:
        """``(population index, member id in that population)`` of a trader row."""
        self.accounts.check_rows(np.array([trader]), alive=False)
        return int(self.accounts.population[trader]), int(self.accounts.member[trader])

    def row(self, account_id: str) -> int:
        """The row of a live trader; :class:`UnknownTrader` if unknown or removed."""
        return self.accounts.row(account_id)

    def account_id(self, handle: int) -> str:
        """The account id behind a handle: a trader row, or a special account."""
        if handle >= 0:
            if handle >= len(self.accounts):
                raise UnknownTrader(f"no trader row {handle}")
            return self.accounts.ids[handle]
        if handle == ISSUER:
            return "issuer"
        if handle == TREASURY:
            return "treasury"
        k = CONSUMER - handle
        if 0 <= k < len(self.consumers):
            return f"consumer.{k}"
        raise UnknownTrader(f"no account handle {handle}")

    def admission(
        self, population: int, members: Sequence[int], ids: Sequence[str] | None = None
    ) -> Admission:
        """The value that admits ``members`` of ``population`` with their allowance.

        ``ids`` names their accounts (default ``account_id(population, member)``).
        Raises :class:`~catallax.exchange.errors.DuplicateTrader` for an id already here
        and :class:`UnknownTrader` for an unknown population; changes nothing.
        """
        if not 0 <= population < len(self.populations):
            raise UnknownTrader(
                f"no population {population} (the market has {len(self.populations)})"
            )
        pairs = [(population, int(k)) for k in members]
        return self._admission_of(pairs, ids)

    def _admission_of(
        self, pairs: list[tuple[int, int]], ids: Sequence[str] | None = None
    ) -> Admission:
        names = [self._account_id(p, k) for p, k in pairs] if ids is None else list(ids)
        if len(names) != len(pairs):
            raise MarketInputError(f"{len(pairs)} members but {len(names)} account ids")
        self._check_members(pairs)
        self.accounts.check_new(names)
        start = len(self.accounts)
        rows = np.arange(start, start + len(pairs), dtype=np.int64)
        grant = np.full(len(pairs), self.allowance_units, dtype=np.int64)
        return Admission(
            version=self.version,
            ids=tuple(names),
            population=np.array([p for p, _ in pairs], dtype=np.int64),
            member=np.array([k for _, k in pairs], dtype=np.int64),
            transfers=Transfers.of(ISSUER, rows, grant, FlowKind.ALLOWANCE, NO_SLOT),
            first_row=start,
        )

    def _check_members(self, pairs: list[tuple[int, int]]) -> None:
        """Each member exists in its population, is not a trader yet, and comes once."""
        acc = self.accounts
        seen: set[tuple[int, int]] = set()
        for p, k in pairs:
            size = int(self.populations[p].size)
            if not 0 <= k < size:
                raise UnknownTrader(f"population {p} has no member {k} (it has {size})")
            if (p, k) in seen or bool(((acc.population == p) & (acc.member == k)).any()):
                raise DuplicateTrader(f"member {k} of population {p} is already a trader")
            seen.add((p, k))

    def admit(self, account_id: str, population: int = 0, member: int | None = None) -> int:
        """Admit member ``member`` of ``population`` (default: its next member not yet
        admitted) as a trader under ``account_id``, with its allowance; returns its row.

        The population must already hold that member (grow it first). Raises
        :class:`~catallax.exchange.errors.DuplicateTrader` or :class:`UnknownTrader`;
        nothing changes then.
        """
        if not 0 <= population < len(self.populations):
            raise UnknownTrader(f"no population {population}")
        k = self._members[population] if member is None else int(member)
        self.apply(self.admission(population, [k], [account_id]))
        return self.size - 1

    def remove(self, account_id: str) -> None:
        """Remove a live trader: it never bids again; its balance stays in its account.

        Its population is told (``retire``) if it wants to know. Raises
        :class:`UnknownTrader` for an unknown or removed account; changes nothing then.
        """
        row = self.accounts.row(account_id)
        self._retire(np.array([row]))
        self.version += 1

    def grow(self, count: int) -> int:
        """Enumerate up to ``count`` new traders across the enumerable populations.

        New traders are asked of each enumerable population in turn and get the
        allowance. Returns how many entered.
        """
        growable = [p for p, pop in enumerate(self.populations) if isinstance(pop, Enumerable)]
        added = 0
        while added < count and growable:
            for p in list(growable):
                want = -(-(count - added) // len(growable))
                got = int(self.populations[p].grow(want))
                if got <= 0:
                    growable.remove(p)
                    continue
                start = self._members[p]
                self.apply(self.admission(p, range(start, start + got)))
                added += got
                if added >= count:
                    break
        return added

    def restore(
        self,
        ids: Sequence[str],
        population: np.ndarray,
        member: np.ndarray,
        balances: np.ndarray,
        *,
        issuer: int,
        treasury: int,
        alive: np.ndarray | None = None,
    ) -> None:
        """Load accounts as a ledger holds them, with no transfer (an exchange restarting
        from its ledger, which is the source of truth for wealth).

        Only an empty market can be restored. ``balances``, ``issuer`` and ``treasury``
        are units and must sum to zero with the consumers (which start at zero);
        ``alive`` defaults to every account at or above the floor.

        Raises:
            MarketInputError: the market is not empty or the arrays do not agree.
            MoneyError: the balances do not sum to zero, or a trader's is negative.
        """
        if len(self.accounts) or self.steps:
            raise MarketInputError("only a new, empty market can be restored")
        ids = list(ids)
        population = np.asarray(population, dtype=np.int64)
        member = np.asarray(member, dtype=np.int64)
        balances = np.asarray(balances, dtype=np.int64)
        if not len(ids) == len(population) == len(member) == len(balances):
            raise MarketInputError("restore: ids, population, member and balances differ in length")
        if (balances < 0).any():
            raise MoneyError("restore: a trader balance is negative")
        if int(balances.sum()) + int(issuer) + int(treasury) != 0:
            raise MoneyError("restore: balances, issuer and treasury do not sum to zero")
        self._check_members(list(zip(population.tolist(), member.tolist(), strict=True)))
        self.accounts.check_new(ids)
        if ids:
            self.accounts.add(ids, population, member)
            self.accounts.balance = balances.copy()
            for p, k in zip(population.tolist(), member.tolist(), strict=True):
                self._members[p] = max(self._members[p], k + 1)
            keep = balances >= self.floor_units if alive is None else np.asarray(alive, bool)
            self.accounts.alive[:] = keep
        self.issuer_units, self.treasury_units = int(issuer), int(treasury)
        self._bid_buffer = None
        self.version += 1

    def endowment(self, traders: np.ndarray, amounts: np.ndarray) -> Admission:
        """The value giving ``amounts[k]`` credits from the issuer to live row ``traders[k]``."""
        traders = np.asarray(traders).ravel()
        if not np.issubdtype(traders.dtype, np.integer):
            raise UnknownTrader(f"trader rows must be integers, got {traders.dtype}")
        traders = traders.astype(np.int64)
        amounts = np.asarray(amounts, dtype=np.float64).ravel()
        if traders.shape != amounts.shape:
            raise MarketInputError(f"{len(traders)} traders but {len(amounts)} amounts")
        self.accounts.check_rows(traders)
        if not (np.isfinite(amounts).all() and (amounts >= 0).all()):
            raise MoneyError("endowments must be finite and >= 0 credits")
        units = to_units(amounts)
        return Admission(
            version=self.version,
            ids=(),
            population=np.zeros(0, np.int64),
            member=np.zeros(0, np.int64),
            transfers=Transfers.of(ISSUER, traders, units, FlowKind.ALLOWANCE, NO_SLOT),
            first_row=len(self.accounts),
        )

    def endow(self, traders: np.ndarray, amounts: np.ndarray) -> None:
        """Give ``amounts[k]`` credits from the issuer to live trader row ``traders[k]``
        (Theorem 3.1 endows only the network's own programs). Nothing moves on error."""
        self.apply(self.endowment(traders, amounts))

    def _retire(self, rows: np.ndarray) -> None:
        acc = self.accounts
        acc.alive[rows] = False
        pops = acc.population[rows]
        for p in np.unique(pops).tolist():
            if self._mortal[p]:
                self.populations[p].retire(acc.member[rows[pops == p]])
