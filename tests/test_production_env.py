"""catallax/Production-v0 and the wide market on it: the environment's contract, the LP
optimum played in the environment, the market's goods following the environment's
physics, and the trained market reaching 95% of the LP welfare on the default instance."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from catallax.exchange.envs import InvalidAction, InvalidArgument, ResetNeeded
from catallax.exchange.envs.production import (
    Economy,
    ProductionEnv,
    default_economy,
    random_economy,
)
from catallax.exchange.errors import MarketConfigError
from catallax.exchange.wide import WideMarket, run_economy
from catallax.traders.producers import LeontiefProducers


def load_bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "wide.py"
    spec = importlib.util.spec_from_file_location("bench_wide", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_wide"] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


lp_optimum = load_bench().lp_optimum


def test_registered_env_passes_gymnasium_checks():
    env = gym.make("catallax.exchange.envs:catallax/Production-v0")
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (7,) and np.all(obs[3:] == 0) and np.all(obs[:3] > 0)


def test_welfare_and_unit_prices_follow_the_demand_schedule():
    econ = default_economy()
    bought = np.zeros(7)
    bought[5] = 2.0  # tools: 1.5 at 12, then 0.5 at 7
    assert econ.welfare(bought) == pytest.approx(1.5 * 12 + 0.5 * 7)
    assert econ.unit_prices(bought)[5] == 7.0
    bought[5] = 1.5  # exactly the first tranche: its last unit is worth 12
    assert econ.unit_prices(bought)[5] == 12.0
    bought[5] = 99.0  # beyond every tranche: free
    assert econ.unit_prices(bought)[5] == 0.0
    assert econ.welfare(bought) == pytest.approx(1.5 * 12 + 1.5 * 7 + 4 * 2)


def test_lp_plan_earns_the_lp_welfare_in_the_environment_and_beats_other_plans():
    econ = default_economy()
    optimum, plan = lp_optimum(econ)
    env = ProductionEnv(economy=econ)
    env.reset(seed=0)
    welfare = [env.step(plan)[1] for _ in range(60)]
    assert welfare[-1] == pytest.approx(optimum, rel=1e-7)
    assert welfare[0] == 0.0  # final goods need two steps: raw -> intermediate -> final
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = rng.uniform(0, 1, econ.n_recipes) * econ.capacity
        env.reset(seed=0)
        tail = [env.step(other)[1] for _ in range(60)][-10:]
        assert np.mean(tail) <= optimum + 1e-9


def test_runs_the_stock_cannot_feed_are_scaled_down():
    env = ProductionEnv()
    env.reset(seed=0)
    # Only the smithy (steel + ore -> tool) at capacity, but there is no steel yet.
    action = np.zeros(6)
    action[3] = 3.0
    _, welfare, _, _, info = env.step(action)
    assert info["runs"][3] == 0.0 and welfare == 0.0


def test_market_goods_follow_the_environment_physics():
    econ = default_economy()
    producers = LeontiefProducers.for_economy(econ)
    market = WideMarket(producers, n_goods=7, n_envs=3, allowance=50.0, depreciation=0.25)
    run_economy(market, econ, steps=3, seed=2)
    for _ in range(5):
        before = market.state().copy()
        decision = market.act()
        payments, taken, welfare = econ.consume(decision.produced)
        market.settle(decision, payments, taken, inflow=np.tile(econ.inflow, (3, 1)))
        for e in range(3):
            # The sum of property-right actions is the environment's step on the total.
            expected, env_welfare, _ = econ.transition(before[e], producers.runs[e])
            np.testing.assert_allclose(market.state()[e], expected, rtol=1e-9, atol=1e-9)
            assert welfare[e] == pytest.approx(env_welfare)
            # Consumers pay at most what the goods are worth to them.
            assert payments[e].sum() <= env_welfare + 1e-9


def test_trained_wide_market_reaches_95_percent_of_lp_welfare_on_the_default_instance():
    econ = default_economy()
    optimum, _ = lp_optimum(econ)
    producers = LeontiefProducers.for_economy(econ)
    market = WideMarket(producers, n_goods=7, n_envs=4, allowance=200.0, depreciation=0.25)
    log = run_economy(market, econ, steps=400, seed=0)
    assert log.conservation == [0] * 400  # integer units, conserved exactly
    assert log.mean_welfare(100) >= 0.95 * optimum
    # Before learning, the market is well below that: the figure is learned.
    assert np.mean(log.welfare[:20]) < 0.9 * optimum


def test_random_economies_are_valid_and_their_lp_is_solved():
    econ = random_economy(4, 3, 3, 12, seed=5)
    optimum, plan = lp_optimum(econ)
    assert optimum > 0 and np.all(plan <= econ.capacity + 1e-9)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(kinds=("raw",) * 7), "only final goods have demand"),
        (dict(capacity=np.array([-1.0, 1, 1, 1, 1, 1])), "capacity must be finite"),
        (dict(inflow=np.ones(3)), "inflow must have shape"),
        (dict(depreciation=1.0), "depreciation must be in"),
        (dict(kinds=("raw",) * 6 + ("gas",)), "kinds must name"),
    ],
)
def test_bad_economies_are_refused(change, match):
    econ = default_economy()
    fields = {k: getattr(econ, k) for k in econ.__dataclass_fields__}
    fields.update(change)
    with pytest.raises(InvalidArgument, match=match):
        Economy(**fields)


def test_bad_actions_and_calls_are_refused():
    env = ProductionEnv()
    with pytest.raises(ResetNeeded):
        env.step(np.zeros(6))
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="action must be"):
        env.step(np.zeros(5))
    with pytest.raises(InvalidAction):
        env.step(np.full(6, np.nan))
    with pytest.raises(InvalidArgument, match="horizon"):
        ProductionEnv(horizon=0)


def test_horizon_truncates():
    env = ProductionEnv(horizon=2)
    env.reset(seed=0)
    assert env.step(np.zeros(6))[3] is False
    assert env.step(np.zeros(6))[3] is True


def test_run_economy_refuses_a_market_that_does_not_fit():
    econ = default_economy()
    producers = LeontiefProducers.for_economy(econ)
    with pytest.raises(MarketConfigError, match="depreciation"):
        run_economy(WideMarket(producers, n_goods=7), econ, steps=1)
    with pytest.raises(MarketConfigError, match="goods"):
        run_economy(WideMarket(producers, n_goods=3, depreciation=0.25), econ, steps=1)
