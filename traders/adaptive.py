"""Adaptive bidders: traders that learn their own bid from what owning turned out to be worth.

This is the paper's section 4 suggestion ("each agent simultaneously learns its
parameters") in the form Chang et al. (ICML 2020) use: one *primitive* per action, whose
bid is a learned function of the observation, and each primitive *cloned*.

**Bids.** Member ``k`` is clone ``k // n_actions`` of primitive ``a = k % n_actions``;
its bid is ``θ[a] · φ(ω)`` over the encoder's active features (a table for ``Discrete``
observations, tile coding for ``Box``). Clones of a primitive share ``θ`` but each has
its own wealth, so they bid the same unless a cap binds.

**Learning.** When an ownership ends the member's primitive moves its bid towards the
*value* of the ownership, ``reward + receipt`` (:class:`~catallax.exchange.protocols.Outcomes`):
a step of size ``max(n^-ω, lr_min)`` at the ``n``-th visit of a feature. The bid is
thus the bidder's estimate of what the right to act is worth: truthful bidding, which
is the dominant strategy in a Vickrey auction. Exploration is optimism: bids start at
``optimism`` credits and fall as experience comes in; ``noise`` adds Gaussian noise to
bids while training, for environments where optimism alone is not enough.

**Why clones (the fixed point).** With truthful bidders the previous owner is paid
``γ`` times the price the next winner pays, so at a fixed point
``b(ω, a) = r + γ · price(ω')``. In a first-price auction the price is the highest bid,
giving ``b = r + γ max_a' b(ω', a')``: the Bellman optimality equation, bids → ``Q*``.
In a Vickrey auction without clones the price is the *second*-highest bid, so the fixed
point is ``b = r + γ · second-max_a' b(ω', a')``: bids settle below ``Q*`` (on Chain, at
the value of stepping back rather than forward) and the market undervalues the future.
With two clones per primitive the runner-up of the best primitive is its own clone,
bidding the same, so the Vickrey price equals the best bid and the fixed point is
``Q*`` again — Chang et al.'s cloned Vickrey society. We therefore default to
``clones=2``, sharing ``θ`` between clones (so the clone's bid equals the winner's
exactly), and keep ``clones=1`` available to show the difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from catallax.exchange.protocols import Outcomes
from catallax.traders.base import Population
from catallax.traders.errors import TraderConfigError, UnsupportedSpace
from catallax.traders.features import Encoder, encoder_for

__all__ = ["AdaptiveBidders"]


class AdaptiveBidders(Population):
    """Cloned per-action bidders that learn their bids from realised value.

    Args:
        encoder: maps observations to active feature indices.
        n_actions: number of primitives (one per action).
        clones: members per primitive (2 gives Chang et al.'s cloned Vickrey society).
        optimism: initial bid of every primitive in every state, in credits; ``None``
            (the default) adapts it to the task: bids start at 1 credit and rise with
            the value level the training loop reports (:meth:`raise_optimism`: the
            power of two above the best discounted return seen, from rewards alone).
            On CartPole-v1 it climbs to 128; on tasks whose returns stay within 1 credit,
            or are costs, it stays 1. Found while training, not read from a table of
            environments.
        decay: ω, the exponent of the visit-count step size ``n^-ω`` (0.5 < ω <= 1).
        lr_min: the smallest step size.
        noise: standard deviation of Gaussian bid noise while exploring, in credits.
        bonus: β of the count bonus ``β · optimism / √(1 + n)`` added to bids while
            exploring, in units of the optimism level (so it fits the task's scale).
            Off by default: a bonus in a bid is paid on in prices, so a self-loop feeds
            on its own bonus (with 0.05, Chain's LEFT self-loop outbid RIGHT for good);
            the prior does what it did on FrozenLake (an unlucky slip no longer sinks an
            optimal action's bid for good: 5 of 5 seeds learnt with prior 1, no bonus).
        prior: pseudo-visits of the optimistic initial bid: the first real outcome moves
            the bid by ``(1 + prior)^-ω`` of the way, so one unlucky outcome does not
            spend all the optimism (default 1: on the T-maze 19 of 20 seeds solved with
            1, 16 of 20 with 0).
        preference: credits by which each primitive bids less than the one before it
            (``preference × action``), so that among primitives of equal value the
            lowest action wins, whatever the exchange's tie rule (which is a fair coin
            between identities, see :mod:`catallax.exchange.deep.accounts`). The
            default, 1e-6 credit, is the smallest unit of money: the least that
            survives a bid's quantisation to units on the network (a smaller lean
            rounds away there, and ties fall to the draw). It gives the family a
            consistent default action (on the T-maze: move forward and keep the
            register) until learning says otherwise.
        quotes: also learn from provisional outcomes (quotes made at the sale, in
            markets with royalties), not only from settled ones. Quotes make learning
            online; a trader that writes memory goods should learn from settlements
            only, because a quote prices the next observation, which does not show what
            the write was worth.
        seed: seed of the noise.
    """

    def __init__(
        self,
        encoder: Encoder,
        n_actions: int,
        *,
        clones: int = 2,
        optimism: float | None = None,
        decay: float = 0.8,
        lr_min: float = 0.02,
        noise: float = 0.0,
        bonus: float = 0.0,
        prior: float = 1.0,
        preference: float = 1e-6,
        quotes: bool = True,
        seed: int = 0,
    ) -> None:
        if n_actions < 1:
            raise TraderConfigError(f"n_actions must be >= 1, got {n_actions}")
        if clones < 1:
            raise TraderConfigError(f"clones must be >= 1, got {clones}")
        if not 0 < decay <= 1:
            raise TraderConfigError(f"decay must be in (0, 1], got {decay}")
        if not 0 <= lr_min <= 1:
            raise TraderConfigError(f"lr_min must be in [0, 1], got {lr_min}")
        self.adaptive = optimism is None
        optimism = 1.0 if optimism is None else optimism
        if not (np.isfinite(optimism) and np.isfinite(noise) and noise >= 0):
            raise TraderConfigError("optimism must be finite and noise finite and >= 0")
        if not (np.isfinite(prior) and prior >= 0):
            raise TraderConfigError(f"prior must be finite and >= 0, got {prior}")
        if not (np.isfinite(preference) and preference >= 0):
            raise TraderConfigError(f"preference must be finite and >= 0, got {preference}")
        if not (np.isfinite(bonus) and bonus >= 0):
            raise TraderConfigError(f"bonus must be finite and >= 0, got {bonus}")
        self.encoder = encoder
        self.n_actions = int(n_actions)
        self.decay, self.lr_min, self.noise = float(decay), float(lr_min), float(noise)
        self.bonus = float(bonus)
        self.quotes = bool(quotes)
        self.preference = float(preference)
        nf = encoder.n_features
        self.optimism = float(optimism)
        self.theta = np.full((self.n_actions, nf), self.optimism / encoder.n_active)
        self.visits = np.full((self.n_actions, nf), float(prior))
        self._prior = float(prior)
        self.exploring = True
        self._rng = np.random.default_rng(seed)
        self._primitive = np.tile(np.arange(self.n_actions), clones)
        self._lean = np.zeros((len(self._primitive), 1))
        self._lean_size = -1
        self._alive = np.ones(len(self._primitive), dtype=bool)

    @classmethod
    def for_env(
        cls,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        seed: int = 0,
        **options: Any,
    ) -> AdaptiveBidders:
        """Build for a Gymnasium environment (``Discrete`` actions; ``Discrete`` or ``Box`` obs)."""
        if not isinstance(action_space, spaces.Discrete):
            raise UnsupportedSpace(f"adaptive bidders need Discrete actions, got {action_space}")
        enc_opts = {k: options.pop(k) for k in ("bins", "tilings") if k in options}
        encoder = encoder_for(observation_space, seed=seed, **enc_opts)
        return cls(encoder, int(action_space.n), seed=seed, **options)

    # -- the population protocol -----------------------------------------------------

    @property
    def size(self) -> int:
        return len(self._primitive)

    def values(self, obs: np.ndarray) -> np.ndarray:
        """Each primitive's bid before noise, ``(n_actions, E)`` credits."""
        idx = self.encoder(obs)
        return self.theta[:, idx].sum(axis=-1)

    def bids(self, obs: np.ndarray) -> np.ndarray:
        if self.exploring and self.bonus > 0:
            idx = self.encoder(obs)
            n = self.visits[:, idx]
            beta = self.bonus * self.optimism
            per_action = self.theta[:, idx].sum(axis=-1) + (beta / np.sqrt(1.0 + n)).mean(-1)
            out = per_action[self._primitive]
        else:
            out = self.values(obs)[self._primitive]
        if self.preference > 0:
            if self._lean_size != len(self._primitive):
                self._lean = (self.preference * self._primitive)[:, None]
                self._lean_size = len(self._primitive)
            out = out - self._lean
        if self.exploring and self.noise > 0:
            out = out + self._rng.normal(0.0, self.noise, size=out.shape)
        return out

    def actions(self, obs: np.ndarray, members: np.ndarray) -> np.ndarray:
        return self._primitive[np.asarray(members, dtype=np.int64)]

    def learn(self, outcomes: Outcomes) -> None:
        """Move each primitive's bid towards the value its ownerships realised."""
        if not self.quotes:
            keep = outcomes.settled
            if not keep.all():
                cols = (np.asarray(c)[keep] for c in _columns(outcomes))
                outcomes = Outcomes(*cols)
        if len(outcomes) == 0:
            return
        idx = self.encoder(outcomes.obs)
        prim = self._primitive[outcomes.members]
        err = outcomes.value - self.theta[prim[:, None], idx].sum(axis=-1)
        flat = (prim[:, None] * self.encoder.n_features + idx).ravel()
        size = self.theta.size
        hits = np.bincount(flat, minlength=size).reshape(self.theta.shape)
        total = np.bincount(flat, weights=np.repeat(err, idx.shape[1]), minlength=size)
        total = total.reshape(self.theta.shape)
        touched = hits > 0
        self.visits[touched] += hits[touched]
        n = self.visits[touched]
        c = hits[touched]
        # Step per observation: n^-ω for the visit count, at least lr_min, at most 1 for
        # the batch as a whole; split evenly over the active features.
        rate = np.minimum(np.maximum(n ** (-self.decay) * c, self.lr_min * c), 1.0) / c
        self.theta[touched] += rate * total[touched] / self.encoder.n_active

    def raise_optimism(self, level: float) -> None:
        """The task has shown returns up to ``level`` credits: with adaptive optimism
        (``optimism=None``) and a level above the current one, the optimistic first bid
        rises to it, and with it every bid by that bid's share of its running mean,
        ``prior / visits`` (all of the rise where never visited): little where much was
        learnt, so a state learnt to be bad stays bad (shifting every bid alike made
        Duality's absorbing state look good again, 388 episodes instead of 110). The
        training loop calls it (:func:`catallax.exchange.deep.raise_optimism`); on
        CartPole-v1 the level climbs to 128."""
        if not self.adaptive or not (np.isfinite(level) and level > self.optimism):
            return
        rise = (float(level) - self.optimism) / self.encoder.n_active
        # The optimistic first bid counts as `prior` visits of the running mean: raising
        # it moves each bid by its share, prior / visits (all of it where never visited).
        weight = np.where(self.visits > 0, self._prior / np.maximum(self.visits, 1e-12), 1.0)
        self.theta += rise * np.minimum(weight, 1.0)
        self.optimism = float(level)

    def grow(self, count: int) -> int:
        """Enumerate ``count`` new clones, sharing their primitive's θ.

        Each new clone goes to the primitive with the fewest members alive, so a
        primitive whose clones went bankrupt is restored first (keeping the cloned
        Vickrey fixed point); ties go to the lowest action.
        """
        count = max(int(count), 0)
        live = np.bincount(self._primitive[self._alive], minlength=self.n_actions)
        new = np.empty(count, dtype=np.int64)
        for i in range(count):
            new[i] = int(np.argmin(live))
            live[new[i]] += 1
        self._primitive = np.concatenate([self._primitive, new])
        self._alive = np.concatenate([self._alive, np.ones(count, dtype=bool)])
        return count

    def retire(self, members: np.ndarray) -> None:
        """Forget bankrupt members so that :meth:`grow` replaces their primitives."""
        self._alive[np.asarray(members, dtype=np.int64)] = False

    def set_exploring(self, exploring: bool) -> None:
        self.exploring = bool(exploring)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "primitives": self.n_actions,
            "encoder": repr(self.encoder),
            "noise": self.noise,
            "optimism": self.optimism,
        }


def _columns(o: Outcomes) -> tuple[np.ndarray, ...]:
    return (o.members, o.obs, o.actions, o.price, o.reward, o.receipt, o.ended)
