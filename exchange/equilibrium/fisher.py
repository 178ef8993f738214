"""Fisher markets with linear valuations, quasi-linear or linear, solved in price space.

Method. The Eisenberg-Gale program (Cole et al. 2017 for the quasi-linear variant) has a
dual in the m prices alone. With log-prices ``q_j``, ``a_ij = log v_ij`` and the units
normalised (total budget 1, supply 1), it reads

    D(q) = Σ_j exp(q_j) + Σ_i b_i · max(0 [quasi-linear only], max_j (a_ij - q_j)) + const,

a convex function of q whose inner max is buyer i's best bang-per-buck. We replace each max
by the entropic soft-max ``μ·log Σ exp(·/μ)`` and minimise the smooth result by Newton's
method with a backtracking line search; the m×m Hessian is
``diag(p) + (1/μ) Σ_i b_i (diag(π_i) - π_i π_iᵀ)``, cheap for m in the hundreds. At the
smoothed optimum the goods clear exactly, buyer i spending the share ``π_ij`` of its budget on
good j (and keeping ``π_i0`` in the quasi-linear case). Continuation divides ``μ`` by 3 to
10 after each converged stage (more when the certificate is still far from ``tol``), with a
first-order predictor ``q += (dq/dμ) Δμ`` so that each stage starts close to its optimum;
spending concentrates on goods of maximal bang-per-buck and the utility loss shrinks in
proportion to ``μ``. Once ``μ <= 1e-4`` (and for batches of at most 16 markets) each stage
also tries the crossover of ``_crossover``: the exact equilibrium on the support of spending.

Stopping rule (certified, never an iteration count): a stage ends when every good clears to
``max(tol / 10, μ)`` (or the line search can make no further progress in float64): early
stages need not be centred exactly. The solve ends when ``certify`` reports every violation
<= ``tol`` for every market of the batch.

Batches are solved together: arrays carry a leading market axis, Newton systems go to one
batched ``numpy.linalg.solve``, and each market has its own ``μ`` and step length.
"""

from __future__ import annotations

import numpy as np

from catallax.exchange.equilibrium._crossover import crossover
from catallax.exchange.equilibrium.certificate import certify
from catallax.exchange.equilibrium.errors import NonConvergenceError, SolverOptionError
from catallax.exchange.equilibrium.markets import Equilibrium, FisherMarket

__all__ = ["solve_fisher"]

_MU_START = 0.1
_MU_FLOOR = 1e-14
_MU_FACTOR = 10.0
_CROSSOVER_MU = 1e-4  # try the exact solve on the support once μ is this small
_AFTER_MISS = 1 / 3  # after a failed crossover, shrink μ gently and try again soon
_CROSSOVER_BATCH = 16  # larger batches skip it: Python per market costs more than it saves
_UNDERFLOW = -40.0  # shares below exp(-40) are taken as exactly zero
_CENTRING = 1.0  # intermediate stages end once goods clear to _CENTRING * μ
_SPARSE_COST = 30.0  # a nonzero pair costs about this many dense multiply-adds


def solve_fisher(market: FisherMarket, *, tol: float = 1e-6, max_iter: int = 500) -> Equilibrium:
    """Equilibrium prices and allocations of a (batch of) Fisher market(s).

    ``tol`` bounds every relative violation of the certificate (see ``certify``); the result's
    ``gap`` is the relative duality gap of the Eisenberg-Gale program (relative to the total
    budget). Raises ``NonConvergenceError`` (with the best point found) if ``max_iter``
    Newton steps do not reach ``tol``.
    """
    if not tol > 0:
        raise SolverOptionError("tol", f"must be > 0, got {tol}")
    problem = _Problem(market)
    q = problem.initial_log_prices()
    mu = np.full(problem.k, _MU_START)
    done = ~problem.has_money
    final_price = np.zeros_like(q)
    final_frac = np.zeros_like(problem.a)
    best_worst = np.full(problem.k, np.inf)  # per market: the best candidate seen so far
    best_price, best_frac = final_price.copy(), final_frac.copy()
    if done.all():  # no market has money: nothing is bought, every price is zero
        return problem.equilibrium(final_price, final_frac, 0)
    point = problem.evaluate(q, mu)
    stalled = np.zeros(problem.k, dtype=bool)
    flat_steps = np.zeros(problem.k, dtype=int)
    for iteration in range(1, max_iter + 1):
        value, grad, pi, pi0 = point
        price = np.exp(q) * problem.live
        residual = np.max(np.abs(grad) / np.where(problem.live, price, 1.0), axis=-1)
        staged = ~done & ((residual <= np.maximum(0.1 * tol, _CENTRING * mu)) | stalled)
        if staged.any():
            rows = np.nonzero(staged)[0]
            price_n, frac = problem.smoothed(q[rows], pi[rows], rows)
            missed = np.zeros(rows.size, dtype=bool)  # crossover tried and failed
            if problem.k <= _CROSSOVER_BATCH:
                for r, k in enumerate(rows):
                    if mu[k] <= _CROSSOVER_MU * 1.001:
                        exact = crossover(
                            problem.a[k], problem.b[k], pi[k], pi0[k], problem.quasilinear
                        )
                        if exact is None:
                            missed[r] = True
                        else:
                            price_n[r], frac[r] = exact
            worst = problem.worst_violation(price_n, frac, rows)
            improved = worst < best_worst[rows]
            best_worst[rows[improved]] = worst[improved]
            best_price[rows[improved]], best_frac[rows[improved]] = (
                price_n[improved],
                frac[improved],
            )
            ok = worst <= tol
            final_price[rows[ok]], final_frac[rows[ok]] = price_n[ok], frac[ok]
            done[rows[ok]] = True
            if done.all():
                return problem.equilibrium(final_price, final_frac, iteration)
            advance = rows[~ok]
            if advance.size:
                if np.any(mu[advance] <= _MU_FLOOR):
                    break
                wanted = 0.3 * tol / np.maximum(worst[~ok], 1e-300)
                wanted = np.where(missed[~ok], _AFTER_MISS, wanted)
                new_mu = mu[advance] * np.clip(wanted, 1 / _MU_FACTOR, 1 / 3)
                tangent = problem.path_tangent(q[advance], mu[advance], pi[advance], advance)
                q[advance] += tangent * (new_mu - mu[advance])[:, None]
                mu[advance] = new_mu
                fresh = problem.evaluate(q[advance], mu[advance], advance)
                point = tuple(np.array(x, copy=True) for x in point)
                for whole, part in zip(point, fresh, strict=True):
                    whole[advance] = part
                value, grad, pi, pi0 = point
                flat_steps[advance] = 0
        step = problem.newton_direction(q, mu, grad, pi)
        q, point, failed = problem.line_search(q, mu, point, step, ~done)
        flat = point[0] >= value - 1e-15 * np.abs(value)
        flat_steps = np.where(flat, flat_steps + 1, 0)
        stalled = failed | (flat_steps >= 2)
    never = np.nonzero(np.isinf(best_worst) & ~done)[0]
    if never.size:
        best_price[never], best_frac[never] = problem.smoothed(q[never], point[2][never], never)
    best_price[done], best_frac[done] = final_price[done], final_frac[done]
    eq = problem.equilibrium(best_price, best_frac, max_iter)
    raise NonConvergenceError(
        f"Fisher market not solved to tol={tol:g} within {max_iter} Newton steps",
        best=eq,
        certificate=certify(market, eq),
        iterations=max_iter,
    )


class _Problem:
    """The normalised smoothed dual of a batch of Fisher markets, flattened to (K, n, m)."""

    def __init__(self, market: FisherMarket) -> None:
        self.market = market
        n, m = market.n_buyers, market.n_goods
        self.batch = market.batch_shape
        v = market.valuations.reshape(-1, n, m)
        budgets = market.budgets.reshape(-1, n)
        self.supply = np.broadcast_to(market.supply, (*self.batch, m)).reshape(-1, m)
        self.k = v.shape[0]
        total = budgets.sum(axis=-1)
        self.has_money = total > 0
        self.money = np.where(self.has_money, total, 1.0)
        self.b = budgets / self.money[:, None]
        with np.errstate(divide="ignore"):
            a = np.log(v * self.supply[:, None, :] / self.money[:, None, None])
        a = np.where(self.b[:, :, None] > 0, a, -np.inf)
        if not market.quasilinear:
            row_max = a.max(axis=-1, keepdims=True)
            a = a - np.where(np.isfinite(row_max), row_max, 0.0)
        self.a = a
        self.quasilinear = market.quasilinear
        self.live = np.any(np.isfinite(a), axis=1)
        self._work = np.empty_like(a)
        self._mask = np.empty(a.shape, dtype=bool)

    def initial_log_prices(self) -> np.ndarray:
        """Prices at which each buyer spends in proportion to its valuations."""
        weights = np.exp(self.a)
        shares = weights / np.maximum(weights.sum(axis=-1, keepdims=True), 1e-300)
        price = np.einsum("ki,kij->kj", self.b, shares)
        return np.where(self.live, np.log(np.maximum(price, 1e-300)), 0.0)

    def evaluate(self, q: np.ndarray, mu: np.ndarray, rows: np.ndarray | None = None):
        """Smoothed dual value, gradient, spending shares ``pi`` and kept share ``pi0``, for
        every market or only for the markets ``rows`` (then q and mu are theirs only)."""
        if rows is None:
            a, b, live = self.a, self.b, self.live
            z = np.subtract(a, q[:, None, :], out=self._work)
            mask = self._mask
        else:
            a, b, live = self.a[rows], self.b[rows], self.live[rows]
            z = a - q[:, None, :]
            mask = np.empty(z.shape, dtype=bool)
        z *= (1.0 / mu)[:, None, None]
        top = z.max(axis=-1)
        if self.quasilinear:
            top = np.maximum(top, 0.0)
        top = np.where(np.isfinite(top), top, 0.0)
        z -= top[..., None]
        np.greater(z, _UNDERFLOW, out=mask)
        pi = np.zeros_like(z)
        np.exp(z, out=pi, where=mask)
        e0 = np.exp(-top) if self.quasilinear else np.zeros_like(top)
        total = pi.sum(axis=-1) + e0
        total = np.where(total > 0, total, 1.0)
        pi /= total[..., None]
        pi0 = e0 / total
        soft = mu[:, None] * (top + np.log(total))
        price = np.exp(q) * live
        value = price.sum(axis=-1) + np.sum(np.where(b > 0, b * soft, 0.0), axis=-1)
        grad = np.where(live, price - np.einsum("ki,kij->kj", b, pi), 0.0)
        return value, grad, pi, pi0

    def _hessian(self, q, mu, pi, rows: np.ndarray | None = None) -> np.ndarray:
        b, live = (self.b, self.live) if rows is None else (self.b[rows], self.live[rows])
        out = self._work if rows is None else None
        weighted = np.multiply(pi, np.sqrt(b)[..., None], out=out)
        per_row = np.count_nonzero(weighted, axis=-1)
        pairs = float(np.sum(per_row.astype(float) ** 2))
        if _SPARSE_COST * pairs < weighted.size * weighted.shape[-1]:
            hess = -_sparse_gram(weighted)
        else:
            hess = -np.matmul(weighted.transpose(0, 2, 1), weighted)
        hess *= (1.0 / mu)[:, None, None]
        demand = np.einsum("ki,kij->kj", b, pi)
        idx = np.arange(q.shape[1])
        hess[:, idx, idx] += np.where(live, np.exp(q) + demand / mu[:, None], 0.0)
        dead = ~live
        if dead.any():
            hess = np.where(dead[:, :, None] | dead[:, None, :], 0.0, hess)
            hess[:, idx, idx] += dead
        return hess

    def newton_direction(self, q, mu, grad, pi) -> np.ndarray:
        """Solve ``H d = -g`` for every market (goods nobody values get the identity)."""
        return -np.linalg.solve(self._hessian(q, mu, pi), grad[..., None])[..., 0]

    def path_tangent(self, q, mu, pi, rows: np.ndarray) -> np.ndarray:
        """``dq/dμ`` along the path of smoothed optima, ``-H⁻¹ ∂g/∂μ``, for the markets
        ``rows`` (q, mu and pi are theirs only)."""
        a, b, live = self.a[rows], self.b[rows], self.live[rows]
        z = (a - q[:, None, :]) * (1.0 / mu)[:, None, None]
        z = np.where(pi > 0, z, 0.0)
        mean = np.sum(pi * z, axis=-1)  # the kept share has z = 0
        dgrad = np.einsum("ki,kij->kj", b, pi * (z - mean[..., None])) / mu[:, None]
        dgrad = np.where(live, dgrad, 0.0)
        hess = self._hessian(q, mu, pi, rows)
        return -np.linalg.solve(hess, dgrad[..., None])[..., 0]

    def line_search(self, q, mu, point, step, active):
        """Backtracking (Armijo) along ``step``; returns the new q, its evaluation and which
        markets could not decrease the objective at all (float64 floor reached). After the
        full step, only the markets still backtracking are evaluated again."""
        value, grad = point[0], point[1]
        slope = np.sum(grad * step, axis=-1)
        trial = q + np.where(active, 1.0, 0.0)[:, None] * step
        candidate = self.evaluate(trial, mu)
        ok = active & (candidate[0] <= value + 0.25 * slope + 1e-15 * np.abs(value))
        accepted = _merge(ok, candidate, point)
        q = np.where(ok[:, None], trial, q)
        pending = active & ~ok
        t = 1.0
        rows = np.nonzero(pending)[0]
        if rows.size:
            accepted = tuple(np.array(x, copy=True) for x in accepted)
        for _ in range(50):
            if rows.size == 0:
                break
            t *= 0.5
            trial = q[rows] + t * step[rows]
            candidate = self.evaluate(trial, mu[rows], rows)
            better = candidate[0] <= value[rows] + 0.25 * t * slope[rows] + 1e-15 * np.abs(
                value[rows]
            )
            took = rows[better]
            q[took] = trial[better]
            for whole, part in zip(accepted, candidate, strict=True):
                whole[took] = part[better]
            rows = rows[~better]
        pending = np.zeros(self.k, dtype=bool)
        pending[rows] = True
        return q, accepted, pending

    def smoothed(self, q, pi, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised prices and supply shares of the markets ``rows`` from their spending
        shares, scaled so that no good is over-allocated."""
        b, live = self.b[rows], self.live[rows]
        price_n = np.exp(q) * live
        spend = b[..., None] * pi
        safe_price = np.where(price_n > 0, price_n, 1.0)[:, None, :]
        frac = np.where(live[:, None, :], spend / safe_price, 0.0)
        held = frac.sum(axis=1)
        frac *= np.minimum(1.0, 1.0 / np.where(held > 0, held, 1.0))[:, None, :]
        return price_n, frac

    def worst_violation(self, price_n, frac, rows: np.ndarray) -> np.ndarray:
        """Largest certificate violation of each of the markets ``rows``."""
        n, m = self.market.n_buyers, self.market.n_goods
        values = self.market.valuations.reshape(-1, n, m)[rows]
        budgets = self.market.budgets.reshape(-1, n)[rows]
        sub = FisherMarket(values, budgets, self.supply[rows], self.market.quasilinear)
        prices = price_n * self.money[rows, None] / self.supply[rows]
        allocation = frac * self.supply[rows, None, :]
        spent = np.sum(prices[:, None, :] * allocation, axis=-1)
        cert = certify(sub, Equilibrium(prices, allocation, spent))
        return np.maximum(np.maximum(cert.allocation, cert.payment), cert.optimality)

    def equilibrium(self, price_n, frac, iterations: int) -> Equilibrium:
        """The ``Equilibrium`` of the whole batch in the market's own units."""
        gap = self.gap(price_n, frac)
        prices = price_n * self.money[:, None] / self.supply
        prices = np.where(self.has_money[:, None], prices, 0.0)
        allocation = frac * self.supply[:, None, :]
        spent = np.sum(prices[:, None, :] * allocation, axis=-1)
        n, m = self.market.n_buyers, self.market.n_goods
        return Equilibrium(
            prices=prices.reshape(*self.batch, m),
            allocation=allocation.reshape(*self.batch, n, m),
            spent=spent.reshape(*self.batch, n),
            gap=gap.reshape(self.batch) if self.batch else float(gap[0]),
            iterations=iterations,
        )

    def gap(self, price_n: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """Eisenberg-Gale duality gap of (prices, allocation), relative to the total budget."""
        value_n = np.exp(self.a)
        b = self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(value_n > 0, price_n[:, None, :] / value_n, np.inf)
        beta = ratio.min(axis=-1)
        if self.quasilinear:
            beta = np.minimum(beta, 1.0)
        paying = b > 0
        safe_b = np.where(paying, b, 1.0)
        safe_beta = np.where(paying, beta, 1.0)
        dual = price_n.sum(axis=-1) + np.sum(
            np.where(paying, -b * np.log(safe_beta) + b * np.log(safe_b) - b, 0.0), axis=-1
        )
        utility = np.sum(value_n * frac, axis=-1)
        kept = np.zeros_like(b)
        if self.quasilinear:
            kept = np.maximum(b - np.sum(price_n[:, None, :] * frac, axis=-1), 0.0)
            utility = utility + kept
        safe_u = np.where(paying, np.maximum(utility, 1e-300), 1.0)
        primal = np.sum(np.where(paying, b * np.log(safe_u) - kept, 0.0), axis=-1)
        return np.where(self.has_money, dual - primal, 0.0)


def _sparse_gram(weighted: np.ndarray) -> np.ndarray:
    """``Wᵀ W`` for each market when most shares have underflowed to zero: sum the products
    of the nonzero entries of each row, pair by pair (a buyer spends on few goods)."""
    k, n, m = weighted.shape
    market, row, col = np.nonzero(weighted)
    value = weighted[market, row, col]
    group = market * n + row  # sorted, since np.nonzero walks in C order
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, group.size])
    per_entry = np.repeat(sizes, sizes)
    first = np.repeat(starts, sizes)
    left = np.repeat(np.arange(group.size), per_entry)
    offset = np.arange(left.size) - np.repeat(np.cumsum(per_entry) - per_entry, per_entry)
    right = np.repeat(first, per_entry) + offset
    flat = (market[left] * m + col[left]) * m + col[right]
    gram = np.bincount(flat, weights=value[left] * value[right], minlength=k * m * m)
    return gram.astype(float, copy=False).reshape(k, m, m)


def _merge(take: np.ndarray, new: tuple, old: tuple) -> tuple:
    """Per market, the evaluation ``new`` where ``take`` else ``old``."""
    if take.all():
        return new
    if not take.any():
        return old
    value, grad, pi, pi0 = (
        np.where(take.reshape((-1,) + (1,) * (np.ndim(x) - 1)), x, y)
        for x, y in zip(new, old, strict=True)
    )
    return value, grad, pi, pi0
