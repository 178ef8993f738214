"""Crossover: from a smoothed Fisher solution to the exact equilibrium on its support.

Once the smoothing ``μ`` is small, the goods each buyer spends on (its *support*) are those
of maximal bang-per-buck at the exact equilibrium. On that support the equilibrium solves
linear equations: ``q_j + c_i = a_ij`` on every edge (log price + log of the buyer's
bang-per-buck level = log value), ``c_i = 0`` for quasi-linear buyers that keep money, money
balance ``Σ_j p_j = Σ_i b_i`` in each connected component that keeps no money, and flows of
money along the edges that balance every node. Generically the support is a forest, so both
are solved exactly by walking the trees; the support is taken as the heaviest spanning
forest of the spending shares. The result is accepted only if every flow is
nonnegative and no buyer prefers a good off its support; otherwise the caller keeps
following the smoothing path. One market at a time, in plain Python over the n + m nodes.
"""

from __future__ import annotations

import math

import numpy as np

_ROUNDS = 8  # rounds of dropping edges with negative money / adding violated ones
_AMBIGUOUS = 5  # give up at once when the first forest has more negative edges than this
_SHARE = 1e-7  # a buyer spending at least this share of its budget on a good may be "on" it


def crossover(
    a: np.ndarray, b: np.ndarray, pi: np.ndarray, pi0: np.ndarray, quasilinear: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """Exact normalised prices and allocation shares on the support of ``pi``, or None.

    ``a (n, m)`` log values (``-inf`` where zero), ``b (n,)`` budget shares, ``pi (n, m)``
    and ``pi0 (n,)`` the smoothed spending shares. Returns ``(prices (m,), frac (n, m))``.
    """
    n, m = a.shape
    outside = n + m  # node ids: buyers 0..n-1, goods n..n+m-1, the kept-money node n+m
    live = np.isfinite(a).any(axis=0)
    on = (pi >= _SHARE) & (b[:, None] > 0)
    on[np.arange(n), np.argmax(pi, axis=1)] |= (b > 0) & (pi.max(axis=1) >= pi0)
    keeps = (pi0 >= _SHARE) & (b > 0) if quasilinear else np.zeros(n, dtype=bool)
    rows, cols = np.nonzero(on)
    kept = np.nonzero(keeps)[0]
    share = np.concatenate([pi[rows, cols], pi0[kept]])
    ends = np.concatenate([n + cols, np.full(kept.size, outside)])
    starts = np.concatenate([rows, kept])
    edges = _heaviest_forest(starts[np.argsort(-share)], ends[np.argsort(-share)], n + m + 1)
    paying = b > 0
    for round_ in range(_ROUNDS):
        solved = _solve_on(edges, a, b, live, n, m)
        if solved is None:
            return None
        q, c, prices, flows = solved
        budget = max(float(b.max()), 1e-300)
        negative = {e for e, flow in enumerate(flows) if flow < -1e-12 * budget}
        if round_ == 0 and len(negative) > _AMBIGUOUS:
            return None  # many near-ties still unresolved: cheaper to follow the path further
        if negative:  # a spurious bridge between two trees carries negative money: drop it
            edges = [edge for e, edge in enumerate(edges) if e not in negative]
            continue
        with np.errstate(invalid="ignore"):
            slack = np.where(np.isfinite(a) & paying[:, None], a - q[None, :] - c[:, None], -np.inf)
        if quasilinear:  # keeping money is the good "outside" with log-price 0
            slack = np.concatenate([slack, np.where(paying, -c, -np.inf)[:, None]], axis=1)
        i, j = np.unravel_index(np.argmax(slack), slack.shape)
        if slack[i, j] <= 1e-9:
            break
        # A buyer strictly prefers good j (or keeping its money): put edge (i, j) first and
        # drop the lightest edge of the cycle it closes (if any), as a simplex pivot would.
        edges = _heaviest_forest(
            np.array([i] + [u for u, _ in edges]),
            np.array([n + j] + [w for _, w in edges]),
            n + m + 1,
        )
    else:
        return None
    frac = np.zeros((n, m))
    for (u, w), flow in zip(edges, flows, strict=True):
        if w != outside:
            frac[u, w - n] = max(flow, 0.0) / prices[w - n]
    return prices, frac


def _heaviest_forest(starts: np.ndarray, ends: np.ndarray, nodes: int) -> list[tuple[int, int]]:
    """Kruskal: keep each edge (in the given order, heaviest first) unless it closes a cycle.

    Near-ties leave small spurious shares on goods off the true support; dropping the
    lightest edge of every cycle removes them, and the checks in ``crossover`` reject the
    result if a needed edge went missing. Edges that then carry negative money are
    dropped, a good that a buyer strictly prefers joins its tree to the buyer's, and the forest
    is solved again, a few rounds at most."""
    parent = list(range(nodes))

    def root(u: int) -> int:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    forest = []
    for u, w in zip(starts.tolist(), ends.tolist(), strict=True):
        ru, rw = root(u), root(w)
        if ru != rw:
            parent[ru] = rw
            forest.append((u, w))
    return forest


def _solve_on(edges, a, b, live, n, m):
    """Potentials and flows on a forest of edges, or None if some good is left without one.

    ``edges`` always form a forest (they come out of ``_heaviest_forest``, or are a subset of
    such a forest), so potentials are determined by walking the trees."""
    outside = n + m
    starts = [u for u, _ in edges]
    ends = [w for _, w in edges]
    start_array, end_array = np.array(starts, dtype=int), np.array(ends, dtype=int)
    covered = np.zeros(n + m + 1, dtype=bool)
    covered[end_array] = True
    if not np.all(covered[n:outside] | ~live):
        return None
    to_good = end_array < outside
    weight = np.zeros(len(edges))
    weight[to_good] = a[start_array[to_good], end_array[to_good] - n]
    adjacency: list[list[tuple[int, float]]] = [[] for _ in range(n + m + 1)]
    for u, w, wt in zip(starts, ends, weight.tolist(), strict=True):
        adjacency[u].append((w, wt))
        adjacency[w].append((u, wt))
    level = _potentials(adjacency, b, live, n, m)
    if level is None:
        return None
    q, c = level
    prices = np.where(live, np.exp(q), 0.0)
    flows = _flows(starts, ends, b, prices, n, m)
    if flows is None:
        return None
    return q, c, prices, flows


def _potentials(adjacency, b, live, n, m):
    """Log prices q and buyer levels c with ``q_j + c_i = a_ij`` on every edge, and money
    balance in every tree that does not reach the kept-money node."""
    outside = n + m
    value: list[float | None] = [None] * (n + m + 1)  # c of buyers, q of goods, 0 outside
    budgets = b.tolist()
    order = [outside, *(n + j for j in np.flatnonzero(live).tolist()), *range(n)]
    for start in order:
        if value[start] is not None:
            continue
        value[start] = 0.0
        members = [start]
        for u in members:  # breadth first: the list grows while it is walked
            level = value[u]
            for w, weight in adjacency[u]:
                if value[w] is None:
                    value[w] = weight - level
                    members.append(w)
        if start == outside:
            continue
        goods = [value[u] for u in members if u >= n]
        if goods:
            money = sum(budgets[u] for u in members if u < n)
            if money <= 0:
                return None
            top = max(goods)
            worth = top + math.log(sum(math.exp(g - top) for g in goods))
            shift = math.log(money) - worth
            for u in members:
                value[u] += shift if u >= n else -shift
    c = np.array(value[:n], dtype=float)
    q = np.array([0.0 if x is None else x for x in value[n:outside]], dtype=float)
    return q, c


def _flows(starts, ends, b, prices, n, m):
    """Money along each edge so that every buyer spends b_i and every good earns p_j, by
    peeling leaves; the edge left at a leaf is the XOR of its incident edge ids."""
    outside = n + m
    need = [*b.tolist(), *prices.tolist(), 0.0]
    degree = [0] * (n + m + 1)
    incident = [0] * (n + m + 1)
    for e, (u, w) in enumerate(zip(starts, ends, strict=True)):
        degree[u] += 1
        degree[w] += 1
        incident[u] ^= e
        incident[w] ^= e
    flows = [0.0] * len(starts)
    stack = [u for u in range(outside) if degree[u] == 1]
    left = len(starts)
    while stack:
        u = stack.pop()
        if degree[u] != 1:
            continue
        e = incident[u]
        w = ends[e] if starts[e] == u else starts[e]
        flows[e] = need[u]
        need[w] -= need[u]
        need[u] = 0.0
        degree[u] = 0
        degree[w] -= 1
        incident[w] ^= e
        left -= 1
        if degree[w] == 1 and w != outside:
            stack.append(w)
    if left:
        return None  # a cycle: not a forest (cannot happen for Kruskal's output)
    return flows
