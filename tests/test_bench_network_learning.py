"""Smoke test of bench/network_learning.py: Chain, one seed, in process and over the network."""

from __future__ import annotations

import re

import pytest

SCRIPT = "network_learning.py"
NUMBER = r"(\d+(?:\.\d+)?)"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def quick(run_bench) -> str:
    done = run_bench("--quick", timeout=280)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_ratio_line_matches_its_per_seed_episodes(quick: str) -> None:
    line = re.search(
        rf"^network/in-process episodes ratio Chain-v0: {NUMBER} \(network {NUMBER}, "
        rf"in-process {NUMBER} episodes, mean of 1 seeds; .*per seed (\d+)/(\d+)\)$",
        quick,
        re.MULTILINE,
    )
    assert line is not None, quick
    ratio, network, in_process = (float(g) for g in line.groups()[:3])
    trained, needed = int(line[4]), int(line[5])
    assert (network, in_process) == (trained, needed)
    assert abs(ratio - trained / max(needed, 1)) < 0.01
    # The network trains floor(1.5 x) episodes (one slot: exactly that many).
    assert trained == max(3 * needed // 2, 1)


def test_the_networked_greedy_return_is_reported_against_the_optimum(quick: str) -> None:
    detail = re.search(
        rf"^Chain-v0: networked greedy return {NUMBER} ± {NUMBER} \(standard error\) over "
        rf"(\d+) episodes .*; optimal {NUMBER};",
        quick,
        re.MULTILINE,
    )
    share = re.search(
        rf"^networked greedy/optimal Chain-v0: {NUMBER} \(goal >= 0.95\)$", quick, re.MULTILINE
    )
    assert detail and share, quick
    mean, se, count, optimum = float(detail[1]), float(detail[2]), int(detail[3]), float(detail[4])
    assert count == 4 and se >= 0 and abs(optimum - 0.8) < 1e-3
    assert abs(float(share[1]) - mean / optimum) < 1e-3
    # What Chain reliably does over the network within 1.5 times the in-process episodes.
    assert float(share[1]) >= 0.95


def test_the_ledger_audits_and_the_goal_line_is_printed(quick: str) -> None:
    assert re.search(r"^Chain-v0: ledger audit ok on 1 of 1 networked runs$", quick, re.M), quick
    assert re.search(r"^goals: Chain-v0 (met|NOT met)$", quick, re.MULTILINE), quick


def test_bad_option_is_refused_with_exit_status_2(run_bench) -> None:
    done = run_bench("--seeds", "three")
    assert done.returncode == 2
    assert "--seeds" in done.stderr
