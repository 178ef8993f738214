"""An exchange node's configuration: one TOML file, some flags on top.

```toml
[exchange]
origin = "catallax.local/demo"   # the ledger's origin: names this exchange everywhere
key = "exchange.pem"             # its private key (PEM), relative to this file
data_dir = "exchange-data"       # sequence book, progress, the SQLite ledger unless ledger is set
# ledger = "postgresql://root@127.0.0.1:5432/test?schema=demo"  # a ledger in PostgreSQL
host = "127.0.0.1"
port = 50051                     # 0 picks a free port
# tls_cert = "cert.pem"          # serve TLS with this certificate chain ...
# tls_key = "cert.key"           # ... and its private key (plain loopback otherwise)

[tasks.chain]                    # one table per deep-market task
env = "127.0.0.1:50052"          # the environment node serving it
env_key = "env.pem.pub"          # that node's public key (PEM)
# env_ca = "env-ca.pem"          # dial the node with TLS, trusting this CA (PEM; plain otherwise)
auction = "vickrey"              # first-price, vickrey or vickrey-nonconserving
allowance = 10.0                 # credits per member and episode slot, given once
allowance_budget = 100000.0      # credits the task may ever give away in allowances
max_members = 64                 # members one identity may register
rent = 0.0
discount = 0.99
royalty = 0.0
floor = 1.0                      # credits per slot below which a member is removed
# ask_limit = 10.0               # credits: an ask (a negative bid) deeper than this is
                                 # no bid (default: the allowance)
births = true                    # replace each removed member by a new one of its identity
bid_deadline_ms = 2000           # how long a round waits for bids
env_timeout_ms = 10000           # deadline of each call to the environment node
min_traders = 1                  # identities connected before rounds start
episodes = 0                     # stop training after this many episodes (0: never)
rounds = 0                       # ... or after this many rounds (0: never)
eval_episodes = 0                # then evaluate greedily over this many episodes
seed = 0

[tasks.economy]                  # a wide-market task (equilibrium clearing of goods)
market = "wide"                  # "deep" (the default) or "wide"
env = "127.0.0.1:50053"          # an environment node serving catallax/Production-v0
env_key = "env.pem.pub"
allowance = 200.0                # credits per member, given once
valuation = "linear"             # what orders value: linear, leontief or ces
mode = "orders"                  # "orders" (signed valuations) or "interactive" (demand
                                 # queries at prices the exchange proposes)
rho = 0.5                        # the CES exponent (valuation = "ces")
clearing_deadline_ms = 2000      # how long a round waits for orders
tol = 1e-6                       # the certificate's tolerance: a clearing beyond it is
                                 # not settled
rounds = 800                     # stop after this many rounds (0: never)
```

A wide task's goods, recipes and depreciation are its environment's economy (read from
the node's ``Spec``); ``auction``, ``rent``, ``discount``, ``royalty``, ``floor`` and the
evaluation keys are deep-market rules and are ignored there.

Relative paths are relative to the file's folder. ``--set tasks.chain.rent=0.1`` (a
TOML value) overrides one key, and the CLI's ``--port``, ``--host``, ``--data-dir``,
``--key`` and ``--ledger`` override those of ``[exchange]``. Without ``ledger`` the
ledger is the SQLite one in ``data_dir``; with it (a ``postgresql://`` or
``postgres://`` URL, see :mod:`catallax.exchange.ledger.location`) it is that
PostgreSQL ledger, and ``data_dir`` holds only the sequence book, the record of
finished episodes and the tasks' progress record. Every problem is a
:class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from catallax.exchange.auctions import AuctionKind
from catallax.exchange.ledger.errors import InvalidArgument
from catallax.exchange.ledger.location import is_url, parse_url
from catallax.exchange.money import MAX_CREDITS
from catallax.node.errors import OptionError
from catallax.node.wire.mandate import check_task_name

__all__ = ["ConfigError", "ExchangeConfig", "TaskConfig", "load_config", "parse_config"]


class ConfigError(OptionError):
    """An exchange configuration that cannot run (one line: file, key, problem)."""


@dataclass(frozen=True)
class TaskConfig:
    """One deep-market task (see the module docstring for each key)."""

    name: str
    env: str
    env_key: Path
    env_ca: Path | None = None
    auction: str = AuctionKind.VICKREY.value
    allowance: float = 10.0
    allowance_budget: float = 100_000.0
    max_members: int = 64
    rent: float = 0.0
    discount: float = 0.99
    royalty: float = 0.0
    floor: float = 1.0
    ask_limit: float | None = None
    births: bool = True
    bid_deadline_ms: int = 2000
    env_timeout_ms: int = 10_000
    min_traders: int = 1
    episodes: int = 0
    rounds: int = 0
    eval_episodes: int = 0
    seed: int = 0
    market: str = "deep"
    valuation: str = "linear"
    mode: str = "orders"
    rho: float = 0.5
    clearing_deadline_ms: int = 2000
    tol: float = 1e-6

    @property
    def asks_to(self) -> float:
        """The deepest ask that counts, in credits per slot (``ask_limit``, else the
        allowance): a lone asker is paid its ask by the state's seller, so without a
        limit it could take a seller's whole balance in one round."""
        return self.allowance if self.ask_limit is None else self.ask_limit

    def rules_json(self) -> str:
        """:meth:`rules` as canonical JSON (sorted keys, no spaces): the bytes whose
        SHA-256 a deep task's bids sign."""
        return json.dumps(self.rules(), sort_keys=True, separators=(",", ":"))

    def rules(self) -> dict[str, Any]:
        """What a trader accepts by bidding: everything that decides what it pays."""
        if self.market == "wide":
            return {
                "task": self.name,
                "market": "wide",
                "allowance": self.allowance,
                "valuation": self.valuation,
                "mode": self.mode,
                "rho": self.rho,
                "clearing_deadline_ms": self.clearing_deadline_ms,
                "tol": self.tol,
            }
        return {
            "task": self.name,
            "market": "deep",
            "auction": self.auction,
            "allowance": self.allowance,
            "rent": self.rent,
            "discount": self.discount,
            "royalty": self.royalty,
            "floor": self.floor,
            "ask_limit": self.asks_to,
            "births": self.births,
            "bid_deadline_ms": self.bid_deadline_ms,
        }


@dataclass(frozen=True)
class ExchangeConfig:
    """The exchange itself and its tasks."""

    origin: str
    key: Path
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 50051
    tls_cert: Path | None = None
    tls_key: Path | None = None
    ledger: str | None = None
    tasks: tuple[TaskConfig, ...] = field(default_factory=tuple)
    source: str = "<config>"


_EXCHANGE_KEYS = {"origin", "key", "data_dir", "host", "port", "tls_cert", "tls_key", "ledger"}
_TASK_FIELDS = {f.name: f for f in fields(TaskConfig) if f.name != "name"}
_PATHS = {"key", "data_dir", "tls_cert", "tls_key", "env_key", "env_ca"}


def load_config(
    path: Path, overrides: dict[str, Any] | None = None, sets: list[str] = ()
) -> ExchangeConfig:
    """Read the TOML file at ``path``, apply ``--set KEY=VALUE`` strings and then the
    ``[exchange]`` ``overrides`` (``None`` values are ignored), and check everything."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"--config {str(path)!r}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML ({exc})") from None
    for item in sets:
        _apply_set(data, item, str(path))
    for key, value in (overrides or {}).items():
        if value is not None:
            data.setdefault("exchange", {})[key] = value
    return parse_config(data, base=path.parent, source=str(path))


def _apply_set(data: dict, item: str, source: str) -> None:
    name, sep, raw = item.partition("=")
    if not sep or not name:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. tasks.chain.rent=0.1")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: a string
    parts = name.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: --set {name}: {part!r} is not a table")
    node[parts[-1]] = value


def parse_config(data: dict[str, Any], *, base: Path, source: str = "<config>") -> ExchangeConfig:
    """An :class:`ExchangeConfig` from parsed TOML (paths relative to ``base``)."""

    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {why}")

    unknown = set(data) - {"exchange", "tasks"}
    if unknown:
        raise bad(sorted(unknown)[0], "unknown table (expected [exchange] and [tasks.NAME])")
    ex = data.get("exchange", {})
    if not isinstance(ex, dict):
        raise bad("exchange", "expected a table")
    extra = set(ex) - _EXCHANGE_KEYS
    if extra:
        raise bad(f"exchange.{sorted(extra)[0]}", f"unknown key (known: {sorted(_EXCHANGE_KEYS)})")
    for required in ("origin", "key", "data_dir"):
        if required not in ex:
            raise bad(f"exchange.{required}", "missing")
    values: dict[str, Any] = {}
    for key, value in ex.items():
        where = f"exchange.{key}"
        if key == "port":
            if type(value) is not int or not 0 <= value <= 65535:
                raise bad(where, f"expected an integer 0 .. 65535, got {value!r}")
        elif not isinstance(value, str | Path) or not str(value):
            raise bad(where, f"expected a non-empty string, got {value!r}")
        elif key == "ledger":
            if not is_url(value):
                raise bad(
                    where,
                    f"expected a postgresql:// URL, got {value!r} (without this key the "
                    "ledger is the SQLite one in data_dir)",
                )
            try:
                parse_url(str(value))
            except InvalidArgument as exc:
                raise bad(where, str(exc)) from None
        values[key] = _path(base, value) if key in _PATHS else value
    if ("tls_cert" in values) != ("tls_key" in values):
        raise bad("exchange.tls_cert", "tls_cert and tls_key go together")
    tasks_table = data.get("tasks", {})
    if not isinstance(tasks_table, dict) or not tasks_table:
        raise bad("tasks", "at least one [tasks.NAME] table is needed")
    tasks = [_task(name, t, base, bad) for name, t in tasks_table.items()]
    return ExchangeConfig(tasks=tuple(tasks), source=source, **values)


def _path(base: Path, value: str | Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _task(name: str, table: Any, base: Path, bad) -> TaskConfig:
    try:
        check_task_name(name)
    except ValueError as exc:
        raise bad(f"tasks.{name}", str(exc)) from None
    if not isinstance(table, dict):
        raise bad(f"tasks.{name}", "expected a table")
    extra = set(table) - set(_TASK_FIELDS)
    if extra:
        known = sorted(_TASK_FIELDS)
        raise bad(f"tasks.{name}.{sorted(extra)[0]}", f"unknown key (known: {known})")
    for required in ("env", "env_key"):
        if required not in table:
            raise bad(f"tasks.{name}.{required}", "missing")
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"tasks.{name}.{key}"
        default = _TASK_FIELDS[key].default
        if key in ("env", "env_key", "env_ca", "auction", "market", "valuation", "mode"):
            if not isinstance(value, str) or not value:
                raise bad(where, f"expected a non-empty string, got {value!r}")
            values[key] = _path(base, value) if key in _PATHS else value
        elif isinstance(default, bool):
            if type(value) is not bool:
                raise bad(where, f"expected true or false, got {value!r}")
            values[key] = value
        elif isinstance(default, int) and not isinstance(default, bool) and key != "floor":
            if type(value) is not int or value < 0:
                raise bad(where, f"expected an integer >= 0, got {value!r}")
            values[key] = value
        else:
            if type(value) not in (int, float) or not math.isfinite(value):
                raise bad(where, f"expected a finite number, got {value!r}")
            values[key] = float(value)
    task = TaskConfig(name=name, **values)
    checks = (
        (task.auction in {k.value for k in AuctionKind}, "auction",
         f"expected one of {', '.join(k.value for k in AuctionKind)}"),
        (0 <= task.allowance < MAX_CREDITS, "allowance", "expected credits >= 0"),
        (0 <= task.allowance_budget < MAX_CREDITS, "allowance_budget", "expected credits >= 0"),
        (task.max_members >= 1, "max_members", "expected at least 1"),
        (0 <= task.rent < 1, "rent", "expected a value in [0, 1)"),
        (0 < task.discount <= 1, "discount", "expected a value in (0, 1]"),
        (0 <= task.royalty <= 1, "royalty", "expected a value in [0, 1]"),
        (abs(task.floor) < MAX_CREDITS, "floor", "expected finite credits"),
        (task.ask_limit is None or 0 <= task.ask_limit < MAX_CREDITS, "ask_limit",
         "expected credits >= 0"),
        (1 <= task.bid_deadline_ms <= 600_000, "bid_deadline_ms", "expected 1 .. 600000"),
        (1 <= task.env_timeout_ms <= 600_000, "env_timeout_ms", "expected 1 .. 600000"),
        (task.market in ("deep", "wide"), "market", "expected deep or wide"),
        (task.valuation in ("linear", "leontief", "ces"), "valuation",
         "expected linear, leontief or ces"),
        (task.mode in ("orders", "interactive"), "mode", "expected orders or interactive"),
        (task.rho < 1 and task.rho != 0, "rho", "expected a value < 1 and != 0"),
        (1 <= task.clearing_deadline_ms <= 600_000, "clearing_deadline_ms",
         "expected 1 .. 600000"),
        (0 < task.tol < 1, "tol", "expected a value in (0, 1)"),
    )  # fmt: skip
    for ok, key, why in checks:
        if not ok:
            raise bad(f"tasks.{name}.{key}", f"{why}, got {getattr(task, key)!r}")
    return task
