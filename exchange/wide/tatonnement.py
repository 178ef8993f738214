"""Tâtonnement: clearing by demand queries, for traders whose valuations stay private.

Where traders only answer "what would you hold at these prices?", the market moves
prices on the reported excess demand until the answers clear the market (Walras'
auctioneer). :class:`Tatonnement` keeps the prices of one clearing; each
:meth:`Tatonnement.step` is one multiplicative update of every good on offer in the
direction of its excess demand ``D_g − S_g``,

    p_g ← max(p_floor, p_g · exp(η_g · sign(D_g − S_g))),

with a step ``η_g`` of its own that grows while the sign of the good's excess demand
stays and halves when it flips (a step size that decreases as the price closes in on
where its demand crosses its supply, however steep the demand is there). An
over-demanded good's price is first raised to a small share of the money per unit on
offer. Goods nobody offers keep their price: no answer can clear them.

:func:`demand_certificate` measures the answers against the paper's conditions as far as
the market can see them: **allocation** (as the certificate's: nothing over-demanded, in
units of the good's supply; no good with a price above the floor left unsold, by value,
relative to the larger of the supply's worth and the members' budgets) and **payment**
(no member's bundle costs more than its budget, relative to the budget). **Optimality**
is the trader's: its signed demand is its best response at the prices (the market
cannot check a valuation it never sees), so the certificate's optimality is zero.
Prices are credits per unit of good; quantities units of goods (floats).
"""

from __future__ import annotations

import numpy as np

from catallax.exchange.equilibrium import Certificate
from catallax.exchange.errors import MarketConfigError

__all__ = ["Tatonnement", "demand_certificate"]


def demand_certificate(
    supply: np.ndarray,
    prices: np.ndarray,
    demand: np.ndarray,
    budgets: np.ndarray,
    *,
    floor: float = 0.0,
) -> Certificate:
    """How far the demands ``(N, G)`` of members with ``budgets (N,)`` (credits) are from
    clearing ``supply (G,)`` at ``prices (G,)`` (see the module docstring). A good with no
    supply must have no demand (else the allocation violation is infinite). A price at
    most ``floor`` (the tâtonnement's) counts as zero: such a good may stay unsold."""
    supply = np.asarray(supply, dtype=np.float64)
    prices = np.asarray(prices, dtype=np.float64)
    demand = np.asarray(demand, dtype=np.float64).reshape(-1, len(supply))
    budgets = np.asarray(budgets, dtype=np.float64)
    live = supply > 0
    safe_supply = np.where(live, supply, 1.0)
    held = demand.sum(axis=0)
    unfed = np.where(held > 0, np.inf, 0.0)  # demand for a good nobody offers
    over = np.where(live, np.maximum(held - supply, 0.0) / safe_supply, unfed)
    worth = max(float(prices @ supply), float(budgets.sum()))
    unsold = float(np.where(prices > floor, prices, 0.0) @ np.maximum(supply - held, 0.0))
    allocation = max(float(np.max(over, initial=0.0)), unsold / worth if worth > 0 else 0.0)
    if np.any(demand < 0):
        allocation = np.inf
    cost = demand @ prices
    over = np.maximum(cost - budgets, 0.0)
    safe = np.where(budgets > 0, budgets, 1.0)
    payment = np.where(budgets > 0, over / safe, np.where(over > 0, np.inf, 0.0))
    return Certificate(
        np.asarray([allocation]),
        np.asarray([float(np.max(payment, initial=0.0))]),
        np.zeros(1),
    )


class Tatonnement:
    """The prices of one clearing by demand queries (see the module docstring).

    Args:
        prices: ``(G,)`` the first proposal, credits per unit (raised to ``floor``).
        step: the first step of every good's log-price (> 0).
        grow, shrink: a good's step is multiplied by ``grow`` (>= 1) while its excess
            demand keeps its sign, by ``shrink`` (in (0, 1)) when the sign flips.
        most: the largest step (>= ``step``).
        floor: the smallest price proposed, credits per unit (> 0: a multiplicative step
            cannot leave zero).
        lift: see :meth:`step` (>= 0).
    """

    def __init__(
        self,
        prices: np.ndarray,
        *,
        step: float = 0.3,
        grow: float = 1.2,
        shrink: float = 0.5,
        most: float = 2.0,
        floor: float = 1e-9,
        lift: float = 1e-3,
    ) -> None:
        if not (0 < step <= most and grow >= 1 and 0 < shrink < 1 and floor > 0 and lift >= 0):
            raise MarketConfigError(
                "need 0 < step <= most, grow >= 1, 0 < shrink < 1, floor > 0, lift >= 0"
            )
        p = np.asarray(prices, dtype=np.float64)
        if p.ndim != 1 or not np.all(np.isfinite(p)):
            raise MarketConfigError(f"prices must be (G,) finite, got {p!r}")
        self.grow, self.shrink, self.most = float(grow), float(shrink), float(most)
        self.floor, self.lift = float(floor), float(lift)
        self.prices = np.maximum(p, self.floor)
        self.steps = np.full(len(p), float(step))
        self._sign = np.zeros(len(p))
        self.queries = 0

    def step(self, supply: np.ndarray, demand: np.ndarray, money: float = 0.0) -> np.ndarray:
        """The next proposal after the total ``demand (G,)`` reported at :attr:`prices`
        for ``supply (G,)`` on offer (units); ``money`` is what the members budgeted
        (credits): an over-demanded good whose price is below ``lift`` of the money per
        unit on offer starts its rise from there (a multiplicative step alone would take
        many queries to climb from the floor)."""
        supply = np.asarray(supply, dtype=np.float64)
        demand = np.asarray(demand, dtype=np.float64)
        live = supply > 0
        excess = np.where(live, (demand - supply) / np.where(live, supply, 1.0), 0.0)
        sign = np.sign(excess)
        flipped = sign * self._sign < 0
        self.steps = np.where(flipped, self.steps * self.shrink,
                              np.minimum(self.steps * self.grow, self.most))  # fmt: skip
        self._sign = sign
        self.queries += 1
        scale = self.lift * max(float(money), 0.0) / max(float(supply[live].sum()), 1e-12)
        p = np.where(excess > 0, np.maximum(self.prices, scale), self.prices)
        self.prices = np.maximum(self.floor, p * np.exp(self.steps * sign))
        return self.prices
