"""The public surface of catallax.exchange.equilibrium."""

from __future__ import annotations

import catallax.exchange.equilibrium as equilibrium


def test_exported_names() -> None:
    assert set(equilibrium.__all__) == {
        "CESMarket",
        "Certificate",
        "DemandOracle",
        "Equilibrium",
        "EquilibriumError",
        "EquilibriumShapeError",
        "FisherMarket",
        "LeontiefMarket",
        "MarketInputError",
        "NonConvergenceError",
        "OracleError",
        "OracleMarket",
        "SolverOptionError",
        "UnitDemandMarket",
        "UnsupportedMarket",
        "certify",
        "certify_oracle",
        "max_weight_assignment",
        "solve",
        "solve_ces",
        "solve_fisher",
        "solve_oracle",
        "solve_unit_demand",
    }
    for name in equilibrium.__all__:
        assert getattr(equilibrium, name).__module__.startswith("catallax.exchange.equilibrium")


def test_error_tree() -> None:
    assert issubclass(equilibrium.MarketInputError, equilibrium.EquilibriumError)
    assert issubclass(equilibrium.MarketInputError, ValueError)
    assert issubclass(equilibrium.NonConvergenceError, equilibrium.EquilibriumError)
    assert issubclass(equilibrium.OracleError, equilibrium.EquilibriumError)
    assert issubclass(equilibrium.SolverOptionError, equilibrium.EquilibriumError)
    assert issubclass(equilibrium.SolverOptionError, ValueError)
    assert issubclass(equilibrium.EquilibriumShapeError, ValueError)
    assert issubclass(equilibrium.UnsupportedMarket, TypeError)
