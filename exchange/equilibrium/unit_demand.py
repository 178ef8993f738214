"""Unit demand: indivisible goods, each buyer takes at most one item (assignment market).

Exact. A welfare-maximising assignment of buyers to items (the Hungarian method, in its
shortest-augmenting-path form with potentials, vectorised over items) is supported by a
lattice of Walrasian price vectors (Shapley and Shubik 1971). We return its least element,
the buyer-optimal prices, which equal the VCG payments (Leonard 1983). They are the least
solution of the difference constraints that say no buyer envies another item,

    p_j >= max(0, w_ij - u_i)  for every buyer i,  with  u_i = w_iσ(i) - p_σ(i)  (0 if
    unassigned),

found as longest paths from zero by Bellman-Ford relaxation (at most one pass per item;
the assignment being optimal, there is no positive cycle). ``w = min(v, B)``: bids are
capped by budget. Items of a good with several copies are separate columns sharing a price.
"""

from __future__ import annotations

import numpy as np

from catallax.exchange.equilibrium.markets import Equilibrium, UnitDemandMarket

__all__ = ["max_weight_assignment", "solve_unit_demand"]


def solve_unit_demand(market: UnitDemandMarket) -> Equilibrium:
    """Welfare-maximising assignment with the minimal Walrasian (= VCG) prices.

    ``allocation[i, j]`` is 1 if buyer i gets an item of good j; ``spent[i]`` its price.
    A batch is solved market by market (the problem is combinatorial).
    """
    batch = market.batch_shape
    n, m = market.valuations.shape[-2:]
    bids = market.bids.reshape(-1, n, m)
    supply = np.broadcast_to(market.supply, (*batch, m)).reshape(-1, m).astype(int)
    prices = np.zeros((bids.shape[0], m))
    allocation = np.zeros((bids.shape[0], n, m))
    for k in range(bids.shape[0]):
        prices[k], allocation[k] = _solve_one(bids[k], supply[k])
    spent = np.sum(prices[:, None, :] * allocation, axis=-1)
    return Equilibrium(
        prices=prices.reshape(*batch, m),
        allocation=allocation.reshape(*batch, n, m),
        spent=spent.reshape(*batch, n),
        gap=float("nan"),
        iterations=0,
    )


def _solve_one(bids: np.ndarray, supply: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, m = bids.shape
    good_of_item = np.repeat(np.arange(m), supply)
    items = bids[:, good_of_item]
    owner = max_weight_assignment(items)  # owner[item] = buyer or -1
    item_prices = _minimal_prices(items, owner)
    allocation = np.zeros((n, m))
    sold = owner >= 0
    np.add.at(allocation, (owner[sold], good_of_item[sold]), 1.0)
    prices = np.zeros(m)
    np.maximum.at(prices, good_of_item, item_prices)
    return prices, allocation


def max_weight_assignment(weights: np.ndarray) -> np.ndarray:
    """Assignment of rows (buyers) to columns (items) of maximal total weight, each row to at
    most one column; returns the row of each column, -1 for unassigned. Weights >= 0."""
    n, cols = weights.shape
    if n == 0 or cols == 0:
        return np.full(cols, -1)
    # Minimise cost = -weight over a square-ish problem in which every buyer may also take
    # one of n dummy columns of weight 0 (staying out).
    cost = np.concatenate([-weights, np.zeros((n, n))], axis=1)
    total = cols + n
    u = np.zeros(n + 1)
    v = np.zeros(total + 1)
    row_of = np.zeros(total + 1, dtype=int)  # 1-based row assigned to column j, 0 if none
    way = np.zeros(total + 1, dtype=int)
    for i in range(1, n + 1):
        row_of[0] = i
        j0 = 0
        min_v = np.full(total + 1, np.inf)
        used = np.zeros(total + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = row_of[j0]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (reduced < min_v[1:])
            min_v[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, min_v[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[row_of[used]] += delta
            v[used] -= delta
            min_v[1:][free] -= delta
            j0 = j1
            if row_of[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            row_of[j0] = row_of[j1]
            j0 = j1
    owner = row_of[1 : cols + 1] - 1
    # A buyer placed on an item it values at zero is as well off outside: leave it unsold.
    assigned = owner >= 0
    zero = np.zeros(cols, dtype=bool)
    zero[assigned] = weights[owner[assigned], np.nonzero(assigned)[0]] <= 0
    owner[zero] = -1
    return owner


def _minimal_prices(items: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Least prices at which no buyer envies another item, given an optimal assignment."""
    n, cols = items.shape
    held = np.full(n, -1)
    sold = np.nonzero(owner >= 0)[0]
    held[owner[sold]] = sold
    has = held >= 0
    outside = ~has
    prices = np.zeros(cols)
    if outside.any():
        prices = np.maximum(prices, items[outside].max(axis=0))
    rows = np.nonzero(has)[0]
    own_value = items[rows, held[rows]]
    for _ in range(cols + 1):
        surplus = own_value - prices[held[rows]]
        relaxed = np.max(items[rows] - surplus[:, None], axis=0, initial=0.0)
        updated = np.maximum(prices, relaxed)
        if np.all(updated <= prices):
            break
        prices = updated
    return prices
