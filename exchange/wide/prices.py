"""Prices by backpropagation through a fixed market graph (paper, equation 1).

A trader whose production function ``α̂`` turns inputs into outputs, and who expects the
prevailing prices ``p`` of its outputs, offers for its inputs ``∇α_b = Dα̂ᵀ · p``. On a
:class:`MarketGraph` (a DAG in which each good is made and used by at most one trader)
:func:`flows` runs the graph forward from raw quantities and :func:`backprop_prices`
backward from the consumers' prices: the price of each good is then the derivative of
the consumers' total value with respect to one more unit of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from catallax.exchange.errors import MarketConfigError

__all__ = ["CobbDouglas", "GraphNode", "MarketGraph", "backprop_prices", "flows"]


class CobbDouglas:
    """``y_o = scale_o · Π_g x_g^{e_og}`` for positive inputs; a smooth production function.

    Args:
        scale: ``(n_out,)`` positive scales.
        exponents: ``(n_out, n_in)`` exponents (> 0).
    """

    def __init__(self, scale: np.ndarray, exponents: np.ndarray) -> None:
        self.scale = np.asarray(scale, dtype=np.float64)
        self.exponents = np.asarray(exponents, dtype=np.float64)
        if self.exponents.shape[:1] != self.scale.shape or self.exponents.ndim != 2:
            raise MarketConfigError("exponents must be (n_out, n_in) and scale (n_out,)")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.scale * np.exp(self.exponents @ np.log(x))

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """``(n_out, n_in)``: ``∂y_o/∂x_g = e_og · y_o / x_g``."""
        return self.exponents * self(x)[:, None] / x[None, :]


@dataclass(frozen=True)
class GraphNode:
    """A trader of the graph: input goods, output goods, production function.

    ``function(x)`` maps the ``len(inputs)`` input quantities to ``len(outputs)`` output
    quantities; ``jacobian(x)`` returns ``(len(outputs), len(inputs))``.
    """

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    function: Callable[[np.ndarray], np.ndarray]
    jacobian: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class MarketGraph:
    """A fixed production DAG with consumer prices on its final goods.

    Attributes:
        n_goods: number of goods.
        nodes: the traders.
        consumer_prices: ``(G,)`` what consumers pay per unit of each final good (goods
            that are used by a trader must have 0 here).
    """

    n_goods: int
    nodes: Sequence[GraphNode]
    consumer_prices: np.ndarray

    def __post_init__(self) -> None:
        maker, user = {}, {}
        for t, node in enumerate(self.nodes):
            for g in node.outputs:
                if g in maker:
                    raise MarketConfigError(f"good {g} is made by traders {maker[g]} and {t}")
                maker[g] = t
            for g in node.inputs:
                if g in user:
                    raise MarketConfigError(f"good {g} is used by traders {user[g]} and {t}")
                user[g] = t
            for g in (*node.inputs, *node.outputs):
                if not 0 <= g < self.n_goods:
                    raise MarketConfigError(
                        f"trader {t} names good {g}, outside 0..{self.n_goods - 1}"
                    )
        prices = np.asarray(self.consumer_prices, dtype=np.float64)
        if prices.shape != (self.n_goods,):
            raise MarketConfigError(f"consumer_prices must have shape ({self.n_goods},)")
        if any(prices[g] != 0 for g in user):
            raise MarketConfigError("only final goods (used by no trader) may have consumer prices")
        object.__setattr__(self, "consumer_prices", prices)
        object.__setattr__(self, "_maker", maker)
        object.__setattr__(self, "_user", user)
        object.__setattr__(self, "order", self._topological())

    def _topological(self) -> tuple[int, ...]:
        """Traders in an order where every supplier comes before its users."""
        maker: dict[int, int] = self._maker  # type: ignore[attr-defined]
        deps = [{maker[g] for g in n.inputs if g in maker} for n in self.nodes]
        order: list[int] = []
        done: set[int] = set()
        while len(order) < len(self.nodes):
            ready = [t for t in range(len(self.nodes)) if t not in done and deps[t] <= done]
            if not ready:
                raise MarketConfigError("the market graph has a cycle")
            order.extend(ready)
            done.update(ready)
        return tuple(order)

    @property
    def raw(self) -> np.ndarray:
        """``(G,)`` True for goods no trader makes."""
        made = np.zeros(self.n_goods, dtype=bool)
        made[list(self._maker)] = True  # type: ignore[attr-defined]
        return ~made


def flows(graph: MarketGraph, raw: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Quantities of every good ``(G,)`` when ``raw`` units of the raw goods enter.

    ``extra (G,)`` is added to each good where it is made (or enters), before its user
    sees it: the perturbation the tests use for finite differences.
    """
    q = np.where(graph.raw, np.asarray(raw, dtype=np.float64), 0.0)
    if extra is not None:
        q = q + np.where(graph.raw, extra, 0.0)
    for t in graph.order:
        node = graph.nodes[t]
        out = np.asarray(node.function(q[list(node.inputs)]), dtype=np.float64)
        q[list(node.outputs)] = out
        if extra is not None:
            q[list(node.outputs)] += extra[list(node.outputs)]
    return q


def backprop_prices(graph: MarketGraph, raw: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Prices of every good and every trader's offered input prices (equation 1).

    Returns ``(prices (G,), offers)`` where ``offers[t]`` is trader ``t``'s offered price
    for each of its inputs, ``D α̂_tᵀ · p_outputs``, in credits per unit.
    """
    q = flows(graph, raw)
    prices = graph.consumer_prices.copy()
    offers: list[np.ndarray] = [np.zeros(0)] * len(graph.nodes)
    for t in reversed(graph.order):
        node = graph.nodes[t]
        jac = np.asarray(node.jacobian(q[list(node.inputs)]), dtype=np.float64)
        offer = jac.T @ prices[list(node.outputs)]
        offers[t] = offer
        prices[list(node.inputs)] = offer
    return prices, offers
