"""Shared fixtures."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

Runner = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def run_bench(request: pytest.FixtureRequest) -> Runner:
    """Run the test module's benchmark (``SCRIPT`` in ``bench/``) in a real subprocess.

    ``run_bench(*argv, timeout=240)`` returns the completed process with text output.
    """
    script = BENCH / request.module.SCRIPT

    def run(*argv: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(script), *argv], capture_output=True, text=True, timeout=timeout
        )

    return run
