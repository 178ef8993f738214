"""Markets and neural networks: Theorem 3.1 (a deep market computes any ReLU MLP),
equation (1) (prices are consumer prices backpropagated through the production graph),
and a market trained by CAPITALISM on two spirals, beyond any linear classifier."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catallax.exchange.deep import DeepMarket
from catallax.exchange.errors import MarketConfigError
from catallax.exchange.neural import (
    LayerPrograms,
    apply_programs,
    encode,
    market_forward,
    market_from_mlp,
    mlp_forward,
)
from catallax.exchange.wide import (
    CobbDouglas,
    GraphNode,
    MarketGraph,
    backprop_prices,
    flows,
)

# -- Theorem 3.1 --------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    e=st.integers(1, 12),
    auction=st.sampled_from(["first-price", "vickrey"]),
)
def test_market_forward_pass_equals_the_relu_network(seed, sizes, e, auction):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    biases = [rng.normal(size=sizes[i + 1]) for i in range(len(sizes) - 1)]
    x = rng.normal(size=(e, sizes[0])) * 3
    market, programs = market_from_mlp(weights, biases, n_envs=e, auction=auction, seed=seed)
    before = market.wealth.copy()
    out = market_forward(market, programs, x)
    np.testing.assert_allclose(out, mlp_forward(weights, biases, x), rtol=0, atol=1e-12)
    # The forward pass moves no money, and only the network's programs hold wealth
    # among those that outbid it.
    assert np.array_equal(market.wealth, before) and market.total() == 0.0
    broke = programs.bid_of > 1.0
    assert np.all(market.wealth[broke] == 0) and np.all(market.wealth[~broke] > 0)


def test_the_auction_matters_endowing_a_decoy_changes_the_function():
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(4, 3)), rng.normal(size=(2, 4))]
    biases = [rng.normal(size=4), rng.normal(size=2)]
    x = rng.normal(size=(8, 3))
    market, programs = market_from_mlp(weights, biases, n_envs=8, seed=0)
    # Give a broke decoy of layer 0 (bid 5, above the network's bid 1) some wealth.
    decoy = int(np.flatnonzero((programs.layers == 0) & (programs.bid_of > 1))[0])
    market.endow(np.array([decoy]), np.array([100.0]))
    assert not np.allclose(market_forward(market, programs, x), mlp_forward(weights, biases, x))
    decision = market.act(encode(0, x, 4))
    assert np.all(decision.winner == decoy)


def test_layer_programs_bid_only_on_their_layer():
    programs = LayerPrograms([0, 1], [np.eye(2), np.eye(2)], [np.zeros(2)] * 2, [1.0, 2.0])
    bids = programs.bids(np.array([[0.0, 1, 1], [1.0, 1, 1]]))
    assert bids[0, 0] == 1.0 and np.isnan(bids[0, 1])
    assert bids[1, 1] == 2.0 and np.isnan(bids[1, 0])
    with pytest.raises(ValueError, match="acts on layer 1"):
        apply_programs(programs, np.array([1]), np.array([[0.0, 1, 1]]))


def test_bad_networks_are_refused():
    with pytest.raises(MarketConfigError, match="layer 1 takes 3 inputs"):
        market_from_mlp([np.ones((2, 2)), np.ones((1, 3))], [np.ones(2), np.ones(1)])
    with pytest.raises(MarketConfigError, match="at least one layer"):
        market_from_mlp([], [])
    with pytest.raises(ValueError, match="one entry per program"):
        LayerPrograms([0], [], [], [])


# -- Equation (1) -------------------------------------------------------------------------


def random_graph(rng, n_raw, n_traders):
    """A random DAG: each trader uses 1-3 goods nobody uses yet and makes 1-2 new goods."""
    unused = list(range(n_raw))
    nodes = []
    g = n_raw
    for _ in range(n_traders):
        k = int(rng.integers(1, min(3, len(unused)) + 1))
        picks = [unused.pop(int(rng.integers(len(unused)))) for _ in range(k)]
        m = int(rng.integers(1, 3))
        outs = list(range(g, g + m))
        g += m
        unused.extend(outs)
        f = CobbDouglas(rng.uniform(0.5, 2, m), rng.uniform(0.1, 0.9, (m, k)))
        nodes.append(GraphNode(tuple(picks), tuple(outs), f, f.jacobian))
    prices = np.zeros(g)
    prices[unused] = rng.uniform(0.5, 5, len(unused))
    return MarketGraph(g, nodes, prices), n_raw


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_raw=st.integers(1, 4), n_traders=st.integers(1, 7))
def test_backpropagated_prices_match_finite_differences(seed, n_raw, n_traders):
    rng = np.random.default_rng(seed)
    graph, n_raw = random_graph(rng, n_raw, n_traders)
    raw = np.zeros(graph.n_goods)
    raw[:n_raw] = rng.uniform(0.5, 3, n_raw)
    prices, offers = backprop_prices(graph, raw)

    def value(extra):
        return float(graph.consumer_prices @ flows(graph, raw, extra))

    h = 1e-6
    for good in range(graph.n_goods):
        bump = np.zeros(graph.n_goods)
        bump[good] = h
        numeric = (value(bump) - value(-bump)) / (2 * h)
        assert prices[good] == pytest.approx(numeric, rel=1e-5, abs=1e-7)
    # Each trader's offer is equation (1): its Jacobian transposed times its output prices.
    for node, offer in zip(graph.nodes, offers, strict=True):
        jac = node.jacobian(flows(graph, raw)[list(node.inputs)])
        np.testing.assert_allclose(offer, jac.T @ prices[list(node.outputs)], rtol=1e-12)
        np.testing.assert_allclose(prices[list(node.inputs)], offer, rtol=1e-12)


def test_graphs_that_are_not_market_graphs_are_refused():
    f = CobbDouglas(np.ones(1), np.ones((1, 1)))
    node = GraphNode((0,), (1,), f, f.jacobian)
    with pytest.raises(MarketConfigError, match="made by traders 0 and 1"):
        MarketGraph(3, [node, GraphNode((2,), (1,), f, f.jacobian)], np.zeros(3))
    with pytest.raises(MarketConfigError, match="used by traders 0 and 1"):
        MarketGraph(3, [node, GraphNode((0,), (2,), f, f.jacobian)], np.zeros(3))
    with pytest.raises(MarketConfigError, match="cycle"):
        MarketGraph(2, [node, GraphNode((1,), (0,), f, f.jacobian)], np.zeros(2))
    with pytest.raises(MarketConfigError, match="only final goods"):
        MarketGraph(2, [node], np.array([1.0, 1.0]))
    with pytest.raises(MarketConfigError, match=r"outside 0\.\.1"):
        MarketGraph(2, [GraphNode((0,), (5,), f, f.jacobian)], np.zeros(2))
    with pytest.raises(MarketConfigError, match="consumer_prices must have shape"):
        MarketGraph(2, [node], np.zeros(3))
    with pytest.raises(MarketConfigError, match="exponents must be"):
        CobbDouglas(np.ones(2), np.ones((1, 1)))


# -- A market trained by CAPITALISM beyond linear classifiers ------------------------------


def load_example():
    path = Path(__file__).resolve().parents[1] / "examples" / "xor_market.py"
    spec = importlib.util.spec_from_file_location("xor_market_example", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["xor_market_example"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def best_linear_accuracy(points, labels, directions=1440):
    """Best accuracy of any line on these points: every direction on a fine circle, every
    threshold between consecutive projections, both orientations."""
    angles = np.linspace(0, np.pi, directions, endpoint=False)
    u = np.stack([np.cos(angles), np.sin(angles)])
    z = points @ u  # (n, directions)
    order = np.argsort(z, axis=0)
    y = labels[order]  # labels sorted along each direction
    n = len(labels)
    # Predict 1 above the threshold: correct = zeros below + ones above.
    zeros_below = np.vstack([np.zeros(directions), np.cumsum(y == 0, axis=0)])
    ones_above = np.vstack(
        [np.sum(y == 1, axis=0), np.sum(y == 1, axis=0) - np.cumsum(y == 1, axis=0)]
    )
    correct = zeros_below + ones_above
    return float(max(correct.max(), (n - correct).max()) / n)


def test_market_trained_by_capitalism_beats_every_linear_classifier_on_two_spirals():
    example = load_example()
    curve, market = example.run("spirals", "enumerated", epochs=2, n=400, seed=0)
    assert isinstance(market, DeepMarket)
    x_test, y_test = example.spirals(400, seed=1)
    bound = best_linear_accuracy(x_test, y_test)
    assert bound < 0.8  # the task is not linearly solvable
    assert curve.test[0] < 0.6  # untrained: a coin toss
    assert curve.test[-1] >= 0.85 and curve.test[-1] >= bound + 0.1
    # The least-squares reference of the example is itself a linear classifier.
    assert example.linear_accuracy(x_test, y_test) <= bound + 1e-12


def test_the_example_refuses_unknown_tasks_and_families():
    example = load_example()
    with pytest.raises(ValueError, match="task must be"):
        example.run("moons", epochs=1)
    with pytest.raises(ValueError, match="family must be"):
        example.build_market("perceptron")
