"""One error root per package: no bare built-in exceptions for bad input, every error class
under its package's root, and every class drawn in its module's error tree."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The folders whose code must raise its own error classes.
PACKAGES = ("exchange", "traders", "node")

#: Built-ins that must not be raised directly: raise a package error that subclasses one.
BARE = frozenset({"ValueError", "TypeError", "KeyError", "RuntimeError"})

#: Each package's error module and the root every class in it derives from.
ROOTS = {
    "catallax.exchange.errors": "ExchangeError",
    "catallax.exchange.crypto": "CryptoError",
    "catallax.exchange.envs.errors": "EnvError",
    "catallax.exchange.equilibrium.errors": "EquilibriumError",
    "catallax.exchange.ledger.errors": "LedgerError",
    "catallax.traders.errors": "TraderError",
    "catallax.node.errors": "NodeError",
}


def _bare_raises(path: Path, base: Path = ROOT) -> list[str]:
    """``file:line: raise Name`` for every direct raise of a built-in in ``BARE``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(target, ast.Name) and target.id in BARE:
            found.append(f"{path.relative_to(base)}:{node.lineno}: raise {target.id}")
    return sorted(found, key=lambda hit: int(hit.split(":")[1]))


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_no_bare_builtin_raises():
    offenders = [hit for path in _sources() for hit in _bare_raises(path)]
    assert offenders == [], "raise a package error class instead:\n" + "\n".join(offenders)


def test_the_scan_sees_bare_raises(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(
        "def f(x):\n"
        "    if x:\n"
        "        raise ValueError('x') from None\n"
        "    try:\n"
        "        pass\n"
        "    except OSError:\n"
        "        raise\n"
        "    raise KeyError\n"
    )
    assert _bare_raises(path, tmp_path) == [
        "probe.py:3: raise ValueError",
        "probe.py:8: raise KeyError",
    ]


def _defined_errors(module_name: str) -> list[type[BaseException]]:
    module = importlib.import_module(module_name)
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == module_name
    ]


@pytest.mark.parametrize("module_name", sorted(ROOTS))
def test_every_error_class_derives_from_its_root(module_name):
    module = importlib.import_module(module_name)
    root = getattr(module, ROOTS[module_name])
    assert root.__bases__ == (Exception,), f"{root.__name__} must derive from Exception only"
    classes = _defined_errors(module_name)
    assert root in classes
    strays = [c.__name__ for c in classes if not issubclass(c, root)]
    assert strays == [], f"{module_name}: not under {root.__name__}: {strays}"


@pytest.mark.parametrize("module_name", sorted(ROOTS))
def test_every_error_class_is_in_the_drawn_tree(module_name):
    doc = importlib.import_module(module_name).__doc__ or ""
    missing = [c.__name__ for c in _defined_errors(module_name) if c.__name__ not in doc]
    assert missing == [], f"{module_name}: classes missing from the docstring tree: {missing}"


def test_every_package_has_an_error_root():
    for package in ("catallax.exchange", "catallax.traders", "catallax.node"):
        assert f"{package}.errors" in ROOTS
