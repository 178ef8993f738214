"""One round of a wide task as values: the certified clearing in integer units, and the
ledger round that settles it with the environment's production (pure functions).

The exchange's market is the in-process one's mechanism: :func:`clear_round` calls
:func:`catallax.exchange.wide.clear` (``Equ`` on the pooled supply of every holder that
offers and the world's stock, budgets capped by ledger balances), checks the paper's
three conditions with :func:`catallax.exchange.equilibrium.certify` and refuses
(:class:`~catallax.node.errors.Uncertified`) a clearing that fails them. Bundles are
then rounded to integer units of each good so that every good is conserved exactly
(what rounding leaves over or short is the world's), and each trader's net payment to
integer credit units, never above its balance or its budgets.

:func:`check_production` refuses (:class:`~catallax.node.errors.ForgedProduction`) an
environment's round that makes goods from nothing: inputs it did not have, outputs
beyond the runs its inputs allow, goods a recipe does not make, consumers taking what is
not a final good or not there. :func:`settlement_entries` is the round's ledger
transfers, in an order in which no trader account goes below zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from catallax.exchange.crypto import SignedEnvelope
from catallax.exchange.envs.production import Economy
from catallax.exchange.equilibrium import (
    CESMarket,
    Equilibrium,
    EquilibriumError,
    FisherMarket,
    LeontiefMarket,
    certify,
)
from catallax.exchange.ledger import UNITS_PER_GOOD, Transfer, TransferKind
from catallax.exchange.money import UNITS_PER_CREDIT, to_units
from catallax.exchange.wide import Clearing, Orders, clear
from catallax.node.env.economy import Production, production_id, world_delivery_id
from catallax.node.errors import ForgedProduction, Uncertified

__all__ = [
    "RoundClearing",
    "check_production",
    "clear_round",
    "demand_round",
    "settlement_entries",
]


@dataclass(frozen=True)
class RoundClearing:
    """A certified clearing in integer units (``N`` members, ``G`` goods).

    Attributes:
        clearing: the float clearing (prices in credits per unit of good).
        bundles: ``(N, G)`` int64 units each member holds after it.
        world: ``(G,)`` int64 units the world holds after it.
        pay: ``(N,)`` int64 credit units each member pays (net) ...
        receive: ``(N,)`` ... or receives.
        certificate: what :func:`certify` measured.
    """

    clearing: Clearing
    bundles: np.ndarray
    world: np.ndarray
    pay: np.ndarray
    receive: np.ndarray
    certificate: object

    @property
    def prices(self) -> np.ndarray:
        return self.clearing.prices[0]


#: The ``Equ`` a task clears with: ``clear``'s signature (tests may wrap it).
Equ = Callable[..., Clearing]


def clear_round(
    holdings: np.ndarray,
    world: np.ndarray,
    offers: np.ndarray,
    owner: np.ndarray,
    values: np.ndarray,
    budgets: np.ndarray,
    balances: np.ndarray,
    *,
    utility: str = "linear",
    rho: float = 0.5,
    tol: float = 1e-6,
    equ: Equ = clear,
) -> RoundClearing:
    """Clear one round (see the module docstring).

    Args:
        holdings: ``(N, G)`` int64 units each member holds.
        world: ``(G,)`` int64 units the world holds.
        offers: ``(N,)`` bool, the members whose holdings are on offer.
        owner, values, budgets: ``(K,)`` member of each order, ``(K, G)`` its values,
            ``(K,)`` its budget in credit units.
        balances: ``(N,)`` credit units each member holds (caps its budgets).

    Raises:
        Uncertified: the clearing fails its certificate, or the solver finds none within
            ``tol`` (``uncertified: <why>``).
    """
    holdings = np.asarray(holdings, dtype=np.int64)
    world = np.asarray(world, dtype=np.int64)
    n = len(holdings)
    offered = np.where(np.asarray(offers, bool)[:, None], holdings, 0)
    h = (offered / UNITS_PER_GOOD)[None]
    w = (world / UNITS_PER_GOOD)[None]
    orders = Orders(
        np.asarray(owner, dtype=np.int64),
        np.asarray(values, dtype=np.float64)[None],
        (np.asarray(budgets, dtype=np.float64) / UNITS_PER_CREDIT)[None],
    )
    cap = np.maximum(np.asarray(balances, dtype=np.int64), 0) / UNITS_PER_CREDIT
    try:
        c = equ(h, w, orders, cap=cap, tol=tol, utility=utility, rho=rho)
    except EquilibriumError as exc:  # the solver found no answer within its tolerance
        raise Uncertified(f"uncertified: no equilibrium found ({exc})") from exc
    certificate = _certify(c, orders, h.sum(axis=1) + w, utility, rho)
    if not certificate.holds(tol):
        raise Uncertified(f"uncertified: {certificate} (tolerance {tol:g})")

    # Goods in units, each conserved exactly: the world takes what rounding leaves.
    total = offered.sum(axis=0) + world
    exact = c.bundles[0] * UNITS_PER_GOOD
    bundles = np.where(offers[:, None], np.rint(exact), holdings).astype(np.int64)
    new_world = total - np.where(offers[:, None], bundles, 0).sum(axis=0)
    for j in np.flatnonzero(new_world < 0).tolist():  # rounding up took too much
        short = -int(new_world[j])
        for row in np.argsort(-(bundles[:, j] - exact[:, j]) * offers).tolist():
            take = min(short, int(bundles[row, j]) if offers[row] else 0)
            bundles[row, j] -= take
            short -= take
            if not short:
                break
        new_world[j] = 0
    # Money in units: each member's net payment, at most its balance and its budgets.
    net = to_units(c.charged[0] - c.paid[0])
    ceiling = np.zeros(n, dtype=np.int64)
    np.add.at(ceiling, orders.trader, np.asarray(budgets, dtype=np.int64))
    net = np.minimum(net, np.minimum(np.maximum(balances, 0), ceiling))
    return RoundClearing(
        c, bundles, new_world, np.maximum(net, 0), np.maximum(-net, 0), certificate
    )


def demand_round(
    holdings: np.ndarray,
    world: np.ndarray,
    offers: np.ndarray,
    demands: np.ndarray,
    budgets: np.ndarray,
    balances: np.ndarray,
    prices: np.ndarray,
    certificate: object,
) -> RoundClearing:
    """The settlement of an interactive clearing that converged (certified by
    :func:`catallax.exchange.wide.demand_certificate`): each offering member gets the
    bundle it demanded at ``prices``, a good demanded beyond what is on offer (within the
    tolerance) scaled down to it in whole units, the world keeping what is left; each
    member pays ``p·bundle`` and is paid ``p·holdings``, the net in credit units, never
    above its balance or its budget.

    Args:
        holdings: ``(N, G)`` int64 units each member holds.
        world: ``(G,)`` int64 units the world holds.
        offers: ``(N,)`` bool, the members whose identity answered (their holdings are
            on offer and their demands count).
        demands: ``(N, G)`` int64 units each member demanded (rows of non-offering
            members are ignored).
        budgets: ``(N,)`` int64 credit units each member's demand may cost.
        balances: ``(N,)`` credit units each member holds.
        prices: ``(G,)`` the converged proposal, credits per unit of good.
        certificate: what :func:`~catallax.exchange.wide.demand_certificate` measured.
    """
    holdings = np.asarray(holdings, dtype=np.int64)
    world = np.asarray(world, dtype=np.int64)
    offers = np.asarray(offers, dtype=bool)
    prices = np.asarray(prices, dtype=np.float64)
    want = np.where(offers[:, None], np.asarray(demands, dtype=np.int64), 0)
    offered = np.where(offers[:, None], holdings, 0)
    total = offered.sum(axis=0) + world
    asked = want.sum(axis=0)
    over = asked > total
    if over.any():  # within the tolerance: scale down to what is there, whole units
        share = np.where(over, total / np.where(over, asked, 1), 1.0)
        want = np.where(over[None, :], np.floor(want * share[None, :]), want).astype(np.int64)
    bundles = np.where(offers[:, None], want, holdings)
    new_world = total - np.where(offers[:, None], bundles, 0).sum(axis=0)
    g = UNITS_PER_GOOD
    charged = np.where(offers, (bundles / g) @ prices, 0.0)
    paid = np.where(offers, (offered / g) @ prices, 0.0)
    net = to_units(charged - paid)
    cap = np.minimum(np.maximum(balances, 0), np.asarray(budgets, dtype=np.int64))
    net = np.minimum(net, cap)
    c = Clearing(
        prices=prices[None], bundles=(np.where(offers[:, None], bundles, 0) / g)[None],
        world=(new_world / g)[None],
        charged=charged[None], paid=paid[None],
        world_net=np.asarray([float(prices @ ((world - new_world) / g))]),
        budgets=(np.asarray(budgets, dtype=np.float64) / UNITS_PER_CREDIT)[None],
        allocation=(np.where(offers[:, None], bundles, 0) / g)[None],
    )  # fmt: skip
    return RoundClearing(
        c, bundles, new_world, np.maximum(net, 0), np.maximum(-net, 0), certificate
    )


def _certify(c: Clearing, orders: Orders, supply: np.ndarray, utility: str, rho: float):
    """The certificate of a clearing's allocation of the supply to the orders."""
    live = supply > 0
    s = np.where(live, supply, 1.0)
    v = np.where(live[:, None, :], orders.values, 0.0)
    alloc = c.allocation if c.allocation is not None else np.zeros(orders.values.shape)
    spent = np.einsum("eg,ekg->ek", c.prices, alloc)
    eq = Equilibrium(c.prices, alloc, spent)
    if not orders.size:
        return certify(FisherMarket(np.zeros((1, 1, len(s[0]))), np.zeros((1, 1)), s), _none(s))
    if utility == "linear":
        return certify(FisherMarket(v, c.budgets, s, quasilinear=True), eq)
    # Leontief and CES buyers spend it all; orders that cannot buy are out of the market.
    able = np.any(v > 0, axis=-1) & (c.budgets > 0)
    if utility == "leontief":
        able &= ~np.any((orders.values > 0) & ~live[:, None, :], axis=-1)
        market = LeontiefMarket(np.where(able[..., None], v, 0.0), np.where(able, c.budgets, 0), s)
    else:
        market = CESMarket(v, np.where(able, c.budgets, 0), s, rho=rho)
    return certify(market, eq)


def _none(s: np.ndarray) -> Equilibrium:
    """The clearing of a round without orders: nothing is sold, prices are zero."""
    return Equilibrium(np.zeros_like(s), np.zeros((1, 1, s.shape[-1])), np.zeros((1, 1)))


def check_production(
    economy: Economy,
    p: Production,
    bundles: np.ndarray,
    recipes: np.ndarray,
    runs: np.ndarray,
) -> None:
    """Refuse an environment's round that makes goods from nothing (see the module
    docstring); ``bundles`` are what each member held after the clearing.

    Raises:
        ForgedProduction: naming the member and the good.
    """
    n, g = bundles.shape
    for name in ("consumed", "made", "taken", "depreciated"):
        a = getattr(p, name)
        if a.shape != (n, g) or np.any(a < 0):
            raise ForgedProduction(f"{name}: expected ({n}, {g}) units >= 0, got {a.shape}")
    if np.any(p.payments < 0) or p.world.shape != (g,) or np.any(p.world < 0):
        raise ForgedProduction("payments and the world's stock must be >= 0")
    a = economy.inputs * UNITS_PER_GOOD
    o = economy.outputs * UNITS_PER_GOOD
    for m in range(n):
        r = int(recipes[m])
        name = f"member {m}"
        if np.any(p.consumed[m] > bundles[m]):
            j = int(np.argmax(p.consumed[m] > bundles[m]))
            raise ForgedProduction(f"{name} used {p.consumed[m, j]} units of "
                                   f"{economy.goods[j]}; it held {bundles[m, j]}")  # fmt: skip
        if r < 0:
            if p.consumed[m].any() or p.made[m].any():
                raise ForgedProduction(f"{name} ran no recipe, yet goods were used or made")
            continue
        stray = ((p.consumed[m] > 0) & (a[r] == 0)) | ((p.made[m] > 0) & (o[r] == 0))
        if stray.any():
            j = int(np.argmax(stray))
            raise ForgedProduction(
                f"{name}: {economy.goods[j]} used or made, which recipe {r} neither uses nor makes"
            )
        need = a[r] > 0
        backed = float(np.min(p.consumed[m][need] / a[r][need]))
        backed = min(backed, float(economy.capacity[r]), float(runs[m]))
        over = p.made[m] > np.floor(backed * o[r]) + 1
        if over.any():
            j = int(np.argmax(over))
            raise ForgedProduction(
                f"{name} was made {p.made[m, j]} units of {economy.goods[j]} from inputs for "
                f"{backed:.6f} runs of recipe {r} (at most {int(np.floor(backed * o[r, j]))})"
            )
    after = bundles - p.consumed + p.made
    if np.any(p.taken > np.where(economy.final, after, 0)):
        raise ForgedProduction("consumers took goods that are not final or not there")
    if np.any(p.depreciated > after - p.taken):
        raise ForgedProduction("depreciation took more than a member held")


def settlement_entries(
    *,
    task: str,
    round_: int,
    goods: tuple[str, ...],
    accounts: list[str],
    rc: RoundClearing,
    holdings: np.ndarray,
    world: np.ndarray,
    production: Production,
    orders_of: Callable[[int], SignedEnvelope | None],
) -> list[Transfer]:
    """The round's transfers (see the module docstring); ``orders_of(row)`` is the signed
    ``Orders`` of the member's identity (its mandate), ``accounts`` the members' credits
    accounts. Ids: ``<task>.<round>.<what>.<row>[.<good>]``; production and the world's
    deliveries use the ids the environment signed."""
    issuer, clearing = f"{task}.issuer", f"{task}.clearing"
    out: list[Transfer] = []

    def add(tid, payer, payee, amount, kind, asset="credits", evidence=None):
        out.append(
            Transfer(
                id=tid, payer=payer, payee=payee, amount=int(amount), kind=kind, task=task,
                round=round_, asset=asset, evidence=evidence,
            )
        )  # fmt: skip

    r = f"{task}.{round_}"
    for row in np.flatnonzero(rc.pay).tolist():
        add(f"{r}.pay.{row}", accounts[row], issuer, rc.pay[row], TransferKind.TRADE,
            evidence=orders_of(row))  # fmt: skip
    for row in np.flatnonzero(rc.receive).tolist():
        add(f"{r}.get.{row}", issuer, accounts[row], rc.receive[row], TransferKind.TRADE)
    for row in np.flatnonzero(production.payments).tolist():
        add(f"{r}.reward.{row}", issuer, accounts[row], production.payments[row],
            TransferKind.REWARD)  # fmt: skip
    delta = rc.bundles - holdings
    sold = np.asarray(world, dtype=np.int64) - rc.world
    debits = {_payer_good(d): d for d in production.world_debits}
    delivery = TransferKind.DELIVERY
    for j, good in enumerate(goods):
        asset, hub, source = f"good:{good}", f"{clearing}/{good}", f"{issuer}/{good}"
        for row in np.flatnonzero(delta[:, j] < 0).tolist():
            add(f"{r}.sell.{row}.{good}", f"{accounts[row]}/{good}", hub, -delta[row, j],
                delivery, asset, orders_of(row))  # fmt: skip
        if sold[j] > 0:
            add(world_delivery_id(task, round_, good), source, hub, sold[j], delivery, asset,
                debits.get(good))  # fmt: skip
        for row in np.flatnonzero(delta[:, j] > 0).tolist():
            add(f"{r}.buy.{row}.{good}", hub, f"{accounts[row]}/{good}", delta[row, j],
                delivery, asset)  # fmt: skip
        if sold[j] < 0:
            add(f"{r}.w.{good}.in", hub, source, -sold[j], delivery, asset)
    report = production.report
    steps = (("in", production.consumed, False), ("out", production.made, True),
             ("use", production.taken, False), ("dep", production.depreciated, False))  # fmt: skip
    for what, amounts, made in steps:
        for row, j in np.argwhere(amounts > 0).tolist():
            good = goods[j]
            mine, source = f"{accounts[row]}/{good}", f"{issuer}/{good}"
            payer, payee = (source, mine) if made else (mine, source)
            add(production_id(task, round_, row, good, what), payer, payee, amounts[row, j],
                TransferKind.PRODUCTION, f"good:{good}", report)  # fmt: skip
    return out


def _payer_good(debits: SignedEnvelope) -> str:
    """The good whose issuer signed a world delivery's ``Debits`` (``<task>.issuer/<good>``)."""
    from catallax.exchange.ledger import decode_authorization

    try:
        return decode_authorization(debits).payer.rpartition("/")[2]
    except Exception:  # a body the ledger refuses anyway, naming why
        return ""
