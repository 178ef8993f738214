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
(:meth:`DeepMarket.admission`). The accounts live in :mod:`.membership` and the forward
pass in :mod:`.forward`, two parts of this class; this module holds the rules, the
settlement's validation and the application of values. The rules the paper leaves open
are decided in ``docs/decisions/deep-market.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from catallax.exchange.auctions import AuctionKind
from catallax.exchange.deep.accounts import Accounts
from catallax.exchange.deep.forward import ForwardPass
from catallax.exchange.deep.membership import Membership
from catallax.exchange.deep.royalties import RoyaltyBook
from catallax.exchange.deep.settlement import compute_settlement
from catallax.exchange.deep.values import Admission, Decision, Owners, Settlement, StepReport
from catallax.exchange.errors import (
    MarketConfigError,
    MarketInputError,
    RewardError,
    StaleValue,
)
from catallax.exchange.money import MAX_CREDITS, to_units
from catallax.exchange.protocols import (
    Bidders,
    Consumer,
    Learner,
    Mortal,
    OneBidder,
    as_bidders,
)
from catallax.exchange.transfers import CONSUMER, ISSUER, TREASURY, special_slots

__all__ = ["DeepMarket", "Journal"]

#: Called with every value (settlement or admission) before the market applies it.
Journal = Callable[["DeepMarket", Settlement | Admission], None]


def default_id(population: int, member: int) -> str:
    """The account id of an in-process trader: ``p<population>.m<member>``."""
    return f"p{population}.m{member}"


class DeepMarket(Membership, ForwardPass):
    """Accounts, owners and rules of a deep market over ``n_envs`` parallel episodes.

    Args:
        populations: populations (or lone traders) that bid (at least one; they may be
            empty, as an exchange's are before anyone joins).
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
            np.isfinite(floor) and abs(floor) < MAX_CREDITS,
            "floor",
            floor,
            "must be finite",
        )
        _check(np.isfinite(royalty) and 0 <= royalty <= 1, "royalty", royalty, "must be in [0, 1]")
        _check(allowance < MAX_CREDITS, "allowance", allowance, "is too large")
        self.n_actions = int(n_actions)
        self.n_envs = int(n_envs)
        self.scale = 1.0
        self.base_allowance = float(allowance)
        self.allowance = float(allowance)
        self.allowance_units = int(to_units(allowance))
        self.rent = float(rent)
        self.discount = float(discount)
        self.base_floor = float(floor)
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
        #: Episodes finished so far: the tie rule's epoch (see :mod:`.accounts`).
        self.tie_epoch = 0
        self.version = 0
        self._clear_episodes()
        self._bid_buffer: np.ndarray | None = None
        self._layout_cache: list = []
        self._layout_size: tuple = ()
        self._cap = np.zeros(0)
        self._cap_version = -1
        self._members = [0] * len(self.populations)
        first = []
        for p, pop in enumerate(self.populations):
            size = int(pop.size)
            first.extend((p, k) for k in range(size))
        if not self.populations:
            raise MarketConfigError("a market needs at least one population, got none")
        if first:  # an exchange's market may start empty and admit traders as they join
            self.apply(self._admission_of(first))

    # -- training loop ------------------------------------------------------------------

    def settlement(
        self,
        decision: Decision,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_obs: np.ndarray | None = None,
        salvage: np.ndarray | None = None,
    ) -> Settlement:
        """The settlement of one step after the environment applied ``decision.actions``.

        Pure: computing it twice gives equal values and changes nothing.

        Args:
            decision: the result of :meth:`act` or :meth:`decide` for this step.
            rewards: ``(E,)`` environment rewards in credits (ignored with consumers).
            terminated, truncated: ``(E,)`` episode-end flags from the environment.
            next_obs: ``(E, ...)`` observations the actions reached (needed by consumers).
            salvage: ``(E,)`` credits, the market's price of the state each truncated
                (not terminated) episode was cut in (NaN: none): the world buys it back
                from its last owner for ``γ`` of that price (an owner of a state of
                negative price pays the world; see :mod:`.settlement`). ``None``: the
                last owner keeps its final reward only (the paper's rule).

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
        bad = ~(np.abs(rewards) < MAX_CREDITS)
        if pay_by is not None:
            bad = bad | ~(np.abs(pay_by) < MAX_CREDITS).all(axis=0)
        if bad.any():
            slot = int(np.flatnonzero(bad)[0])
            raise RewardError(
                f"reward {rewards[slot]} at step {self.steps} in episode slot {slot} "
                "is not a finite number of credits",
                step=self.steps,
                slot=slot,
            )
        if salvage is not None:
            salvage = _real(salvage, "salvage")
            if salvage.shape != (e,):
                raise MarketInputError(f"salvage must have shape ({e},), got {salvage.shape}")
            keep = flags[1] & ~flags[0] & (np.abs(salvage) < MAX_CREDITS)
            salvage = np.where(keep, salvage, 0.0)
        return compute_settlement(self, decision, rewards, ended, pay_by, salvage)

    def rescale(self, scale: float) -> None:
        """Set the allowance and the floor to ``scale`` times the configured ones (see
        :mod:`.scale`). No money moves; new traders get the new allowance, and traders
        below the new floor leave at the next settlement. Values computed before are
        stale.

        Raises:
            MarketConfigError: ``scale`` is not a positive number, or makes the allowance
                or the floor too large.
        """
        _check(np.isfinite(scale) and scale > 0, "scale", scale, "must be > 0")
        allowance, floor = self.base_allowance * scale, self.base_floor * scale
        _check(allowance < MAX_CREDITS and abs(floor) < MAX_CREDITS, "scale", scale, "is too large")
        self.scale = float(scale)
        self.allowance, self.allowance_units = allowance, int(to_units(allowance))
        self.floor, self.floor_units = floor, int(to_units(floor))
        self.version += 1

    def new_episodes(self) -> None:
        """Every episode slot begins anew outside the market's steps (its environment
        was reset because it was lost, for example when an environment node failed):
        nobody owns a slot, and royalty chains of the episodes cut short are dropped,
        never charged. No money moves; values computed before are stale."""
        self._clear_episodes()
        self.version += 1

    def _clear_episodes(self) -> None:
        e = self.n_envs
        self.owner = np.full(e, -1, dtype=np.int64)
        self.owners = Owners(self.owner, None, np.zeros(e, np.int64), np.zeros(e), np.zeros(e))
        self.book = RoyaltyBook(e) if self.royalty > 0 else None

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

    def _add_special(self, special: np.ndarray) -> None:
        """Add changes of the special accounts (handle ``h`` at index ``-1 - h``)."""
        self.issuer_units += int(special[-1 - ISSUER])
        self.treasury_units += int(special[-1 - TREASURY])
        if len(self.consumers):
            self.consumer_units += special[-1 - CONSUMER :]

    def _apply_admission(self, a: Admission) -> None:
        if a.ids:
            self.accounts.add(list(a.ids), a.population, a.member)
            self.births += len(a.ids)
            for p, k in zip(a.population.tolist(), a.member.tolist(), strict=True):
                self._members[p] = max(self._members[p], k + 1)
            self._bid_buffer = None
        balances, special = a.transfers.effect(
            self.accounts.balance, special_slots(len(self.consumers))
        )
        self.accounts.balance = balances
        self._add_special(special)
        self.version += 1

    def _apply_settlement(self, s: Settlement) -> None:
        # The value carries the balances its transfers lead to (computed once, for the
        # death check); the tests hold them equal to the transfers applied one by one.
        self.accounts.balance = s.balances.copy()
        self._add_special(s.special)
        self.owners = s.owners
        self.owner = s.owners.owner
        if self.book is not None and s.royalty is not None:
            credit, records, ended = s.royalty
            self.book.advance(credit, records, ended)
        if len(s.deaths):
            self._retire(s.deaths)
            self.deaths += len(s.deaths)
        self.steps += 1
        self.tie_epoch += int(np.count_nonzero(s.ended))  # each episode end: a new draw
        self.version += 1
        for p, outcomes in s.outcomes:
            self.populations[p].learn(outcomes)

    def settle(
        self,
        decision: Decision,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_obs: np.ndarray | None = None,
        salvage: np.ndarray | None = None,
    ) -> StepReport:
        """Settle one step of CAPITALISM: ``apply(settlement(...))``; returns its report."""
        s = self.settlement(decision, rewards, terminated, truncated, next_obs, salvage)
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


def _real(values: object, what: str) -> np.ndarray:
    """``values`` as float64; :class:`MarketInputError` unless they are real numbers."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise MarketInputError(f"{what} must be real numbers, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)
