"""``check_wide_trader`` on a wide-market plugin: the README's example passes, breaches
are named, and ``catallax trader check`` runs it on the production economy."""

from __future__ import annotations

import numpy as np
import pytest

from catallax.exchange.envs.production import default_economy
from catallax.exchange.wide import Orders
from catallax.traders import TraderCheckError, check_wide_trader


class SteadySmiths:
    """Wide-market producers: member j runs recipe j, bidding a fixed price for each
    of its inputs with a fixed budget (the README's example)."""

    def __init__(self, economy, *, price: float = 2.0, budget: float = 5.0):
        self.economy, self.price, self.budget = economy, price, budget
        self.size = economy.n_recipes

    @classmethod
    def for_economy(cls, economy, **options):
        return cls(economy, **options)

    def orders(self, obs, holdings):
        member, good = np.nonzero(self.economy.inputs)  # one order per input
        values = np.zeros((1, len(member), self.economy.n_goods))
        values[0, np.arange(len(member)), good] = self.price
        return Orders(member, values, np.full((1, len(member)), self.budget))

    def plans(self):
        return np.arange(self.size), self.economy.capacity.copy()


class Spendthrifts(SteadySmiths):
    def orders(self, obs, holdings):
        o = super().orders(obs, holdings)
        return Orders(o.trader, o.values, -o.budgets)


class Dreamers(SteadySmiths):
    def plans(self):
        return np.full(self.size, 9), np.ones(self.size)


class Gluttons(SteadySmiths):
    """Demand at proposed prices that spends more than it budgets."""

    def demand(self, prices, supply, holdings, balances):
        budgets = np.minimum(balances, 1.0)
        return np.where(supply > 0, 1 + 2 * budgets[:, None] / prices, 0.0), budgets


class Ghosts(SteadySmiths):
    """Demand for goods nobody offers."""

    def demand(self, prices, supply, holdings, balances):
        return np.ones((self.size, len(prices))) * 1e-6, np.minimum(balances, 1.0)


def test_a_demand_is_checked_when_the_family_offers_one():
    from catallax.traders.producers import LeontiefProducers

    economy = default_economy()
    check_wide_trader(LeontiefProducers, economy, steps=16)  # its demand() passes
    with pytest.raises(TraderCheckError, match="bundles must cost at most their budgets"):
        check_wide_trader(Gluttons, economy, steps=16)
    with pytest.raises(TraderCheckError, match="a good nobody offers"):
        check_wide_trader(Ghosts, economy, steps=16)


def test_the_readme_producers_pass_and_breaches_are_named():
    economy = default_economy()
    pop = check_wide_trader(SteadySmiths, economy, steps=16)
    assert pop.size == economy.n_recipes
    with pytest.raises(TraderCheckError, match=r"orders\.budgets must be finite and >= 0"):
        check_wide_trader(Spendthrifts, economy, steps=16)
    with pytest.raises(TraderCheckError, match=r"recipes outside -1 \.\. 5"):
        check_wide_trader(Dreamers, economy, steps=16)


def test_catallax_trader_check_runs_a_wide_family_on_its_economy(catallax_cli):
    code, out, err = catallax_cli("trader", "check", "leontief")
    assert code == 0, err
    assert out.strip() == "leontief: ok on catallax/Production-v0 (6 members)"
