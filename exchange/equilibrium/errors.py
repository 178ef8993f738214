"""Errors raised by the equilibrium solvers (``catallax.exchange.equilibrium``).

::

    EquilibriumError               root of everything the solvers raise
    ├── MarketInputError           a market was built from invalid arrays (also a ValueError);
    │                              ``argument`` names the offending argument
    ├── SolverOptionError          a solver option out of range: ``tol``, ``initial_prices``
    │                              (also a ValueError); ``argument`` names it
    ├── EquilibriumShapeError      an equilibrium whose arrays do not have the market's shapes,
    │                              handed to ``certify`` (also a ValueError)
    ├── UnsupportedMarket          ``solve`` or ``certify`` given an object that is not a market
    │                              they know (also a TypeError)
    ├── OracleError                a demand oracle answered with something that is not a
    │                              bundle (wrong shape, negative, NaN); names the trader
    └── NonConvergenceError        a solver stopped before its certificate met the tolerance;
                                   carries the best equilibrium and certificate it found
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catallax.exchange.equilibrium.certificate import Certificate
    from catallax.exchange.equilibrium.markets import Equilibrium

__all__ = [
    "EquilibriumError",
    "EquilibriumShapeError",
    "MarketInputError",
    "NonConvergenceError",
    "OracleError",
    "SolverOptionError",
    "UnsupportedMarket",
]


class EquilibriumError(Exception):
    """Root of the errors raised by the equilibrium solvers."""


class MarketInputError(EquilibriumError, ValueError):
    """A market argument is malformed: wrong shape, non-finite, negative or zero supply.

    ``argument`` is the name of the offending constructor argument (``"valuations"``,
    ``"budgets"``, ``"supply"``, ...); the message starts with it.
    """

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}")
        self.argument = argument


class SolverOptionError(EquilibriumError, ValueError):
    """A solver option is out of range (``tol <= 0``, ``initial_prices`` not positive...).

    ``argument`` names the option; the message starts with it.
    """

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}")
        self.argument = argument


class EquilibriumShapeError(EquilibriumError, ValueError):
    """An equilibrium's prices or allocation do not have the shapes its market needs."""


class UnsupportedMarket(EquilibriumError, TypeError):
    """``solve`` or ``certify`` was given an object that is not a market they handle."""


class OracleError(EquilibriumError):
    """A demand oracle returned an invalid bundle; ``trader`` is its index in the market."""

    def __init__(self, trader: int, problem: str) -> None:
        super().__init__(f"trader {trader}: {problem}")
        self.trader = trader


class NonConvergenceError(EquilibriumError):
    """A solver could not reach an equilibrium within its tolerance.

    Raised instead of returning a wrong answer, e.g. when a demand oracle's valuations are
    not gross substitutes and the price process cycles or stalls. ``best`` is the candidate
    with the smallest certificate violation seen, ``certificate`` its certificate, and
    ``iterations`` the number of price updates made.
    """

    def __init__(
        self, message: str, *, best: Equilibrium, certificate: Certificate, iterations: int
    ) -> None:
        super().__init__(f"{message} (best certificate: {certificate})")
        self.best = best
        self.certificate = certificate
        self.iterations = iterations
