"""Leontief producers: offered prices (equation 1 for a Leontief recipe), orders, own-goods
production, and learning of prevailing prices and plans from a settled step."""

from __future__ import annotations

import numpy as np
import pytest

from catallax.exchange.envs.production import default_economy
from catallax.exchange.wide import WideOutcome
from catallax.traders.producers import LeontiefProducers


def two_step_chain(**options):
    # Goods: 0 raw, 1 intermediate, 2 final. Recipe 0: 2 raw -> 1 mid; recipe 1: mid + raw -> final.
    inputs = np.array([[2.0, 0, 0], [1.0, 1.0, 0]])
    outputs = np.array([[0, 1.0, 0], [0, 0, 1.0]])
    return LeontiefProducers(inputs, outputs, np.array([4.0, 3.0]), **options)


def test_offered_prices_are_the_run_value_less_the_other_inputs():
    p = two_step_chain(initial_prices=np.array([1.0, 3.0, 10.0]))
    offered = p.offered_prices()
    # Recipe 1: a run is worth 10; the intermediate costs 3, so raw is worth 10 - 3 = 7.
    assert offered[1, 0] == pytest.approx(7.0) and offered[1, 1] == pytest.approx(9.0)
    # Recipe 0: a run is worth 3 (one intermediate) for 2 raw: 1.5 per unit of raw.
    assert offered[0, 0] == pytest.approx(1.5) and offered[0, 1] == 0.0
    np.testing.assert_allclose(p.margins(), [3.0 - 2.0, 10.0 - 4.0])


def test_orders_budget_the_plan_at_prevailing_prices_one_order_per_input():
    p = two_step_chain(initial_prices=np.array([1.0, 3.0, 10.0]), initial_plan=0.5)
    o = p.orders(np.zeros((2, 3)), np.zeros((2, 2, 3)))
    assert o.trader.tolist() == [0, 1, 1]
    assert np.count_nonzero(o.values, axis=-1).tolist() == [[1, 1, 1]] * 2
    # Plans: 2 and 1.5 runs; budgets 2*2*1, 1*1.5*1, 1*1.5*3.
    np.testing.assert_allclose(o.budgets, [[4.0, 1.5, 4.5]] * 2)


def test_production_uses_only_own_goods_in_fixed_proportions_up_to_capacity():
    p = two_step_chain()
    bundles = np.array([[[9.0, 0, 0], [1.0, 5.0, 0]]])
    out = p.produce(bundles)
    # Recipe 0: 9 raw feed 4.5 runs, capacity 4. Recipe 1: 1 raw limits it to 1 run.
    np.testing.assert_allclose(out[0], [[1.0, 4.0, 0], [0.0, 4.0, 1.0]])
    np.testing.assert_allclose(p.runs, [[4.0, 1.0]])


def test_learning_moves_prices_to_signals_and_plans_by_margin():
    p = two_step_chain(
        price_rate=1.0, plan_rate=0.1, anneal=None, initial_prices=np.array([1.0, 0.0, 10.0])
    )
    e = 1
    outcome = WideOutcome(
        prices=np.array([[2.0, 0.0, 0.0]]),
        supply=np.array([[5.0, 0.0, 0.0]]),  # raw on offer; nobody offered the intermediate
        bought=np.zeros((e, 2, 3)),
        produced=np.zeros((e, 2, 3)),
        rewards=np.array([[0.0, 8.0]]),  # consumers paid 8 for 1 unit of the final good
        removed=np.array([[[0, 0, 0], [0, 0, 1.0]]]),
    )
    p.learn(outcome)
    assert p.prices[0] == pytest.approx(2.0) and p.prices[2] == pytest.approx(8.0)
    # The intermediate had no offer: its price is the best bid for it, as placed in that
    # step (a run of recipe 1 worth 10 less 1 unit of raw at 1): 9.
    assert p.prices[1] == pytest.approx(9.0)
    before = p.plan.copy()
    p.learn(outcome)
    assert np.all((p.plan - before) * p.margins() >= 0)


def test_for_economy_starts_from_consumers_posted_prices():
    econ = default_economy()
    p = LeontiefProducers.for_economy(econ)
    np.testing.assert_allclose(p.prices, econ.demand_values[:, 0])
    assert p.size == econ.n_recipes


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(capacity=np.ones(3)), "must be \\(J, G\\)"),
        (dict(inputs=np.zeros((2, 3))), "at least one input"),
        (dict(price_rate=0.0), "price_rate"),
        (dict(probe=0.9), "probe"),
        (dict(initial_prices=np.ones(2)), "initial_prices"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    args = dict(
        inputs=np.array([[2.0, 0, 0], [1.0, 1.0, 0]]),
        outputs=np.array([[0, 1.0, 0], [0, 0, 1.0]]),
        capacity=np.array([4.0, 3.0]),
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        LeontiefProducers(**args)
