"""Smoke test of bench/equilibrium.py: tiny instances, no cvxpy, in a real subprocess."""

from __future__ import annotations

import re

SCRIPT = "equilibrium.py"


def test_quick_run_prints_a_certified_line_per_case(run_bench) -> None:
    done = run_bench("--quick", "--no-baseline")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 6  # two kinds x (two distributions + one batch)
    for line in lines:
        assert re.match(r"fisher-(quasilinear|linear) .*: ours [0-9.]+ s", line), line
        found = re.search(r"allocation (\S+), payment (\S+), optimality (\S+)$", line)
        assert found, line
        assert all(float(value) <= 1e-6 for value in found.groups()), line
