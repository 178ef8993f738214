"""Smoke test: ``bench/ledger.py`` runs end to end on a tiny budget and prints its ratios
(the PostgreSQL one on the server of the ``postgres_server`` fixture)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SCRIPT = "ledger.py"


def test_ledger_bench_runs_and_prints_every_figure(run_bench, tmp_path: Path, request) -> None:
    try:
        postgres = request.getfixturevalue("postgres_server")
    except pytest.skip.Exception:
        postgres = "off"
    small = ["--postgres", postgres]
    small += ["--rounds", "8", "--blocks", "2", "--evidence-rounds", "4", "--sizes", "50,120"]
    small += ["--append-rounds", "4", "--build-batch", "40", "--folder", str(tmp_path)]
    small += ["--audit-transfers", "300"]
    result = run_bench(*small)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for pattern in (
        r"ledger/bare durable rate ratio: \d+\.\d\d \(goal >= 0\.5\)",
        r"ledger\+evidence/bare durable rate ratio: \d+\.\d\d",
        r"append cost at 50 entries: [\d,]+ us wall, [\d,]+ us cpu",
        r"append cost at 120 entries: [\d,]+ us wall, [\d,]+ us cpu",
        r"append cost 120/50 entries wall ratio: \d+\.\d\d",
        r"append cost 120/50 entries cpu ratio: \d+\.\d\d",
        r"verification: [\d,]+ entries/s over \d+ entries",
        r"verification/bare-hash rate ratio: \d+\.\d\d",
        r"audit: [\d,]+ transfers/s over 310 transfers \(300 signed\)",
        r"audit/bare-verify time ratio: \d+\.\d\d \(goal <= 1\.3\)",
        r"postgres durable/bare: skipped \(no PostgreSQL server: --postgres off\)"
        if postgres == "off"
        else r"postgres durable/bare: \d+\.\d\d \(goal >= 0\.5\)",
    ):
        assert re.search(pattern, out), f"missing {pattern!r} in:\n{out}"
    assert "grew a log to 120 entries" in result.stderr
