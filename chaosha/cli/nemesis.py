"""``chaosha nemesis``: a random, reproducible schedule of overlapping faults."""

from pathlib import Path
from typing import Optional

import click

from chaosha.cli.common import CONTEXT, POSITIVE, Failed
from chaosha.cli.reports import LOCKED_EXIT
from chaosha.nemesis.schedule import KINDS
from chaosha.suite.nemesis import TEMPLATE, NemesisOptions, run_nemesis
from chaosha.suite.runner import SuiteLocked

__all__ = ["nemesis"]


@click.command(context_settings=CONTEXT)
@click.option("--seed", type=int, default=1, show_default=True, help="the schedule's seed")
@click.option("--duration", type=POSITIVE, default=150, show_default=True, help="seconds of faults")
@click.option(
    "--faults", default="all", show_default=True, help=f"comma-separated fault kinds: {', '.join(KINDS)}"
)
@click.option(
    "--replay",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="rerun the schedule recorded in this journal (seed, duration and faults are ignored)",
)
@click.option("--unsafe", is_flag=True, help="let faults break ZooKeeper quorum or take down the last node")
@click.option(
    "--shrink-budget",
    type=float,
    default=900,
    show_default=True,
    help="seconds to spend shrinking a failing schedule (0: do not shrink)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".chaosha/nemesis"),
    show_default=True,
    help="folder for the dated run folders",
)
@click.option(
    "--experiment",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=TEMPLATE,
    show_default=True,
    help="the nemesis experiment to fill in",
)
def nemesis(
    seed: int,
    duration: float,
    faults: str,
    replay: Optional[Path],
    unsafe: bool,
    shrink_budget: float,
    out: Path,
    experiment: Path,
) -> None:
    """Draw the schedule of SEED, print it, run it as experiments/nemesis.json
    under the integrity workload, then heal; a failing run is shrunk and
    the smallest failing schedule saved as a ready-to-run experiment.
    Exit 1 when the run failed, 3 when another run holds the stack."""
    options = NemesisOptions(
        out=out,
        seed=seed,
        duration_s=duration,
        faults=faults,
        unsafe=unsafe,
        replay=replay,
        shrink_budget_s=max(shrink_budget, 0.0),
        template=experiment,
    )
    try:
        run = run_nemesis(options)
    except SuiteLocked as exc:
        raise Failed(LOCKED_EXIT, f"nemesis: {exc}") from None
    first = run.tries[0]
    click.echo(f"nemesis seed {run.seed}: {'passed' if run.passed else 'FAILED'}: {first.journal}")
    if first.html:
        click.echo(f"report: {first.html}")
    if run.shrunk:
        click.echo(f"shrunk to {run.shrink['kept'] if run.shrink else '?'} steps: chaos run {run.shrunk}")
    if not run.passed:
        raise Failed(1)
