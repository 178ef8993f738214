"""Smoke test of bench/deep_step.py: it runs with a tiny budget and prints its ratio."""

from __future__ import annotations

import re

SCRIPT = "deep_step.py"


def test_quick_run_prints_the_check_and_the_ratios(run_bench) -> None:
    done = run_bench("--quick")
    assert done.returncode == 0, done.stderr
    assert "check: the market's winners and prices equal the numpy reference" in done.stdout
    times = re.search(
        r"^step 500x16: ([\d.]+) ms, limit \(one capped pass over the bids\): ([\d.]+) ms$",
        done.stdout,
        re.MULTILINE,
    )
    ratio = re.search(
        r"^ratio step/limit: ([\d.]+) \(goal <= 3, moonshot <= 2\)$", done.stdout, re.MULTILINE
    )
    small = re.search(
        r"^step 100x8: ([\d.]+) us \(goal <= 40\), limit ([\d.]+) us, ratio ([\d.]+)$",
        done.stdout,
        re.MULTILINE,
    )
    assert times and ratio and small, done.stdout
    step_ms, limit_ms = (float(g) for g in times.groups())
    assert step_ms > 0 and limit_ms > 0
    # Times are printed to 0.001 ms and the ratio to 0.01: it lies within what they allow.
    low = (step_ms - 0.0005) / (limit_ms + 0.0005)
    high = (step_ms + 0.0005) / max(limit_ms - 0.0005, 1e-9)
    assert low - 0.005 <= float(ratio.group(1)) <= high + 0.005
    small_us, small_limit, small_ratio = (float(g) for g in small.groups())
    assert small_us > small_limit > 0
    assert abs(small_ratio - small_us / small_limit) <= 0.05 + 0.1 * small_us / small_limit


def test_help_documents_every_option_from_the_field_docstrings(run_bench) -> None:
    done = run_bench("--help")
    assert done.returncode == 0, done.stderr
    assert "number of traders bidding in every episode" in done.stdout
    assert "--quick" in done.stdout


def test_bad_option_is_refused_with_exit_status_2(run_bench) -> None:
    done = run_bench("--traders", "many")
    assert done.returncode == 2
    assert "--traders" in done.stderr
