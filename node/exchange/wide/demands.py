"""A wide task's interactive clearing: price proposals, signed ``Demand`` s, their checks.

In a task of ``mode = "interactive"`` the exchange never sees a valuation: per round it
proposes prices (a signed ``PriceProposal``: the round, the query's number, the prices,
their digest :func:`price_digest`, the clearing's deadline, the supply on offer) and
every session answers one signed ``Demand``: per member the bundle it wants to hold
after the clearing at those prices, in integer units, and the most it pays. The
exchange moves prices on the excess demand (:class:`catallax.exchange.wide.Tatonnement`)
until the answers clear (:func:`catallax.exchange.wide.demand_certificate` within the
task's ``tol``) or the deadline passes.

:class:`Queries` holds the proposal being answered and the recent ones, and refuses, in
this order after the session's identity, place and sequence checks:

1. a demand naming a proposal (its round and digest) whose deadline has passed
   (``LateDemand``, ``DEADLINE_EXCEEDED``);
2. a demand for another price vector than the current proposal's (``StalePrices``,
   ``FAILED_PRECONDITION``): an earlier query's digest, or one never proposed;
3. other rules than the task's (``RulesChanged``), a second demand of the identity for
   the query (``DuplicateBids``);
4. :func:`check_demand`: the task's goods (``Malformed``), every member of the identity
   once (its holdings are on offer: a member the demand does not name could not deliver
   them), a bundle of one quantity >= 0 per good (``Malformed``: the wrong shape, a
   negative quantity), a budget >= 0 and at most the member's balance (``OverBudget``),
   a bundle that costs at most its budget at the proposal's prices (one unit of
   rounding aside), and the plans (:func:`.orders.check_plans`: NaN or negative runs
   are ``Malformed``).

The ``Demand`` of the converged query is the mandate for its members' trades (credits,
at most each member's budget) and deliveries (:func:`read_demand`), as an ``Orders`` is.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from catallax.exchange.crypto import SignedEnvelope
from catallax.exchange.ledger import UNITS_PER_GOOD
from catallax.exchange.ledger.evidence import Mandate
from catallax.exchange.money import UNITS_PER_CREDIT
from catallax.node.errors import (
    DuplicateBids,
    LateDemand,
    Malformed,
    NotYourMember,
    OverBudget,
    StalePrices,
)
from catallax.node.exchange.wide.orders import check_plans, wide_mandate
from catallax.node.wire import Envelope, as_evidence, now_ms
from catallax.node.wire.mandate import evidence_body
from catallax.v1 import wide_pb2

__all__ = [
    "DemandBook",
    "Proposal",
    "Queries",
    "check_demand",
    "price_digest",
    "read_demand",
]

#: Proposals (round, digest) the exchange remembers, to tell a late demand from a stale one.
RECENT_PROPOSALS = 256


def price_digest(prices: np.ndarray) -> bytes:
    """SHA-256 of a price vector's canonical bytes: little-endian float64s, task order."""
    return hashlib.sha256(np.asarray(prices, dtype="<f8").tobytes()).digest()


@dataclass
class DemandBook:
    """One identity's checked demand for a query (``M`` members, ``G`` goods).

    Attributes:
        envelope: the signed ``Demand`` as received (the ledger's evidence).
        key: its signer.
        bundles: ``(M, G)`` int64 units each member wants to hold after the clearing.
        budgets: ``(M,)`` int64 credit units, the most each member pays.
        plan_members, recipes, runs: ``(P,)`` each plan.
    """

    envelope: Envelope
    key: bytes
    bundles: np.ndarray
    budgets: np.ndarray
    plan_members: np.ndarray
    recipes: np.ndarray
    runs: np.ndarray

    def signed(self) -> SignedEnvelope:
        """The envelope as ledger evidence."""
        return as_evidence(self.envelope)


def check_demand(
    envelope: Envelope,
    body: wide_pb2.Demand,
    *,
    members: int,
    goods: tuple[str, ...],
    recipes: int,
    balances: np.ndarray,
    prices: np.ndarray,
) -> DemandBook:
    """The :class:`DemandBook` of a verified ``Demand`` (module docstring, step 4).

    Args:
        members: how many members the signer has.
        goods: the task's goods, in order.
        recipes: how many recipes the economy has.
        balances: ``(members,)`` the members' credit balances, units.
        prices: ``(G,)`` the proposal's prices, credits per unit of good.
    """
    g = len(goods)
    if tuple(body.goods) != goods:
        raise Malformed(f"a demand naming the goods {list(body.goods)}; the task has {list(goods)}")
    bundles = np.zeros((members, g), dtype=np.int64)
    budgets = np.zeros(members, dtype=np.int64)
    seen: set[int] = set()
    for i, d in enumerate(body.demands):
        m = d.member
        if m >= members:
            raise NotYourMember(f"demand {i} is for member {m}; this identity has {members}")
        if m in seen:
            raise Malformed(f"demand {i}: member {m} demands twice")
        seen.add(m)
        if len(d.bundle) != g:
            raise Malformed(
                f"demand {i}: a bundle of the wrong shape: {len(d.bundle)} quantities, {g} goods"
            )
        bundle = np.asarray(d.bundle, dtype=np.int64)
        if np.any(bundle < 0):
            raise Malformed(f"demand {i}: quantities must be >= 0 units, got {bundle.tolist()}")
        if d.budget < 0:
            raise Malformed(f"demand {i}: a negative budget ({d.budget} units)")
        if d.budget > int(balances[m]):
            raise OverBudget(
                f"member {m}'s budget is {d.budget} units; it holds {int(balances[m])}"
            )
        cost = float(np.dot(bundle / UNITS_PER_GOOD, prices)) * UNITS_PER_CREDIT
        if cost > d.budget + 1:
            raise Malformed(
                f"demand {i}: the bundle costs {cost:.0f} units at the proposed prices; "
                f"member {m}'s budget is {d.budget}"
            )
        bundles[m], budgets[m] = bundle, d.budget
    if len(seen) != members:
        missing = sorted(set(range(members)) - seen)
        raise Malformed(f"a demand names every member (all offer their holdings); not {missing}")
    plan_members, plan_recipes, runs = check_plans(body.plans, members=members, recipes=recipes)
    return DemandBook(
        envelope, bytes(envelope.public_key), bundles, budgets, plan_members, plan_recipes, runs
    )


@dataclass
class Proposal:
    """One price query: its prices and digest, its deadline, who is still awaited."""

    round: int
    query: int
    prices: np.ndarray
    digest: bytes
    deadline_ms: int
    waiting: set[bytes]
    done: asyncio.Event
    answers: dict[bytes, DemandBook] = field(default_factory=dict)

    def answered(self, key: bytes) -> None:
        self.waiting.discard(key)
        if not self.waiting:
            self.done.set()


class Queries:
    """The proposal being answered and the deadlines of recent ones (module docstring)."""

    def __init__(self) -> None:
        self.current: Proposal | None = None
        self._deadlines: OrderedDict[tuple[int, bytes], int] = OrderedDict()

    def propose(
        self, round_: int, query: int, prices: np.ndarray, deadline_ms: int, keys: set[bytes]
    ) -> Proposal:
        """Open query ``query`` of ``round_`` at ``prices``, awaiting the identities ``keys``."""
        digest = price_digest(prices)
        self.current = Proposal(
            round_, query, np.asarray(prices, dtype=np.float64).copy(), digest, deadline_ms,
            set(keys), asyncio.Event(),
        )  # fmt: skip
        self._deadlines[round_, digest] = deadline_ms
        self._deadlines.move_to_end((round_, digest))
        while len(self._deadlines) > RECENT_PROPOSALS:
            self._deadlines.popitem(last=False)
        if not keys:
            self.current.done.set()
        return self.current

    def close(self) -> dict[bytes, DemandBook]:
        """Stop collecting; the answers of the query that was open."""
        current, self.current = self.current, None
        return {} if current is None else dict(current.answers)

    def check(self, key: bytes, body: wide_pb2.Demand) -> Proposal:
        """The proposal a demand answers, or the refusal (module docstring, 1 to 3 but
        the rules)."""
        digest = bytes(body.digest)
        deadline = self._deadlines.get((int(body.round), digest))
        if deadline is not None and now_ms() > deadline:
            raise LateDemand(
                f"a demand at prices {digest.hex()[:16]}… after their deadline "
                f"({now_ms() - deadline} ms late)"
            )
        current = self.current
        if current is None or digest != current.digest or body.round != current.round:
            now = "none is open" if current is None else f"query {current.query} of round "
            now += "" if current is None else f"{current.round} is {current.digest.hex()[:16]}…"
            raise StalePrices(f"a demand at prices {digest.hex()[:16]}…, not the current ({now})")
        if key in current.answers:
            raise DuplicateBids(f"this identity already answered query {current.query}")
        return current

    def left(self, key: bytes) -> None:
        """The identity's session ended: the open query no longer waits for it."""
        if self.current is not None:
            self.current.answers.pop(key, None)
            self.current.answered(key)


def read_demand(evidence: SignedEnvelope) -> Mandate:
    """A signed ``Demand`` as the mandate it gives: for each member it names, trades of
    credits up to its budget, and deliveries of the goods it holds (bounded by its
    holdings).

    Raises:
        BadEvidence: the body does not parse, or a budget is negative.
    """
    body = evidence_body(evidence, wide_pb2.Demand, "a Demand")
    named = {d.member for d in body.demands}
    budgets = [(d.member, int(d.budget)) for d in body.demands]
    return wide_mandate(evidence, body, named, budgets, what="a demand")
