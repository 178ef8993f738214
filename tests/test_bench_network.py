"""Smoke test: ``bench/network.py --quick`` runs a real network of 1 and 2 traders, its
bare limit and the environment node's benchmark, and prints every figure and ratio."""

from __future__ import annotations

import re

import pytest

SCRIPT = "network.py"
NUM = r"([\d,]+(?:\.\d+)?)"

pytestmark = pytest.mark.timeout(300)


def numbers(pattern: str, out: str) -> list[float]:
    """The numbers of the one line matching ``pattern`` (each must be positive)."""
    found = re.search(pattern, out, re.MULTILINE)
    assert found is not None, f"missing {pattern!r} in:\n{out}"
    values = [float(g.replace(",", "")) for g in found.groups()]
    assert all(v > 0 for v in values), (pattern, values)
    return values


def test_quick_run_prints_every_figure_and_ratio(run_bench) -> None:
    done = run_bench("--quick", timeout=280)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for n, who, goal in (
        (1, "1 trader", r"no goal"),
        (2, "2 traders", r"goal <= 1\.5, moonshot <= 1"),
    ):
        rate, rounds, seconds, mean, p50, p99 = numbers(
            rf"^{who}: exchange {NUM} rounds/s over {NUM} rounds in {NUM} s; round latency "
            rf"mean {NUM} ms, p50 {NUM} ms, p99 {NUM} ms per round \(the exchange's own "
            rf"timing of its last \d+ rounds\)",
            out,
        )
        assert abs(rate * mean / 1000 - 1) < 0.01
        # the seconds are printed to 0.1 s: the quotient is that precise, no more
        assert abs(rounds / seconds - rate) <= (0.01 + 0.05 / seconds) * rate + 0.1
        assert p50 <= p99
        failed = re.search(rf"^{who}: exchange .*; (\d+) failed rounds$", out, re.M)
        assert failed is not None and failed.group(1) == "0", out
        cpu = numbers(
            rf"^{who}: CPU per round: exchange {NUM} ms, env node {NUM} ms \(its Step handling "
            rf"p50 {NUM} ms\), traders {NUM} ms in all; {NUM} ms on \d+ cores$",
            out,
        )
        assert abs(cpu[0] + cpu[1] + cpu[3] - cpu[4]) < 0.03
        lrate, lmean, lp50, lp99, *_ = numbers(
            rf"^{who}: limit {NUM} rounds/s over 50 rounds; round latency mean {NUM} ms, "
            rf"p50 {NUM} ms, p99 {NUM} ms \(per round; p50s: stream {NUM} ms of \d+ \+ \d+ "
            rf"bytes, unary {NUM} ms, commit {NUM} ms of \d+ rows; server CPU {NUM} ms",
            out,
        )
        assert lp50 <= lp99 and abs(lrate * lmean / 1000 - 1) < 0.01
        (ratio,) = numbers(rf"^round latency ratio at {who}: {NUM} \({goal}; mean round", out)
        assert abs(ratio - mean / lmean) <= 0.01 * ratio + 0.01
        signs, verifies, ex_signs, ex_verifies, everywhere, exchange = numbers(
            rf"^signatures per round at {who}: {NUM} signs \+ {NUM} verifies in all processes, "
            rf"{NUM} \+ {NUM} in the exchange; Ed25519 with cryptography: {NUM} ms in all, "
            rf"{NUM} ms in the exchange$",
            out,
        )
        assert signs == n + 4 and ex_signs == 3  # one Round per round for every session
        assert n + 1 < ex_verifies < verifies and verifies >= 2 * n + 2
        assert exchange < everywhere
        share, ex_share = numbers(
            rf"^signature share of round time at {who}: {NUM} % \(all processes\), "
            rf"{NUM} % \(exchange\)$",
            out,
        )
        assert ex_share < share
        assert abs(share - 100 * everywhere / mean) <= 0.02 * share + 0.1
    numbers(
        rf"^env node, 16 slots of catallax/Chain-v0: {NUM} env steps/s \(Step call p50 {NUM} ms, "
        rf"p99 {NUM} ms, of which the node's own handling p50 {NUM} ms; 100 calls\); local "
        rf"loop: {NUM} env steps/s$",
        out,
    )
    numbers(r"^env node/local loop step rate ratio: (\d+\.\d+)$", out)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--traders", "1,x"], "error: --traders: expected counts >= 1 and commas, got '1,x'"),
        (["--limit-rounds", "0"], "error: --limit-rounds: expected a number > 0, got 0"),
        (["--interval", "-1"], "error: --interval: expected a number > 0, got -1.0"),
    ],
)
def test_bad_options_are_refused_with_exit_status_2(run_bench, argv, error) -> None:
    done = run_bench(*argv, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [error]
