"""``chaosha report JOURNAL``, ``chaosha suite run`` and ``chaosha trend``."""

import shlex
from pathlib import Path
from typing import Optional

import click

from chaosha.cli.common import CONTEXT, POSITIVE, Failed
from chaosha.config import load
from chaosha.report.build import build_report
from chaosha.report.journal import load_journal
from chaosha.suite.runner import (
    DEFAULT_EXPERIMENTS,
    SuiteLocked,
    SuiteOptions,
    chaos_command,
    default_heal_cmd,
    plan,
    run_suite,
)
from chaosha.suite.trend import collect, render_png, table

__all__ = ["report", "suite", "trend", "LOCKED_EXIT"]

LOCKED_EXIT = 3


@click.command(context_settings=CONTEXT)
@click.argument("journal", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="the HTML file (default: JOURNAL with .html)",
)
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False),
    default=None,
    help="the workload ledger, when it moved since the run",
)
def report(journal: Path, output: Optional[str], ledger: Optional[str]) -> None:
    """Write the self-contained HTML report of JOURNAL (and its timeline as
    PNG); exit 2 when the journal cannot be read."""
    view = load_journal(journal)
    if view.error:
        raise Failed(2, f"report: {journal}: {view.error}")
    written = build_report(journal, output, ledger)
    click.echo(f"{written.html}: {written.view.outcome}")
    if written.png:
        click.echo(f"{written.png}: timeline")
    for problem in [written.note, written.series.error if written.view.verdict else ""]:
        if problem:
            click.echo(f"note: {problem}", err=True)


@click.group(context_settings=CONTEXT)
def suite() -> None:
    """Run experiments one after another against the stack."""


@suite.command(name="run", context_settings=CONTEXT)
@click.argument("experiments", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="folder for the dated run folders",
)
@click.option(
    "--timeout",
    type=POSITIVE,
    default=1800,
    show_default=True,
    help="seconds per experiment before it is interrupted",
)
@click.option(
    "--heal-cmd",
    default=None,
    help="command run after each experiment (default: chaosha heal --wait 180, or "
    "$CHAOSHA_SUITE_HEAL_CMD); '' for none",
)
@click.option("--heal-timeout", type=POSITIVE, default=300, show_default=True, help="seconds for the heal")
@click.option("--dry-run", is_flag=True, help="list what would run, run nothing")
def suite_run(
    experiments: tuple, out: Path, timeout: float, heal_cmd: Optional[str], heal_timeout: float, dry_run: bool
) -> None:
    """Run EXPERIMENTS (default: the core catalogue) in a dated folder under
    --out, holding the project's lock; exit 1 unless all passed, 3 when
    another suite runs against the stack."""
    heal = shlex.split(heal_cmd) if heal_cmd is not None else default_heal_cmd()
    options = SuiteOptions(
        experiments=list(experiments or map(Path, DEFAULT_EXPERIMENTS)),
        out=out,
        timeout=timeout,
        heal_cmd=heal,
        heal_timeout=heal_timeout,
    )
    if dry_run:
        _describe_plan(options)
        return
    try:
        folder, results = run_suite(options)
    except SuiteLocked as exc:
        raise Failed(LOCKED_EXIT, f"suite: {exc}") from None
    click.echo(f"{sum(r.passed for r in results)}/{len(options.experiments)} passed: {folder / 'summary.md'}")
    if len(results) != len(options.experiments) or not all(r.passed for r in results):
        raise Failed(1)


def _describe_plan(options: SuiteOptions) -> None:
    folder = options.out / "<date>"
    click.echo(
        f"would run {len(options.experiments)} experiment(s) into {folder}, each within "
        f"{options.timeout:g} s, holding the lock of project {load().project!r}:"
    )
    for result in plan(options, folder):
        missing = "" if result.experiment.is_file() else "   (MISSING: would fail)"
        click.echo(f"  {shlex.join(chaos_command(options, result))}{missing}")
        click.echo(f"    then heal: {shlex.join(options.heal_cmd) if options.heal_cmd else '(none)'}")
    click.echo(f"then write {folder / 'summary.md'}, {folder / 'junit.xml'} and a report per journal")


@click.command(context_settings=CONTEXT)
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, help="also draw the trend as this PNG"
)
def trend(folders: tuple, output: Optional[str]) -> None:
    """RTO and lost writes across suite runs (their --out folders or dated
    run folders); exit 1 when no journal was found."""
    rows = collect(folders)
    if not rows:
        raise Failed(1, "trend: no readable journal under " + ", ".join(map(str, folders)))
    click.echo(table(rows))
    if output:
        Path(output).write_bytes(render_png(rows))
        click.echo(f"\n{output}: trend picture")
