"""The deep market's forward pass: bids in, a decision out, no money moved.

:class:`ForwardPass` is the part of :class:`~catallax.exchange.deep.market.DeepMarket`
that runs the auction: :meth:`~ForwardPass.decide` on a bid matrix and actions given by
the caller (what an exchange collected from signed bids), :meth:`~ForwardPass.act` on
bids and actions pulled from the populations. Both cap each bid by ``balance // E``,
run the compiled auction kernel (``kernel.py``) with each observation's tie mask, and price
the winners by the auction kind; where nobody bid the world acts at random.
"""

from __future__ import annotations

import numpy as np

from catallax.exchange.auctions import AuctionKind
from catallax.exchange.deep.accounts import state_masks
from catallax.exchange.deep.kernel import top_two
from catallax.exchange.deep.values import Decision
from catallax.exchange.errors import ActionError, BidError, MarketInputError
from catallax.exchange.money import UNITS_PER_CREDIT

__all__ = ["ForwardPass"]


class ForwardPass:
    """The auction of a deep market (a part of :class:`DeepMarket`)."""

    def caps(self) -> np.ndarray:
        """``(size,)`` each trader's bid cap per episode in credits: ``balance // E``
        units; ``-1`` for traders that cannot bid (removed or without money)."""
        if self._cap_version != self.version or len(self._cap) != self.size:
            acc = self.accounts
            per = acc.balance // self.n_envs
            self._cap = np.where(acc.alive & (acc.balance > 0), per / UNITS_PER_CREDIT, -1.0)
            self._cap_version = self.version
        return self._cap

    def bids(self, obs: np.ndarray) -> np.ndarray:
        """Raw bids of every trader row in every episode, ``(size, E)``, in credits."""
        obs = np.asarray(obs)
        e = len(obs)
        layout = self._layout()
        if len(layout) == 1 and layout[0][1] is None and layout[0][0] == slice(0, self.size):
            out = _bids_of(self.populations[0].bids(obs), 0)
            _check_bids(out, self.size, e, 0)
            return out
        if self._bid_buffer is None or self._bid_buffer.shape != (self.size, e):
            self._bid_buffer = np.empty((self.size, e))
        for p, (rows, members) in enumerate(layout):
            pop = self.populations[p]
            part = _bids_of(pop.bids(obs), p)
            _check_bids(part, int(pop.size), e, p)
            self._bid_buffer[rows] = part if members is None else part[members]
        return self._bid_buffer

    def _layout(self) -> list[tuple[slice | np.ndarray, np.ndarray | None]]:
        """Per population: its rows, and the member behind each row (``None`` when the
        rows hold members ``0 .. size-1`` in order, so its bids need no gather)."""
        key = (self.size, *(int(p.size) for p in self.populations))
        if self._layout_size == key:
            return self._layout_cache
        acc = self.accounts
        out = []
        for p, pop in enumerate(self.populations):
            rows = np.flatnonzero(acc.population == p)
            members = acc.member[rows]
            contiguous = len(rows) > 0 and rows[-1] - rows[0] == len(rows) - 1
            if (
                contiguous
                and np.array_equal(members, np.arange(len(rows)))
                and int(pop.size) == len(rows)
            ):
                out.append((slice(int(rows[0]), int(rows[-1]) + 1), None))
            else:
                out.append((rows, members))
        self._layout_cache, self._layout_size = out, key
        return out

    def _auction(
        self, obs: np.ndarray, bids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not bids.flags.c_contiguous:
            bids = np.ascontiguousarray(bids)
        masks = state_masks(obs, self.tie_epoch)
        return top_two(bids, self.caps(), self.accounts.key, masks)

    def _decision(self, obs: np.ndarray, winner, top, second, chosen) -> Decision:
        """Prices from the auction kind, the world's random actions where nobody won."""
        won = winner >= 0
        if len(chosen) == len(obs):
            actions = chosen
        else:
            # Where nobody bid the world acts at random (a draw only when needed).
            actions = self._rng.integers(self.n_actions, size=len(obs))
            actions[won] = chosen
        if self.auction is AuctionKind.FIRST_PRICE:
            price, proceeds = top, top
        elif self.auction is AuctionKind.VICKREY:
            price, proceeds = second, second
        else:
            price, proceeds = second, top
        return Decision(
            obs=obs.copy(),
            winner=winner,
            actions=actions,
            price=price,
            proceeds=proceeds,
            top=top,
            second=second,
            version=self.version,
        )

    def decide(self, obs: np.ndarray, bids: np.ndarray, actions: np.ndarray) -> Decision:
        """The forward pass on bids and actions given by the caller.

        Args:
            obs: ``(E, ...)`` the observations bid on.
            bids: ``(size, E)`` float bids in credits, one row per trader row (NaN or
                infinite: no bid; negative: an ask to be paid for the state; rows of
                removed traders are ignored).
            actions: ``(size, E)`` integer actions each trader takes if it wins.

        Raises :class:`BidError` or :class:`ActionError` for a malformed matrix or a
        winner's action outside the action space; nothing changes then.
        """
        obs = _episodes(obs)
        e = len(obs)
        bids = np.asarray(bids)
        if bids.shape != (self.size, e) or not np.issubdtype(bids.dtype, np.floating):
            raise BidError(
                f"bids must be a ({self.size}, {e}) float matrix of credits, got shape "
                f"{bids.shape} and dtype {bids.dtype}"
            )
        actions = np.asarray(actions)
        if actions.shape != (self.size, e) or not np.issubdtype(actions.dtype, np.integer):
            raise ActionError(
                f"actions must be a ({self.size}, {e}) integer matrix, got shape "
                f"{actions.shape} and dtype {actions.dtype}"
            )
        winner, top, second = self._auction(obs, bids.astype(np.float64, copy=False))
        won = np.flatnonzero(winner >= 0)
        chosen = actions[winner[won], won]
        self._check_actions(chosen, "the caller")
        return self._decision(obs, winner, top, second, chosen.astype(np.int64))

    def act(self, obs: np.ndarray) -> Decision:
        """The forward pass (``MARKET``) on bids and actions pulled from the populations.

        Moves no money and changes no state except the generator used when the world
        acts; call :meth:`settle` after the environment steps to train.
        """
        obs = _episodes(obs)
        winner, top, second = self._auction(obs, self.bids(obs))
        won = np.flatnonzero(winner >= 0)
        chosen = np.empty(len(won), dtype=np.int64)
        if len(won):
            acc = self.accounts
            rows = winner[won]
            pops = acc.population[rows]
            groups = [0] if len(self.populations) == 1 else np.unique(pops).tolist()
            for p in groups:
                sel = slice(None) if len(self.populations) == 1 else pops == p
                got = np.asarray(self.populations[p].actions(obs[won[sel]], acc.member[rows[sel]]))
                if got.shape != (len(won[sel]),) or not np.issubdtype(got.dtype, np.integer):
                    raise ActionError(
                        f"population {p} returned actions of shape {got.shape} and dtype "
                        f"{got.dtype}; expected {(len(won[sel]),)} integers"
                    )
                self._check_actions(got, f"population {p}")
                chosen[sel] = got
        return self._decision(obs, winner, top, second, chosen)

    def _check_actions(self, chosen: np.ndarray, who: str) -> None:
        bad = (chosen < 0) | (chosen >= self.n_actions)
        if bad.any():
            raise ActionError(
                f"{who} chose action {int(chosen[bad][0])}, outside 0..{self.n_actions - 1}"
            )


def _episodes(obs: object) -> np.ndarray:
    """Observations with their leading axis over episodes; :class:`MarketInputError` if
    there is none."""
    array = np.asarray(obs)
    if array.ndim == 0:
        raise MarketInputError("obs must have a leading axis over the parallel episodes")
    return array


def _bids_of(part: object, p: int) -> np.ndarray:
    """A population's bids as float64; :class:`BidError` unless they are real numbers."""
    array = np.asarray(part)
    if array.dtype.kind not in "biuf":
        raise BidError(f"population {p} returned bids of dtype {array.dtype}; expected floats")
    return array.astype(np.float64, copy=False)


def _check_bids(bids: np.ndarray, size: int, e: int, pop: int) -> None:
    if bids.shape != (size, e):
        raise BidError(
            f"population {pop} returned bids of shape {bids.shape}; expected ({size}, {e})"
        )
