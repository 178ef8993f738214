"""What the Docker image does, checked without a Docker engine: the Dockerfile copies
every installed package folder, and a non-editable install of the project (what the
image's wheel stage builds) installs every package of the tree and yields a working
``catallax`` command. tests/test_docker.py builds and runs the image itself.

The packages are not listed by hand: ``pyproject.toml`` maps the four top-level packages
onto their folders and ``setup.py`` adds every folder with an ``__init__.py`` below them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from importlib.util import find_spec
from pathlib import Path

import pytest

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


def package_folders() -> dict[str, Path]:
    """Every package of the tree: each folder with an ``__init__.py`` under a mapped root."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    found = {}
    for package, folder in mapping.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            found[".".join([package, *rel.parts])] = init.parent
    return found


def copy_sources() -> list[str]:
    """Every source the build context gives a COPY instruction (all its words but flags
    and the destination; a ``COPY --from=STAGE`` takes from a build stage instead)."""
    sources = []
    for word, rest in instructions():
        words = rest.split()
        if word != "COPY" or any(w.startswith("--from=") for w in words):
            continue
        sources += [w for w in words[:-1] if not w.startswith("--")]
    return sources


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
    # The base image is a build argument, python:3.11-slim unless given (docker/compose.yaml).
    assert steps[0] == ("ARG", "BASE=python:3.11-slim")
    assert ("FROM", "${BASE}") in steps
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
    missing = []
    for package, folder in package_folders().items():
        installed = target.joinpath(*package.split("."))
        missing += [
            f"{package}: {module.name}"
            for module in sorted(folder.glob("*.py"))
            if not (installed / module.name).is_file()
        ]
    assert missing == [], f"not installed: {missing}"
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


def test_the_package_list_comes_from_the_tree():
    """No hand-written subpackage list: setup.py derives it, pyproject.toml only maps roots."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "packages" not in setuptools, "list no packages by hand: setup.py finds them"
    assert set(setuptools["package-dir"]) == {
        "catallax.exchange",
        "catallax.traders",
        "catallax.node",
        "catallax.v1",
    }
    assert "setup.py" in copy_sources(), "the image needs setup.py to find the subpackages"


def test_every_package_folder_imports_from_its_folder():
    """The installed project (editable here) resolves each package of the tree to its folder."""
    folders = package_folders()
    exchange = find_spec("catallax.exchange")
    if exchange is None or not Path(exchange.origin or "").resolve().is_relative_to(ROOT):
        pytest.skip("catallax is not installed editable from this tree")
    assert {"catallax.exchange.ledger", "catallax.node.cli", "catallax.v1"} <= set(folders)
    for package, folder in folders.items():
        spec = find_spec(package)
        assert spec is not None and spec.origin is not None, f"{package} is not importable"
        assert Path(spec.origin).resolve() == (folder / "__init__.py").resolve(), package
