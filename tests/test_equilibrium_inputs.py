"""Bad input to the equilibrium package: ValueError subclasses that name the argument."""

from __future__ import annotations

import numpy as np
import pytest

from catallax.exchange.equilibrium import FisherMarket, MarketInputError, solve


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"valuations": [[1.0, np.nan]]}, "valuations"),
        ({"valuations": [[1.0, np.inf]]}, "valuations"),
        ({"valuations": [[1.0, -1.0]]}, "valuations"),
        ({"valuations": [1.0, 2.0]}, "valuations"),
        ({"budgets": [np.nan]}, "budgets"),
        ({"budgets": [-1.0]}, "budgets"),
        ({"budgets": [1.0, 2.0]}, "budgets"),
        ({"supply": [1.0, 0.0]}, "supply"),
        ({"supply": [1.0]}, "supply"),
        ({"supply": [1.0, np.inf]}, "supply"),
        ({"supply": [1.0, -2.0]}, "supply"),
    ],
)
def test_fisher_market_rejects(kwargs: dict, argument: str) -> None:
    args = {"valuations": [[1.0, 2.0]], "budgets": [1.0], "supply": [1.0, 1.0]} | kwargs
    with pytest.raises(MarketInputError) as caught:
        FisherMarket(**args)
    assert caught.value.argument == argument
    assert str(caught.value).startswith(f"{argument}:")
    assert isinstance(caught.value, ValueError)


def test_linear_fisher_refuses_a_buyer_that_cannot_spend() -> None:
    with pytest.raises(MarketInputError, match="values no good"):
        FisherMarket([[0.0, 0.0], [1.0, 1.0]], [1.0, 1.0], quasilinear=False)


def test_market_arrays_are_read_only_copies() -> None:
    values = np.ones((2, 2))
    market = FisherMarket(values, [1.0, 1.0])
    values[0, 0] = 5.0
    assert market.valuations[0, 0] == 1.0
    with pytest.raises(ValueError):
        market.valuations[0, 0] = 2.0


def test_bad_tolerance() -> None:
    with pytest.raises(ValueError, match="tol"):
        solve(FisherMarket([[1.0]], [1.0]), tol=0.0)
