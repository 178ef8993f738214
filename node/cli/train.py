"""Train a deep market on a Gymnasium environment with CAPITALISM.

Shows a progress bar on stderr and ends with a summary; with --json it prints one JSON
object on one line of stdout instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from catallax.exchange.auctions import AuctionKind
from catallax.node.cli._common import err, fail, out

if TYPE_CHECKING:  # the training stack (gymnasium, traders) loads when a command runs
    from catallax.node.training import TrainOptions, TrainResult


def check_png(path: Path | None) -> None:
    """Refuse a plot path that cannot be written before any work is done."""
    if path is None:
        return
    if path.suffix.lower() != ".png":
        fail(f"--plot must name a .png file, got {str(path)!r}")
    if not path.parent.exists():
        fail(f"--plot folder {str(path.parent)!r} does not exist")


def run_with_progress(opts: TrainOptions, *, quiet: bool = False) -> TrainResult:
    """Run training with a progress bar on stderr; option errors become CLI errors.

    The bar starts with the first progress report, so an error found while the run is
    set up is the only thing on stderr (a bar started and stopped before it left an
    empty line above the message).
    """
    from catallax.node.training import OptionError, run

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} episodes"),
        TextColumn("return {task.fields[ret]:.3f}  traders {task.fields[alive]}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )
    task = None

    def report(p) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(opts.env_id, total=opts.episodes, ret=0.0, alive=0)
        bar.update(task, completed=p.episodes, ret=p.recent_return, alive=p.alive)

    try:
        try:
            return run(opts, on_progress=report)
        finally:
            if task is not None:
                bar.stop()
    except OptionError as exc:
        fail(str(exc))


def print_summary(result: TrainResult) -> None:
    """A human-readable summary table on stdout."""
    s = result.summary()
    table = Table(title=f"catallax train {s['env']}", show_header=False)
    rows = [
        ("auction", s["auction"]),
        ("traders", ", ".join(s["traders"])),
        ("episodes (parallel slots)", f"{s['episodes']} ({s['envs']})"),
        ("environment steps", s["steps"]),
        (
            "greedy return",
            f"{s['greedy_return']:.4f} ± {s['greedy_return_se']:.4f} (standard error; "
            f"{s['eval_episodes']} episodes, {s['eval_capped']} cut at {s['eval_cap']} steps)",
        ),
        (
            "optimal return",
            "unknown" if s["optimal_return"] is None else f"{s['optimal_return']:.4f}",
        ),
        (
            "traders alive / born / died",
            f"{s['traders_alive']} / {s['traders_born']} / {s['traders_died']}",
        ),
        ("seconds", f"{s['seconds']:.1f}"),
    ]
    for k, v in rows:
        table.add_row(k, str(v))
    out.print(table)


def train(
    env_id: Annotated[
        str,
        typer.Argument(
            help="Gymnasium id with Discrete actions, e.g. catallax/Chain-v0 or FrozenLake-v1."
        ),
    ],
    auction: Annotated[
        AuctionKind, typer.Option(help="Auction for the right to act.")
    ] = AuctionKind.VICKREY,
    episodes: Annotated[int, typer.Option(help="Training episodes over all parallel slots.")] = 500,
    envs: Annotated[int, typer.Option(help="Parallel episodes sharing wealth.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of environments, market and traders.")] = 0,
    eval_episodes: Annotated[int, typer.Option(help="Greedy evaluation episodes.")] = 100,
    trader: Annotated[
        list[str] | None, typer.Option(help="Trader family id or module:Class; repeat to mix.")
    ] = None,
    memory: Annotated[int, typer.Option(help="Messages in the memory register (0: none).")] = 0,
    allowance: Annotated[
        float, typer.Option(help="Credits per new trader per parallel slot.")
    ] = 10.0,
    floor: Annotated[
        float, typer.Option(help="Wealth per parallel slot below which a trader leaves.")
    ] = 1.0,
    rent: Annotated[float, typer.Option(help="Owner's rent per step, in [0, 1).")] = 0.0,
    discount: Annotated[
        float, typer.Option(help="Share of the proceeds the seller keeps, in (0, 1].")
    ] = 0.99,
    royalty: Annotated[
        float | None,
        typer.Option(
            help="Share of realised value paid to the seller (default 0.9 with --memory, else 0)."
        ),
    ] = None,
    births: Annotated[
        float, typer.Option(help="New traders enumerated per finished episode.")
    ] = 0.0,
    optimism: Annotated[
        float | None,
        typer.Option(
            help="Initial bid of adaptive traders, fixed (credits); default: adaptive, from 1 "
            "credit up to the returns the task shows."
        ),
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Also stop after this many environment steps.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG of return, wealth and bids.")
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            help="Record the run on a new signed ledger, one round per step: in this folder "
            "(the exchange key is written beside it: keep a copy elsewhere as the trust anchor of "
            "catallax ledger audit DIR --key COPY), or at a postgresql://...?schema=NAME URL "
            "whose schema holds none (with --ledger-key)."
        ),
    ] = None,
    ledger_key: Annotated[
        Path | None,
        typer.Option(
            help="For a PostgreSQL --ledger: a new file for its exchange key (and FILE.pub)."
        ),
    ] = None,
) -> None:
    """Train a deep market on an environment with CAPITALISM and report how well it acts."""
    from catallax.exchange.ledger.location import is_url
    from catallax.node.training import TrainOptions

    check_png(plot)
    opts = TrainOptions(
        env_id=env_id,
        auction=auction.value,
        episodes=episodes,
        envs=envs,
        seed=seed,
        eval_episodes=eval_episodes,
        traders=list(trader) if trader else ["adaptive"],
        memory=memory,
        allowance=allowance,
        floor=floor,
        rent=rent,
        discount=discount,
        births=births,
        royalty=royalty,
        optimism=optimism,
        max_steps=max_steps,
        ledger=None if ledger is None else (ledger if is_url(ledger) else Path(ledger)),
        ledger_key=ledger_key,
    )
    result = run_with_progress(opts)
    if plot is not None:
        from catallax.node.plotting import plot_training

        plot_training(
            result.log, plot, title=f"{env_id}, {auction.value} auction", optimal=result.optimal
        )
    if json_out:
        print(json.dumps(result.summary(), separators=(",", ":")))
    else:
        print_summary(result)
        if plot is not None:
            out.print(f"plot written to {plot}")
        if result.ledger is not None and ledger_key is not None:
            out.print(
                f"ledger: {result.ledger['rounds']} rounds, {result.ledger['entries']} entries "
                f"in {result.ledger['dir']}; audit with catallax ledger audit URL --key "
                f"{ledger_key}.pub",
                markup=False,
            )
        elif result.ledger is not None:
            out.print(
                f"ledger: {result.ledger['rounds']} rounds, {result.ledger['entries']} entries "
                f"in {result.ledger['dir']}; keep a copy of its exchange.pem.pub outside that "
                "folder and audit with catallax ledger audit DIR --key COPY (a key inside the "
                "folder it checks is no trust anchor), or pin it with --pin FILE"
            )
