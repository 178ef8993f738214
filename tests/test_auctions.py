"""The auction rules: caps, no-bid values, ties and the three payment kinds."""

import numpy as np
import pytest

from catallax.exchange import NO_WINNER, AuctionKind, BidError, run_auction
from catallax.exchange.deep.accounts import tie_rank
from catallax.exchange.deep.kernel import top_two

NAN, INF = np.nan, np.inf


def col(*bids: float) -> np.ndarray:
    """One episode's bids as an (N, 1) array."""
    return np.array(bids, dtype=float)[:, None]


def test_first_price_winner_pays_own_capped_bid():
    r = run_auction(col(0.3, 0.9, 0.5), np.array([1.0, 0.6, 1.0]), "first-price")
    # 0.9 is capped to 0.6 by wealth and still beats 0.5.
    assert r.winner.tolist() == [1]
    assert r.top.tolist() == [0.6]
    assert r.price.tolist() == [0.6]
    assert r.proceeds.tolist() == [0.6]
    assert r.second.tolist() == [0.5]


def test_vickrey_winner_pays_second_capped_bid_to_previous_owner():
    r = run_auction(col(0.3, 0.9, 0.5), np.array([1.0, 1.0, 0.4]), AuctionKind.VICKREY)
    assert r.winner.tolist() == [1]
    assert r.price.tolist() == [0.4]  # 0.5 capped at 0.4 is the runner-up
    assert r.proceeds.tolist() == [0.4]


def test_nonconserving_vickrey_pays_second_but_seller_receives_top():
    r = run_auction(col(0.3, 0.9, 0.5), np.ones(3), "vickrey-nonconserving")
    assert r.price.tolist() == [0.5]
    assert r.proceeds.tolist() == [0.9]


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_nan_and_infinite_bids_are_no_bid(bad):
    r = run_auction(col(bad, 0.2), np.ones(2), "vickrey")
    assert r.winner.tolist() == [1]
    assert r.second.tolist() == [0.0]  # the bad bid is not a runner-up either
    r = run_auction(col(bad), np.ones(1), "first-price")
    assert r.winner.tolist() == [NO_WINNER]
    assert r.price.tolist() == [0.0] and r.proceeds.tolist() == [0.0]


def test_negative_bids_are_asks_that_win_when_nobody_bids_more():
    """A state worth less than nothing has a negative price: the best ask wins."""
    r = run_auction(col(-3.0, -1.5, -2.0), np.ones(3), "vickrey")
    assert r.winner.tolist() == [1]
    assert r.top.tolist() == [-1.5] and r.second.tolist() == [-2.0]
    assert r.price.tolist() == [-2.0] and r.proceeds.tolist() == [-2.0]
    r = run_auction(col(-3.0, 0.0), np.ones(2), "first-price")
    assert r.winner.tolist() == [1] and r.price.tolist() == [0.0]
    # A lone asker is paid its ask; a lone buyer pays nothing (Vickrey).
    r = run_auction(col(-3.0), np.ones(1), "vickrey")
    assert r.winner.tolist() == [0] and r.price.tolist() == [-3.0]
    # A cap bounds what a buyer pays, never an ask; without money nobody bids.
    r = run_auction(col(-3.0, -4.0), np.array([0.0, -1.0]), "first-price")
    assert r.winner.tolist() == [0] and r.top.tolist() == [-3.0]


def test_traders_with_a_negative_cap_cannot_bid_but_zero_bid_counts():
    r = run_auction(col(0.7, 0.0), np.array([-1.0, 1.0]), "first-price")
    assert r.winner.tolist() == [1]
    assert r.top.tolist() == [0.0]
    # A cap of zero admits a bid, capped at zero.
    r = run_auction(col(0.7), np.array([0.0]), "first-price")
    assert r.winner.tolist() == [0] and r.top.tolist() == [0.0]


def test_ties_go_to_lowest_index_by_default_and_clone_sets_price():
    r = run_auction(col(0.1, 0.8, 0.8), np.ones(3), "vickrey")
    assert r.winner.tolist() == [1]
    assert r.price.tolist() == [0.8]


def test_ties_go_to_the_smaller_tie_rank_of_key_and_mask():
    keys = np.array([11, 5, 3], dtype=np.uint64)
    for mask in (0, 6, 2**63 + 12345):
        r = run_auction(col(0.1, 0.8, 0.8), np.ones(3), "vickrey", keys=keys, mask=mask)
        ranks = [int(tie_rank(k, mask)) for k in (5, 3)]
        assert r.winner.tolist() == [1 + ranks.index(min(ranks))]
        assert r.price.tolist() == [0.8]


def test_lone_bidder_in_vickrey_pays_nothing():
    r = run_auction(col(0.8), np.ones(1), "vickrey")
    assert r.winner.tolist() == [0] and r.price.tolist() == [0.0]


def test_episodes_are_independent_columns_and_input_is_untouched():
    bids = np.array([[0.1, NAN, 0.9], [0.2, 0.3, 0.4]])
    copy = bids.copy()
    r = run_auction(bids, np.ones(2), "first-price")
    assert r.winner.tolist() == [1, 1, 0]
    assert r.price.tolist() == [0.2, 0.3, 0.9]
    np.testing.assert_array_equal(bids, copy)


def test_matches_brute_force_on_random_markets():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n, e = rng.integers(1, 6), rng.integers(1, 4)
        bids = rng.choice([NAN, INF, -INF, -1.0, -0.3, 0.0, 0.2, 0.5, 0.9, 1.3], size=(n, e))
        wealth = rng.choice([-1.0, 0.0, 0.4, 1.0, 2.0], size=n)
        kind = AuctionKind(str(rng.choice([k.value for k in AuctionKind])))
        r = run_auction(bids, wealth, kind)
        for j in range(e):
            valid = [
                (min(b, w), -i)
                for i, (b, w) in enumerate(zip(bids[:, j], wealth, strict=True))
                if w >= 0 and np.isfinite(b)
            ]
            if not valid:
                assert r.winner[j] == NO_WINNER
                continue
            valid.sort(reverse=True)
            top = valid[0][0]
            second = valid[1][0] if len(valid) > 1 else min(top, 0.0)
            assert r.winner[j] == -valid[0][1]
            assert r.top[j] == top and r.second[j] == second
            price = top if kind is AuctionKind.FIRST_PRICE else second
            assert r.price[j] == price
            assert r.proceeds[j] == (second if kind is AuctionKind.VICKREY else top)


def test_rejects_bids_that_are_not_a_matrix_and_unknown_kinds():
    with pytest.raises(BidError, match="shape"):
        run_auction(np.ones(3), np.ones(3))
    with pytest.raises(BidError, match="one cap per trader"):
        run_auction(np.ones((2, 1)), np.ones(3))
    with pytest.raises(ValueError):
        run_auction(np.ones((1, 1)), np.ones(1), "dutch")


def test_the_compiled_kernel_breaks_ties_per_episode_as_the_reference_does():
    rng = np.random.default_rng(5)
    for _ in range(50):
        n, e = int(rng.integers(1, 9)), int(rng.integers(1, 6))
        bids = rng.integers(0, 3, size=(n, e)).astype(np.float64)  # ties everywhere
        caps = rng.choice([-1.0, 1.0, 5.0], size=n)
        keys = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64)
        masks = rng.integers(0, 2**63, size=e, dtype=np.int64).astype(np.uint64)
        winner, top, second = top_two(np.ascontiguousarray(bids), caps, keys, masks)
        ref = run_auction(bids, caps, "vickrey", keys=keys, mask=masks)
        assert winner.tolist() == ref.winner.tolist()
        assert top.tolist() == ref.top.tolist() and second.tolist() == ref.second.tolist()
