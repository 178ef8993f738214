"""Smoke test of bench/deep_step.py: it runs with a tiny budget and prints its ratio."""

from __future__ import annotations

import re

SCRIPT = "deep_step.py"


def test_quick_run_prints_the_check_and_the_ratio(run_bench) -> None:
    done = run_bench("--quick")
    assert done.returncode == 0, done.stderr
    assert "check: market and bare numpy agree" in done.stdout
    line = re.search(
        r"^market step: ([\d.]+) ms, bare numpy: ([\d.]+) ms, ratio market/bare: ([\d.]+) "
        r"\(goal <= 2\)$",
        done.stdout,
        re.MULTILINE,
    )
    assert line is not None, done.stdout
    market_ms, bare_ms, ratio = (float(g) for g in line.groups())
    assert market_ms > 0 and bare_ms > 0.005
    # The times are printed to 0.01 ms (quick runs take a fraction of a millisecond) and
    # the ratio to 0.01, so the ratio must lie within what the rounded times allow.
    low, high = (market_ms - 0.005) / (bare_ms + 0.005), (market_ms + 0.005) / (bare_ms - 0.005)
    assert low - 0.005 <= ratio <= high + 0.005


def test_help_documents_every_option_from_the_field_docstrings(run_bench) -> None:
    done = run_bench("--help")
    assert done.returncode == 0, done.stderr
    assert "number of traders bidding in every episode" in done.stdout
    assert "--quick" in done.stdout


def test_bad_option_is_refused_with_exit_status_2(run_bench) -> None:
    done = run_bench("--traders", "many")
    assert done.returncode == 2
    assert "--traders" in done.stderr
