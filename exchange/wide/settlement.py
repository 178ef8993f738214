"""The settlement of one wide-market step as a value (pure: nothing changes here).

:func:`compute_settlement` turns a decision (the clearing and the actions), the rewards
and the goods taken by consumers into itemised integer transfers, the goods after the
step and what each population learns. The market applies the value later, after the
exchange has committed it; the rules (clearing house, rounding residue to the issuer,
capped costs, replacement of bankrupt traders) are in ``docs/decisions/wide.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from catallax.exchange.errors import GoodsError, MarketInputError, RewardError
from catallax.exchange.money import to_credits, to_units
from catallax.exchange.transfers import CLEARING, ISSUER, NO_SLOT, FlowKind, Transfers
from catallax.exchange.wide.values import WideDecision, WideOutcome, WideReport, WideSettlement

__all__ = ["Rules", "compute_settlement", "spending_caps"]


@dataclass(frozen=True, slots=True)
class Rules:
    """The parts of a market's configuration a settlement depends on.

    Attributes:
        n_envs: parallel episodes ``E``.
        depreciation: ``δ``, the share of every holding lost per step.
        allowance: units a newcomer's account is brought up to.
        floor: units below which a trader is replaced (with ``replace_bankrupt``).
        replace_bankrupt: whether traders below the floor are replaced.
    """

    n_envs: int
    depreciation: float
    allowance: int
    floor: int
    replace_bankrupt: bool


def spending_caps(balance: np.ndarray, n_envs: int) -> np.ndarray:
    """``(N,)`` int64 units each trader may spend per episode: ``balance // E``."""
    return np.maximum(np.asarray(balance, dtype=np.int64), 0) // n_envs


def compute_settlement(
    decision: WideDecision,
    *,
    balance: np.ndarray,
    rules: Rules,
    rows: Sequence[slice],
    version: int,
    step: int,
    rewards: np.ndarray | None = None,
    removed: np.ndarray | None = None,
    inflow: np.ndarray | None = None,
) -> WideSettlement:
    """The settlement of ``decision`` for traders holding ``balance`` (int64 units).

    Args:
        decision: the forward pass of this step.
        balance: ``(N,)`` int64 units each trader holds now.
        rules: the market's settlement rules.
        rows: each population's trader rows.
        version, step: the market state the value is for.
        rewards: ``(E, N)`` credits due to each trader for its transformation; positive
            ones are paid by the issuer, negative ones are costs the trader pays.
        removed: ``(E, N, G)`` goods leaving each trader's bundle with its reward.
        inflow: ``(E, G)`` goods entering the world's holdings after depreciation.

    Raises:
        MarketInputError: rewards of the wrong shape.
        RewardError: a reward is NaN or infinite.
        GoodsError: removed or inflow of the wrong shape, negative, not finite, or
            removing more than a trader holds after its action.
    """
    c = decision.clearing
    e, n, _ = c.bundles.shape
    rewards, removed, inflow = _inputs(decision, rewards, removed, inflow, step)
    balance = np.asarray(balance, dtype=np.int64)
    # (E, N) amounts are flattened episode-major: trader and slot columns to match.
    traders = np.tile(np.arange(n, dtype=np.int64), e)
    slots = np.repeat(np.arange(e, dtype=np.int64), n)

    # Trades: each trader's net payment per episode, rounded to the nearest unit and
    # never more than its per-episode cap; the clearing house passes what is left (the
    # world's proceeds and the rounding residue) to the issuer, or the issuer pays in.
    net = np.minimum(to_units(c.charged - c.paid), spending_caps(balance, e)[None, :])
    pay, receive = np.maximum(net, 0), np.maximum(-net, 0)
    to_issuer = net.sum(axis=1)
    residue = to_issuer - to_units(c.world_net)
    world_slots = np.arange(e, dtype=np.int64)
    trades = [
        Transfers.of(traders, CLEARING, pay, FlowKind.TRADE, slots),
        Transfers.of(ISSUER, CLEARING, np.maximum(-to_issuer, 0), FlowKind.TRADE, world_slots),
        Transfers.of(CLEARING, traders, receive, FlowKind.TRADE, slots),
        Transfers.of(CLEARING, ISSUER, np.maximum(to_issuer, 0), FlowKind.TRADE, world_slots),
    ]

    # Rewards from the issuer; costs to it, collected slot by slot while the trader
    # has money (what it holds after its trades and rewards).
    due = to_units(rewards)
    paid_rewards = np.maximum(due, 0)
    costs = np.maximum(-due, 0)
    held = balance - net.sum(axis=0) + paid_rewards.sum(axis=0)
    collected_so_far = np.minimum(np.cumsum(costs, axis=0), held[None, :])
    collected = np.diff(collected_so_far, axis=0, prepend=0)
    after = held - collected_so_far[-1]
    parts = [
        *trades,
        Transfers.of(ISSUER, traders, paid_rewards, FlowKind.REWARD, slots),
        Transfers.of(traders, ISSUER, collected, FlowKind.COST, slots),
    ]

    # Bankrupt traders: a newcomer takes over the account (and the goods); the issuer
    # brings the balance up to the allowance.
    replaced = np.zeros(n, dtype=bool)
    top_up = np.zeros(n, dtype=np.int64)
    if rules.replace_bankrupt:
        replaced = after < rules.floor
        top_up = np.where(replaced, np.maximum(rules.allowance - after, 0), 0)
        parts.append(
            Transfers.of(ISSUER, np.arange(n, dtype=np.int64), top_up, FlowKind.ALLOWANCE, NO_SLOT)
        )
    transfers = Transfers.concat(parts)
    new_balance = after + top_up

    # Goods: what each action made, less what consumers took; depreciation; inflow.
    keep = 1.0 - rules.depreciation
    holdings = np.maximum(decision.produced - removed, 0.0) * keep
    world = c.world * keep + inflow
    outcomes = tuple(
        WideOutcome(
            prices=c.prices,
            supply=decision.obs,
            bought=c.bundles[:, r],
            produced=decision.produced[:, r],
            rewards=rewards[:, r],
            removed=removed[:, r],
        )
        for r in rows
    )
    report = WideReport(
        traded=float(to_credits(pay.sum())),
        world_sales=float(to_credits(to_issuer.sum())),
        rewards=float(to_credits(paid_rewards.sum() - collected.sum())),
        spent=to_credits(net),
        deaths=int(replaced.sum()),
        left_behind=float(to_credits(after[replaced].sum())),
        uncollected=float(to_credits(costs.sum() - collected.sum())),
        allowances=float(to_credits(top_up.sum())),
    )
    return WideSettlement(
        version=version,
        step=step,
        transfers=transfers,
        balance=_frozen(new_balance),
        residue=_frozen(residue),
        holdings=_frozen(holdings),
        world=_frozen(world),
        replaced=_frozen(replaced),
        outcomes=outcomes,
        report=report,
    )


def _inputs(decision, rewards, removed, inflow, step):
    """The caller's rewards, removed goods and inflow, checked, as float arrays."""
    e, n, g = decision.clearing.bundles.shape
    rewards = np.zeros((e, n)) if rewards is None else np.array(rewards, dtype=np.float64)
    if rewards.shape != (e, n):
        raise MarketInputError(f"rewards must have shape {(e, n)}, got {rewards.shape}")
    bad = ~np.isfinite(rewards)
    if bad.any():
        slot, who = (int(i) for i in np.argwhere(bad)[0])
        raise RewardError(
            f"reward {rewards[slot, who]} of trader {who} at step {step} in "
            f"episode slot {slot} is not a finite number",
            step=step,
            slot=slot,
        )
    removed = np.zeros((e, n, g)) if removed is None else np.array(removed, dtype=np.float64)
    if removed.shape != (e, n, g):
        raise GoodsError(f"removed must have shape {(e, n, g)}, got {removed.shape}")
    produced = decision.produced
    if (
        not np.all(np.isfinite(removed))
        or np.any(removed < 0)
        or np.any(produced - removed < -1e-9 * np.maximum(1.0, produced))
    ):
        raise GoodsError("removed must be >= 0 and at most what each trader produced")
    inflow = np.zeros((e, g)) if inflow is None else np.array(inflow, dtype=np.float64)
    if inflow.shape != (e, g) or not np.all(np.isfinite(inflow)) or np.any(inflow < 0):
        raise GoodsError(f"inflow must be finite, >= 0 and of shape {(e, g)}")
    return rewards, removed, inflow


def _frozen(a: np.ndarray) -> np.ndarray:
    """``a`` made read-only (a value's arrays are not to be changed in place)."""
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a
