"""Smoke test: ``bench/wide_network.py --quick`` runs a real network of 4 remote
producers, the in-process clearing and the bare limit, and prints its figures."""

from __future__ import annotations

import re

SCRIPT = "wide_network.py"


def test_quick_run_prints_the_network_the_parts_and_the_ratio(run_bench) -> None:
    done = run_bench("--quick")
    assert done.returncode == 0, done.stderr
    net = re.search(
        r"^4 producers \(2 processes\): network ([\d.]+) rounds/s, ([\d.]+) ms per round "
        r"\(p99 ([\d.]+) ms; (\d+) ledger rows of (\d+) B per round\)$",
        done.stdout,
        re.MULTILINE,
    )
    assert net is not None, done.stdout
    rate, round_ms, p99, rows, size = (float(g) for g in net.groups())
    assert rate > 0 and 0 < round_ms <= p99 and rows > 0 and size > 0
    parts = re.search(
        r"^4 producers: in-process clearing ([\d.]+) ms \+ bare limit ([\d.]+) ms .* = "
        r"([\d.]+) ms: ([\d.]+) rounds/s$",
        done.stdout,
        re.MULTILINE,
    )
    assert parts is not None, done.stdout
    clearing, bare, base, _ = (float(g) for g in parts.groups())
    assert abs(clearing + bare - base) < 0.02
    ratio = re.search(r"^4 producers: ratio network / \(in-process \+ limit\): ([\d.]+)$",
                      done.stdout, re.MULTILINE)  # fmt: skip
    assert ratio is not None and abs(float(ratio.group(1)) - round_ms / base) < 0.02
    assert re.search(r"^goal: ratio <= 2 at 4 producers: [\d.]+ \((met|not met)\)$",
                     done.stdout, re.MULTILINE)  # fmt: skip


def test_a_bad_option_is_refused_with_exit_status_2(run_bench) -> None:
    done = run_bench("--measure-rounds", "many")
    assert done.returncode == 2
    assert "--measure-rounds" in done.stderr
