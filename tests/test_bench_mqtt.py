"""Smoke test: ``bench/mqtt.py --quick`` runs a network without and one with ``--mqtt``
and prints both rates, the entries published and the ratio against the goal."""

from __future__ import annotations

import re

import pytest

SCRIPT = "mqtt.py"
NUM = r"(\d+(?:\.\d+)?)"

pytestmark = pytest.mark.timeout(300)


def test_quick_run_prints_the_ratio(run_bench) -> None:
    done = run_bench("--quick", timeout=280)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    base = re.search(rf"^without --mqtt \(baseline\): {NUM} rounds/s$", out, re.MULTILINE)
    mine = re.search(rf"^with --mqtt: {NUM} rounds/s, {NUM} ledger entries/s published$",
                     out, re.MULTILINE)  # fmt: skip
    ratio = re.search(rf"^ratio with/without: {NUM} \(goal >= 0\.90: (met|NOT met)\)$", out,
                      re.MULTILINE)  # fmt: skip
    assert base and mine and ratio, out
    rate0, rate1, published = float(base[1]), float(mine[1]), float(mine[2])
    assert rate0 > 0 and rate1 > 0 and published > 0
    assert abs(float(ratio[1]) - rate1 / rate0) < 0.001 + 0.001 * rate1 / rate0
    assert (ratio[2] == "met") == (float(ratio[1]) >= 0.9)
    pair = re.search(rf"^pair 1: .* \(lag (\d+) entries at the window's end; {NUM} of {NUM} "
                     r"published at the stop\)$", out, re.MULTILINE)  # fmt: skip
    assert pair, out
    assert float(pair[2]) >= float(pair[3])  # everything committed was published at the stop
