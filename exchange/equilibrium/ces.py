"""CES and Leontief Fisher markets, by an interior-point Newton method on the price dual.

Both utilities are concave and homogeneous of degree one, so the equilibrium is the
Eisenberg-Gale optimum, whose dual over prices p >= 0 is

    min_p  Σ_j s_j p_j - Σ_i B_i log c_i(p),      c_i(p) = (Σ_j w_ij p_j^r)^(1/r),

where c_i is buyer i's cost of one unit of utility: ``w = v^σ, r = 1 - σ`` with
``σ = 1/(1-ρ)`` for CES, and ``w = a, r = 1`` for Leontief. Its gradient is supply minus
demand (Shephard's lemma: buyer i demands ``B_i ∂c_i/∂p_j / c_i``) and its Hessian is
``Σ_i B_i [diag((1-r) g_ij / p_j) + r g_i g_iᵀ]`` with ``g_ij = ∂ log c_i / ∂p_j``. Goods in
excess supply have price zero, so we add a log barrier ``-τ Σ_j log p_j`` and follow its
central path (τ divided by 10 per stage) with damped Newton steps that keep p > 0. On the
path every good is slightly under-demanded and the unsold value is exactly ``m·τ``; a stage
ends when ``|g_j| p_j <= τ / 10`` for every good (or float64 can make no more progress), and
the solve stops when ``certify`` reports every violation <= ``tol``. Batches share one loop.
"""

from __future__ import annotations

import numpy as np

from catallax.exchange.equilibrium.certificate import Certificate, certify
from catallax.exchange.equilibrium.errors import NonConvergenceError, SolverOptionError
from catallax.exchange.equilibrium.markets import CESMarket, Equilibrium, LeontiefMarket

__all__ = ["solve_ces"]


def solve_ces(
    market: CESMarket | LeontiefMarket, *, tol: float = 1e-6, max_iter: int = 500
) -> Equilibrium:
    """Equilibrium of a (batch of) CES or Leontief Fisher market(s), certified to ``tol``."""
    if not tol > 0:
        raise SolverOptionError("tol", f"must be > 0, got {tol}")
    problem = _Dual(market)
    p = np.full((problem.k, problem.m), 1.0 / problem.m)
    tau = np.full(problem.k, 0.1 / problem.m)
    done = ~problem.has_money
    final = np.zeros_like(p)
    best: tuple[Equilibrium, Certificate] | None = None
    stalled = np.zeros(problem.k, dtype=bool)
    flat_steps = np.zeros(problem.k, dtype=int)
    for iteration in range(1, max_iter + 1):
        value, grad, hess = problem.evaluate(p, tau)
        step = -np.linalg.solve(hess, grad[..., None])[..., 0]
        decrement = -np.sum(grad * step, axis=-1)
        centred = np.max(np.abs(grad) * p, axis=-1) <= 0.1 * tau
        staged = ~done & (centred | (decrement <= 1e-15) | stalled)
        if staged.any():
            eq = problem.equilibrium(p, iteration)
            cert = certify(market, eq)
            worst = np.maximum(np.maximum(cert.allocation, cert.payment), cert.optimality)
            solved = staged & (worst.reshape(-1) <= tol)
            final[solved] = p[solved]
            done |= solved
            if best is None or cert.worst < best[1].worst:
                best = (eq, cert)
            if done.all():
                return problem.equilibrium(final, iteration)
            tau = np.where(staged & ~done, tau * 0.1, tau)
            stalled[:] = False
            flat_steps[:] = 0
            if np.any(tau < 1e-18):
                break
            continue
        active = ~done
        limit = np.min(np.where(step < 0, -p / np.where(step < 0, step, -1.0), np.inf), axis=-1)
        t = np.where(active, np.minimum(1.0, 0.95 * limit), 0.0)
        pending = active.copy()
        for _ in range(60):
            trial = p + t[:, None] * step
            ok = problem.evaluate(trial, tau, value_only=True) <= value - 0.25 * t * decrement
            ok |= ~pending
            p = np.where((pending & ok)[:, None], trial, p)
            pending &= ~ok
            if not pending.any():
                break
            t = np.where(pending, t * 0.5, t)
        new_value = problem.evaluate(p, tau, value_only=True)
        flat = new_value >= value - 1e-15 * np.abs(value)
        flat_steps = np.where(flat, flat_steps + 1, 0)
        stalled = pending | (flat_steps >= 2)  # float64 can do no better: stage converged
    if best is None:
        eq = problem.equilibrium(p, max_iter)
        best = (eq, certify(market, eq))
    raise NonConvergenceError(
        f"{type(market).__name__} not solved to tol={tol:g} within {max_iter} Newton steps",
        best=best[0],
        certificate=best[1],
        iterations=max_iter,
    )


class _Dual:
    """The barrier dual of a batch of markets in normalised units (budget 1, supply 1)."""

    def __init__(self, market: CESMarket | LeontiefMarket) -> None:
        self.market = market
        self.batch = market.batch_shape
        if isinstance(market, LeontiefMarket):
            raw, self.rho = market.requirements, None
        else:
            raw, self.rho = market.valuations, market.rho
        n, m = raw.shape[-2:]
        self.n, self.m = n, m
        budgets = market.budgets.reshape(-1, n)
        self.supply = np.broadcast_to(market.supply, (*self.batch, m)).reshape(-1, m)
        self.k = budgets.shape[0]
        money = budgets.sum(axis=-1)
        self.has_money = money > 0
        self.money = np.where(self.has_money, money, 1.0)
        self.b = budgets / self.money[:, None]
        raw = raw.reshape(-1, n, m)
        with np.errstate(divide="ignore"):
            if self.rho is None:  # Leontief: x_ij / a_ij with x in shares of supply
                self.r = 1.0
                log_w = np.log(raw / self.supply[:, None, :])
            else:
                sigma = 1.0 / (1.0 - self.rho)
                self.r = 1.0 - sigma
                log_w = sigma * np.log(raw * self.supply[:, None, :] ** self.rho)
        self.log_w = np.where(self.b[:, :, None] > 0, log_w, -np.inf)

    def shares(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expenditure shares θ_ij (rows sum to 1) and log unit costs log c_i."""
        z = self.log_w + self.r * np.log(p)[:, None, :]
        top = z.max(axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        e = np.exp(z - top)
        total = e.sum(axis=-1, keepdims=True)
        total = np.where(total > 0, total, 1.0)
        log_cost = (top[..., 0] + np.log(total[..., 0])) / self.r
        return e / total, log_cost

    def evaluate(self, p: np.ndarray, tau: np.ndarray, *, value_only: bool = False):
        theta, log_cost = self.shares(p)
        log_p = np.log(p)
        paying = self.b > 0
        value = (
            p.sum(axis=-1)
            - np.sum(np.where(paying, self.b * log_cost, 0.0), axis=-1)
            - tau * log_p.sum(axis=-1)
        )
        if value_only:
            return value
        g = theta / p[:, None, :]  # ∂ log c_i / ∂ p_j
        demand = np.einsum("ki,kij->kj", self.b, g)
        grad = 1.0 - demand - tau[:, None] / p
        weighted = g * np.sqrt(self.b)[..., None]
        hess = self.r * np.matmul(weighted.transpose(0, 2, 1), weighted)
        idx = np.arange(self.m)
        hess[:, idx, idx] += (1.0 - self.r) * demand / p + tau[:, None] / p**2
        return value, grad, hess

    def equilibrium(self, p: np.ndarray, iterations: int) -> Equilibrium:
        theta, _ = self.shares(p)
        frac = self.b[..., None] * theta / p[:, None, :]
        prices = np.where(self.has_money[:, None], p * self.money[:, None] / self.supply, 0.0)
        allocation = frac * self.supply[:, None, :]
        spent = np.sum(prices[:, None, :] * allocation, axis=-1)
        n, m = self.n, self.m
        return Equilibrium(
            prices=prices.reshape(*self.batch, m),
            allocation=allocation.reshape(*self.batch, n, m),
            spent=spent.reshape(*self.batch, n),
            gap=float("nan"),
            iterations=iterations,
        )
