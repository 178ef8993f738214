"""One training run of a deep market, as the command line runs it.

:class:`TrainOptions` holds what ``catallax train`` takes; :func:`build` checks it and
makes the environment factory and the market; :func:`run` trains, evaluates greedily
and returns a :class:`TrainResult` whose :meth:`~TrainResult.summary` is the JSON the
command prints. Bad options raise :class:`OptionError` with a one-line message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

import catallax.exchange.envs as envs
from catallax.exchange.auctions import AuctionKind
from catallax.exchange.deep import (
    EVALUATION_CAP,
    DeepMarket,
    Evaluation,
    Journal,
    Progress,
    TrainLog,
    evaluation,
    stream_seeds,
    train,
)
from catallax.exchange.errors import ExchangeError
from catallax.node.errors import OptionError
from catallax.traders import PluginError, load_family

if TYPE_CHECKING:
    from catallax.exchange.ledger import Ledger
    from catallax.node.recording import LedgerRecorder

__all__ = ["OptionError", "TrainOptions", "TrainResult", "build", "run"]


@dataclass
class TrainOptions:
    """Options of one training run (the flags of ``catallax train``).

    Attributes:
        env_id: a Gymnasium id with Discrete actions (``catallax/*`` ids are registered).
        auction: first-price, vickrey or vickrey-nonconserving.
        episodes: training episodes, over all parallel slots.
        envs: parallel episodes sharing wealth.
        seed: the root of every random stream: ``numpy.random.SeedSequence(seed)`` is
            spawned into the training slots' environments, the evaluation episodes, the
            market's generator and each trader family, so runs of different seeds share
            no stream.
        eval_episodes: greedy evaluation episodes after training, each played to its
            end or to the environment's limit (else ``EVALUATION_CAP`` steps), every one
            reported.
        traders: trader family ids or ``module:Class`` strings.
        memory: messages in the register (0: no memory goods).
        allowance: credits per new trader per parallel slot (total ``allowance * envs``).
        rent: the owner's rent ε per step.
        discount: γ; the seller receives γ of the proceeds.
        floor: wealth (credits per slot) below which a trader is removed. Keep it near
            the size of a bid: a trader that can no longer afford its bid caps it, and a
            capped clone sets a low Vickrey price that starves the sellers' receipts
            (measured on FrozenLake: bids collapse with a floor of 0.01).
        births: new traders enumerated per finished episode.
        royalty: λ, the share of realised value a buyer pays its seller at episode end;
            ``None`` means 0.9 with memory goods (whose writers only earn through
            royalties) and 0 otherwise.
        optimism: a fixed initial bid of adaptive traders (credits); ``None``: their
            adaptive default (from 1 credit up to the returns the task shows).
        max_steps: stop after this many environment steps as well.
        ledger: where to make a new signed ledger recording the run, one round per
            market step (and per admission): a folder, or a ``postgresql://`` URL of a
            schema that holds none; ``None``: no ledger.
        ledger_key: where to write the new exchange key of a URL ledger (its public
            key beside it, ``.pub``); a folder's key goes into the folder.
    """

    env_id: str
    auction: str = AuctionKind.VICKREY.value
    episodes: int = 500
    envs: int = 8
    seed: int = 0
    eval_episodes: int = 100
    traders: list[str] = field(default_factory=lambda: ["adaptive"])
    memory: int = 0
    allowance: float = 10.0
    rent: float = 0.0
    discount: float = 0.99
    floor: float = 1.0
    births: float = 0.0
    royalty: float | None = None
    optimism: float | None = None
    max_steps: int | None = None
    ledger: str | Path | None = None
    ledger_key: Path | None = None

    @property
    def effective_royalty(self) -> float:
        """The royalty used: the option, or its default for the memory setting."""
        if self.royalty is not None:
            return self.royalty
        return 0.9 if self.memory else 0.0


@dataclass
class TrainResult:
    """What a run produced: the market, its training log and greedy returns."""

    options: TrainOptions
    market: DeepMarket
    log: TrainLog
    evaluation: Evaluation
    optimal: float | None
    seconds: float
    ledger: dict[str, Any] | None = None

    @property
    def greedy(self) -> np.ndarray:
        """The greedy return of every evaluation episode, in episode order."""
        return self.evaluation.returns

    @property
    def env_seeds(self) -> dict[str, list[int]]:
        """The seed of every environment stream of the run: each training slot's and
        each evaluation episode's."""
        return {"train": list(self.log.seeds), "eval": list(self.evaluation.seeds)}

    def summary(self) -> dict[str, Any]:
        """The run as one JSON-able object (the ``--json`` output)."""
        o, m = self.options, self.market
        tail = self.log.returns[-max(1, len(self.log.returns) // 10) :]
        return {
            "env": o.env_id,
            "auction": o.auction,
            "traders": o.traders,
            "memory": o.memory,
            "royalty": o.effective_royalty,
            "episodes": len(self.log.returns),
            "envs": o.envs,
            "seed": o.seed,
            "steps": self.log.steps,
            "greedy_return": self.evaluation.mean,
            "greedy_return_std": float(self.greedy.std()),
            "greedy_return_se": self.evaluation.standard_error,
            "eval_episodes": len(self.greedy),
            "eval_capped": self.evaluation.capped,
            "eval_cap": self.evaluation.cap,
            "optimal_return": self.optimal,
            "final_training_return": float(np.mean(tail)) if tail else None,
            "traders_alive": m.n_alive,
            "traders_born": m.births,
            "traders_died": m.deaths,
            "scale": m.scale,
            "treasury": m.treasury,
            "seconds": round(self.seconds, 3),
            "ledger": self.ledger,
            "env_seeds": self.env_seeds,
        }


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise OptionError(message)


def make_env_factory(env_id: str, memory: int = 0) -> Callable[[], gym.Env]:
    """A factory for the environment (with a message register when ``memory > 0``)."""
    _check(memory >= 0, f"--memory must be >= 0, got {memory}")
    try:
        probe = gym.make(env_id)
    except gym.error.Error as exc:
        raise OptionError(f"unknown environment {env_id!r}: {exc}") from exc
    except Exception as exc:  # an env's own constructor failing is bad input too
        raise OptionError(f"cannot make environment {env_id!r}: {exc}") from exc
    probe.close()
    if not isinstance(probe.action_space, gym.spaces.Discrete):
        raise OptionError(
            f"{env_id} has {type(probe.action_space).__name__} actions; the deep market "
            "needs Discrete actions"
        )

    def make() -> gym.Env:
        env = gym.make(env_id)
        return envs.MessageRegister(env, n_messages=memory) if memory else env

    if memory:
        try:
            make().close()
        except envs.EnvError as exc:
            raise OptionError(f"--memory {memory} does not fit {env_id}: {exc}") from exc
    return make


def optimal_return(make: Callable[[], gym.Env]) -> float | None:
    """The exact optimal return of a tabular environment over its horizon (its own
    limit, else the evaluation's cap, :data:`EVALUATION_CAP` steps), else ``None``."""
    env = make()
    try:
        horizon = envs.episode_horizon(env)
        model = envs.transition_model(env)
    except (envs.EnvError, TypeError, AttributeError):
        return None
    finally:
        env.close()
    return float(envs.optimal_return(model, EVALUATION_CAP if horizon is None else horizon))


#: The streams spawned from a run's seed, in order (see :attr:`TrainOptions.seed`).
STREAMS = ("train", "eval", "market", "traders")


def seed_streams(seed: int) -> dict[str, np.random.SeedSequence]:
    """The run's root ``SeedSequence(seed)`` spawned into its named streams."""
    return dict(zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS)), strict=True))


def build(
    opts: TrainOptions, journal: Journal | None = None
) -> tuple[Callable[[], gym.Env], DeepMarket]:
    """Check ``opts`` and make the environment factory and the untrained market (with
    ``journal`` recording every value it applies, from its first admission on)."""
    _check(opts.seed >= 0, f"--seed must be >= 0, got {opts.seed}")
    _check(opts.episodes >= 1, f"--episodes must be >= 1, got {opts.episodes}")
    _check(opts.envs >= 1, f"--envs must be >= 1, got {opts.envs}")
    _check(opts.eval_episodes >= 1, f"--eval-episodes must be >= 1, got {opts.eval_episodes}")
    _check(opts.births >= 0, f"--births must be >= 0, got {opts.births}")
    _check(bool(opts.traders), "at least one --trader family is needed")
    make = make_env_factory(opts.env_id, opts.memory)
    probe = make()
    obs_space, act_space = probe.observation_space, probe.action_space
    probe.close()
    streams = seed_streams(opts.seed)
    trader_seeds = stream_seeds(streams["traders"], len(opts.traders))
    populations = []
    for i, spec in enumerate(opts.traders):
        try:
            family = load_family(spec)
        except PluginError as exc:
            raise OptionError(str(exc)) from exc
        extra: dict[str, Any] = {}
        if spec == "adaptive":
            if opts.optimism is not None:
                extra["optimism"] = opts.optimism
            if opts.memory:
                # Writers of memory goods earn only through settled royalties; a quote
                # prices the next observation, which does not show what was written.
                # One pseudo-visit of optimism keeps an unlucky first write from
                # spending it all (bench/learning.py's tmaze_prior).
                extra["quotes"] = False
                extra["prior"] = 1.0
        try:
            populations.append(family.for_env(obs_space, act_space, seed=trader_seeds[i], **extra))
        except (ValueError, TypeError) as exc:
            raise OptionError(
                f"trader family {spec!r} cannot trade on {opts.env_id}: {exc}"
            ) from exc
    try:
        market = DeepMarket(
            populations,
            n_actions=int(act_space.n),
            n_envs=opts.envs,
            auction=opts.auction,
            allowance=opts.allowance * opts.envs,
            rent=opts.rent,
            discount=opts.discount,
            floor=opts.floor * opts.envs,
            royalty=opts.effective_royalty,
            seed=streams["market"],
            journal=journal,
        )
    except ExchangeError as exc:
        raise OptionError(str(exc)) from exc
    return make, market


def open_run_ledger(
    location: str | Path, task: str, key_file: Path | None = None
) -> tuple[Ledger, LedgerRecorder]:
    """A new ledger at ``location`` for one training run, and its recorder.

    In a folder, the exchange's key is written beside the ledger (``exchange.pem``,
    public ``exchange.pem.pub``); for a ``postgresql://`` URL, to ``key_file`` (required,
    and new). A copy of the public key kept elsewhere is the trust anchor of
    ``catallax ledger audit LOCATION --key COPY`` (a key inside the folder it checks is
    none). Refuses a folder or a schema that already holds a ledger, and a key file that
    exists.
    """
    from catallax.exchange.crypto import generate_private_key
    from catallax.exchange.ledger import LEDGER_FILE, LedgerError, open_ledger
    from catallax.exchange.ledger.location import is_url
    from catallax.node.keys import KeyFileError, save_private_key
    from catallax.node.recording import LedgerRecorder

    if is_url(location):
        return _open_url_ledger(str(location), task, key_file)
    if key_file is not None:
        raise OptionError("--ledger-key is for a PostgreSQL --ledger URL; a folder keeps its key")
    folder = Path(location)
    if folder.exists() and not folder.is_dir():
        raise OptionError(f"--ledger {str(folder)!r} is not a folder")
    if (folder / LEDGER_FILE).exists():
        raise OptionError(f"--ledger {str(folder)!r} already holds a ledger; use a new folder")
    if not folder.parent.is_dir():
        raise OptionError(f"--ledger: folder {str(folder.parent)!r} does not exist")
    key = generate_private_key()
    try:
        folder.mkdir(exist_ok=True)
        save_private_key(key, folder / "exchange.pem")
        ledger = open_ledger(folder, key=key, origin="catallax.local/train", create=True)
    except (KeyFileError, LedgerError, OSError) as exc:
        raise OptionError(f"--ledger {str(folder)!r}: {exc}") from exc
    # In a training run the exchange is also the environment: it issues with its own key.
    return ledger, LedgerRecorder(ledger, task=task, issuer_key=key)


def _open_url_ledger(url: str, task: str, key_file: Path | None) -> tuple[Ledger, LedgerRecorder]:
    """:func:`open_run_ledger` for a PostgreSQL URL."""
    from catallax.exchange.crypto import generate_private_key
    from catallax.exchange.ledger import LedgerError, NoLedger, open_ledger
    from catallax.exchange.ledger.location import describe
    from catallax.node.keys import KeyFileError, save_private_key
    from catallax.node.recording import LedgerRecorder

    where = describe(url)
    if key_file is None:
        raise OptionError(
            f"--ledger {where}: a PostgreSQL ledger needs --ledger-key FILE, where its new "
            "exchange key is written"
        )
    key_file = Path(key_file)
    pub = key_file.with_name(key_file.name + ".pub")
    for path in (key_file, pub):
        if path.exists():
            raise OptionError(
                f"--ledger-key {str(key_file)!r}: {str(path)!r} exists; use a new file"
            )
    if not key_file.parent.is_dir():
        raise OptionError(f"--ledger-key: folder {str(key_file.parent)!r} does not exist")
    try:
        with open_ledger(url):  # read-only: does the schema hold a ledger already?
            held = True
    except NoLedger:
        held = False
    except LedgerError as exc:
        raise OptionError(f"--ledger {where}: {exc}") from exc
    if held:
        raise OptionError(f"--ledger {where} already holds a ledger; use a new schema")
    key = generate_private_key()
    try:  # the key first: a ledger is never made without the key that signs it
        save_private_key(key, key_file)
    except (KeyFileError, OSError) as exc:
        raise OptionError(f"--ledger-key {str(key_file)!r}: {exc}") from exc
    try:
        ledger = open_ledger(url, key=key, origin="catallax.local/train", create=True)
    except LedgerError as exc:
        key_file.unlink(missing_ok=True)  # nothing was made: leave nothing behind
        pub.unlink(missing_ok=True)
        raise OptionError(f"--ledger {where}: {exc}") from exc
    return ledger, LedgerRecorder(ledger, task=task, issuer_key=key)


def run(opts: TrainOptions, on_progress: Callable[[Progress], None] | None = None) -> TrainResult:
    """Build, train with CAPITALISM, and evaluate greedily (on a ledger if asked)."""
    from catallax.exchange.ledger.location import describe

    ledger = recorder = None
    if opts.ledger is not None:
        make_env_factory(opts.env_id, opts.memory)  # bad ids fail before a folder is made
        task = "train." + "".join(c if c.isalnum() or c in "._-/" else "_" for c in opts.env_id)
        ledger, recorder = open_run_ledger(opts.ledger, task, opts.ledger_key)
    try:
        make, market = build(opts, journal=recorder)
        start = time.perf_counter()
        streams = seed_streams(opts.seed)
        log = train(
            market,
            make,
            episodes=opts.episodes,
            seed=streams["train"],
            births_per_episode=opts.births,
            max_steps=opts.max_steps,
            report_every=max(1, min(100, opts.episodes // 50)),
            on_progress=on_progress,
        )
        greedy = evaluation(market, make, episodes=opts.eval_episodes, seed=streams["eval"])
        seconds = time.perf_counter() - start
        record = None
        if ledger is not None and recorder is not None:
            recorder.check_all(market)
            record = {
                "dir": describe(opts.ledger),
                "rounds": recorder.rounds,
                "entries": ledger.size,
                "checkpoint": ledger.checkpoint,
            }
    finally:
        if ledger is not None:
            ledger.close()
    return TrainResult(opts, market, log, greedy, optimal_return(make), seconds, record)
