"""One step of CAPITALISM computed as a value: every flow, itemised, in integer units.

:func:`compute_settlement` reads the market and returns a
:class:`~catallax.exchange.deep.values.Settlement`; it changes nothing (the market, its
populations and its royalty book are only read). The flows, in the order they apply
(each debit is within what its payer holds at that point, so a ledger that checks
every transfer in order accepts them all):

1. **Sale.** The winner pays ``(1 − λ)`` of the auction price (rounded to a unit and
   never above its cap, ``balance // E``): the seller's ``γ`` share (BID), the rest to
   the treasury (TAX). The seller is the previous owner, or the issuer where the world
   owned the state. A non-conserving Vickrey auction also mints ``top − price`` from
   the issuer: the seller's ``γ`` share of ``top − price`` (MINT).
2. **Reward.** A positive reward goes from the issuer (or each consumer) to the new owner
   (REWARD). A negative reward is a **cost**: the owner pays the issuer (or consumer)
   (COST), capped by what it holds after the sale; what it cannot pay is ``unpaid``.
3. **Rent** ``ε``: each owner pays ``1 − (1 − ε)^k`` of its positive balance for the ``k``
   episodes it owns (RENT, to the treasury).
4. **Episode ends.** Without royalties the last owner keeps its reward and nobody buys.
   With royalties the chain is settled backwards (:mod:`.royalties`).
5. **Death.** Traders whose balance after the step is below the floor leave the market
   (``deaths``); their balance stays in their account, frozen: no flow.

Learners are told what moved: prices, rewards and receipts as paid, in credits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from catallax.exchange.auctions import AuctionKind
from catallax.exchange.deep.royalties import close_chain
from catallax.exchange.deep.values import Decision, Owners, Settlement, report_of
from catallax.exchange.transfers import ISSUER, NO_SLOT, TREASURY, FlowKind, Transfers, consumer
from catallax.exchange.money import UNITS_PER_CREDIT, split, to_units
from catallax.exchange.protocols import Outcomes

if TYPE_CHECKING:
    from catallax.exchange.deep.market import DeepMarket

__all__ = ["cap_debits", "compute_settlement"]

_U = float(UNITS_PER_CREDIT)


def cap_debits(payer: np.ndarray, amount: np.ndarray, avail: np.ndarray) -> np.ndarray:
    """Debits capped in order: each takes what its payer has left, at most its amount.

    ``payer`` are trader rows, ``amount`` int64 units, ``avail`` what each row can spend
    (>= 0). Returns the amounts paid; ``avail`` is left unchanged.
    """
    if len(payer) == 1:
        return np.minimum(amount, avail[payer])
    order = np.argsort(payer, kind="stable")
    p, a = payer[order], amount[order]
    cs = np.cumsum(a)
    starts = np.r_[True, p[1:] != p[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(p)), 0))
    within = cs - (cs - a)[first]
    lim = avail[p]
    paid = np.minimum(within, lim) - np.minimum(within - a, lim)
    out = np.empty_like(paid)
    out[order] = paid
    return out


def compute_settlement(
    m: DeepMarket,
    decision: Decision,
    rewards: np.ndarray,
    ended: np.ndarray,
    pay_by: np.ndarray | None,
) -> Settlement:
    """The settlement of one step (see the module docstring); changes nothing."""
    e = m.n_envs
    acc = m.accounts
    n = len(acc)
    g = decision.winner
    won = g >= 0
    rows = g[won]
    slots = np.flatnonzero(won)
    prev = m.owner
    lam, gamma = m.royalty, m.discount
    parts: list[Transfers] = []
    unpaid = 0

    # 1. The sale.
    cap = acc.balance[rows] // e
    price_u = np.zeros(e, dtype=np.int64)
    price_u[won] = np.minimum(to_units(decision.price[won]), cap)
    upfront_u = price_u if lam == 0 else np.minimum(to_units((1 - lam) * decision.price), price_u)
    seller = np.where(prev >= 0, prev, ISSUER)
    share, tax = split(upfront_u[won], gamma)
    parts.append(Transfers.of(rows, seller[won], share, FlowKind.BID, slots))
    parts.append(Transfers.of(rows, TREASURY, tax, FlowKind.TAX, slots))
    credit = np.zeros(e, dtype=np.int64)
    credit[won] = share
    if m.auction is AuctionKind.VICKREY_NONCONSERVING and won.any():
        top_u = np.minimum(to_units((1 - lam) * decision.proceeds[won]), cap)
        # The issuer mints only the seller's γ share of the difference: a tax on newly
        # created money would be a flow from the issuer to the treasury and nothing else.
        mint_share, _ = split(np.maximum(top_u - upfront_u[won], 0), gamma)
        to_trader = seller[won] >= 0
        parts.append(
            Transfers.of(
                ISSUER,
                seller[won][to_trader],
                mint_share[to_trader],
                FlowKind.MINT,
                slots[to_trader],
            )
        )
        credit[won] += mint_share

    # 2. Rewards and costs of the new owners.
    reward_u = np.zeros(e, dtype=np.int64)
    if pay_by is None:
        sources = [(ISSUER, to_units(rewards[won]))]
    else:
        sources = [(consumer(c), to_units(pay_by[c][won])) for c in range(len(pay_by))]
    avail = None
    for src, amounts in sources:
        pos = amounts > 0
        if pos.any():
            parts.append(Transfers.of(src, rows[pos], amounts[pos], FlowKind.REWARD, slots[pos]))
            reward_u[slots[pos]] += amounts[pos]
    costs = [(src, amounts < 0, -amounts) for src, amounts in sources]
    if any(neg.any() for _, neg, _ in costs):
        avail = acc.balance + Transfers.concat(parts).net(n)
        for src, neg, owed in costs:
            if not neg.any():
                continue
            paid = cap_debits(rows[neg], owed[neg], avail)
            np.subtract.at(avail, rows[neg], paid)
            unpaid += int((owed[neg] - paid).sum())
            parts.append(Transfers.of(rows[neg], src, paid, FlowKind.COST, slots[neg]))
            reward_u[slots[neg]] -= paid

    # 3. Rent on owners, per episode owned.
    if m.rent > 0 and len(rows):
        if avail is None:
            avail = acc.balance + Transfers.concat(parts).net(n)
        owners, owned = np.unique(rows, return_counts=True)
        levy = np.rint(np.maximum(avail[owners], 0) * (1 - (1 - m.rent) ** owned)).astype(np.int64)
        levy = np.minimum(levy, np.maximum(avail[owners], 0))
        parts.append(Transfers.of(owners, TREASURY, levy, FlowKind.RENT, NO_SLOT))
        np.subtract.at(avail, owners, levy)

    price_c = price_u / _U
    reward_c = reward_u / _U
    outcomes: list[tuple] = []
    to_trader = prev >= 0
    if to_trader.any():
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
                0,
            )
            for s in range(e)
        ]
        if ended.any():
            if avail is None:
                avail = acc.balance + Transfers.concat(parts).net(n)
            for s in np.flatnonzero(ended):
                chain = m.book.extended(int(s), int(credit[s]), records[s])
                c = close_chain(
                    chain, int(s), royalty=lam, discount=gamma, alive=acc.alive, avail=avail
                )
                parts.append(c.transfers)
                unpaid += c.unpaid
                if len(c.owners):
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
    else:
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
                    np.zeros(k),
                    np.ones(k, dtype=bool),
                    np.zeros(k, dtype=bool),
                )
            )

    transfers = Transfers.concat(parts)

    # 5. Death at the floor.
    final = acc.balance + transfers.net(n)
    deaths = np.flatnonzero(acc.alive & (final < m.floor_units))

    owner_next = np.where(ended, -1, g)
    owners = Owners(
        owner=owner_next,
        obs=decision.obs,
        action=decision.actions,
        price=np.where(won, price_c, 0.0),
        reward=np.where(won, reward_c, 0.0),
    )
    taught = tuple(_by_population(m, outcomes))
    return Settlement(
        version=m.version,
        step=m.steps,
        transfers=transfers,
        owners=owners,
        deaths=deaths,
        outcomes=taught,
        royalty=royalty,
        unpaid=unpaid,
        ended=ended,
        report=report_of(transfers, deaths=len(deaths), unpaid=unpaid, ended=ended),
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
