"""``chaosha suite run`` and ``chaosha trend`` command lines."""

import argparse
import shlex
import sys
from pathlib import Path
from typing import List

from chaosha.config import load
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

__all__ = ["run_suite_cli", "run_trend_cli", "LOCKED_EXIT"]

LOCKED_EXIT = 3


def _suite_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chaosha suite", description="Run experiments one "
                                     "after another, each in a dated folder under --out.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the experiments (default: the core catalogue)")
    run.add_argument("experiments", nargs="*", help="experiment files, in order (default: "
                     + ", ".join(DEFAULT_EXPERIMENTS) + ")")
    run.add_argument("--out", required=True, help="folder for the dated run folders")
    run.add_argument("--timeout", type=float, default=1800,
                     help="seconds per experiment before it is interrupted (default 1800)")
    run.add_argument("--heal-cmd", help="command run after each experiment (default: chaosha "
                     "heal --wait 180, or $CHAOSHA_SUITE_HEAL_CMD); '' for none")
    run.add_argument("--heal-timeout", type=float, default=300, help="seconds for the heal")
    run.add_argument("--dry-run", action="store_true", help="list what would run, run nothing")
    return parser


def run_suite_cli(argv: List[str]) -> int:
    """0 when every experiment passed, 1 otherwise, 3 when another run
    holds the lock, 2 for bad usage."""
    args = _suite_parser().parse_args(argv)
    experiments = [Path(p) for p in (args.experiments or DEFAULT_EXPERIMENTS)]
    heal_cmd = shlex.split(args.heal_cmd) if args.heal_cmd is not None else default_heal_cmd()
    options = SuiteOptions(experiments=experiments, out=Path(args.out), timeout=args.timeout,
                           heal_cmd=heal_cmd, heal_timeout=args.heal_timeout)
    if args.dry_run:
        folder = Path(args.out) / "<date>"
        print(f"would run {len(experiments)} experiment(s) into {folder}, "
              f"each within {args.timeout:g} s, holding the lock of project {load().project!r}:")
        for result in plan(options, folder):
            missing = "" if result.experiment.is_file() else "   (MISSING: would fail)"
            print(f"  {shlex.join(chaos_command(options, result))}{missing}")
            print(f"    then heal: {shlex.join(heal_cmd) if heal_cmd else '(none)'}")
        print(f"then write {folder / 'summary.md'}, {folder / 'junit.xml'} and a report per journal")
        return 0
    try:
        folder, results = run_suite(options)
    except SuiteLocked as exc:
        print(f"chaosha suite: {exc}", file=sys.stderr)
        return LOCKED_EXIT
    print(f"{sum(r.passed for r in results)}/{len(experiments)} passed: {folder / 'summary.md'}")
    return 0 if len(results) == len(experiments) and all(r.passed for r in results) else 1


def run_trend_cli(argv: List[str]) -> int:
    """Print the trend table; 0, or 1 when no journal was found."""
    parser = argparse.ArgumentParser(prog="chaosha trend", description="RTO and lost writes "
                                     "across suite runs (the --out folders of chaosha suite run).")
    parser.add_argument("folders", nargs="+", help="suite --out folders or dated run folders")
    parser.add_argument("-o", "--output", help="also draw the trend as this PNG")
    args = parser.parse_args(argv)
    rows = collect(Path(f) for f in args.folders)
    if not rows:
        print("chaosha trend: no journal found under " + ", ".join(args.folders), file=sys.stderr)
        return 1
    print(table(rows))
    if args.output:
        Path(args.output).write_bytes(render_png(rows))
        print(f"\n{args.output}: trend picture")
    return 0
