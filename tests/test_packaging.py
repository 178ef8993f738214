"""What the Docker image does, checked without a Docker engine: the Dockerfile copies
every installed package folder, and a non-editable install of the project (the image's
RUN step) yields a working ``catallax`` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current = f"{current} {line[:-1]}" if line.endswith("\\") else f"{current} {line}"
        if not line.endswith("\\"):
            word, _, rest = current.strip().partition(" ")
            lines.append((word.upper(), rest.strip()))
            current = ""
    return lines


def copy_sources() -> list[str]:
    """Every source named by a COPY instruction (all its words but the destination)."""
    return [src for word, rest in instructions() if word == "COPY" for src in rest.split()[:-1]]


def test_dockerfile_copies_every_package_folder_and_runs_catallax():
    steps = instructions()
    copied = set(copy_sources())
    folders = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ].values()
    top = {Path(f).parts[0] for f in folders}
    assert top <= copied, f"not copied into the image: {top - copied}"
    for source in copied:
        assert (ROOT / source).exists(), f"COPY source {source} does not exist"
    assert steps[0][0] == "FROM" and "python:3.11" in steps[0][1]
    assert ("ENTRYPOINT", '["catallax"]') in steps
    assert any(word == "USER" and rest != "root" for word, rest in steps)


def test_a_non_editable_install_gives_a_working_command(tmp_path):
    # Build from a copy of what the image copies, so no stale build folder can leak in.
    source = tmp_path / "src"
    source.mkdir()
    for part in copy_sources():
        origin = ROOT / part
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(origin, source / part, ignore=ignore)
        else:
            shutil.copy(origin, source / part)
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps",
         "--quiet", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = subprocess.run(
        [sys.executable, "-c", "import catallax.node.cli as c; print(c.__file__)"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert probe.stdout.strip().startswith(str(target)), probe.stderr
    run = subprocess.run(
        [str(target / "bin" / "catallax"), "trader", "list", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert '"adaptive"' in run.stdout
