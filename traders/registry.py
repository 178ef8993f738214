"""The trader plugin registry: families by id, like Gymnasium's environments.

A *family* is a class with ``for_env(observation_space, action_space, *, seed, **options)``
returning a population or a trader, or, for a wide market's producers,
``for_economy(economy, **options)`` returning a population of producers (as
:class:`~catallax.traders.producers.LeontiefProducers`). Families are found three ways:

* installed plugins: entry points in the group ``catallax.traders`` of any installed
  distribution; catallax declares its own built-in families, ``adaptive``
  (:class:`~catallax.traders.adaptive.AdaptiveBidders`) and ``enumerated``
  (:class:`~catallax.traders.enumerated.EnumeratedPrograms`), the same way. A third
  party adds to its ``pyproject.toml``::

      [project.entry-points."catallax.traders"]
      my-family = "my_package.traders:MyFamily"

* ``"module:attr"`` strings, imported lazily (nothing is imported until a family is
  loaded).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from catallax.traders.errors import PluginError

__all__ = ["ENTRY_POINT_GROUP", "FamilySpec", "families", "load_family", "load_trader", "register"]

#: The entry-point group third-party trader families register under.
ENTRY_POINT_GROUP = "catallax.traders"

_registered: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class FamilySpec:
    """A family id and where it lives (``module:attr``), and who provides it."""

    id: str
    target: str
    source: str


def register(family_id: str, target: str) -> None:
    """Register ``family_id`` as ``"module:attr"`` for this process.

    Raises:
        PluginError: the id is taken by a different target, or the target is malformed.
    """
    if ":" not in target:
        raise PluginError(f"target must be 'module:attr', got {target!r}")
    known = families()
    if family_id in known and known[family_id].target != target:
        raise PluginError(f"trader family {family_id!r} is already {known[family_id].target}")
    _registered[family_id] = target


def families() -> dict[str, FamilySpec]:
    """Every known family id: installed entry points, then :func:`register` calls."""
    found: dict[str, FamilySpec] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in found:
            dist = ep.dist.name if ep.dist is not None else "unknown distribution"
            found[ep.name] = FamilySpec(ep.name, ep.value, dist)
    for k, v in _registered.items():
        found.setdefault(k, FamilySpec(k, v, "registered"))
    return found


def load_family(spec: str) -> Any:
    """The family class (or factory) named by an id or a ``"module:attr"`` string.

    Raises:
        PluginError: unknown id, module not importable, or attribute missing.
    """
    known = families()
    if spec in known:
        target = known[spec].target
    elif ":" in spec:
        target = spec
    else:
        ids = ", ".join(sorted(known))
        raise PluginError(f"unknown trader family {spec!r} (known: {ids}; or use module:Class)")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(
            f"cannot import {module_name!r} for trader family {spec!r}: {exc}"
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"{module_name!r} has no attribute {attr!r} (trader family {spec!r})")
        obj = getattr(obj, part)
    if not callable(getattr(obj, "for_env", None)) and not callable(
        getattr(obj, "for_economy", None)
    ):
        raise PluginError(f"trader family {spec!r} ({target}) has no for_env classmethod")
    return obj


def load_trader(spec: str, observation_space: Any, action_space: Any, *, seed: int = 0,
                **options: Any) -> Any:  # fmt: skip
    """A trader or population built from a family id or ``module:attr``, for these spaces.

    A family with ``for_env`` is built with it (``options`` are passed on); any other
    callable (a :class:`~catallax.traders.Trader` or ``Population`` subclass, a factory)
    is called with ``options`` alone. The result is returned as the market sees it
    (:func:`catallax.exchange.protocols.as_bidders`).

    Raises:
        PluginError: the spec cannot be loaded, or building it fails.
    """
    from catallax.exchange.protocols import as_bidders

    try:
        family = load_family(spec)
        build = lambda: family.for_env(observation_space, action_space, seed=seed, **options)  # noqa: E731
    except PluginError as exc:
        if "no for_env" not in str(exc):
            raise
        obj = _resolve(spec)
        if not callable(obj):
            raise PluginError(f"{spec!r} is neither a trader family nor callable") from None
        build = lambda: obj(**options)  # noqa: E731
    try:
        return as_bidders(build())
    except PluginError:
        raise
    except Exception as exc:  # the plugin's own constructor failing
        raise PluginError(f"trader {spec!r} cannot be built for {action_space}: {exc}") from exc


def _resolve(spec: str) -> Any:
    known = families()
    target = known[spec].target if spec in known else spec
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
