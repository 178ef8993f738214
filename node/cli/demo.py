"""Run the embedded demo: a deep market learns the Chain task in process.

Trains a Vickrey market of adaptive traders on catallax/Chain-v0 with CAPITALISM,
then shows what it learned: greedy return against the optimum, each state's winning
bid against Q*, the economy's census and the conservation of money, and a PNG plot.
(Once the network lands, the demo runs exchange, environment node and traders over
gRPC on loopback instead.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from catallax.node.cli._common import fail, out
from catallax.node.cli.train import print_summary, run_with_progress

ENV_ID = "catallax/Chain-v0"


def demo(
    episodes: Annotated[int, typer.Option(help="Training episodes.")] = 400,
    envs_: Annotated[int, typer.Option("--envs", help="Parallel episodes sharing wealth.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the plot.")] = Path(
        "catallax-demo"
    ),
    plot: Annotated[bool, typer.Option(help="Write a PNG plot of training.")] = True,
) -> None:
    """Train a deep market on Chain in process and show what it learned."""
    import numpy as np

    import catallax.exchange.envs as envs
    from catallax.node.training import TrainOptions

    if plot:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"cannot create --out folder {str(out_dir)!r}: {exc.strerror}")
    opts = TrainOptions(env_id=ENV_ID, episodes=episodes, envs=envs_, seed=seed)
    result = run_with_progress(opts)
    print_summary(result)

    market = result.market
    env = envs.ChainEnv()
    model = envs.transition_model(env)
    q = envs.q_star(model, gamma=opts.discount)
    for pop in market.populations:
        getattr(pop, "set_exploring", lambda _: None)(False)
    states = np.arange(env.n_states - 1)
    decision = market.act(states)
    table = Table(title="what the market learned: winning bid per state against Q*")
    for col in ("state", "winner's action", "winning bid", "Q*(s, best)", "error"):
        table.add_column(col, justify="right")
    for s in states:
        best = float(q[s].max())
        bid = float(decision.top[s])
        action = "right" if decision.actions[s] == envs.chain.RIGHT else "left"
        table.add_row(str(s), action, f"{bid:.4f}", f"{best:.4f}", f"{(bid - best) / best:+.1%}")
    out.print(table)
    out.print(
        f"money: traders {market.wealth.sum():.4f} + issuer {market.issuer:.4f} + treasury "
        f"{market.treasury:.4f} = {market.total():+.2e} credits (conserved)"
    )
    if plot:
        from catallax.node.plotting import plot_training

        path = plot_training(
            result.log, out_dir / "chain.png", title=f"{ENV_ID}, vickrey", optimal=result.optimal
        )
        out.print(f"plot written to {path}")
