"""One step of CAPITALISM computed as a value: every flow, itemised, in integer units.

:func:`compute_settlement` reads the market and returns a
:class:`~catallax.exchange.deep.values.Settlement`; it changes nothing (the market, its
populations and its royalty book are only read). The flows, in the order they apply
(each debit is within what its payer holds at that point, so a ledger that checks
every transfer in order accepts them all):

1. **Sale.** The winner pays ``(1 − λ)`` of the auction price (rounded to a unit and
   never above its cap, ``balance // E``): the seller's ``γ`` share (BID), the rest to
   the treasury (TAX). The seller is the previous owner, or the issuer where the world
   owned the state; a trader that buys from itself pays only the tax. A non-conserving
   Vickrey auction also mints, from the issuer, the seller's ``γ`` share of
   ``top − price`` (MINT). A **negative price** (an ask: the state is worth less than
   nothing) is paid the other way once every buyer has paid: the seller pays the buyer
   ``γ`` of the upfront part of ``|price|`` (BID, no tax on a loss), within what it
   holds then (the issuer always pays; a removed seller pays nothing); the rest is
   ``unpaid``. The buyer's price and the seller's receipt are then negative.
2. **Reward.** A positive reward goes from the issuer (or each consumer) to the new owner
   (REWARD). A negative reward is a **cost**: the owner pays the issuer (or consumer)
   (COST), capped by what it holds after the sale and its rewards; what it cannot pay
   is ``unpaid``. With several consumers, each one's rewards and then costs in turn.
3. **Rent** ``ε``: each owner pays ``1 − (1 − ε)^k`` of its positive balance for the ``k``
   episodes it owns (RENT, to the treasury).
4. **Episode ends.** Without royalties the last owner keeps its reward and nobody buys.
   With royalties the chain is settled backwards (:mod:`.royalties`). **Salvage**: where
   an episode was cut by a time limit (truncated, not terminated) and the caller gives
   the market's price of the state it was cut in, the world buys that state back from
   its last owner: the issuer pays it ``γ·price`` (BID), or, for a negative price, the
   owner pays the issuer ``γ·|price|`` within what it holds (BID; the rest unpaid). The
   receipt is the owner's like any other (with royalties, part of its realised value).
   A time limit is not the end of the world: the state still has a price, and without
   salvage a self-loop cut at the limit was worth only its last reward.
5. **Death.** Traders whose balance after the step is below the floor leave the market
   (``deaths``); their balance stays in their account, frozen: no flow.

Learners are told what moved: prices, rewards and receipts as paid, in credits.
Phases 1 to 3 run compiled (:mod:`._settle_kernel`); the royalties in Python, once per
finished episode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from catallax.exchange.auctions import AuctionKind
from catallax.exchange.deep._settle_kernel import sale_reward_rent
from catallax.exchange.deep.royalties import close_chain
from catallax.exchange.deep.values import Decision, Owners, Settlement
from catallax.exchange.money import UNITS_PER_CREDIT, to_units
from catallax.exchange.protocols import Outcomes
from catallax.exchange.transfers import ISSUER, FlowKind, Transfers, consumer, special_slots

if TYPE_CHECKING:
    from catallax.exchange.deep.market import DeepMarket

__all__ = ["compute_settlement"]

_U = float(UNITS_PER_CREDIT)
_ISSUER_ONLY = np.array([ISSUER], dtype=np.int64)
_NOBODY = np.zeros(0, dtype=np.int64)


def _units(credits: np.ndarray) -> np.ndarray:
    """Checked credits as int64 units (the rounding rule of :func:`to_units`)."""
    return np.rint(credits * UNITS_PER_CREDIT).astype(np.int64)


def compute_settlement(
    m: DeepMarket,
    decision: Decision,
    rewards: np.ndarray,
    ended: np.ndarray,
    pay_by: np.ndarray | None,
    salvage: np.ndarray | None = None,
) -> Settlement:
    """The settlement of one step (see the module docstring); changes nothing."""
    e = m.n_envs
    acc = m.accounts
    g = decision.winner
    won = g >= 0
    prev = m.owner
    lam, gamma = m.royalty, m.discount

    # 1-3. Sale, rewards and costs, rent: one compiled pass (see _settle_kernel).
    # Amounts of world-owned episodes are converted too; the kernel ignores them.
    # Prices come from the auction and rewards were checked by the market: both are
    # finite and in range, so they convert without a second check.
    price_u = _units(decision.price)
    nonconserving = m.auction is AuctionKind.VICKREY_NONCONSERVING
    top_u = _units(decision.proceeds) if nonconserving else price_u
    if pay_by is None:
        pay_u = _units(rewards)[None, :]
        sources = _ISSUER_ONLY
    else:
        pay_u = to_units(pay_by)
        sources = np.array([consumer(c) for c in range(len(pay_by))], dtype=np.int64)
    cap = e * (3 + 2 * len(sources)) + e
    cols = (
        np.empty(cap, np.int64),
        np.empty(cap, np.int64),
        np.empty(cap, np.int64),
        np.empty(cap, np.uint8),
        np.empty(cap, np.int64),
    )
    avail = acc.balance.copy()
    # Special accounts by handle -1 - k: issuer, treasury, clearing house, consumers.
    special = np.zeros(special_slots(len(m.consumers)), dtype=np.int64)
    paid_price, credit, reward_u = (np.empty(e, np.int64) for _ in range(3))
    k, unpaid = sale_reward_rent(
        g,
        prev,
        price_u,
        top_u,
        1.0 - lam,
        gamma,
        nonconserving,
        pay_u,
        sources,
        m.rent,
        avail,
        special,
        cols,
        paid_price,
        credit,
        reward_u,
        acc.alive,
    )
    royalty_parts: list[Transfers] = []
    kernel_part = Transfers(*(c[:k] for c in cols))
    price_u = paid_price
    salvage_u = np.zeros(e, dtype=np.int64)
    salvage_part = None
    if salvage is not None:
        salvage_part, short = _salvage(m, salvage, g, avail, special, salvage_u)
        unpaid += short

    teach = any(m.learns)
    price_c = price_u / _U
    reward_c = reward_u / _U
    outcomes: list[tuple] = []
    to_trader = prev >= 0
    if teach and to_trader.any():
        receipt = credit / _U
        if lam > 0:
            # A quote: the up-front receipt plus γλ times the buyer's winning bid.
            receipt = receipt + gamma * lam * decision.top
        outcomes.append(_previous(m, to_trader, receipt, provisional=lam > 0))

    # 4. Episode ends.
    royalty = None
    if lam > 0:
        records = [
            (
                int(g[s]),
                decision.obs[s],
                int(decision.actions[s]),
                int(price_u[s]),
                int(reward_u[s]),
                int(salvage_u[s]),
            )
            for s in range(e)
        ]
        if ended.any():
            for s in np.flatnonzero(ended):
                chain = m.book.extended(int(s), int(credit[s]), records[s])
                c = close_chain(
                    chain, int(s), royalty=lam, discount=gamma, alive=acc.alive, avail=avail
                )
                royalty_parts.append(c.transfers)
                unpaid += c.unpaid
                if teach and len(c.owners):
                    last = np.arange(len(c.owners)) == len(c.owners) - 1
                    outcomes.append(
                        (
                            c.owners,
                            c.obs,
                            c.actions,
                            c.price / _U,
                            c.reward / _U,
                            c.receipt / _U,
                            last,
                            np.zeros(len(c.owners), dtype=bool),
                        )
                    )
        royalty = (credit, records, ended.copy())
    elif teach:
        closing = ended & won
        if closing.any():
            k = int(closing.sum())
            outcomes.append(
                (
                    g[closing],
                    decision.obs[closing],
                    decision.actions[closing],
                    price_c[closing],
                    reward_c[closing],
                    salvage_u[closing] / _U,
                    np.ones(k, dtype=bool),
                    np.zeros(k, dtype=bool),
                )
            )

    parts = [kernel_part] if salvage_part is None else [kernel_part, salvage_part]
    transfers = Transfers.concat([*parts, *royalty_parts])

    # 5. Death at the floor.
    balances = avail
    if lam > 0 and ended.any():
        special += Transfers.concat(royalty_parts).effect(
            acc.balance[:0], len(special), traders=False
        )[1]
    if m.floor_units > 0:
        deaths = np.flatnonzero(acc.alive & (balances < m.floor_units))
    else:  # no balance is ever below zero
        deaths = _NOBODY

    owners_after = Owners(
        owner=np.where(ended, -1, g),
        obs=decision.obs,
        action=decision.actions,
        price=np.where(won, price_c, 0.0),
        reward=np.where(won, reward_c, 0.0),
    )
    return Settlement(
        version=m.version,
        step=m.steps,
        transfers=transfers,
        owners=owners_after,
        deaths=deaths,
        outcomes=tuple(_by_population(m, outcomes)),
        royalty=royalty,
        unpaid=unpaid,
        ended=ended,
        balances=balances,
        special=special,
    )


def _salvage(
    m: DeepMarket,
    salvage: np.ndarray,
    winner: np.ndarray,
    avail: np.ndarray,
    special: np.ndarray,
    received: np.ndarray,
) -> tuple[Transfers, int]:
    """The world buying back each cut state from its last owner (see the module
    docstring): the transfers and what went unpaid; ``avail``, ``special`` and
    ``received`` (the owners' receipts in units) are updated in place."""
    cols: list[list[int]] = [[], [], [], [], []]
    unpaid = 0
    for s in np.flatnonzero((salvage != 0) & (winner >= 0)).tolist():
        g = int(winner[s])
        due = int(np.rint(m.discount * salvage[s] * UNITS_PER_CREDIT))
        if due > 0:
            payer, payee, amount = ISSUER, g, due
            avail[g] += due
            special[-1 - ISSUER] -= due
        else:
            have = int(avail[g]) if m.accounts.alive[g] and avail[g] > 0 else 0
            amount = min(-due, have)
            unpaid += -due - amount
            payer, payee = g, ISSUER
            avail[g] -= amount
            special[-1 - ISSUER] += amount
        received[s] = amount if payer == ISSUER else -amount
        if amount > 0:
            for col, v in zip(cols, (payer, payee, amount, int(FlowKind.BID), s), strict=True):
                col.append(v)
    return (
        Transfers(
            np.asarray(cols[0], np.int64),
            np.asarray(cols[1], np.int64),
            np.asarray(cols[2], np.int64),
            np.asarray(cols[3], np.uint8),
            np.asarray(cols[4], np.int64),
        ),
        unpaid,
    )


def _previous(m: DeepMarket, where: np.ndarray, receipt: np.ndarray, *, provisional: bool) -> tuple:
    """The ownerships that ended at this step's sale, as outcome columns."""
    own = m.owners
    k = int(where.sum())
    obs = own.obs[where] if own.obs is not None else np.zeros(k)
    return (
        own.owner[where],
        obs,
        own.action[where],
        own.price[where],
        own.reward[where],
        receipt[where],
        np.zeros(k, dtype=bool),
        np.full(k, provisional),
    )


def _by_population(m: DeepMarket, parts: list[tuple]):
    """Outcome columns split into one :class:`Outcomes` per learning population."""
    if not parts:
        return
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)] if len(parts) > 1 else parts[0]
    owners = cols[0]
    acc = m.accounts
    pops = acc.population[owners]
    single = len(m.populations) == 1
    for p in [0] if single else np.unique(pops).tolist():
        if not m.learns[p]:
            continue
        sel = slice(None) if single else pops == p
        yield (
            p,
            Outcomes(
                members=acc.member[owners[sel]],
                obs=cols[1][sel],
                actions=cols[2][sel],
                price=cols[3][sel],
                reward=cols[4][sel],
                receipt=cols[5][sel],
                ended=cols[6][sel],
                provisional=cols[7][sel],
            ),
        )
