"""The wide market's ``Equ`` step: orders in, prices and new bundles out (pure).

:func:`clear` caps every trader's budgets, pools the supply of all holders (the paper's
``Equ(Σ ω[α], b[...])``), finds the quasi-linear Fisher equilibrium (in closed form by
:func:`posted_clearing` when every order values one good, by the solver otherwise),
returns unsold supply to its holders pro rata and prices every holder's old and new
bundles. Quantities are units of each good, prices credits per unit, money credits.
The decisions are in ``docs/decisions/wide.md``.
"""

from __future__ import annotations

import numpy as np

from catallax.exchange.equilibrium import CESMarket, FisherMarket, LeontiefMarket, solve
from catallax.exchange.errors import BidError, GoodsError, MarketInputError
from catallax.exchange.wide.values import Clearing, Orders

__all__ = ["UTILITIES", "clear", "posted_clearing"]

#: What an order's values can mean: per-unit values, Leontief needs, CES weights.
UTILITIES = ("linear", "leontief", "ces")


def clear(
    holdings: np.ndarray,
    world: np.ndarray,
    orders: Orders,
    wealth: np.ndarray | None = None,
    *,
    cap: np.ndarray | None = None,
    tol: float = 1e-6,
    utility: str = "linear",
    rho: float = 0.5,
) -> Clearing:
    """One wide-market clearing per episode.

    1. Every trader's order budgets in an episode are scaled down together so that they
       sum to at most its cap: ``cap``, or ``max(wealth, 0) / E`` (wealth shared over
       the ``E`` episodes, as in the deep market).
    2. The supply is the sum of all holdings, the traders' and the world's.
    3. Prices and allocations: with linear orders (``utility="linear"``, the default),
       :func:`posted_clearing` when every order values at most one good, the
       quasi-linear Fisher solver otherwise; with ``"leontief"`` (``orders.values`` are
       the units of each good per unit of utility) or ``"ces"`` (weights, exponent
       ``rho``) the Fisher market of that utility, where buyers spend their budgets.
    4. Supply nobody took (price zero) returns to its holders pro rata, so that
       ``Σ ω' = Σ ω`` holds exactly.
    5. Every holder is paid ``p·ω[α]`` for what it held and charged ``p·ω'[α]`` for what
       it now holds; the world's net proceeds are ``world_net``.

    Args:
        holdings: ``(E, N, G)`` the traders' bundles ``ω[α]`` before the clearing.
        world: ``(E, G)`` the world's (issuer's) goods before the clearing.
        orders: the traders' orders; ``orders.trader`` indexes ``0 .. N-1``.
        wealth: ``(N,)`` the traders' wealth in credits; caps the budgets when ``cap``
            is not given (one of the two is required).
        cap: ``(N,)`` credits each trader may spend in each episode.
        tol: certificate tolerance handed to the general equilibrium solver.
        utility: ``"linear"``, ``"leontief"`` or ``"ces"``: what every order's values mean.
        rho: the CES exponent (``utility="ces"``), finite, < 1 and != 0.

    Raises:
        GoodsError: holdings or world of the wrong shape, negative or not finite.
        BidError: orders of the wrong shape, or with a negative or non-finite entry, or
            naming a trader outside ``0 .. N-1``.
        MarketInputError: neither or a malformed ``wealth``/``cap``.
        NonConvergenceError: (from the equilibrium solver) orders valuing several goods
            could not be cleared to ``tol``.
    """
    holdings = np.asarray(holdings, dtype=np.float64)
    world = np.asarray(world, dtype=np.float64)
    if holdings.ndim != 3:
        raise GoodsError(f"holdings must have shape (E, N, G), got {holdings.shape}")
    e, n, g = holdings.shape
    if world.shape != (e, g):
        raise GoodsError(f"world must have shape {(e, g)}, got {world.shape}")
    for name, arr in (("holdings", holdings), ("world", world)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise GoodsError(f"{name} must be finite and >= 0")
    values = np.asarray(orders.values, dtype=np.float64)
    budgets = np.asarray(orders.budgets, dtype=np.float64)
    owner = np.asarray(orders.trader, dtype=np.int64)
    k = len(owner)
    if owner.shape != (k,) or values.shape != (e, k, g) or budgets.shape != (e, k):
        raise BidError(
            f"orders must have values {(e, k, g)} and budgets {(e, k)}, got "
            f"{values.shape} and {budgets.shape}"
        )
    if k and (owner.min() < 0 or owner.max() >= n):
        raise BidError(f"orders.trader must index traders 0..{n - 1}")
    for name, arr in (("orders.values", values), ("orders.budgets", budgets)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise BidError(f"{name} must be finite and >= 0")
    if cap is None:
        if wealth is None:
            raise MarketInputError("clear needs the traders' wealth or their caps")
        cap = np.maximum(np.asarray(wealth, dtype=np.float64), 0.0) / e
    cap = np.asarray(cap, dtype=np.float64)
    if cap.shape != (n,) or not np.all(np.isfinite(cap)) or np.any(cap < 0):
        raise MarketInputError(f"wealth and cap must be finite, >= 0 and of shape {(n,)}")

    budgets = _cap(budgets, owner, cap, n, e)
    supply = holdings.sum(axis=1) + world
    prices = np.zeros((e, g))
    bought = np.zeros((e, k, g))
    if utility not in UTILITIES:
        raise BidError(f"utility must be one of {', '.join(UTILITIES)}, got {utility!r}")
    if k and utility != "linear":
        prices, bought = _homothetic(values, budgets, supply, tol, utility, rho)
    elif k:
        single = np.count_nonzero(values, axis=-1) <= 1
        if single.all():
            prices, bought = posted_clearing(values, budgets, supply)
        else:
            prices, bought = _general(values, budgets, supply, tol)

    bundles = np.zeros((e, n, g))
    np.add.at(bundles, (slice(None), owner), bought)
    # Supply nobody took returns to its holders pro rata to what each held.
    rest = np.maximum(supply - bundles.sum(axis=1), 0.0)
    share = np.divide(rest, supply, out=np.zeros_like(rest), where=supply > 0)
    bundles += holdings * share[:, None, :]
    new_world = world * share
    paid = np.einsum("eg,eng->en", prices, holdings)
    charged = np.einsum("eg,eng->en", prices, bundles)
    world_net = np.einsum("eg,eg->e", prices, world - new_world)
    return Clearing(prices, bundles, new_world, charged, paid, world_net, budgets, bought)


def _cap(budgets: np.ndarray, owner: np.ndarray, cap: np.ndarray, n: int, e: int):
    """Scale each trader's orders so their budgets sum to at most its ``cap``."""
    if not len(owner):
        return budgets
    total = np.zeros((e, n))
    np.add.at(total, (slice(None), owner), budgets)
    cap = np.broadcast_to(cap, (e, n))
    scale = np.where(
        total > cap, np.divide(cap, total, where=total > 0, out=np.ones_like(total)), 1.0
    )
    return budgets * scale[:, owner]


def posted_clearing(
    values: np.ndarray, budgets: np.ndarray, supply: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact quasi-linear Fisher equilibrium when every order values at most one good.

    Each good is then its own market: orders with limit ``v_k`` and budget ``β_k``
    demand ``β_k / p`` units when ``p < v_k``, any amount up to that at ``p = v_k``,
    nothing above. Sorting orders by limit, the price is either ``Σ_{top m} β / S`` (the
    top ``m`` spend everything, the next limit is below) or the ``m``-th limit itself
    (the top ``m − 1`` spend everything, order ``m`` takes what is left). Goods with no
    order, or no supply, get price zero and are not allocated.

    Args:
        values: ``(E, K, G)`` limits, at most one positive entry per order and episode.
        budgets: ``(E, K)`` credits.
        supply: ``(E, G)`` units.

    Returns:
        ``prices (E, G)`` and ``bought (E, K, G)``.
    """
    e, k, g = values.shape
    prices = np.zeros((e, g))
    bought = np.zeros((e, k, g))
    rows = np.arange(e)
    for good in range(g):
        s = supply[:, good]
        lim = np.where((budgets > 0) & (s[:, None] > 0), values[:, :, good], 0.0)
        order = np.argsort(-lim, axis=1, kind="stable")
        lim_s = np.take_along_axis(lim, order, axis=1)
        bud_s = np.where(lim_s > 0, np.take_along_axis(budgets, order, axis=1), 0.0)
        cum = np.cumsum(bud_s, axis=1)
        safe_s = np.where(s > 0, s, 1.0)[:, None]
        q = cum / safe_s  # price if the top j+1 spend everything
        q_prev = np.concatenate([np.zeros((e, 1)), q[:, :-1]], axis=1)
        reached = q >= lim_s
        any_reached = reached.any(axis=1)
        j = np.where(any_reached, reached.argmax(axis=1), k)
        jj = np.minimum(j, k - 1)
        interior = ~any_reached | (q_prev[rows, jj] >= lim_s[rows, jj])
        price = np.where(
            any_reached, np.where(interior, q_prev[rows, jj], lim_s[rows, jj]), q[:, -1]
        )
        full = np.arange(k)[None, :] < j[:, None]
        safe_p = np.where(price > 0, price, 1.0)[:, None]
        qty = np.where(full & (price[:, None] > 0), bud_s / safe_p, 0.0)
        partial = any_reached & ~interior & (price > 0)
        cum_prev = np.where(jj > 0, cum[rows, np.maximum(jj - 1, 0)], 0.0)
        left = np.maximum(s - cum_prev / np.where(price > 0, price, 1.0), 0.0)
        qty[rows[partial], jj[partial]] = left[partial]
        unsorted = np.zeros((e, k))
        np.put_along_axis(unsorted, order, qty, axis=1)
        prices[:, good] = price
        bought[:, :, good] = unsorted
    return prices, bought


def _general(values, budgets, supply, tol):
    """Orders valuing several goods: the quasi-linear Fisher solver, per episode batch."""
    live = supply > 0
    v = np.where(live[:, None, :], values, 0.0)
    s = np.where(live, supply, 1.0)
    eq = solve(FisherMarket(v, budgets, s, quasilinear=True), tol=tol)
    prices = np.where(live, eq.prices, 0.0)
    bought = np.where(live[:, None, :], eq.allocation, 0.0)
    return prices, bought


def _homothetic(values, budgets, supply, tol, utility, rho):
    """Leontief or CES orders: the Fisher market of that utility (buyers spend it all).

    Goods nobody can be sold (no supply) are left out of the market; an order with no
    budget buys nothing (the solver needs every buyer with a budget to value a good).
    """
    live = supply > 0
    w = np.where(live[:, None, :], values, 0.0)
    spend = np.where(np.any(w > 0, axis=-1), budgets, 0.0)
    s = np.where(live, supply, 1.0)
    if utility == "leontief":
        # A need for a good with no supply cannot be met: such an order buys nothing.
        blocked = np.any((values > 0) & ~live[:, None, :], axis=-1)
        spend = np.where(blocked, 0.0, spend)
        market = LeontiefMarket(np.where(spend[..., None] > 0, w, 0.0), spend, s)
    else:
        market = CESMarket(w, spend, s, rho=rho)
    if not np.any(spend > 0):
        return np.zeros(supply.shape), np.zeros(values.shape)
    eq = solve(market, tol=tol)
    prices = np.where(live, eq.prices, 0.0)
    bought = np.where(live[:, None, :] & (spend[..., None] > 0), eq.allocation, 0.0)
    return prices, bought
