"""The deep market (paper, Definition 2.1 and Algorithm 1) as an integer state machine.

:class:`DeepMarket` holds the market's rules, its trader accounts (balances in integer
units, see :mod:`catallax.exchange.money`), and the owner of each of ``E`` parallel
episodes. A step is values travelling one way:

* the **forward pass** gives a :class:`~.values.Decision`: :meth:`DeepMarket.decide`
  takes a bid matrix and the bidders' actions from the caller (an exchange that
  collected signed bids); :meth:`DeepMarket.act` pulls them from the populations and
  is otherwise the same. Neither moves money.
* :meth:`DeepMarket.settlement` computes the step's :class:`~.values.Settlement` once
  the environment has stepped (pure: see :mod:`.settlement`);
* :meth:`DeepMarket.apply` applies it: the ``journal`` (a ledger, say) records it
  first, then money moves, owners change, the dead leave, and learners are taught.

:meth:`DeepMarket.settle` is ``apply(settlement(...))``. Joining is a value too
(:meth:`DeepMarket.admission`). The rules the paper leaves open are decided in
``docs/decisions/deep-market.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from catallax.exchange.auctions import AuctionKind
from catallax.exchange.deep.accounts import Accounts, round_mask
from catallax.exchange.deep.kernel import top_two
from catallax.exchange.deep.royalties import RoyaltyBook
from catallax.exchange.deep.settlement import compute_settlement
from catallax.exchange.deep.values import Admission, Decision, Owners, Settlement, StepReport
from catallax.exchange.errors import (
    ActionError,
    BidError,
    DuplicateTrader,
    MarketConfigError,
    MarketInputError,
    MoneyError,
    RewardError,
    StaleValue,
    UnknownTrader,
)
from catallax.exchange.money import UNITS_PER_CREDIT, to_units
from catallax.exchange.protocols import (
    Bidders,
    Consumer,
    Enumerable,
    Learner,
    Mortal,
    OneBidder,
    as_bidders,
)
from catallax.exchange.transfers import (
    CONSUMER,
    ISSUER,
    NO_SLOT,
    TREASURY,
    FlowKind,
    Transfers,
)

__all__ = ["DeepMarket", "Journal"]

#: Called with every value (settlement or admission) before the market applies it.
Journal = Callable[["DeepMarket", Settlement | Admission], None]


def default_id(population: int, member: int) -> str:
    """The account id of an in-process trader: ``p<population>.m<member>``."""
    return f"p{population}.m{member}"


class DeepMarket:
    """Accounts, owners and rules of a deep market over ``n_envs`` parallel episodes.

    Args:
        populations: populations (or lone traders) that bid; at least one member in all.
        n_actions: size of the environment's ``Discrete`` action space.
        n_envs: number of parallel episodes sharing wealth.
        auction: ``"vickrey"`` (default), ``"first-price"`` or ``"vickrey-nonconserving"``.
        allowance: credits given to every trader when it enters (>= 0).
        rent: the anti-holdout rent ε in ``[0, 1)``.
        discount: γ in ``(0, 1]``; the previous owner receives ``γ`` of the proceeds.
        floor: traders whose balance drops below this (credits) are removed.
        royalty: λ in ``[0, 1]``; the share of its realised value each buyer pays its
            seller at the end of the episode; 0 is the paper's Algorithm 1.
        consumers: optional buyers of states that replace the environment's reward.
        seed: seed of the generator used when the world acts.
        journal: called with every settlement and admission before it is applied (for
            example a ledger commit); if it raises, nothing changes.
        account_id: names the account of member ``k`` of population ``p`` (default
            ``p<p>.m<k>``).
    """

    def __init__(
        self,
        populations: Sequence[Bidders | OneBidder] | Bidders | OneBidder,
        *,
        n_actions: int,
        n_envs: int = 1,
        auction: AuctionKind | str = AuctionKind.VICKREY,
        allowance: float = 1.0,
        rent: float = 0.0,
        discount: float = 1.0,
        floor: float = 0.0,
        royalty: float = 0.0,
        consumers: Sequence[Consumer] = (),
        seed: int | None = None,
        journal: Journal | None = None,
        account_id: Callable[[int, int], str] = default_id,
    ) -> None:
        if not isinstance(populations, Sequence):
            populations = [populations]
        self.populations: list[Bidders] = [as_bidders(p) for p in populations]
        # Protocol checks are slow; each population's abilities are looked up once.
        self.learns = [isinstance(p, Learner) for p in self.populations]
        self._mortal = [isinstance(p, Mortal) for p in self.populations]
        try:
            self.auction = AuctionKind(auction)
        except ValueError:
            kinds = ", ".join(k.value for k in AuctionKind)
            raise MarketConfigError(f"auction must be one of {kinds}, got {auction!r}") from None
        _check(isinstance(n_actions, int | np.integer) and n_actions >= 1, "n_actions", n_actions)
        _check(isinstance(n_envs, int | np.integer) and n_envs >= 1, "n_envs", n_envs)
        _check(np.isfinite(allowance) and allowance >= 0, "allowance", allowance, "must be >= 0")
        _check(np.isfinite(rent) and 0 <= rent < 1, "rent", rent, "must be in [0, 1)")
        _check(
            np.isfinite(discount) and 0 < discount <= 1, "discount", discount, "must be in (0, 1]"
        )
        _check(
            np.isfinite(floor) and abs(floor) < 2**53 / UNITS_PER_CREDIT,
            "floor",
            floor,
            "must be finite",
        )
        _check(np.isfinite(royalty) and 0 <= royalty <= 1, "royalty", royalty, "must be in [0, 1]")
        _check(allowance < 2**53 / UNITS_PER_CREDIT, "allowance", allowance, "is too large")
        self.n_actions = int(n_actions)
        self.n_envs = int(n_envs)
        self.allowance = float(allowance)
        self.allowance_units = int(to_units(allowance))
        self.rent = float(rent)
        self.discount = float(discount)
        self.floor = float(floor)
        self.floor_units = int(to_units(floor))
        self.royalty = float(royalty)
        self.consumers = list(consumers)
        self.journal = journal
        self._account_id = account_id
        self._rng = np.random.default_rng(seed)

        self.accounts = Accounts()
        self.issuer_units = 0
        self.treasury_units = 0
        self.consumer_units = np.zeros(len(self.consumers), dtype=np.int64)
        self.births = 0
        self.deaths = 0
        self.steps = 0
        self.version = 0
        e = self.n_envs
        self.owner = np.full(e, -1, dtype=np.int64)
        self.owners = Owners(self.owner, None, np.zeros(e, np.int64), np.zeros(e), np.zeros(e))
        self.book = RoyaltyBook(e) if self.royalty > 0 else None
        self._bid_buffer: np.ndarray | None = None
        self._layout_cache: list = []
        self._layout_size: tuple = ()
        self._mask, self._mask_step = 0, -1
        self._cap = np.zeros(0)
        self._cap_version = -1
        self._members = [0] * len(self.populations)
        first = []
        for p, pop in enumerate(self.populations):
            size = int(pop.size)
            first.extend((p, k) for k in range(size))
        if not first:
            raise MarketConfigError("a market needs at least one trader, got zero")
        self.apply(self._admission_of(first))

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

    # -- forward pass -------------------------------------------------------------------

    def caps(self) -> np.ndarray:
        """``(size,)`` each trader's bid cap per episode in credits: ``balance // E``
        units; ``-1`` for traders that cannot bid (removed or without money)."""
        if self._cap_version != self.version or len(self._cap) != self.size:
            acc = self.accounts
            per = acc.balance // self.n_envs
            self._cap = np.where(acc.alive & (acc.balance > 0), per / UNITS_PER_CREDIT, -1.0)
            self._cap_version = self.version
        return self._cap

    def bids(self, obs: np.ndarray) -> np.ndarray:
        """Raw bids of every trader row in every episode, ``(size, E)``, in credits."""
        obs = np.asarray(obs)
        e = len(obs)
        layout = self._layout()
        if len(layout) == 1 and layout[0][1] is None and layout[0][0] == slice(0, self.size):
            out = _bids_of(self.populations[0].bids(obs), 0)
            _check_bids(out, self.size, e, 0)
            return out
        if self._bid_buffer is None or self._bid_buffer.shape != (self.size, e):
            self._bid_buffer = np.empty((self.size, e))
        for p, (rows, members) in enumerate(layout):
            pop = self.populations[p]
            part = _bids_of(pop.bids(obs), p)
            _check_bids(part, int(pop.size), e, p)
            self._bid_buffer[rows] = part if members is None else part[members]
        return self._bid_buffer

    def _layout(self) -> list[tuple[slice | np.ndarray, np.ndarray | None]]:
        """Per population: its rows, and the member behind each row (``None`` when the
        rows hold members ``0 .. size-1`` in order, so its bids need no gather)."""
        key = (self.size, *(int(p.size) for p in self.populations))
        if self._layout_size == key:
            return self._layout_cache
        acc = self.accounts
        out = []
        for p, pop in enumerate(self.populations):
            rows = np.flatnonzero(acc.population == p)
            members = acc.member[rows]
            contiguous = len(rows) > 0 and rows[-1] - rows[0] == len(rows) - 1
            if (
                contiguous
                and np.array_equal(members, np.arange(len(rows)))
                and int(pop.size) == len(rows)
            ):
                out.append((slice(int(rows[0]), int(rows[-1]) + 1), None))
            else:
                out.append((rows, members))
        self._layout_cache, self._layout_size = out, key
        return out

    def _auction(self, bids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not bids.flags.c_contiguous:
            bids = np.ascontiguousarray(bids)
        if self._mask_step != self.steps:
            self._mask, self._mask_step = round_mask(self.steps), self.steps
        return top_two(bids, self.caps(), self.accounts.key, self._mask)

    def _decision(self, obs: np.ndarray, winner, top, second, chosen) -> Decision:
        """Prices from the auction kind, the world's random actions where nobody won."""
        won = winner >= 0
        if len(chosen) == len(obs):
            actions = chosen
        else:
            # Where nobody bid the world acts at random (a draw only when needed).
            actions = self._rng.integers(self.n_actions, size=len(obs))
            actions[won] = chosen
        if self.auction is AuctionKind.FIRST_PRICE:
            price, proceeds = top, top
        elif self.auction is AuctionKind.VICKREY:
            price, proceeds = second, second
        else:
            price, proceeds = second, top
        return Decision(
            obs=obs.copy(),
            winner=winner,
            actions=actions,
            price=price,
            proceeds=proceeds,
            top=top,
            second=second,
            version=self.version,
        )

    def decide(self, obs: np.ndarray, bids: np.ndarray, actions: np.ndarray) -> Decision:
        """The forward pass on bids and actions given by the caller.

        Args:
            obs: ``(E, ...)`` the observations bid on.
            bids: ``(size, E)`` float bids in credits, one row per trader row (NaN,
                infinite or negative: no bid; rows of removed traders are ignored).
            actions: ``(size, E)`` integer actions each trader takes if it wins.

        Raises :class:`BidError` or :class:`ActionError` for a malformed matrix or a
        winner's action outside the action space; nothing changes then.
        """
        obs = _episodes(obs)
        e = len(obs)
        bids = np.asarray(bids)
        if bids.shape != (self.size, e) or not np.issubdtype(bids.dtype, np.floating):
            raise BidError(
                f"bids must be a ({self.size}, {e}) float matrix of credits, got shape "
                f"{bids.shape} and dtype {bids.dtype}"
            )
        actions = np.asarray(actions)
        if actions.shape != (self.size, e) or not np.issubdtype(actions.dtype, np.integer):
            raise ActionError(
                f"actions must be a ({self.size}, {e}) integer matrix, got shape "
                f"{actions.shape} and dtype {actions.dtype}"
            )
        winner, top, second = self._auction(bids.astype(np.float64, copy=False))
        won = np.flatnonzero(winner >= 0)
        chosen = actions[winner[won], won]
        self._check_actions(chosen, "the caller")
        return self._decision(obs, winner, top, second, chosen.astype(np.int64))

    def act(self, obs: np.ndarray) -> Decision:
        """The forward pass (``MARKET``) on bids and actions pulled from the populations.

        Moves no money and changes no state except the generator used when the world
        acts; call :meth:`settle` after the environment steps to train.
        """
        obs = _episodes(obs)
        winner, top, second = self._auction(self.bids(obs))
        won = np.flatnonzero(winner >= 0)
        chosen = np.empty(len(won), dtype=np.int64)
        if len(won):
            acc = self.accounts
            rows = winner[won]
            pops = acc.population[rows]
            groups = [0] if len(self.populations) == 1 else np.unique(pops).tolist()
            for p in groups:
                sel = slice(None) if len(self.populations) == 1 else pops == p
                got = np.asarray(self.populations[p].actions(obs[won[sel]], acc.member[rows[sel]]))
                if got.shape != (len(won[sel]),) or not np.issubdtype(got.dtype, np.integer):
                    raise ActionError(
                        f"population {p} returned actions of shape {got.shape} and dtype "
                        f"{got.dtype}; expected {(len(won[sel]),)} integers"
                    )
                self._check_actions(got, f"population {p}")
                chosen[sel] = got
        return self._decision(obs, winner, top, second, chosen)

    def _check_actions(self, chosen: np.ndarray, who: str) -> None:
        bad = (chosen < 0) | (chosen >= self.n_actions)
        if bad.any():
            raise ActionError(
                f"{who} chose action {int(chosen[bad][0])}, outside 0..{self.n_actions - 1}"
            )

    # -- training loop ------------------------------------------------------------------

    def settlement(
        self,
        decision: Decision,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_obs: np.ndarray | None = None,
    ) -> Settlement:
        """The settlement of one step after the environment applied ``decision.actions``.

        Pure: computing it twice gives equal values and changes nothing.

        Args:
            decision: the result of :meth:`act` or :meth:`decide` for this step.
            rewards: ``(E,)`` environment rewards in credits (ignored with consumers).
            terminated, truncated: ``(E,)`` episode-end flags from the environment.
            next_obs: ``(E, ...)`` observations the actions reached (needed by consumers).

        Raises:
            StaleValue: the decision was made in another state of the market.
            RewardError: a reward is NaN or infinite.
            MarketInputError: arrays of the wrong shape.
        """
        e = self.n_envs
        if decision.version != self.version:
            raise StaleValue(
                f"the decision was made at market version {decision.version}; the market "
                f"is at {self.version}"
            )
        flags = []
        for name, value in (("terminated", terminated), ("truncated", truncated)):
            value = np.asarray(value)
            if value.shape != (e,) or value.dtype.kind not in "bui":
                raise MarketInputError(
                    f"{name} must be ({e},) booleans, got shape {value.shape} of {value.dtype}"
                )
            flags.append(value.astype(bool))
        ended = flags[0] | flags[1]
        pay_by = None
        if self.consumers:
            if next_obs is None:
                raise MarketInputError("a market with consumers needs next_obs to settle")
            pay_by = np.stack([_real(c.pay(next_obs), "consumer payments") for c in self.consumers])
            if pay_by.shape != (len(self.consumers), e):
                raise MarketInputError(f"consumers must pay ({e},) amounts, got {pay_by.shape}")
            rewards = pay_by.sum(axis=0)
        rewards = _real(rewards, "rewards")
        if rewards.shape != (e,) or decision.winner.shape != (e,):
            raise MarketInputError(
                f"settle expects arrays of shape ({e},), got rewards {rewards.shape}"
            )
        bad = ~(np.abs(rewards) < 2**53 / UNITS_PER_CREDIT)
        if pay_by is not None:
            bad = bad | ~(np.abs(pay_by) < 2**53 / UNITS_PER_CREDIT).all(axis=0)
        if bad.any():
            slot = int(np.flatnonzero(bad)[0])
            raise RewardError(
                f"reward {rewards[slot]} at step {self.steps} in episode slot {slot} "
                "is not a finite number of credits",
                step=self.steps,
                slot=slot,
            )
        return compute_settlement(self, decision, rewards, ended, pay_by)

    def apply(self, value: Settlement | Admission) -> None:
        """Apply a settlement or an admission computed for the current state.

        The journal (if any) records the value first; if it raises, nothing changes.
        Then the transfers move money, and for a settlement the owners change, the dead
        leave and the learning populations are taught what the value says.

        Raises:
            StaleValue: the value was computed for another state (or already applied).
        """
        if value.version != self.version:
            raise StaleValue(
                f"value computed at market version {value.version}; the market is at "
                f"{self.version} (already applied, or computed before another change)"
            )
        if not isinstance(value, Settlement | Admission):
            raise MarketInputError(f"cannot apply a {type(value).__name__}")
        if self.journal is not None:
            self.journal(self, value)
        if isinstance(value, Admission):
            self._apply_admission(value)
        else:
            self._apply_settlement(value)

    def _move(self, t: Transfers) -> None:
        acc = self.accounts
        if not len(t):
            return
        acc.balance += t.net(len(acc))
        self.issuer_units += t.special(ISSUER)
        self.treasury_units += t.special(TREASURY)
        for k in range(len(self.consumers)):
            self.consumer_units[k] += t.special(CONSUMER - k)

    def _apply_admission(self, a: Admission) -> None:
        if a.ids:
            self.accounts.add(list(a.ids), a.population, a.member)
            self.births += len(a.ids)
            for p, k in zip(a.population.tolist(), a.member.tolist(), strict=True):
                self._members[p] = max(self._members[p], k + 1)
            self._bid_buffer = None
        self._move(a.transfers)
        self.version += 1

    def _apply_settlement(self, s: Settlement) -> None:
        # The value carries the balances its transfers lead to (computed once, for the
        # death check); the tests hold them equal to the transfers applied one by one.
        self.accounts.balance = s.balances.copy()
        self.issuer_units += int(s.special[0])
        self.treasury_units += int(s.special[1])
        if len(self.consumers):
            self.consumer_units += s.special[-1 - CONSUMER :]
        self.owners = s.owners
        self.owner = s.owners.owner
        if self.book is not None and s.royalty is not None:
            credit, records, ended = s.royalty
            self.book.advance(credit, records, ended)
        if len(s.deaths):
            self._retire(s.deaths)
            self.deaths += len(s.deaths)
        self.steps += 1
        self.version += 1
        for p, outcomes in s.outcomes:
            self.populations[p].learn(outcomes)

    def _retire(self, rows: np.ndarray) -> None:
        acc = self.accounts
        acc.alive[rows] = False
        pops = acc.population[rows]
        for p in np.unique(pops).tolist():
            if self._mortal[p]:
                self.populations[p].retire(acc.member[rows[pops == p]])

    def settle(
        self,
        decision: Decision,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_obs: np.ndarray | None = None,
    ) -> StepReport:
        """Settle one step of CAPITALISM: ``apply(settlement(...))``; returns its report."""
        s = self.settlement(decision, rewards, terminated, truncated, next_obs)
        self.apply(s)
        return s.report

    # -- accounting ---------------------------------------------------------------------

    def total(self) -> int:
        """Sum of every balance in units: traders, issuer, consumers and treasury (0)."""
        return (
            int(self.accounts.balance.sum())
            + self.issuer_units
            + self.treasury_units
            + int(self.consumer_units.sum())
        )


def _check(ok: bool, name: str, value: object, why: str = "is invalid") -> None:
    if not ok:
        raise MarketConfigError(f"{name} {why}, got {value!r}")


def _episodes(obs: object) -> np.ndarray:
    """Observations with their leading axis over episodes; :class:`MarketInputError` if
    there is none."""
    array = np.asarray(obs)
    if array.ndim == 0:
        raise MarketInputError("obs must have a leading axis over the parallel episodes")
    return array


def _real(values: object, what: str) -> np.ndarray:
    """``values`` as float64; :class:`MarketInputError` unless they are real numbers."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise MarketInputError(f"{what} must be real numbers, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def _bids_of(part: object, p: int) -> np.ndarray:
    """A population's bids as float64; :class:`BidError` unless they are real numbers."""
    array = np.asarray(part)
    if array.dtype.kind not in "biuf":
        raise BidError(f"population {p} returned bids of dtype {array.dtype}; expected floats")
    return array.astype(np.float64, copy=False)


def _check_bids(bids: np.ndarray, size: int, e: int, pop: int) -> None:
    if bids.shape != (size, e):
        raise BidError(
            f"population {pop} returned bids of shape {bids.shape}; expected ({size}, {e})"
        )
