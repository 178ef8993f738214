"""Smoke test: ``bench/soak.py --quick`` runs a real network of 10 traders in 2
processes for 400 rounds and prints every figure, its goals and the ledger's audit."""

from __future__ import annotations

import re

import pytest

SCRIPT = "soak.py"
NUM = r"([\d,]+(?:\.\d+)?)"

pytestmark = pytest.mark.timeout(300)


def test_quick_soak_prints_throughput_memory_latency_and_a_whole_ledger(run_bench) -> None:
    done = run_bench("--quick", timeout=280)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    first, last = map(
        float, re.search(rf"rounds/s first 100: {NUM}; last 100: {NUM}", out).groups()
    )
    ratio = float(re.search(rf"^throughput ratio last/first: {NUM} \(goal >= 0\.9\)", out, re.M)[1])
    assert first > 0 and last > 0 and abs(ratio - last / first) < 0.01
    warm, end = map(
        float, re.search(rf"memory: {NUM} MiB after the first 100 rounds, {NUM} MiB", out).groups()
    )
    growth = float(re.search(r"^memory growth: (-?[\d.]+) % \(goal <= 10\)", out, re.M)[1])
    assert warm > 0 and abs(growth - 100 * (end - warm) / warm) < 0.2
    p50, p99 = map(float, re.search(rf"over 400 rounds: p50 {NUM} ms, p99 {NUM} ms", out).groups())
    assert 0 < p50 <= p99
    assert "in 2 processes, 10 sessions at the end" in out  # --key repeated: 5 per process
    assert "rounds on the ledger: 400 of 400" in out
    assert re.search(r"^ledger audit: ok: ", out, re.M), out
