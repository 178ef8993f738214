"""Smoke test of bench/learning.py: it runs with a tiny budget and prints every figure."""

from __future__ import annotations

import re

import pytest

SCRIPT = "learning.py"
NUMBER = r"(\d+(?:\.\d+)?)"


@pytest.fixture(scope="module")
def quick(run_bench) -> str:
    done = run_bench("--quick")
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("env", ["Bandit-v0", "Chain-v0", "Duality-v0", "FrozenLake-v1"])
def test_each_tabular_env_reports_final_returns_and_the_ratio(quick: str, env: str) -> None:
    final = re.search(
        rf"^{env}: optimal {NUMBER}, .* final greedy return market {NUMBER} \({NUMBER}%\)",
        quick,
        re.MULTILINE,
    )
    assert final is not None, quick
    optimal, market, percent = (float(g) for g in final.groups())
    assert 0 <= market <= optimal + 1e-9
    assert abs(percent - 100 * market / optimal) < 0.1
    speed = re.search(
        rf"^{env}: episodes to 95% of optimal .*: market {NUMBER}.*"
        rf"ratio market/best Q-learning \((Q-learning Q0=\d+)\): {NUMBER} \(goal <= 1.5\)$",
        quick,
        re.MULTILINE,
    )
    assert speed is not None, quick
    market_episodes, best, ratio = float(speed[1]), speed[2], float(speed[3])
    best_episodes = float(re.search(rf"{best} {NUMBER}", speed[0])[1])
    assert abs(ratio - market_episodes / max(best_episodes, 1.0)) < 0.01


def test_chain_bids_are_compared_with_q_star_for_three_auctions(quick: str) -> None:
    q_star = re.search(r"^Chain Q\*\(s, RIGHT\), s = 0..4: ((?:[\d.]+ ?){5})$", quick, re.M)
    assert q_star is not None, quick
    values = [float(v) for v in q_star[1].split()]
    assert values == sorted(values) and abs(values[-1] - 0.8) < 1e-3
    for label in ("vickrey, 2 clones", "first-price, 2 clones", "vickrey, 1 clone"):
        assert re.search(
            rf"^Chain bids for RIGHT, {label}: .*max relative error vs Q\*: {NUMBER}%",
            quick,
            re.MULTILINE,
        ), label


def test_tmaze_and_cartpole_and_the_goal_summary_are_printed(quick: str) -> None:
    for label in ("without register", "with 2-message register"):
        line = re.search(rf"^TMaze {label}: greedy return {NUMBER} ", quick, re.MULTILINE)
        assert line is not None and 0 <= float(line[1]) <= 1.0, quick
    cart = re.search(
        rf"^CartPole-v1 after 2000 steps .* over 100 episodes {NUMBER} .*random policy {NUMBER}",
        quick,
        re.MULTILINE,
    )
    assert cart is not None, quick
    assert 1 <= float(cart[1]) <= 500 and 1 <= float(cart[2]) <= 500
    assert re.search(r"^goals: final greedy return >= 95% .*: (met|NOT met); ", quick, re.M)


def test_bad_option_is_refused_with_exit_status_2(run_bench) -> None:
    done = run_bench("--seeds", "five")
    assert done.returncode == 2
    assert "--seeds" in done.stderr


def test_the_wall_time_line_has_its_floor_the_environments_alone(quick: str) -> None:
    wall = re.search(r"^FrozenLake8x8-v1 wall time .*ratio market/Q-learning per episode "
                     rf"{NUMBER} \(Q-learning Q0=1\)", quick, re.M)  # fmt: skip
    floor = re.search(rf"^FrozenLake8x8-v1 floor: .* takes {NUMBER} µs a step; .* ratio "
                      rf"{NUMBER} \(Q-learning Q0=1\)", quick, re.M)  # fmt: skip
    assert wall is not None and floor is not None, quick
    assert float(floor[1]) > 0 and 0 < float(floor[2]) <= float(wall[1])
