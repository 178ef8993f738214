"""The common phases of a settlement, compiled: sales and asks, rewards and costs, rent.

:func:`sale_reward_rent` runs phases 1 to 3 of :mod:`catallax.exchange.deep.settlement`
in one compiled pass over the ``E`` episodes, in the order the module docstring gives,
with every debit checked against a running balance (so a cost takes at most what its
owner holds after the sale, and an ask at most what its seller holds after the buyers'
payments). It writes the itemised transfers into preallocated
columns and returns how many it wrote; the caller wraps them in a
:class:`~catallax.exchange.transfers.Transfers`. Amounts are int64 units; a split of
``a`` with share ``γ`` gives ``rint(γ·a)`` to the named party, as
:func:`catallax.exchange.money.split` does.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["sale_reward_rent"]

_ISSUER, _TREASURY = -1, -2
_BID, _TAX, _MINT, _REWARD, _COST, _RENT = 2, 3, 4, 5, 6, 7
_ASK = 11  # FlowKind.ASK


@numba.njit(cache=True, inline="always")
def _put(out, k, payer, payee, amount, kind, slot):  # pragma: no cover - compiled
    """Write transfer ``k`` into the columns; returns ``k + 1``."""
    out[0][k] = payer
    out[1][k] = payee
    out[2][k] = amount
    out[3][k] = kind
    out[4][k] = slot
    return k + 1


@numba.njit(cache=True, nogil=True, boundscheck=False)
def sale_reward_rent(  # pragma: no cover - compiled
    winner,  # (E,) int64 rows, -1: the world
    prev,  # (E,) int64 previous owners, -1: the world
    price_u,  # (E,) int64 auction price in units (rounded), 0 where nobody won
    top_u,  # (E,) int64 winning bid in units (for minting), 0 where nobody won
    upfront,  # float: 1 - λ
    gamma,  # float: γ
    mint,  # bool: non-conserving Vickrey
    pay_u,  # (C, E) int64 what each source pays each owner (negative: a cost)
    sources,  # (C,) int64 account handles of the sources
    rent,  # float ε
    avail,  # (N,) int64 balances; updated in place to the balances after the phases
    special,  # (S,) int64 changes of the special accounts (handle -1 - k at k); updated
    out,  # (payer, payee, amount, kind, slot) transfer columns to fill
    paid_price,
    credit,
    reward_net,  # (E,) int64 outputs
    alive,  # (N,) bool: removed traders are never debited
):
    e = winner.shape[0]
    k = 0
    unpaid = 0
    n_cap = avail.shape[0]
    # 1. The sale: the winner pays at most its cap, balance // E (start of the step).
    # Negative prices (asks) are paid by the seller after the buyers' payments, below.
    for s in range(e):
        g = winner[s]
        paid_price[s] = 0
        credit[s] = 0
        reward_net[s] = 0
        if g < 0:
            continue
        cap = avail[g] // e if g < n_cap else 0
        p = price_u[s]
        if p > cap:
            p = cap
        if p < 0:
            p = 0  # an ask: settled after the buyers' payments
        paid_price[s] = p
        up = p
        if upfront < 1.0:
            up = np.int64(np.rint(upfront * price_u[s]))
            if up > p:
                up = p
            if up < 0:
                up = 0
        seller = prev[s] if prev[s] >= 0 else _ISSUER
        share = up if gamma == 1.0 else np.int64(np.rint(up * gamma))
        tax = up - share
        if share > 0 and seller != g:  # buying from itself, a trader pays only the tax
            k = _put(out, k, g, seller, share, _BID, s)
        if tax > 0:
            k = _put(out, k, g, _TREASURY, tax, _TAX, s)
        credit[s] = share
        if mint:
            t = top_u[s]
            if upfront < 1.0:
                t = np.int64(np.rint(upfront * top_u[s]))
            if t > cap:
                t = cap
            base = up
            if price_u[s] < 0:
                base = np.int64(np.rint(upfront * price_u[s])) if upfront < 1.0 else price_u[s]
            extra = t - base
            if extra > 0:
                m = extra if gamma == 1.0 else np.int64(np.rint(extra * gamma))
                if m > 0 and seller >= 0:
                    k = _put(out, k, _ISSUER, seller, m, _MINT, s)
                credit[s] += m
    # The sales' effect on the balances (debits first never exceed the caps).
    payer, payee, amount = out[0], out[1], out[2]
    for j in range(k):
        a = amount[j]
        if payer[j] >= 0:
            avail[payer[j]] -= a
        else:
            special[-1 - payer[j]] -= a
        if payee[j] >= 0:
            avail[payee[j]] += a
        else:
            special[-1 - payee[j]] += a
    # 1b. Asks: where the price is negative the seller pays the buyer γ of the upfront
    # part of |price| (no tax on a loss), within what it holds now (the issuer always
    # pays); what it cannot pay is unpaid. A trader that buys from itself moves nothing
    # (as its price and receipt, it is told the ask, as it is told a price it paid itself).
    for s in range(e):
        g = winner[s]
        if g < 0 or price_u[s] >= 0:
            continue
        ask = -price_u[s]
        if upfront < 1.0:
            ask = np.int64(np.rint(upfront * ask))
        owed = ask if gamma == 1.0 else np.int64(np.rint(ask * gamma))
        seller = prev[s] if prev[s] >= 0 else _ISSUER
        if owed <= 0:
            continue
        if seller == g:  # selling to itself a trader moves nothing, but the price holds
            paid_price[s] = -owed
            credit[s] -= owed
            continue
        p = owed
        if seller >= 0:
            have = avail[seller] if avail[seller] > 0 and alive[seller] else 0
            if p > have:
                p = have
        unpaid += owed - p
        if p > 0:
            k = _put(out, k, seller, g, p, _ASK, s)
            if seller >= 0:
                avail[seller] -= p
            else:
                special[-1 - seller] -= p
            avail[g] += p
        paid_price[s] = -p
        credit[s] -= p
    # 2. Rewards, then costs, source by source.
    for c in range(sources.shape[0]):
        src = sources[c]
        for s in range(e):
            g = winner[s]
            a = pay_u[c, s]
            if g < 0 or a <= 0:
                continue
            k = _put(out, k, src, g, a, _REWARD, s)
            avail[g] += a
            special[-1 - src] -= a
            reward_net[s] += a
        for s in range(e):
            g = winner[s]
            a = pay_u[c, s]
            if g < 0 or a >= 0:
                continue
            owed = -a
            p = owed if owed <= avail[g] else max(avail[g], 0)
            unpaid += owed - p
            if p > 0:
                k = _put(out, k, g, src, p, _COST, s)
                avail[g] -= p
                special[-1 - src] += p
            reward_net[s] -= p
    # 3. Rent: 1 - (1 - ε)^n of the positive balance for n episodes owned, by row.
    if rent > 0.0:
        rows = np.sort(winner[winner >= 0])
        i = 0
        while i < rows.shape[0]:
            g = rows[i]
            j = i
            while j < rows.shape[0] and rows[j] == g:
                j += 1
            have = avail[g] if avail[g] > 0 else 0
            levy = np.int64(np.rint(have * (1.0 - (1.0 - rent) ** (j - i))))
            if levy > have:
                levy = have
            if levy > 0:
                k = _put(out, k, g, _TREASURY, levy, _RENT, -1)
                avail[g] -= levy
                special[-1 - _TREASURY] += levy
            i = j
    return k, unpaid
