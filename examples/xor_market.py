"""A market trained by CAPITALISM on a task no linear classifier solves (two spirals, XOR).

Supervised learning as a one-step decision problem (the paper, section 3: "they can even
be applied to supervised learning tasks"): an episode shows one point ``x ∈ [-1, 1]²``,
the owner of the right to act answers a label, and the environment pays 1 credit for a
right answer, 0 otherwise. The market is the deep market (Algorithm 1) with

* ``enumerated`` traders (default): the paper's pure market. Each trader is a fixed
  program "in grid cell ``c``, bid ``b`` and answer label ``a``", enumerated with ever
  finer bids; nothing about a program changes, only wealth moves. A program that answers
  wrongly pays its price and earns nothing, and goes bankrupt; right answers earn 1. The
  classifier is whichever programs survive and outbid the rest, cell by cell: no
  gradient and no backpropagation anywhere.
* ``adaptive`` traders: one primitive per label, cloned, whose bid is learned from what
  owning turned out to be worth over tile-coded features (Chang et al.'s cloned Vickrey
  society); the auction's argmax over bids is the classifier's nonlinearity.

Why the deep market: every point is its own episode, so the right to act is exactly
the right to label it, and the reward is exactly whether the label scored.

Prints the accuracy on the training and on a held-out set after each epoch (one epoch
is one pass over the training set's size in episodes), next to the accuracy of a
least-squares linear classifier; ``--plot PATH`` writes the curve and the learned
regions as a PNG.

Run: ``python examples/xor_market.py`` (``--task xor``, ``--family adaptive``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from catallax.exchange.deep import DeepMarket, train
from catallax.traders import AdaptiveBidders, EnumeratedPrograms
from catallax.traders.features import TileCoder


def spirals(n: int, *, noise: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals of 1.5 turns in ``[-1, 1]²``: points ``(n, 2)``, labels ``(n,)``."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    label = rng.integers(0, 2, n)
    angle = t + np.pi * label
    radius = t / (3 * np.pi)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return np.clip(x + rng.normal(0, noise, (n, 2)), -1, 1), label


def xor(n: int, *, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four noisy clusters at ``(±0.5, ±0.5)``; the label is the XOR of the signs."""
    rng = np.random.default_rng(seed)
    corner = rng.integers(0, 2, (n, 2))
    x = (corner - 0.5) + rng.normal(0, noise, (n, 2))
    return np.clip(x, -1, 1), (corner[:, 0] ^ corner[:, 1]).astype(np.int64)


class ClassificationEnv(gym.Env):
    """One-step episodes: observe a random training point, answer a label, earn 1 if right."""

    def __init__(self, points: np.ndarray, labels: np.ndarray) -> None:
        self.points, self.labels = points, labels
        self.observation_space = spaces.Box(-1.0, 1.0, (points.shape[1],), dtype=np.float64)
        self.action_space = spaces.Discrete(int(labels.max()) + 1)
        self._i = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._i = int(self.np_random.integers(len(self.points)))
        return self.points[self._i].copy(), {}

    def step(self, action):
        reward = float(int(action) == self.labels[self._i])
        return self.points[self._i].copy(), reward, True, False, {}


def build_market(family: str, *, n_envs: int = 32, seed: int = 0) -> DeepMarket:
    """A deep market of ``enumerated`` or ``adaptive`` traders over ``[-1, 1]²``."""
    low, high = np.full(2, -1.0), np.ones(2)
    if family == "enumerated":
        population = EnumeratedPrograms(TileCoder(low, high, bins=16, tilings=1, seed=seed), 2)
    elif family == "adaptive":
        population = AdaptiveBidders(TileCoder(low, high, bins=8, tilings=8, seed=seed), 2)
    else:
        raise ValueError(f"family must be 'enumerated' or 'adaptive', got {family!r}")
    return DeepMarket(population, n_actions=2, n_envs=n_envs, allowance=1.0, seed=seed)


def accuracy(market: DeepMarket, points: np.ndarray, labels: np.ndarray) -> float:
    """Share of points the market labels right acting greedily (the forward pass only)."""
    return float(np.mean(market.act(points).actions == labels))


def linear_accuracy(points: np.ndarray, labels: np.ndarray) -> float:
    """Training accuracy of a least-squares linear classifier (a reference line)."""
    design = np.hstack([points, np.ones((len(points), 1))])
    w, *_ = np.linalg.lstsq(design, 2.0 * labels - 1.0, rcond=None)
    return float(np.mean((design @ w > 0) == labels))


@dataclass
class Curve:
    """Accuracy after each epoch (epoch 0 is before training)."""

    train: list[float]
    test: list[float]


def run(
    task: str = "spirals",
    family: str = "enumerated",
    *,
    epochs: int = 10,
    n: int = 400,
    n_envs: int = 32,
    seed: int = 0,
) -> tuple[Curve, DeepMarket]:
    """Train a market on ``task`` for ``epochs`` epochs; the accuracy curve and the market."""
    make_data = {"spirals": spirals, "xor": xor}.get(task)
    if make_data is None:
        raise ValueError(f"task must be 'spirals' or 'xor', got {task!r}")
    x, y = make_data(n, seed=seed)
    x_test, y_test = make_data(n, seed=seed + 1)
    market = build_market(family, n_envs=n_envs, seed=seed)
    curve = Curve([accuracy(market, x, y)], [accuracy(market, x_test, y_test)])
    for epoch in range(epochs):
        train(market, lambda: ClassificationEnv(x, y), episodes=n, seed=seed * 1000 + epoch)
        curve.train.append(accuracy(market, x, y))
        curve.test.append(accuracy(market, x_test, y_test))
    return curve, market


def plot(path: str, curve: Curve, market: DeepMarket, task: str, seed: int) -> None:
    """Write the accuracy curve and the market's label regions to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = (spirals if task == "spirals" else xor)(400, seed=seed)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    left.plot(curve.train, marker="o", label="train")
    left.plot(curve.test, marker="o", label="held out")
    left.axhline(linear_accuracy(x, y), color="grey", linestyle="--", label="linear (lstsq)")
    left.set(xlabel="epoch", ylabel="accuracy", ylim=(0.4, 1.01), title=f"{task}: accuracy")
    left.legend()
    grid = np.linspace(-1, 1, 120)
    gx, gy = np.meshgrid(grid, grid)
    labels = market.act(np.stack([gx.ravel(), gy.ravel()], axis=1)).actions.reshape(gx.shape)
    right.contourf(gx, gy, labels, levels=[-0.5, 0.5, 1.5], cmap="coolwarm", alpha=0.3)
    right.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=8)
    right.set(title="labels chosen by the market", aspect="equal")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["spirals", "xor"], default="spirals")
    parser.add_argument("--family", choices=["enumerated", "adaptive"], default="enumerated")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PATH", help="write the curve and regions as a PNG")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    curve, market = run(args.task, args.family, epochs=args.epochs, seed=args.seed)
    x, y = (spirals if args.task == "spirals" else xor)(400, seed=args.seed)
    linear = linear_accuracy(x, y)
    print(f"task {args.task}, {args.family} traders; linear least-squares accuracy {linear:.3f}")
    print("epoch  train  held-out")
    for epoch, (tr, te) in enumerate(zip(curve.train, curve.test, strict=True)):
        print(f"{epoch:5d}  {tr:.3f}  {te:.3f}")
    if args.plot:
        plot(args.plot, curve, market, args.task, args.seed)
        print(f"wrote {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
