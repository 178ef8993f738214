"""A production economy's world as an environment node serves it to a wide-market task.

The exchange clears goods; the environment is the world: it holds the world's stock of
every good (what no trader owns: the raw inflow and what nobody bought), runs each
member's recipe on the goods the member holds after the clearing, lets consumers buy
the final goods, depreciates what is left, and brings the inflow. :class:`EconomyWorld`
does one such round (:meth:`EconomyWorld.produce`) in integer units of goods (1 unit of
a good = :data:`~catallax.exchange.ledger.UNITS_PER_GOOD` ledger units) and signs what
the ledger needs as evidence:

- one ``Production`` report (:class:`~catallax.exchange.ledger.ProductionReport`) of
  every good leaving or entering a member's account by the world's doing: recipe
  inputs (``in``) and outputs (``out``), consumers' purchases (``use``) and
  depreciation (``dep``), transfer ids ``<task>.<round>.p.<member>.<good>.<what>``;
- per good the world sold in the clearing, a ``Debits`` authorisation of the good's
  issuer account ``<task>.issuer/<good>`` for its delivery to the clearing house
  ``<task>.clearing/<good>`` (id ``<task>.<round>.w.<good>``).

Rounding: a recipe runs ``k = min(runs asked, capacity, min_g held_g / a_g)`` times;
inputs used and outputs made are ``floor(k · a)`` and ``floor(k · o)`` units, so no
output is made without its inputs; consumers pay ``Σ taken · unit price`` rounded to
the nearest credit unit; depreciation and the world's stock round to the nearest unit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from catallax.exchange.crypto import Ed25519PrivateKey, SignedEnvelope
from catallax.exchange.envs.production import Economy
from catallax.exchange.ledger import (
    UNITS_PER_GOOD,
    Authorization,
    Debit,
    ProductionItem,
    ProductionReport,
    authorize,
    report_production,
)
from catallax.exchange.money import to_units
from catallax.node.errors import Malformed

__all__ = [
    "EconomyWorld",
    "Production",
    "economy_from_json",
    "economy_to_json",
    "production_id",
    "world_delivery_id",
]


def economy_to_json(economy: Economy) -> str:
    """The economy as canonical JSON (what ``EnvSpec.economy_json`` carries)."""
    body = {
        "goods": list(economy.goods),
        "kinds": list(economy.kinds),
        "inputs": economy.inputs.tolist(),
        "outputs": economy.outputs.tolist(),
        "capacity": economy.capacity.tolist(),
        "inflow": economy.inflow.tolist(),
        "demand_values": economy.demand_values.tolist(),
        "demand_quantities": economy.demand_quantities.tolist(),
        "depreciation": economy.depreciation,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def economy_from_json(text: str) -> Economy:
    """The economy an ``EnvSpec.economy_json`` describes.

    Raises:
        Malformed: not JSON, or not an economy (missing fields, wrong shapes).
    """
    try:
        body = json.loads(text)
        return Economy(
            goods=tuple(body["goods"]),
            kinds=tuple(body["kinds"]),
            inputs=np.array(body["inputs"], dtype=np.float64),
            outputs=np.array(body["outputs"], dtype=np.float64),
            capacity=np.array(body["capacity"], dtype=np.float64),
            inflow=np.array(body["inflow"], dtype=np.float64),
            demand_values=np.array(body["demand_values"], dtype=np.float64),
            demand_quantities=np.array(body["demand_quantities"], dtype=np.float64),
            depreciation=float(body["depreciation"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise Malformed(f"economy_json: not a production economy ({exc})") from None


def production_id(task: str, round_: int, member: int, good: str, what: str) -> str:
    """The ledger transfer id of one production item (``what``: in, out, use, dep)."""
    return f"{task}.{round_}.p.{member}.{good}.{what}"


def world_delivery_id(task: str, round_: int, good: str) -> str:
    """The ledger transfer id of the world's delivery of ``good`` in a round."""
    return f"{task}.{round_}.w.{good}"


@dataclass(frozen=True)
class Production:
    """One round of the world (arrays ``(members, goods)`` int64 units unless noted).

    Attributes:
        consumed, made: recipe inputs used and outputs made.
        taken: final goods consumers bought from each member.
        payments: ``(members,)`` int64 credit units consumers pay each member.
        depreciated: goods lost to depreciation.
        world: ``(goods,)`` the world's stock for the next round.
        welfare: consumers' value of what they bought, credits.
        report: the signed ``Production`` report (``None`` if nothing moved).
        world_debits: one signed ``Debits`` per good the world delivered.
    """

    consumed: np.ndarray
    made: np.ndarray
    taken: np.ndarray
    payments: np.ndarray
    depreciated: np.ndarray
    world: np.ndarray
    welfare: float
    report: SignedEnvelope | None
    world_debits: tuple[SignedEnvelope, ...]


class EconomyWorld:
    """The world of one slot of a production economy (see the module docstring)."""

    def __init__(self, economy: Economy) -> None:
        self.economy = economy
        self.stock = np.zeros(economy.n_goods, dtype=np.int64)

    def reset(self, state: np.ndarray) -> None:
        """A new episode: the world holds ``state`` (goods, float units of a good)."""
        self.stock = _units(state)

    def produce(
        self,
        key: Ed25519PrivateKey,
        *,
        exchange: str,
        task: str,
        round_: int,
        accounts: list[str],
        recipes: np.ndarray,
        runs: np.ndarray,
        bundles: np.ndarray,
        world_sold: np.ndarray,
    ) -> Production:
        """Run one round (see the module docstring) and sign its evidence with ``key``.

        Raises:
            Malformed: arrays of the wrong shape, negative or non-finite quantities, an
                unknown recipe, or a world sale of more than the world holds; nothing
                changes then.
        """
        eco = self.economy
        n, g = len(accounts), eco.n_goods
        bundles = np.asarray(bundles)
        recipes = np.asarray(recipes, dtype=np.int64)
        runs = np.asarray(runs, dtype=np.float64)
        sold = np.asarray(world_sold, dtype=np.int64)
        if bundles.shape != (n, g) or not np.issubdtype(bundles.dtype, np.integer):
            raise Malformed(f"bundles: expected ({n}, {g}) integer units, got {bundles.shape}")
        if recipes.shape != (n,) or runs.shape != (n,) or sold.shape != (g,):
            raise Malformed(f"recipes and runs: one per member ({n}); world_sold: one per good")
        if np.any(bundles < 0) or not np.all(np.isfinite(runs)) or np.any(runs < 0):
            raise Malformed("bundles and runs must be finite and >= 0")
        if np.any((recipes < -1) | (recipes >= eco.n_recipes)):
            raise Malformed(f"recipes: expected -1 (none) or 0 .. {eco.n_recipes - 1}")
        left = self.stock - sold
        if np.any(left < 0):
            short = int(np.argmax(left < 0))
            raise Malformed(
                f"world_sold: the world holds {int(self.stock[short])} units of "
                f"{eco.goods[short]}, the clearing took {int(sold[short])}"
            )
        bundles = bundles.astype(np.int64)
        a = eco.inputs * UNITS_PER_GOOD
        o = eco.outputs * UNITS_PER_GOOD
        r = np.maximum(recipes, 0)
        need = np.where(recipes[:, None] >= 0, a[r], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            feed = np.where(need > 0, bundles / need, np.inf).min(axis=1)
        k = np.minimum(np.minimum(feed, eco.capacity[r]), runs)
        k = np.where(recipes >= 0, k, 0.0)
        consumed = np.minimum(np.floor(k[:, None] * need), bundles).astype(np.int64)
        made = np.floor(k[:, None] * np.where(recipes[:, None] >= 0, o[r], 0.0)).astype(np.int64)
        after = bundles - consumed + made
        taken = np.where(eco.final, after, 0)
        total = taken.sum(axis=0) / UNITS_PER_GOOD
        prices = eco.unit_prices(total)
        payments = to_units(taken / UNITS_PER_GOOD @ prices)
        welfare = float(eco.welfare(total))
        rest = after - taken
        depreciated = np.minimum(np.rint(rest * eco.depreciation), rest).astype(np.int64)
        world = _units(left * (1.0 - eco.depreciation) / UNITS_PER_GOOD + eco.inflow)

        items = []
        for m in range(n):
            for j, good in enumerate(eco.goods):
                account = f"{accounts[m]}/{good}"
                for what, amount, direction in (
                    ("in", consumed[m, j], "input"),
                    ("out", made[m, j], "output"),
                    ("use", taken[m, j], "input"),
                    ("dep", depreciated[m, j], "input"),
                ):
                    if amount > 0:
                        tid = production_id(task, round_, m, good, what)
                        items.append(
                            ProductionItem(tid, account, f"good:{good}", int(amount), direction)
                        )
        report = None
        if items:
            report = report_production(key, ProductionReport(exchange, task, round_, tuple(items)))
        debits = []
        for j, good in enumerate(eco.goods):
            if sold[j] > 0:
                debit = Debit(
                    world_delivery_id(task, round_, good),
                    f"{task}.clearing/{good}",
                    int(sold[j]),
                    "delivery",
                )
                auth = Authorization(exchange, task, round_, f"{task}.issuer/{good}", (debit,))
                debits.append(authorize(key, auth))
        self.stock = world
        return Production(
            consumed, made, taken, payments, depreciated, world, welfare, report, tuple(debits)
        )


def _units(goods: Any) -> np.ndarray:
    """Float units of goods as int64 ledger units (nearest, never below zero)."""
    x = np.maximum(np.asarray(goods, dtype=np.float64), 0.0)
    return np.rint(x * UNITS_PER_GOOD).astype(np.int64)
