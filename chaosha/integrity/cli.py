"""Entry points the ``chaosha`` command wires: ``chaosha workload`` and
``chaosha verdict LEDGER``."""

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from chaoslib.exceptions import ActivityFailed

from chaosha.config import load
from chaosha.integrity.audit import audited_verdict, parse_time
from chaosha.integrity.verdict import verdict_from_ledger
from chaosha.integrity.workload import run_workload_cli

__all__ = ["run_workload_cli", "run_verdict_cli"]


def run_verdict_cli(argv: Optional[Sequence[str]] = None) -> int:
    """``chaosha verdict LEDGER``: audit the healed cluster and print the
    verdict as JSON.  Exit 0 when it passed, 1 when not, 2 on error."""
    parser = argparse.ArgumentParser(
        prog="chaosha verdict",
        description="Compare a workload ledger with the ids the cluster holds.")
    parser.add_argument("ledger", type=Path)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for one primary and replayed replicas")
    parser.add_argument("--fault-at", default="",
                        help="epoch or ISO time of the fault: recovery gaps after it only")
    parser.add_argument("--final-ids", type=Path, default=None,
                        help="offline: a file of the ids finally present (one per line) "
                             "instead of asking the cluster (nodes are then not audited)")
    args = parser.parse_args(argv)
    try:
        if not args.ledger.is_file():
            raise ActivityFailed(f"no ledger at {args.ledger}: pass the path printed by "
                                 "`chaosha workload` or returned by start_workload")
        fault_at = parse_time(args.fault_at)
        if args.final_ids is not None:
            ids = [int(x) for x in args.final_ids.read_text().split()]
            result = verdict_from_ledger(args.ledger, ids, None, fault_at)
        else:
            result = audited_verdict(load(), args.ledger, args.timeout, fault_at)
    except (ActivityFailed, OSError, ValueError) as exc:
        print(f"chaosha verdict: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0 if result.get("passed") else 1
