#!/usr/bin/env python3
"""Benchmark: a nemesis soak.  One long nemesis run (default 30 minutes,
every fault kind, a fixed seed) on its own stack through `chaosha
nemesis`: the schedule printed first, the workload throughout, a heal and
the verdict at the end, a failing run shrunk.  Prints, as Markdown: the
faults by kind (applied, refused, skipped), the writes, the anomalies of
the verdict (all 0 expected) and the RTO p50/p95/max per fault kind, with
the seed to rerun it; writes JSON under bench/results/.

    .venv/bin/python bench/nemesis/run.py [--seed 2026] [--duration 1800]
        [--faults all] [--shrink-budget 1800] [--profile default|fast] [--keep]

Stack: project chaosha-bn, ports 43000+ (torn down, volumes included, at
the end unless --keep).  Rerun one schedule: `chaosha nemesis --replay
<journal>` against any stack.
"""

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

from chaosha import failover_profile
from chaosha.config import load
from chaosha.report.journal import load_journal
from chaosha.suite.nemesis import NemesisOptions, run_nemesis
from chaosha.suite.runner import SuiteOptions

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("benchlib", HERE.parent / "stack" / "benchlib.py")
assert _spec and _spec.loader
benchlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchlib)

PROJECT, PORT_BASE = "chaosha-bn", 43000
VERDICT_COUNTS = ("lost", "unexpected", "failed_committed", "unsynced_lost", "fresh_failed_outside_window")


def faults_by_kind(events: List[Dict[str, Any]]) -> Dict[str, Dict[str, int]]:
    """Per fault kind: how many steps ended applied, refused, skipped, error."""
    kinds: Dict[str, Dict[str, int]] = {}
    for e in events:
        counts = kinds.setdefault(str(e.get("fault")), {})
        counts[str(e.get("outcome"))] = counts.get(str(e.get("outcome")), 0) + 1
    return dict(sorted(kinds.items()))


def anomalies(verdict: Dict[str, Any]) -> Dict[str, Any]:
    """Every count of the verdict that must be 0, and the checker's anomalies."""
    found: Dict[str, Any] = {k: verdict.get(k) for k in VERDICT_COUNTS}
    found["two_primaries"] = len(verdict.get("two_primary_incidents") or [])
    for name, value in (verdict.get("anomalies") or {}).items():
        found[name] = value.get("count") if isinstance(value, dict) else value
    return found


def summary(journal: Path, seed: int, duration: float) -> Dict[str, Any]:
    view = load_journal(journal)
    verdict, record, recovery = view.verdict or {}, view.nemesis or {}, view.recovery or {}
    return {
        "seed": seed,
        "duration_s": duration,
        "journal": str(journal),
        "passed": bool(verdict.get("passed")) and view.status == "completed" and not view.deviated,
        "steps": len(record.get("events") or []),
        "faults": faults_by_kind(record.get("events") or []),
        "writes": {k: verdict.get(k) for k in ("acknowledged", "attempted", "fresh_writes", "reads")},
        "anomalies": anomalies(verdict),
        "rto_by_kind": {
            k: {f: v.get(f) for f in ("count", "overlapped", "rto_p50_s", "rto_p95_s", "rto_max_s")}
            for k, v in (recovery.get("kinds") or {}).items()
        },
        "reasons": verdict.get("reasons"),
    }


def markdown(result: Dict[str, Any]) -> str:
    s = result["summary"]
    lines = [
        f"nemesis soak, seed {s['seed']}, {s['duration_s']:g} s, profile {result.get('profile', 'default')}, "
        f"{benchlib.machine_line(result['machine'])}, "
        f"{result['date']}: {'passed' if s['passed'] else 'FAILED'}",
        "",
        benchlib.table(
            ["fault", "applied", "refused", "skipped", "overlapped", "RTO p50 s", "RTO p95 s", "RTO max s"],
            [
                [kind, c.get("applied", 0), c.get("refused", 0), c.get("skipped", 0)]
                + [
                    s["rto_by_kind"].get(kind, {}).get(f, "-")
                    for f in ("overlapped", "rto_p50_s", "rto_p95_s", "rto_max_s")
                ]
                for kind, c in s["faults"].items()
            ],
        ),
        "",
        "writes: " + ", ".join(f"{k} {v}" for k, v in s["writes"].items()),
        "anomalies: " + ", ".join(f"{k} {v}" for k, v in s["anomalies"].items()),
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--duration", type=float, default=1800.0)
    p.add_argument("--faults", default="all")
    p.add_argument("--shrink-budget", type=float, default=1800.0)
    p.add_argument(
        "--profile", default="default", choices=failover_profile.names(), help="failover profile of the stack"
    )
    p.add_argument("--keep", action="store_true", help="leave the stack running")
    args = p.parse_args()

    stack = benchlib.bench_stack(PROJECT, PORT_BASE)
    stack.overrides[failover_profile.PROFILE_KEY] = args.profile
    stack.ensure_env()
    stack.down(volumes=True)  # leftovers of an interrupted run
    benchlib.up_with_retry(stack, wait=900)  # a shared machine: other stacks may be running beside it
    conf = benchlib.configuration(stack)
    os.environ.update(conf)  # the `chaos run` of every try aims at this stack only
    try:
        options = NemesisOptions(
            out=benchlib.STATE / "nemesis",
            seed=args.seed,
            duration_s=args.duration,
            faults=args.faults,
            shrink_budget_s=args.shrink_budget,
            suite=SuiteOptions(experiments=[], out=benchlib.STATE / "nemesis", settings=load(conf)),
        )
        run = run_nemesis(options, sys.stderr)
        result = {
            "date": benchlib.now_iso(),
            "machine": benchlib.machine(),
            "summary": summary(run.tries[0].journal, args.seed, args.duration),
            "profile": args.profile,
            "problems": run.tries[0].problems,  # the suite's judgement: a failed method fails the soak
            "shrunk": str(run.shrunk) if run.shrunk else None,
            "folder": str(run.folder),
        }
    finally:
        if not args.keep:
            stack.down(volumes=True)
    result["summary"]["passed"] = result["summary"]["passed"] and run.passed
    print(markdown(result))
    for problem in result["problems"]:
        print(f"problem: {problem}")
    print(f"results: {benchlib.write_results('nemesis', result)}", file=sys.stderr)
    return 0 if result["summary"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
