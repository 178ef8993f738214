"""The wide market's ``Equ`` step: orders in, prices and new bundles out (pure).

A trader's bid in a wide market is a set of **orders**; each order is one buyer of a
quasi-linear Fisher market: a linear valuation ``v`` (credits per unit of each good) and
a budget ``β`` (credits). Order ``k`` of trader ``α`` buys the bundle ``x`` maximising
``v·x − p·x`` subject to ``p·x <= β``. A trader whose goods are complements (a Leontief
producer) places one order per input, so that it can control the quantity of each
input through that order's budget; one linear valuation over all its inputs would treat
them as perfect substitutes.

:func:`clear` runs one clearing per parallel episode:

1. every trader's budgets are capped by ``max(w, 0) / E`` (its wealth shared over the
   ``E`` episodes, as in the deep market), scaling its orders down together;
2. the supply is the sum of all holdings (traders' and the world's): the paper's
   ``Equ(Σ ω[α], b[...])``;
3. prices and allocations come from the equilibrium solver
   (:mod:`catallax.exchange.equilibrium`); when every order values a single good the
   market is a set of independent one-good Fisher markets, cleared here exactly in
   closed form (same equilibrium, a hundred times faster; the tests check it against
   the solver and its certificate);
4. supply left unallocated (price zero: nobody wants it at any price) goes back to its
   holders pro rata, so that ``Σ ω' = Σ ω`` holds exactly;
5. the paper's accounting: every holder is paid ``p·ω[α]`` for what it held and charged
   ``p·ω'[α]`` for what it now holds, which conserves money because ``Σ ω' = Σ ω``.
   The world's proceeds go to the issuer.

Units: quantities in units of each good, prices in credits per unit, money in credits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catallax.exchange.equilibrium import FisherMarket, solve

__all__ = ["Clearing", "Orders", "clear", "posted_clearing"]


@dataclass(frozen=True, slots=True)
class Orders:
    """The orders of a group of traders for one clearing in each of ``E`` episodes.

    Attributes:
        trader: ``(K,)`` index of the trader placing each order.
        values: ``(E, K, G)`` per-unit values, credits per unit (>= 0).
        budgets: ``(E, K)`` budgets, credits (>= 0; 0 means the order is idle).
    """

    trader: np.ndarray
    values: np.ndarray
    budgets: np.ndarray

    @property
    def size(self) -> int:
        """Number of orders ``K``."""
        return len(self.trader)


@dataclass(frozen=True, slots=True)
class Clearing:
    """The outcome of one clearing in each of ``E`` episodes.

    Attributes:
        prices: ``(E, G)`` credits per unit.
        bundles: ``(E, N, G)`` each trader's new bundle ``ω'[α]``.
        world: ``(E, G)`` what the world (issuer) holds after the clearing.
        charged: ``(E, N)`` credits each trader pays, ``p·ω'[α]``.
        paid: ``(E, N)`` credits each trader receives, ``p·ω[α]``.
        world_net: ``(E,)`` credits the issuer receives net, ``p·(ω_world − ω'_world)``.
        budgets: ``(E, K)`` the order budgets after the wealth cap.
    """

    prices: np.ndarray
    bundles: np.ndarray
    world: np.ndarray
    charged: np.ndarray
    paid: np.ndarray
    world_net: np.ndarray
    budgets: np.ndarray


def clear(
    holdings: np.ndarray,
    world: np.ndarray,
    orders: Orders,
    wealth: np.ndarray,
    *,
    tol: float = 1e-6,
) -> Clearing:
    """One wide-market clearing per episode (see the module docstring).

    Args:
        holdings: ``(E, N, G)`` the traders' bundles ``ω[α]`` before the clearing.
        world: ``(E, G)`` the world's (issuer's) goods before the clearing.
        orders: the traders' orders; ``orders.trader`` indexes ``0 .. N-1``.
        wealth: ``(N,)`` the traders' wealth in credits (caps the budgets).
        tol: certificate tolerance handed to the general equilibrium solver.

    Raises:
        ValueError: shapes disagree, or an order has a negative or non-finite entry.
        NonConvergenceError: (from the equilibrium solver) orders valuing several goods
            could not be cleared to ``tol``.
    """
    holdings = np.asarray(holdings, dtype=np.float64)
    world = np.asarray(world, dtype=np.float64)
    e, n, g = holdings.shape
    values = np.asarray(orders.values, dtype=np.float64)
    budgets = np.asarray(orders.budgets, dtype=np.float64)
    owner = np.asarray(orders.trader, dtype=np.int64)
    k = len(owner)
    if world.shape != (e, g):
        raise ValueError(f"world must have shape {(e, g)}, got {world.shape}")
    if values.shape != (e, k, g) or budgets.shape != (e, k):
        raise ValueError(
            f"orders must have values {(e, k, g)} and budgets {(e, k)}, got "
            f"{values.shape} and {budgets.shape}"
        )
    if k and (owner.min() < 0 or owner.max() >= n):
        raise ValueError(f"orders.trader must index traders 0..{n - 1}")
    for name, arr in (("orders.values", values), ("orders.budgets", budgets)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{name} must be finite and >= 0")

    budgets = _cap(budgets, owner, np.asarray(wealth, dtype=np.float64), n, e)
    supply = holdings.sum(axis=1) + world
    prices = np.zeros((e, g))
    bought = np.zeros((e, k, g))
    if k:
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
    return Clearing(prices, bundles, new_world, charged, paid, world_net, budgets)


def _cap(budgets: np.ndarray, owner: np.ndarray, wealth: np.ndarray, n: int, e: int):
    """Scale each trader's orders so their budgets sum to at most ``max(w, 0) / E``."""
    if not len(owner):
        return budgets
    total = np.zeros((e, n))
    np.add.at(total, (slice(None), owner), budgets)
    cap = np.maximum(wealth, 0.0) / e
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
