"""Neural networks as markets (paper, Theorem 3.1).

Theorem 3.1: for a ReLU network ``f = f_n ∘ … ∘ f_1`` with ``f_i(x) = σ(W_i x + b_i)``
there is a deep market whose forward pass computes ``f``. The construction, as in the
proof, on the real :class:`~catallax.exchange.deep.DeepMarket`:

* **State.** The direct sum of the layer spaces: an observation is ``(i, a)``, the index
  ``i`` of the layer whose input ``a ∈ R^{m_i}`` it holds, encoded as a row
  ``[i, a_1 … a_m, 0 …]`` padded to the widest layer (:func:`encode`).
* **Traders.** :class:`LayerPrograms` are constant maps to layer parameters: program
  ``k`` holds ``(layer_k, W_k, b_k)`` and bids a constant on observations of its layer,
  nothing on others; its action is "apply my parameters", ``a ↦ σ(W_k a + b_k)``
  (:func:`apply_programs` is that transition).
* **Wealth.** Only programs whose parameters equal the network's are endowed. Decoys
  with other parameters make the auction meaningful: *broke* decoys bid more than the
  network's programs but have no wealth, so their bids are capped to nothing; *poor*
  decoys have wealth but bid less.

:func:`market_from_mlp` builds that market, :func:`market_forward` runs its forward pass
(``DeepMarket.act`` once per layer, no money moves) and :func:`mlp_forward` is the
network itself, for comparison. Equation (1), the prices of a production graph, is in
:mod:`catallax.exchange.wide.prices`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from catallax.exchange.deep import DeepMarket
from catallax.exchange.errors import ActionError, MarketConfigError, MarketInputError

__all__ = [
    "LayerPrograms",
    "apply_programs",
    "encode",
    "market_forward",
    "market_from_mlp",
    "mlp_forward",
]


class LayerPrograms:
    """Constant layer programs, a population of the deep market (Theorem 3.1).

    Args:
        layers: ``(K,)`` the layer each program acts on (0 = the input layer).
        weights: ``K`` matrices ``W_k`` of shape ``(m_out, m_in)``.
        biases: ``K`` vectors ``b_k`` of shape ``(m_out,)``.
        bids: ``(K,)`` the constant bid of each program, credits.
    """

    def __init__(
        self,
        layers: Sequence[int],
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        bids: Sequence[float],
    ) -> None:
        if not len(layers) == len(weights) == len(biases) == len(bids):
            raise MarketConfigError(
                "layers, weights, biases and bids must have one entry per program"
            )
        self.layers = np.asarray(layers, dtype=np.int64)
        self.weights = [np.asarray(w, dtype=np.float64) for w in weights]
        self.biases = [np.asarray(b, dtype=np.float64) for b in biases]
        self.bid_of = np.asarray(bids, dtype=np.float64)
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise MarketConfigError(f"program {k}: W must be (m_out, m_in) and b (m_out,)")

    @property
    def size(self) -> int:
        return len(self.layers)

    def bids(self, obs: np.ndarray) -> np.ndarray:
        """Each program bids its constant on observations of its layer, NaN elsewhere."""
        layer = np.asarray(obs)[:, 0].astype(np.int64)
        mine = self.layers[:, None] == layer[None, :]
        return np.where(mine, self.bid_of[:, None], np.nan)

    def actions(self, obs: np.ndarray, members: np.ndarray) -> np.ndarray:
        """A program's action is itself: apply its parameters."""
        return np.asarray(members, dtype=np.int64)


def encode(layer: int | np.ndarray, activations: np.ndarray, width: int) -> np.ndarray:
    """Observations ``[layer, a_1 … a_m, 0 …]`` of width ``1 + width``, one row per episode."""
    a = np.asarray(activations, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] > width:
        raise MarketInputError(f"activations must be (E, m) with m <= {width}, got {a.shape}")
    obs = np.zeros((a.shape[0], 1 + width))
    obs[:, 0] = layer
    obs[:, 1 : 1 + a.shape[1]] = a
    return obs


def apply_programs(programs: LayerPrograms, actions: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """The transition: episode ``e`` applies program ``actions[e]`` to its activations.

    Returns the next observations (layer index plus one, ``σ(W a + b)``, padded).
    """
    obs = np.asarray(obs, dtype=np.float64)
    out = np.zeros_like(obs)
    out[:, 0] = obs[:, 0] + 1
    for k in np.unique(actions):
        sel = actions == k
        w, b = programs.weights[k], programs.biases[k]
        if programs.layers[k] != int(obs[sel][0, 0]):
            raise ActionError(f"program {k} acts on layer {programs.layers[k]}")
        a = obs[sel, 1 : 1 + w.shape[1]]
        rows = np.flatnonzero(sel)[:, None]
        out[rows, 1 + np.arange(w.shape[0])] = np.maximum(a @ w.T + b, 0)
    return out


def mlp_forward(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], x: np.ndarray
) -> np.ndarray:
    """The ReLU network ``f_n ∘ … ∘ f_1`` on a batch ``x (E, m_0)``."""
    a = np.asarray(x, dtype=np.float64)
    for w, b in zip(weights, biases, strict=True):
        a = np.maximum(a @ np.asarray(w).T + np.asarray(b), 0)
    return a


def market_from_mlp(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    *,
    n_envs: int = 1,
    decoys: int = 2,
    auction: str = "vickrey",
    seed: int | None = None,
) -> tuple[DeepMarket, LayerPrograms]:
    """The deep market of Theorem 3.1 for the network with these weights and biases.

    Per layer: the network's own program (bid 1, wealth ``10 · n_envs``), ``decoys``
    broke decoys (random parameters, bid 5, no wealth) and ``decoys`` poor decoys (random
    parameters, bid 0.5, wealth ``10 · n_envs``). Endowments come from the issuer.
    """
    if len(weights) != len(biases) or not weights:
        raise MarketConfigError("need one bias per weight matrix and at least one layer")
    for i in range(1, len(weights)):
        if np.shape(weights[i])[1] != np.shape(weights[i - 1])[0]:
            takes, gives = np.shape(weights[i])[1], np.shape(weights[i - 1])[0]
            raise MarketConfigError(f"layer {i} takes {takes} inputs, layer {i - 1} gives {gives}")
    rng = np.random.default_rng(seed)
    layers, ws, bs, bids, rich = [], [], [], [], []
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        w, b = np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
        for kind, bid in [("true", 1.0)] + [("broke", 5.0)] * decoys + [("poor", 0.5)] * decoys:
            layers.append(i)
            ws.append(w if kind == "true" else rng.normal(size=w.shape))
            bs.append(b if kind == "true" else rng.normal(size=b.shape))
            bids.append(bid)
            rich.append(kind != "broke")
    programs = LayerPrograms(layers, ws, bs, bids)
    market = DeepMarket(
        programs, n_actions=programs.size, n_envs=n_envs, auction=auction, allowance=0.0, seed=seed
    )
    endowment = 10.0 * n_envs * np.asarray(rich, dtype=np.float64)
    market.endow(np.arange(market.size), endowment)
    return market, programs


def market_forward(market: DeepMarket, programs: LayerPrograms, x: np.ndarray) -> np.ndarray:
    """The market's forward pass on ``x (E, m_0)``: one auction per layer, no money moves.

    Returns the last layer's activations ``(E, m_n)``.
    """
    n_layers = int(programs.layers.max()) + 1
    width = max([w.shape[0] for w in programs.weights] + [np.shape(x)[1]])
    obs = encode(0, x, width)
    out_width = np.shape(x)[1]
    for _ in range(n_layers):
        decision = market.act(obs)
        if np.any(decision.winner < 0):
            raise MarketConfigError("nobody bid on a layer: the market has no program for it")
        out_width = programs.weights[int(decision.actions[0])].shape[0]
        obs = apply_programs(programs, decision.actions, obs)
    return obs[:, 1 : 1 + out_width]
