"""Built-in trader families: what they bid, how they learn, the Q* fixed point and the
role of clones, enumeration order, the registry and check_trader."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import catallax.exchange.envs as envs
from catallax.exchange import DeepMarket, Outcomes, evaluate, train
from catallax.traders import (
    AdaptiveBidders,
    EnumeratedPrograms,
    OneHot,
    PluginError,
    Population,
    TileCoder,
    TraderCheckError,
    check_trader,
    encoder_for,
    families,
    load_family,
    register,
)


def chain():
    return gym.make("catallax/Chain-v0")


def trained_chain(auction: str, clones: int, episodes: int = 400) -> AdaptiveBidders:
    pop = AdaptiveBidders(OneHot(6), 2, clones=clones, seed=0)
    m = DeepMarket(pop, n_actions=2, n_envs=1, auction=auction, allowance=50.0, discount=0.99)
    train(m, chain, episodes=episodes, seed=0)
    assert evaluate(m, chain, episodes=4).mean() == pytest.approx(0.8)
    return pop


@pytest.mark.parametrize("auction", ["vickrey", "first-price"])
def test_cloned_vickrey_and_first_price_bids_approach_q_star(auction):
    q = envs.q_star(envs.transition_model(chain()), gamma=0.99)
    pop = trained_chain(auction, clones=2)
    right = pop.values(np.arange(5))[envs.chain.RIGHT]
    np.testing.assert_allclose(right, q[:5, envs.chain.RIGHT], rtol=0.03)


def test_vickrey_without_clones_settles_below_q_star():
    """Without a clone the seller is paid the second-best bid: the fixed point is
    b = r + γ·second-max b', below Q* (the argument in traders/adaptive.py)."""
    q = envs.q_star(envs.transition_model(chain()), gamma=0.99)
    values = AdaptiveBidders(OneHot(6), 2, clones=1, prior=0.0, seed=0)
    m = DeepMarket(values, n_actions=2, auction="vickrey", allowance=50.0, discount=0.99)
    train(m, chain, episodes=400, seed=0)
    right = values.values(np.arange(4))[envs.chain.RIGHT]
    assert (right < 0.97 * q[:4, envs.chain.RIGHT]).all()


def test_adaptive_learning_moves_bids_towards_realised_value():
    pop = AdaptiveBidders(OneHot(3), 2, clones=2, optimism=1.0, lr_min=0.0, prior=0.0)
    assert pop.size == 4 and pop.actions(np.zeros(4, int), np.arange(4)).tolist() == [0, 1, 0, 1]
    out = Outcomes(
        members=np.array([2, 2]),
        obs=np.array([1, 1]),
        actions=np.array([0, 0]),
        price=np.zeros(2),
        reward=np.array([0.2, 0.4]),
        receipt=np.zeros(2),
        ended=np.ones(2, bool),
    )
    pop.learn(out)
    # Two first visits: the step is the whole way, to the mean of the two values.
    assert pop.values(np.array([1]))[0, 0] == pytest.approx(0.3)
    assert pop.values(np.array([1]))[1, 0] == pytest.approx(1.0)  # other primitive untouched
    assert pop.values(np.array([0]))[0, 0] == pytest.approx(1.0)  # other state untouched


def test_adaptive_grow_restores_the_primitive_whose_clones_died():
    pop = AdaptiveBidders(OneHot(2), 3, clones=2)
    pop.retire(np.array([1, 4]))  # both clones of primitive 1
    assert pop.grow(2) == 2
    assert pop.actions(np.zeros(2, int), np.array([6, 7])).tolist() == [1, 1]


def test_adaptive_rejects_bad_settings():
    for kwargs in ({"clones": 0}, {"decay": 0.0}, {"lr_min": 2.0}, {"noise": -1.0}):
        with pytest.raises(ValueError):
            AdaptiveBidders(OneHot(2), 2, **kwargs)
    with pytest.raises(ValueError, match="Discrete actions"):
        AdaptiveBidders.for_env(gym.spaces.Discrete(2), gym.spaces.Box(-1, 1, (1,)))


def test_enumeration_refines_bids_in_rounds():
    pop = EnumeratedPrograms(OneHot(2), 2, scale=1.0, initial=0)
    assert pop.size == 0
    pop.grow(4 * 3)
    # Round 0 bids 1/2 for every (cell, action); round 1 bids 1/4 then 3/4.
    assert pop.price.tolist() == [0.5] * 4 + [0.25] * 4 + [0.75] * 4
    assert pop.cell.tolist()[:4] == [0, 0, 1, 1] and pop.action.tolist()[:4] == [0, 1, 0, 1]
    bids = pop.bids(np.array([1]))
    assert np.isnan(bids[[0, 1], 0]).all() and bids[2, 0] == 0.5


def test_enumerated_programs_learn_the_bandit_by_wealth_alone():
    make = lambda: gym.make("catallax/Bandit-v0")  # noqa: E731
    e = make()
    pop = EnumeratedPrograms.for_env(e.observation_space, e.action_space)
    m = DeepMarket(pop, n_actions=4, auction="first-price", allowance=1.0, floor=0.5)
    log = train(m, make, episodes=600, seed=0, births_per_episode=0.2)
    assert evaluate(m, make, episodes=10).mean() == pytest.approx(0.8)
    assert log.deaths > 0 and log.births > 0  # overbidders died, new programs entered
    pays = np.array([0.2, 0.4, 0.6, 0.8])[pop.action]
    alive = m.alive[: pop.size]
    # Programs that won paying more than their arm returns lost money; none of them is
    # richer than it started, and the richest program bids on the best arm.
    won_at_a_loss = (pop.price > pays) & (m.wealth[: pop.size] != 1.0)
    assert (m.wealth[: pop.size][won_at_a_loss & alive] < 1.0).all()
    assert pop.action[int(np.argmax(m.wealth[: pop.size]))] == 3


def test_tile_coder_maps_nearby_points_to_shared_tiles():
    enc = TileCoder(np.array([0.0, 0.0]), np.array([1.0, 1.0]), bins=4, tilings=3, seed=0)
    a, b, far = enc(np.array([[0.50, 0.50], [0.52, 0.50], [0.0, 1.0]]))
    assert len(a) == 3 and (a < enc.n_features).all()
    assert len(set(a) & set(b)) >= 2 and not set(a) & set(far)
    with pytest.raises(ValueError):
        TileCoder(np.array([0.0]), np.array([0.0]))
    with pytest.raises(ValueError, match="no encoder"):
        encoder_for(gym.spaces.MultiBinary(3))


def test_registry_lists_builtins_and_loads_module_paths():
    found = families()
    assert {"adaptive", "enumerated"} <= set(found)
    assert load_family("adaptive") is AdaptiveBidders
    assert load_family("catallax.traders.enumerated:EnumeratedPrograms") is EnumeratedPrograms
    register("my-adaptive", "catallax.traders.adaptive:AdaptiveBidders")
    assert load_family("my-adaptive") is AdaptiveBidders
    with pytest.raises(PluginError, match="unknown trader family"):
        load_family("nope")
    with pytest.raises(PluginError, match="cannot import"):
        load_family("no_such_module_xyz:Thing")
    with pytest.raises(PluginError, match="no attribute"):
        load_family("catallax.traders:Nothing")
    with pytest.raises(PluginError, match="for_env"):
        load_family("catallax.traders:Population")
    with pytest.raises(PluginError, match="already"):
        register("adaptive", "catallax.traders.enumerated:EnumeratedPrograms")


@pytest.mark.parametrize("env_id", ["catallax/Chain-v0", "CartPole-v1"])
def test_check_trader_accepts_the_builtin_families(env_id):
    for name in ("adaptive", "enumerated"):
        pop = check_trader(load_family(name), gym.make(env_id))
        assert pop.size >= 1


def test_check_trader_names_what_a_broken_population_does_wrong():
    class WrongShape(Population):
        size = 2

        def bids(self, obs):
            return np.zeros((len(obs), 2))

        def actions(self, obs, members):
            return np.zeros(len(members), dtype=np.int64)

    class BadAction(WrongShape):
        def bids(self, obs):
            return np.zeros((2, len(obs)))

        def actions(self, obs, members):
            return np.full(len(members), 9)

    with pytest.raises(TraderCheckError, match="shape"):
        check_trader(WrongShape(), chain())
    with pytest.raises(TraderCheckError, match="outside"):
        check_trader(BadAction(), chain())
    with pytest.raises(TraderCheckError, match="Discrete actions"):
        check_trader(AdaptiveBidders, gym.make("Pendulum-v1"))


def test_count_bonus_favours_untried_actions_only_while_exploring():
    pop = AdaptiveBidders(
        OneHot(1), 2, clones=1, optimism=0.5, bonus=0.4, preference=0.0, prior=0.0
    )
    pop.visits[0, 0] = 15  # action 0 tried 15 times, action 1 never
    bids = pop.bids(np.array([0]))[:, 0]
    # β in units of the optimism level: 0.4 × 0.5 / √(1 + n).
    assert bids.tolist() == pytest.approx([0.5 + 0.2 / 4, 0.5 + 0.2])
    pop.set_exploring(False)
    assert pop.bids(np.array([0]))[:, 0].tolist() == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="bonus"):
        AdaptiveBidders(OneHot(1), 2, bonus=-1.0)


def test_prior_pseudo_visits_keep_part_of_the_optimism_after_one_outcome():
    def after_one_loss(prior: float) -> float:
        pop = AdaptiveBidders(OneHot(1), 1, clones=1, optimism=1.0, lr_min=0.0, prior=prior)
        zero = np.zeros(1)
        pop.learn(Outcomes(np.array([0]), np.array([0]), np.array([0]), zero, zero, zero, zero))
        return float(pop.values(np.array([0]))[0, 0])

    assert after_one_loss(0.0) == pytest.approx(0.0)  # the first outcome replaces the bid
    assert after_one_loss(3.0) == pytest.approx(1.0 - 4.0**-0.8)
    with pytest.raises(ValueError, match="prior"):
        AdaptiveBidders(OneHot(1), 1, prior=-1.0)


def test_adaptive_optimism_rises_with_the_value_level_by_each_bids_share_of_its_prior():
    pop = AdaptiveBidders(OneHot(2), 2, clones=1, prior=1.0, preference=0.0)
    assert pop.adaptive and pop.optimism == 1.0
    pop.visits[1, 0] = 4.0  # action 1 in state 0: the prior and three outcomes
    pop.theta[1, 0] = -3.0  # learnt to be bad
    before = pop.values(np.arange(2))
    pop.raise_optimism(128.0)
    after = pop.values(np.arange(2))
    rise = np.full((2, 2), 127.0)
    rise[1, 0] = 127.0 / 4  # a quarter of the running mean was the optimistic bid
    np.testing.assert_allclose(after - before, rise)
    assert pop.optimism == 128.0
    pop.raise_optimism(64.0)  # never down
    np.testing.assert_allclose(pop.values(np.arange(2)), after)
    fixed = AdaptiveBidders(OneHot(2), 2, optimism=1.0)
    fixed.raise_optimism(128.0)  # a fixed optimism stays fixed
    assert not fixed.adaptive and fixed.values(np.arange(2)).max() == pytest.approx(1.0)


def test_bidders_can_learn_from_settlements_only():
    def learned(quotes: bool) -> float:
        pop = AdaptiveBidders(
            OneHot(1), 1, clones=1, optimism=0.0, lr_min=0.0, prior=0.0, quotes=quotes
        )
        zero = np.zeros(2)
        pop.learn(
            Outcomes(
                np.zeros(2, int),
                np.zeros(2, int),
                np.zeros(2, int),
                zero,
                zero,
                np.array([0.8, 0.2]),
                zero.astype(bool),
                provisional=np.array([True, False]),
            )
        )
        return float(pop.values(np.array([0]))[0, 0])

    assert learned(True) == pytest.approx(0.5)  # the quote and the settlement
    assert learned(False) == pytest.approx(0.2)  # the settlement only
