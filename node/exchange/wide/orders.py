"""A wide task's signed ``Orders``: the checks of each body, and the ledger's reader.

:func:`check_orders` turns a signed, verified ``Orders`` body into an
:class:`OrderBook` (arrays; budgets in credit units) or raises the refusal (a
:mod:`catallax.node.errors` class, mapped to a status by the servicer), in this order:

1. every order: a member of the identity (``NotYourMember``), a valuation of the task's
   kind (``Malformed``), as many values as goods it names (``Malformed``: the wrong
   shape), goods the task has, each once (``UnknownGood``), values finite and >= 0, at
   least one positive (``Malformed``), a CES exponent equal to the task's, a budget >= 0;
2. a member's budgets together at most its ledger balance (``OverBudget``: the
   exchange caps nothing silently that the trader could have known);
3. every plan: a member of the identity, a recipe of the economy, runs finite and >= 0,
   one plan per member (``Malformed``).

A member named by the body (an order or a plan) offers what it holds in the round's
clearing; the body is the mandate for its payments (:func:`read_orders`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from catallax.exchange.crypto import SignedEnvelope
from catallax.exchange.ledger.errors import BadEvidence
from catallax.exchange.ledger.evidence import Mandate
from catallax.node.errors import Malformed, NotYourMember, OverBudget, UnknownGood
from catallax.node.wire import Envelope, as_evidence
from catallax.node.wire.mandate import evidence_body, member_account
from catallax.v1 import wide_pb2

__all__ = [
    "ORDERS_KINDS",
    "OrderBook",
    "check_orders",
    "check_plans",
    "read_orders",
    "wide_mandate",
]

#: What an ``Orders`` mandate authorises: payments for goods, deliveries of goods.
ORDERS_KINDS = frozenset({"trade", "delivery"})


@dataclass
class OrderBook:
    """One identity's checked orders for a round (``K`` orders, ``P`` plans).

    Attributes:
        envelope: the signed ``Orders`` as received (the ledger's evidence).
        key, sequence, timestamp_ms: its signer and numbers.
        members: ``(K,)`` the identity's member of each order.
        values: ``(K, G)`` each order's valuation over every good (zeros elsewhere).
        budgets: ``(K,)`` int64 credit units.
        plan_members, recipes, runs: ``(P,)`` each plan.
        named: the members the body names (they offer their holdings).
    """

    envelope: Envelope
    key: bytes
    sequence: int
    timestamp_ms: int
    members: np.ndarray
    values: np.ndarray
    budgets: np.ndarray
    plan_members: np.ndarray
    recipes: np.ndarray
    runs: np.ndarray
    named: frozenset[int]

    def signed(self) -> SignedEnvelope:
        """The envelope as ledger evidence."""
        return as_evidence(self.envelope)


def check_orders(
    envelope: Envelope,
    body: wide_pb2.Orders,
    *,
    members: int,
    goods: tuple[str, ...],
    recipes: int,
    valuation: str,
    rho: float,
    balances: np.ndarray,
) -> OrderBook:
    """The :class:`OrderBook` of a verified ``Orders`` (see the module docstring).

    Args:
        members: how many members the signer has.
        goods: the task's goods, in order.
        recipes: how many recipes the economy has.
        valuation: the task's kind of valuation (``linear``, ``leontief``, ``ces``).
        rho: the task's CES exponent.
        balances: ``(members,)`` the signer's members' credit balances, units.
    """
    g = len(goods)
    if tuple(body.goods) != goods:
        raise Malformed(f"orders name the goods {list(body.goods)}; the task has {list(goods)}")
    k = len(body.orders)
    owner = np.zeros(k, dtype=np.int64)
    values = np.zeros((k, g))
    budgets = np.zeros(k, dtype=np.int64)
    for i, order in enumerate(body.orders):
        m = order.member
        if m >= members:
            raise NotYourMember(f"order {i} is for member {m}; this identity has {members}")
        v = order.valuation
        kind = v.WhichOneof("kind")
        if kind is None:
            raise Malformed(f"order {i} has no valuation (linear, leontief or ces)")
        if kind != valuation:
            raise Malformed(f"order {i}: a {kind} valuation; task's orders are {valuation}")
        if len(v.goods) != len(v.values) or not len(v.goods):
            raise Malformed(
                f"order {i}: a valuation of the wrong shape: {len(v.values)} values for "
                f"{len(v.goods)} goods"
            )
        if len(set(v.goods)) != len(v.goods):
            raise Malformed(f"order {i}: a valuation names a good twice")
        unknown = [x for x in v.goods if x >= g]
        if unknown:
            raise UnknownGood(f"order {i}: good {unknown[0]}; the task has goods 0 .. {g - 1}")
        vals = list(v.values)
        if not all(math.isfinite(x) and x >= 0 for x in vals):
            raise Malformed(f"order {i}: valuations must be finite and >= 0, got {vals}")
        if not any(x > 0 for x in vals):
            raise Malformed(f"order {i}: a valuation needs a positive value")
        if kind == "ces" and v.ces.rho != rho:
            raise Malformed(f"order {i}: CES rho {v.ces.rho}; the task's is {rho}")
        if order.budget < 0:
            raise Malformed(f"order {i}: a negative budget ({order.budget} units)")
        owner[i] = m
        values[i, list(v.goods)] = vals
        budgets[i] = order.budget
    spend = np.zeros(members, dtype=np.int64)
    np.add.at(spend, owner, budgets)
    over = np.flatnonzero(spend > np.asarray(balances, dtype=np.int64))
    if len(over):
        m = int(over[0])
        raise OverBudget(
            f"member {m}'s budgets add up to {int(spend[m])} units; it holds {int(balances[m])}"
        )
    plan_members, plan_recipes, runs = check_plans(body.plans, members=members, recipes=recipes)
    return OrderBook(
        envelope, bytes(envelope.public_key), body.sequence, body.timestamp_ms, owner,
        values, budgets, plan_members, plan_recipes, runs,
        frozenset(owner.tolist()) | frozenset(plan_members.tolist()),
    )  # fmt: skip


def check_plans(plans, *, members: int, recipes: int) -> tuple[np.ndarray, ...]:
    """``(members, recipes, runs)`` arrays of the ``Plan`` s of an ``Orders`` or a
    ``Demand``: each for a member of the identity (``NotYourMember``), a recipe of the
    economy, runs finite and >= 0, one plan per member (``Malformed``)."""
    p = len(plans)
    plan_members = np.zeros(p, dtype=np.int64)
    plan_recipes = np.zeros(p, dtype=np.int64)
    runs = np.zeros(p)
    for i, plan in enumerate(plans):
        if plan.member >= members:
            raise NotYourMember(f"plan {i} is for member {plan.member}; identity has {members}")
        if plan.recipe >= recipes:
            raise Malformed(f"plan {i}: recipe {plan.recipe}; the economy has 0 .. {recipes - 1}")
        if not (math.isfinite(plan.runs) and plan.runs >= 0):
            raise Malformed(f"plan {i}: runs must be finite and >= 0, got {plan.runs}")
        plan_members[i], plan_recipes[i], runs[i] = plan.member, plan.recipe, plan.runs
    if len(set(plan_members.tolist())) != p:
        raise Malformed("two plans for one member")
    return plan_members, plan_recipes, runs


def read_orders(evidence: SignedEnvelope) -> Mandate:
    """A signed ``Orders`` as the mandate it gives: for each member it names, trades of
    credits up to the sum of its budgets, and deliveries of the goods it holds (bounded
    by its holdings: a trader account never goes below zero).

    Raises:
        BadEvidence: the body does not parse, or a budget is negative.
    """
    body = evidence_body(evidence, wide_pb2.Orders, "an Orders")
    named = {o.member for o in body.orders} | {p.member for p in body.plans}
    budgets = [(o.member, int(o.budget)) for o in body.orders]
    return wide_mandate(evidence, body, named, budgets, what="an order")


def wide_mandate(
    evidence: SignedEnvelope,
    body,
    named: set[int],
    budgets: list[tuple[int, int]],
    *,
    what: str,
) -> Mandate:
    """The mandate of a wide body (``Orders`` or ``Demand``) signed by ``evidence``'s key:
    for each member in ``named``, trades of credits up to the sum of its ``budgets``
    (``(member, units)`` pairs) and deliveries of every good it holds.

    Raises:
        BadEvidence: a budget is negative (``what`` names its kind of entry).
    """
    ceilings: dict[str, int] = {}
    for m in named:
        account = member_account(body.task, evidence.public_key, m)
        ceilings[account] = 0
        for good in body.goods:
            ceilings[f"{account}/{good}"] = 0
    for m, units in budgets:
        if units < 0:
            raise BadEvidence(f"{what} with a budget of {units} units")
        ceilings[member_account(body.task, evidence.public_key, m)] += units
    return Mandate(
        body.exchange, body.task, int(body.round), ceilings, body.rules.hex(),
        kinds=ORDERS_KINDS, ceiling_kinds=frozenset({"trade"}),
    )  # fmt: skip
