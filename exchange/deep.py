"""The deep market (paper, Definition 2.1 and Algorithm 1) over parallel episodes.

:class:`DeepMarket` holds the parameters of the paper's market, the wealth ``w[α]`` of
every trader, and the owner ``α*`` of each of ``E`` parallel episodes (footnote 2:
episodes run side by side and share wealth). One step is two calls:

* :meth:`DeepMarket.act` is the forward pass (``MARKET``): bids are capped by wealth,
  an auction per episode picks the winner, the winner's action is returned. It moves no
  money, so it doubles as greedy evaluation.
* :meth:`DeepMarket.settle` is one iteration of ``CAPITALISM`` once the environment has
  stepped: the winner pays, the previous owner is paid, the winner collects the reward
  of its action, rent is levied, finished episodes close, bankrupt traders leave.

Details the paper leaves open, decided here:

* **The original owner of the world** is the issuer account (the environment, which
  also pays rewards and allowances). At the start of every episode the world owns the
  state, so the first winner pays the issuer; in a stationary market the issuer gets
  back, per episode, about what it pays out in rewards.
* **Episode end.** The last owner keeps the final reward; nobody buys a terminal (or
  truncated) state, so its ownership ends with no receipt. The next episode starts
  with the world as owner.
* **Nobody bids.** The world takes the state back for nothing and acts uniformly at
  random (from the market's seeded generator); rewards of world-owned steps stay with
  the issuer.
* **Discount.** The previous owner receives ``γ`` times the proceeds; the other
  ``(1 − γ)`` is a transaction tax paid to the treasury. With ``γ = 1`` the market is
  the paper's undiscounted Algorithm 1. With truthful bidders the fixed point of the
  bids is then ``Q*`` for discount ``γ`` (see :mod:`catallax.traders`).
* **Rent** ``ε``: after the reward, each owner pays ``ε`` of its (positive) wealth per
  episode it owns, to the treasury: ``w ← (1 − ε)^k w`` for ``k`` episodes owned.
* **Quotes and settlements.** Without royalties an ownership is reported to its
  population once, at the sale that ends it. With royalties (see
  :mod:`catallax.exchange._royalties`) it is reported twice: at the sale as a
  *provisional* outcome whose receipt is the up-front payment plus ``γλ`` times the
  buyer's winning bid (the royalty the seller can expect), and at the end of the
  episode with what it really received. Learners may use either or both.
* **Consumers.** When consumers are given, the environment's reward is ignored and the
  owner is paid what the consumers bid for the state its action reached; each consumer
  is an issuer account of its own.
* **Budgets over parallel episodes.** Each trader's wealth is shared by the ``E``
  parallel episodes (footnote 2), so its bid in each is capped by ``w / E``: a trader
  can never commit more than its wealth in one step, and with ``E = 1`` this is the
  paper's ``min(α_b(ω), w[α])``.
* **Growth and death.** Every new trader gets ``allowance`` credits from the issuer.
  A trader whose wealth falls below ``floor`` is removed: it no longer bids, its
  remaining wealth (positive or negative) is written off to the treasury, and receipts
  still owed to it go to the treasury.

Conservation: the sum of all trader wealth, the issuer's and consumers' balances and
the treasury is zero after every call (to float rounding); :class:`StepReport` lists
every flow so a test can check ``Σw' = Σw + rewards + minted − to_world − unclaimed −
rent − tax − written_off`` (and :meth:`DeepMarket.grow` adds ``allowance`` per trader).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from catallax.exchange._royalties import Closed, RoyaltyBook
from catallax.exchange.auctions import NO_WINNER, AuctionKind, run_auction
from catallax.exchange.errors import ActionError, MarketConfigError, RewardError
from catallax.exchange.protocols import (
    Bidders,
    Consumer,
    Enumerable,
    Learner,
    Mortal,
    OneBidder,
    Outcomes,
    as_bidders,
)

__all__ = ["Decision", "DeepMarket", "StepReport"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The forward pass in every episode: who won, at what price, and the action.

    Arrays have a leading axis over the ``E`` episodes. ``winner`` holds global trader
    ids (see :meth:`DeepMarket.member`), or ``-1`` where the world acts.
    """

    obs: np.ndarray
    winner: np.ndarray
    actions: np.ndarray
    price: np.ndarray
    proceeds: np.ndarray
    top: np.ndarray
    second: np.ndarray


@dataclass(frozen=True, slots=True)
class StepReport:
    """Every flow of money in one settled step, in credits (sums over episodes).

    Attributes:
        rewards: rewards paid to owning traders (by the issuer or the consumers).
        minted: what the issuer created for non-conserving Vickrey sellers.
        royalties: royalties buyers paid at episode ends (sellers got ``γ`` of them;
            the flows to the world, to bankrupt sellers and the tax are counted in
            ``to_world``, ``unclaimed`` and ``tax``).
        to_world: what buyers paid the world as the original owner (to the issuer).
        unclaimed: receipts owed to bankrupt sellers, paid to the treasury.
        rent: rent levied on owners (to the treasury).
        tax: the ``1 − γ`` share of proceeds (to the treasury).
        written_off: wealth of traders removed at the floor (to the treasury).
        deaths: traders removed in this step.
        ended: ``(E,)`` episodes that ended in this step.
    """

    rewards: float
    minted: float
    royalties: float
    to_world: float
    unclaimed: float
    rent: float
    tax: float
    written_off: float
    deaths: int
    ended: np.ndarray


class DeepMarket:
    """Wealth, owners and rules of a deep market over ``n_envs`` parallel episodes.

    Args:
        populations: populations (or lone traders) that bid; at least one member in all.
        n_actions: size of the environment's ``Discrete`` action space.
        n_envs: number of parallel episodes sharing wealth.
        auction: ``"vickrey"`` (default), ``"first-price"`` or ``"vickrey-nonconserving"``.
        allowance: credits given to every trader when it enters (>= 0).
        rent: the anti-holdout rent ε in ``[0, 1)``.
        discount: γ in ``(0, 1]``; the previous owner receives ``γ`` of the proceeds.
        floor: traders whose wealth drops below this (credits) are removed.
        royalty: λ in ``[0, 1]``; the share of its realised value each buyer pays its
            seller at the end of the episode (see :mod:`catallax.exchange._royalties`);
            0 is the paper's Algorithm 1.
        consumers: optional buyers of states that replace the environment's reward.
        seed: seed of the generator used when the world acts.
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
    ) -> None:
        if not isinstance(populations, Sequence):
            populations = [populations]
        self.populations: list[Bidders] = [as_bidders(p) for p in populations]
        # Protocol checks are slow; each population's abilities are looked up once.
        self._learns = [isinstance(p, Learner) for p in self.populations]
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
        _check(np.isfinite(floor), "floor", floor, "must be finite")
        _check(np.isfinite(royalty) and 0 <= royalty <= 1, "royalty", royalty, "must be in [0, 1]")
        self.n_actions = int(n_actions)
        self.n_envs = int(n_envs)
        self.allowance = float(allowance)
        self.rent = float(rent)
        self.discount = float(discount)
        self.floor = float(floor)
        self.royalty = float(royalty)
        self.consumers = list(consumers)
        self._rng = np.random.default_rng(seed)

        self.wealth = np.zeros(0)
        self.alive = np.zeros(0, dtype=bool)
        self._pop_of = np.zeros(0, dtype=np.int64)
        self._local_of = np.zeros(0, dtype=np.int64)
        self._rows: list[np.ndarray] = [np.zeros(0, dtype=np.int64) for _ in self.populations]
        self.issuer = 0.0
        self.treasury = 0.0
        self.consumer_balances = np.zeros(len(self.consumers))
        self.births = 0
        self.deaths = 0
        self.steps = 0
        for p, pop in enumerate(self.populations):
            self._admit(p, int(pop.size))
        if self.size == 0:
            raise MarketConfigError("a market needs at least one trader, got zero")

        e = self.n_envs
        self.owner = np.full(e, NO_WINNER, dtype=np.int64)
        self._own_obs: np.ndarray | None = None
        self._own_action = np.zeros(e, dtype=np.int64)
        self._own_price = np.zeros(e)
        self._own_reward = np.zeros(e)
        self._bid_buffer: np.ndarray | None = None
        self._scratch: np.ndarray | None = None
        self._book = RoyaltyBook(e, self.royalty, self.discount) if self.royalty > 0 else None

    # -- membership ---------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of traders that ever entered (alive or not)."""
        return len(self.wealth)

    @property
    def n_alive(self) -> int:
        """Number of traders alive now."""
        return int(self.alive.sum())

    def member(self, trader: int) -> tuple[int, int]:
        """``(population index, member id in that population)`` of a global trader id."""
        return int(self._pop_of[trader]), int(self._local_of[trader])

    def _admit(self, pop: int, count: int) -> None:
        """Register ``count`` new members of population ``pop`` and pay their allowance."""
        if count <= 0:
            return
        start = len(self._rows[pop])
        ids = np.arange(self.size, self.size + count)
        self.wealth = np.concatenate([self.wealth, np.full(count, self.allowance)])
        self.alive = np.concatenate([self.alive, np.ones(count, dtype=bool)])
        self._pop_of = np.concatenate([self._pop_of, np.full(count, pop)])
        self._local_of = np.concatenate([self._local_of, np.arange(start, start + count)])
        self._rows[pop] = np.concatenate([self._rows[pop], ids])
        self.issuer -= self.allowance * count
        self.births += count
        self._bid_buffer = None

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
                self._admit(p, got)
                added += got
                if added >= count:
                    break
        return added

    def endow(self, traders: np.ndarray, amounts: np.ndarray) -> None:
        """Give ``amounts[k]`` credits from the issuer to live trader ``traders[k]``.

        The way to set up a market whose wealth is not uniform (Theorem 3.1 endows only
        the network's own programs). Raises ``ValueError`` for unknown or removed traders
        and for amounts that are negative or not finite; nothing moves then.
        """
        traders = np.asarray(traders, dtype=np.int64).ravel()
        amounts = np.asarray(amounts, dtype=np.float64).ravel()
        if traders.shape != amounts.shape:
            raise ValueError(f"{len(traders)} traders but {len(amounts)} amounts")
        if len(traders) and (traders.min() < 0 or traders.max() >= self.size):
            raise ValueError(f"trader ids must lie in [0, {self.size})")
        if not self.alive[traders].all():
            raise ValueError("cannot endow a trader that has been removed")
        if not (np.isfinite(amounts).all() and (amounts >= 0).all()):
            raise ValueError("endowments must be finite and >= 0 credits")
        np.add.at(self.wealth, traders, amounts)
        self.issuer -= float(amounts.sum())

    def _bankrupt(self) -> tuple[int, float]:
        """Remove traders below the floor; their wealth is written off to the treasury."""
        dying = self.alive & (self.wealth < self.floor)
        n = int(dying.sum())
        if n == 0:
            return 0, 0.0
        written = float(self.wealth[dying].sum())
        self.treasury += written
        self.wealth[dying] = 0.0
        self.alive[dying] = False
        self.deaths += n
        gone = np.flatnonzero(dying)
        pops = self._pop_of[gone]
        for p in _groups(pops, len(self.populations)):
            if self._mortal[p]:
                self.populations[p].retire(self._local_of[gone[pops == p]])
        return n, written

    # -- forward pass -------------------------------------------------------------------

    def bids(self, obs: np.ndarray) -> np.ndarray:
        """Raw bids of every trader in every episode, ``(size, E)``, in credits."""
        obs = np.asarray(obs)
        e = len(obs)
        if len(self.populations) == 1:
            out = np.asarray(self.populations[0].bids(obs), dtype=np.float64)
            _check_bids(out, self.size, e, 0)
            return out
        if self._bid_buffer is None or self._bid_buffer.shape != (self.size, e):
            self._bid_buffer = np.empty((self.size, e))
        for p, pop in enumerate(self.populations):
            part = np.asarray(pop.bids(obs), dtype=np.float64)
            _check_bids(part, len(self._rows[p]), e, p)
            self._bid_buffer[self._rows[p]] = part
        return self._bid_buffer

    def act(self, obs: np.ndarray) -> Decision:
        """The forward pass (``MARKET``): capped bids, winners, prices and actions.

        Moves no money and changes no state except the generator used when the world
        acts; call :meth:`settle` after the environment steps to train.
        """
        obs = np.asarray(obs)
        bids = self.bids(obs)
        if self._scratch is None or self._scratch.shape != bids.shape:
            self._scratch = np.empty_like(bids)
        cap = np.where(self.alive, self.wealth / self.n_envs, -1.0)
        result = run_auction(bids, cap, self.auction, scratch=self._scratch)
        actions = self._rng.integers(self.n_actions, size=len(obs))
        won = result.winner >= 0
        if won.any():
            pops = self._pop_of[result.winner[won]]
            idx = np.flatnonzero(won)
            for p in _groups(pops, len(self.populations)):
                sel = idx if len(self.populations) == 1 else idx[pops == p]
                local = self._local_of[result.winner[sel]]
                chosen = np.asarray(self.populations[p].actions(obs[sel], local))
                if chosen.shape != sel.shape or not np.issubdtype(chosen.dtype, np.integer):
                    raise ActionError(
                        f"population {p} returned actions of shape {chosen.shape} and dtype "
                        f"{chosen.dtype}; expected {sel.shape} integers"
                    )
                bad = (chosen < 0) | (chosen >= self.n_actions)
                if bad.any():
                    raise ActionError(
                        f"population {p} chose action {int(chosen[bad][0])}, outside "
                        f"0..{self.n_actions - 1}"
                    )
                actions[sel] = chosen
        return Decision(
            obs=obs.copy(),
            winner=result.winner,
            actions=actions,
            price=result.price,
            proceeds=result.proceeds,
            top=result.top,
            second=result.second,
        )

    # -- training loop ------------------------------------------------------------------

    def settle(
        self,
        decision: Decision,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_obs: np.ndarray | None = None,
    ) -> StepReport:
        """Settle one step of CAPITALISM after the environment applied ``decision.actions``.

        Args:
            decision: the result of :meth:`act` for this step.
            rewards: ``(E,)`` environment rewards in credits (ignored with consumers).
            terminated, truncated: ``(E,)`` episode-end flags from the environment.
            next_obs: ``(E, ...)`` observations the actions reached (needed by consumers).

        Raises:
            RewardError: a reward is NaN or infinite; nothing has been changed.
        """
        e = self.n_envs
        g = decision.winner
        ended = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        pay_by = None
        if self.consumers:
            if next_obs is None:
                raise ValueError("a market with consumers needs next_obs to settle")
            pay_by = np.stack(
                [np.asarray(c.pay(next_obs), dtype=np.float64) for c in self.consumers]
            )
            rewards = pay_by.sum(axis=0)
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.shape != (e,) or ended.shape != (e,) or g.shape != (e,):
            raise ValueError(f"settle expects arrays of shape ({e},), got rewards {rewards.shape}")
        bad = ~np.isfinite(rewards)
        if bad.any():
            slot = int(np.flatnonzero(bad)[0])
            raise RewardError(
                f"reward {rewards[slot]} at step {self.steps} in episode slot {slot} "
                "is not a finite number",
                step=self.steps,
                slot=slot,
            )
        n = self.size
        won = g >= 0
        gw = g[won]
        prev = self.owner
        outcomes: list[tuple] = []

        # 1. The winner pays; the previous owner is paid (less the discount tax). With
        # royalties only the (1 - λ) up-front part moves now.
        upfront = 1.0 - self.royalty
        price_now = upfront * decision.price
        proceeds_now = upfront * decision.proceeds
        self.wealth -= np.bincount(gw, weights=price_now[won], minlength=n)
        minted = float((proceeds_now - price_now)[won].sum())
        self.issuer -= minted
        receipt = self.discount * proceeds_now
        tax = float((proceeds_now - receipt).sum())
        self.treasury += tax
        to_trader = prev >= 0
        heir = to_trader & self.alive[np.maximum(prev, 0)]
        self.wealth += np.bincount(prev[heir], weights=receipt[heir], minlength=n)
        unclaimed = float(receipt[to_trader & ~heir].sum())
        self.treasury += unclaimed
        to_world = float(receipt[~to_trader].sum())
        self.issuer += to_world
        if self._book is not None:
            self._book.credit(np.ones(e, dtype=bool), receipt)
            if to_trader.any():
                # A quote: what the seller expects to have earned, its up-front receipt
                # plus γλ times the buyer's winning bid (the buyer's own valuation).
                quote = receipt + self.discount * self.royalty * decision.top
                outcomes.append(self._closing(to_trader, quote, ended=False, provisional=True))
        elif to_trader.any():
            outcomes.append(self._closing(to_trader, receipt, ended=False))

        # 2. The new owner takes over and collects the reward of its action.
        self.owner = g.copy()
        if self._own_obs is None or self._own_obs.shape != decision.obs.shape:
            self._own_obs = np.empty_like(decision.obs)
        self._own_obs[...] = decision.obs
        self._own_action[:] = decision.actions
        self._own_price[:] = np.where(won, decision.price, 0.0)
        self._own_reward[:] = np.where(won, rewards, 0.0)
        if self._book is not None:
            self._book.open(g, decision.obs, decision.actions, price_now, rewards * won)
        paid = np.bincount(gw, weights=rewards[won], minlength=n)
        self.wealth += paid
        if pay_by is not None:
            self.consumer_balances -= (pay_by * won).sum(axis=1)
        else:
            self.issuer -= float(rewards[won].sum())

        # 3. Rent on owners, per episode owned.
        rent = 0.0
        if self.rent > 0 and gw.size:
            owned = np.bincount(gw, minlength=n)
            levy = np.where(self.wealth > 0, self.wealth, 0.0) * (1 - (1 - self.rent) ** owned)
            rent = float(levy.sum())
            self.wealth -= levy
            self.treasury += rent

        # 4. Finished episodes: the last owner keeps its reward; nobody buys. With
        # royalties, the episode's chain is settled backwards now.
        royalties = 0.0
        if self._book is not None:
            for slot in np.flatnonzero(ended):
                closed = self._book.close(int(slot), self.alive)
                flows = self._pay_royalties(closed)
                royalties += flows[0]
                to_world += flows[1]
                unclaimed += flows[2]
                tax += flows[3]
                c = closed
                if len(c.owners):
                    last = np.arange(len(c.owners)) == len(c.owners) - 1
                    settled = np.zeros(len(c.owners), dtype=bool)
                    outcomes.append(
                        (c.owners, c.obs, c.actions, c.price, c.reward, c.receipt, last, settled)
                    )
        else:
            closing = ended & won
            if closing.any():
                outcomes.append(self._closing(closing, np.zeros(e), ended=True))
        self.owner[ended] = NO_WINNER

        # 5. Bankruptcy, then learning.
        deaths, written = self._bankrupt()
        self.steps += 1
        if outcomes:
            self._teach(outcomes)
        return StepReport(
            rewards=float(rewards[won].sum()),
            minted=minted,
            royalties=royalties,
            to_world=to_world,
            unclaimed=unclaimed,
            rent=rent,
            tax=tax,
            written_off=written,
            deaths=deaths,
            ended=ended,
        )

    def _pay_royalties(self, c: Closed) -> tuple[float, float, float, float]:
        """Move a closed chain's royalties; returns (paid, to world, unclaimed, tax)."""
        if not len(c.amounts):
            return 0.0, 0.0, 0.0, 0.0
        n = self.size
        self.wealth -= np.bincount(c.payers, weights=c.amounts, minlength=n)
        net = self.discount * c.amounts
        tax = float((c.amounts - net).sum())
        to_trader = c.payees >= 0
        heir = to_trader & self.alive[np.maximum(c.payees, 0)]
        self.wealth += np.bincount(c.payees[heir], weights=net[heir], minlength=n)
        unclaimed = float(net[to_trader & ~heir].sum())
        to_world = float(net[~to_trader].sum())
        self.issuer += to_world
        self.treasury += tax + unclaimed
        return float(c.amounts.sum()), to_world, unclaimed, tax

    def _closing(
        self, where: np.ndarray, receipt: np.ndarray, *, ended: bool, provisional: bool = False
    ) -> tuple:
        """The finished ownerships in episodes ``where`` as outcome columns."""
        own_obs = self._own_obs if self._own_obs is not None else np.zeros(self.n_envs)
        return (
            self.owner[where].copy(),
            own_obs[where].copy(),
            self._own_action[where].copy(),
            self._own_price[where].copy(),
            self._own_reward[where].copy(),
            receipt[where].copy(),
            np.full(int(where.sum()), ended),
            np.full(int(where.sum()), provisional),
        )

    def _teach(self, parts: list[tuple]) -> None:
        """Send finished ownerships to the populations that learn."""
        cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
        owners = cols[0]
        pops = self._pop_of[owners]
        for p in _groups(pops, len(self.populations)):
            if not self._learns[p]:
                continue
            sel = pops == p
            self.populations[p].learn(
                Outcomes(
                    members=self._local_of[owners[sel]],
                    obs=cols[1][sel],
                    actions=cols[2][sel],
                    price=cols[3][sel],
                    reward=cols[4][sel],
                    receipt=cols[5][sel],
                    ended=cols[6][sel],
                    provisional=cols[7][sel],
                )
            )

    # -- accounting ---------------------------------------------------------------------

    def total(self) -> float:
        """Sum of every balance: traders, issuer, consumers and treasury (0 up to rounding)."""
        return (
            float(self.wealth.sum())
            + self.issuer
            + self.treasury
            + float(self.consumer_balances.sum())
        )


def _check(ok: bool, name: str, value: object, why: str = "is invalid") -> None:
    if not ok:
        raise MarketConfigError(f"{name} {why}, got {value!r}")


def _check_bids(bids: np.ndarray, size: int, e: int, pop: int) -> None:
    if bids.shape != (size, e):
        raise ValueError(
            f"population {pop} returned bids of shape {bids.shape}; expected ({size}, {e})"
        )


def _groups(pops: np.ndarray, n_populations: int) -> list[int]:
    """The population indices present in ``pops`` (cheap for the common single case)."""
    if n_populations == 1:
        return [0] if len(pops) else []
    return np.unique(pops).tolist()
