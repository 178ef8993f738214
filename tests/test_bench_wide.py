"""Smoke test of bench/wide.py: it runs with a tiny budget and prints its ratio lines."""

from __future__ import annotations

import re

SCRIPT = "wide.py"


def test_quick_run_prints_the_lp_check_and_the_ratio(run_bench) -> None:
    done = run_bench("--quick")
    assert done.returncode == 0, done.stderr
    head = re.search(
        r"^default: 7 goods, 6 recipes; LP optimum ([\d.]+) per step \(its plan earns "
        r"([\d.]+) in ProductionEnv\); all-at-capacity planner ([\d.]+)$",
        done.stdout,
        re.MULTILINE,
    )
    assert head is not None, done.stdout
    optimum, played, greedy = (float(g) for g in head.groups())
    assert abs(optimum - played) < 1e-3 and greedy < optimum
    line = re.search(
        r"^default: market welfare ([\d.]+), ratio market/LP: ([\d.]+)$", done.stdout, re.M
    )
    assert line is not None, done.stdout
    market, ratio = (float(g) for g in line.groups())
    assert 0 < market <= optimum + 1e-6
    assert abs(ratio - market / optimum) < 2e-3


def test_bad_option_is_refused_with_exit_status_2(run_bench) -> None:
    done = run_bench("--steps", "many")
    assert done.returncode == 2
    assert "--steps" in done.stderr


def test_malformed_instance_list_is_refused(run_bench) -> None:
    done = run_bench("--steps", "5", "--window", "2", "--larger", "1,2")
    assert done.returncode != 0
    assert "raw,intermediate,final,recipes" in done.stderr
