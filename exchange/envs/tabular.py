"""Exact tools for tabular environments: the model as arrays, Q*, and exact returns.

Everything here is a pure function of a :class:`TabularModel`, which
:func:`transition_model` reads from any environment that exposes the toy-text format
(``env.unwrapped.P[s][a] == [(prob, next_state, reward, terminated), ...]`` and
``env.unwrapped.initial_state_distrib``): the catallax reference environments and
Gymnasium's FrozenLake, Taxi and CliffWalking. Nothing samples; every number is exact up
to floating point.

Termination belongs to a transition, as in Gymnasium: a step that ends the episode still
pays its reward, and nothing after it counts. Returns are in the environment's reward
units; a horizon is a number of steps.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from .errors import InvalidArgument, InvalidModel, NotConverged

__all__ = [
    "TabularModel",
    "best_memoryless_return",
    "episode_horizon",
    "greedy_return",
    "policy_return",
    "optimal_return",
    "q_star",
    "transition_model",
]

_ATOL = 1e-9


@dataclass(frozen=True)
class TabularModel:
    """An exact finite model, over hidden states when the environment is a POMDP.

    Attributes (arrays are read-only):
        P: ``(S, A, S)`` probabilities of the next state.
        R: ``(S, A)`` expected reward of the step.
        terminal: ``(S, A, S)`` booleans, whether moving from ``s`` to ``s'`` under ``a``
            ends the episode.
        initial: ``(S,)`` the initial state distribution.
        observation: ``(S,)`` the observation id seen in each state (``arange(S)`` for
            an MDP).
        n_observations: the number of observation ids.
    """

    P: np.ndarray
    R: np.ndarray
    terminal: np.ndarray
    initial: np.ndarray
    observation: np.ndarray
    n_observations: int

    def __post_init__(self) -> None:
        if self.P.ndim != 3 or self.P.shape[0] != self.P.shape[2]:
            raise InvalidModel(f"P must have shape (S, A, S), got {self.P.shape}")
        S, A, _ = self.P.shape
        shapes = {
            "R": (self.R, (S, A)),
            "terminal": (self.terminal, (S, A, S)),
            "initial": (self.initial, (S,)),
            "observation": (self.observation, (S,)),
        }
        for name, (array, shape) in shapes.items():
            if array.shape != shape:
                raise InvalidModel(f"{name} must have shape {shape}, got {array.shape}")
        if (self.P < 0).any() or not np.allclose(self.P.sum(axis=2), 1.0, atol=_ATOL):
            raise InvalidModel("each P[s, a] must be a probability distribution over S")
        if (self.initial < 0).any() or not np.isclose(self.initial.sum(), 1.0, atol=_ATOL):
            raise InvalidModel("initial must be a probability distribution over S")
        if not np.isfinite(self.R).all():
            raise InvalidModel("R must be finite")
        obs = self.observation
        if S and (obs.min() < 0 or obs.max() >= self.n_observations):
            raise InvalidModel(f"observation ids must lie in [0, {self.n_observations})")
        for array in (self.P, self.R, self.terminal, self.initial, self.observation):
            array.flags.writeable = False

    @property
    def n_states(self) -> int:
        """S, the number of (hidden) states."""
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        """A, the number of actions."""
        return self.P.shape[1]

    @property
    def P_continue(self) -> np.ndarray:
        """``(S, A, S)``: the probability of moving to ``s'`` without the episode ending."""
        return np.where(self.terminal, 0.0, self.P)


def transition_model(env: gym.Env) -> TabularModel:
    """Read the exact model of ``env`` (or of the environment it wraps) into arrays.

    Raises:
        InvalidModel: ``env.unwrapped`` has no ``P`` table, the table is not a
            probability model, or a transition ``(s, a, s')`` is listed both as ending
            and as not ending the episode.
    """
    inner = env.unwrapped
    table = getattr(inner, "P", None)
    initial = getattr(inner, "initial_state_distrib", None)
    if not isinstance(table, dict) or initial is None:
        raise InvalidModel(f"{inner} exposes no tabular model (P[s][a] and initial_state_distrib)")
    S = len(table)
    if sorted(table) != list(range(S)):
        raise InvalidModel("P must be keyed by the states 0 .. S-1")
    A = len(table[0]) if S else 0
    P = np.zeros((S, A, S))
    R = np.zeros((S, A))
    ends = np.zeros((S, A, S), dtype=np.int8)  # bit 1: some entry ends, bit 2: some goes on
    for s in range(S):
        if sorted(table[s]) != list(range(A)):
            raise InvalidModel(f"P[{s}] must be keyed by the actions 0 .. {A - 1}")
        for a in range(A):
            for prob, s2, reward, done in table[s][a]:
                if not 0 <= s2 < S:
                    raise InvalidModel(f"P[{s}][{a}] lists next state {s2} outside 0 .. {S - 1}")
                P[s, a, s2] += prob
                R[s, a] += prob * reward
                ends[s, a, s2] |= 1 if done else 2
    if (ends == 3).any():
        s, a, s2 = np.argwhere(ends == 3)[0]
        raise InvalidModel(f"P[{s}][{a}] lists next state {s2} both as ending and not")
    observation = np.asarray(getattr(inner, "observation_map", np.arange(S)), dtype=np.int64)
    n_obs = inner.observation_space.n if hasattr(inner.observation_space, "n") else S
    return TabularModel(
        P=P,
        R=R,
        terminal=ends == 1,
        initial=np.asarray(initial, dtype=np.float64).copy(),
        observation=observation.copy(),
        n_observations=int(n_obs),
    )


def q_star(
    model: TabularModel,
    gamma: float,
    horizon: int | None = None,
    *,
    tol: float = 1e-12,
    max_iter: int = 1_000_000,
) -> np.ndarray:
    """Optimal action values ``Q*[s, a]`` by value iteration, shape ``(S, A)``.

    With ``horizon=None`` the infinite-horizon discounted values (``0 <= gamma < 1``),
    iterated until successive values differ by less than ``tol``. With a horizon ``H``
    the values with ``H`` steps left (``0 <= gamma <= 1``): ``Q*`` at the first step of
    an episode cut at ``H`` steps.

    Raises:
        InvalidArgument: gamma or horizon out of range.
        NotConverged: ``max_iter`` sweeps did not reach ``tol``.
    """
    _check_horizon(horizon, allow_none=True)
    if not (0.0 <= gamma <= 1.0 and (gamma < 1.0 or horizon is not None)):
        bound = "[0, 1]" if horizon is not None else "[0, 1) without a horizon"
        raise InvalidArgument(f"gamma must lie in {bound}, got {gamma!r}")
    P_continue = model.P_continue
    Q = np.zeros((model.n_states, model.n_actions))
    sweeps = horizon if horizon is not None else max_iter
    for _ in range(sweeps):
        new = model.R + gamma * (P_continue @ Q.max(axis=1))
        change = np.abs(new - Q).max(initial=0.0)
        Q = new
        if horizon is None and change < tol:
            return Q
    if horizon is None:
        raise NotConverged(f"value iteration did not reach tol={tol} in {max_iter} sweeps")
    return Q


def greedy_return(
    model: TabularModel, policy: np.ndarray, horizon: int, gamma: float = 1.0
) -> float:
    """Exact expected return of a deterministic policy over ``horizon`` steps.

    ``policy[s]`` is the action taken in state ``s``. Computed by dynamic programming
    over time from the initial distribution, discounting by ``gamma`` per step. For a
    POMDP model, a policy over observation ids ``obs_policy`` becomes one over states as
    ``obs_policy[model.observation]``.

    Raises:
        InvalidArgument: the policy is not ``S`` integer actions in range, or horizon or
            gamma is out of range.
    """
    _check_horizon(horizon)
    if not 0.0 <= gamma <= 1.0:
        raise InvalidArgument(f"gamma must lie in [0, 1], got {gamma!r}")
    policy = np.asarray(policy)
    if policy.shape != (model.n_states,) or not np.issubdtype(policy.dtype, np.integer):
        raise InvalidArgument(
            f"policy must be {model.n_states} integer actions, got shape {policy.shape} "
            f"of {policy.dtype}"
        )
    if model.n_states and (policy.min() < 0 or policy.max() >= model.n_actions):
        raise InvalidArgument(f"policy actions must lie in [0, {model.n_actions})")
    states = np.arange(model.n_states)
    R_pi = model.R[states, policy]
    P_pi = model.P_continue[states, policy]
    V = np.zeros(model.n_states)
    for _ in range(horizon):
        V = R_pi + gamma * (P_pi @ V)
    return float(model.initial @ V)


def policy_return(model: TabularModel, pi: np.ndarray, horizon: int) -> float:
    """Exact expected undiscounted return of a stochastic policy over ``horizon`` steps.

    ``pi[s, a]`` is the probability of action ``a`` in state ``s`` (a market's greedy
    policy is one: where nobody bids the world acts uniformly at random). A
    deterministic ``pi`` (only 0s and 1s) goes through :func:`greedy_return`.

    Raises:
        InvalidArgument: ``pi`` is not an ``(S, A)`` matrix of probabilities, or the
            horizon is out of range.
    """
    _check_horizon(horizon)
    pi = np.asarray(pi, dtype=np.float64)
    if pi.shape != (model.n_states, model.n_actions) or not (
        np.all(pi >= 0) and np.allclose(pi.sum(axis=1), 1.0)
    ):
        raise InvalidArgument(
            f"pi must be a ({model.n_states}, {model.n_actions}) matrix of probabilities "
            f"per state, got shape {pi.shape}"
        )
    if np.isin(pi, (0.0, 1.0)).all():
        return greedy_return(model, pi.argmax(axis=1), horizon)
    r_pi = (pi * model.R).sum(axis=1)
    p_pi = np.einsum("sa,sat->st", pi, model.P_continue)
    value = np.zeros(model.n_states)
    for _ in range(horizon):
        value = r_pi + p_pi @ value
    return float(model.initial @ value)


def optimal_return(model: TabularModel, horizon: int, gamma: float = 1.0) -> float:
    """Exact optimal expected return over ``horizon`` steps (finite-horizon DP).

    The optimum over all policies that see the state and the time; for a POMDP model
    that is the value of knowing the hidden state.

    Raises:
        InvalidArgument: horizon or gamma out of range.
    """
    _check_horizon(horizon)
    Q = q_star(model, gamma, horizon)
    return float(model.initial @ Q.max(axis=1))


def best_memoryless_return(
    model: TabularModel, horizon: int, *, max_policies: int = 100_000
) -> tuple[float, np.ndarray]:
    """The best exact return of a deterministic policy that sees only the observation.

    Enumerates all ``A ** n_observations`` maps from observation ids to actions and
    evaluates each with :func:`greedy_return`; returns the best value and one policy
    (an array indexed by observation id) that reaches it.

    Raises:
        InvalidArgument: there are more than ``max_policies`` such policies.
    """
    count = model.n_actions**model.n_observations
    if count > max_policies:
        raise InvalidArgument(f"{count} memoryless policies exceed max_policies={max_policies}")
    best_value, best_policy = -np.inf, np.zeros(model.n_observations, dtype=np.int64)
    for choice in itertools.product(range(model.n_actions), repeat=model.n_observations):
        obs_policy = np.array(choice, dtype=np.int64)
        value = greedy_return(model, obs_policy[model.observation], horizon)
        if value > best_value:
            best_value, best_policy = value, obs_policy
    return float(best_value), best_policy


def episode_horizon(env: gym.Env) -> int | None:
    """The number of steps after which an episode of ``env`` is cut, or None if never.

    The smallest of the limits of the ``TimeLimit`` wrappers around ``env`` (the one
    ``gym.make`` adds from ``max_episode_steps``) and the environment's own
    ``max_steps`` attribute (the T-maze's ``length + 6``, the bandit's single pull).
    """
    limits = [getattr(env.unwrapped, "max_steps", None)]
    layer = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, gym.wrappers.TimeLimit):
            limits.append(layer._max_episode_steps)  # the wrapper keeps it only there
        layer = layer.env
    known = [int(limit) for limit in limits if limit is not None]
    return min(known) if known else None


def _check_horizon(horizon: int | None, *, allow_none: bool = False) -> None:
    if horizon is None and allow_none:
        return
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 0:
        raise InvalidArgument(f"horizon must be an int >= 0, got {horizon!r}")
