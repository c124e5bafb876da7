#!/usr/bin/env python3
"""Benchmark: crash failover with and without the opt-in arbiter, on one
stack, rounds interleaved (fault by fault: without, with, without, ...).
Each round is bench/failover/run.py's (integrity workload through HAProxy,
baseline, fault on the leader, wait for HAProxy's route to a new leader,
heal, healthy, verdict); "arbiter" rounds run two arbiter instances
(``start_arbiter``) for the round and keep what the holder logged.  Prints
the RTO median, p95 and max per fault and mode as Markdown, and writes JSON
under bench/results/.

    .venv/bin/python bench/failover/arbiter.py --env-file STACK.env [--rounds 3]
        [--faults kill,freeze,blackhole]

The stack must be up (e.g. the integration tests' with CHAOSHA_TEST_KEEP=1);
its failover profile is whatever it runs (the arbiter does not depend on it).
"""

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

from chaosha.arbiter.actions import start_arbiter, stop_arbiter
from chaosha.arbiter.probes import arbiter_status
from chaosha.patroni.probes import wait_for_healthy

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("failover_bench", HERE / "run.py")
assert _spec and _spec.loader
failover = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(failover)

MODES = ("without", "arbiter")


def arbiter_round(
    conf: Dict[str, str], mode: str, fault: str, index: int, rate: float, key: Any = None
) -> Dict[str, Any]:
    if mode == "arbiter":
        start_arbiter(instances_count=2, configuration=conf)
    try:
        record: Dict[str, Any] = failover.run_round(mode, conf, fault, index, rate, 3.0, key)
        if mode == "arbiter":
            status = arbiter_status(configuration=conf)
            record["arbiter"] = {"fences": status["fences"], "releases": status["releases"]}
            steps = [s for i in status["instances"] for s in i["steps"]]
            fenced = [s for s in steps if s.get("event") == "fence-start"]
            released = [s for s in steps if s.get("event") == "released"]
            if fenced:
                record["arbiter"]["signal"] = fenced[0].get("signal")
                record["arbiter"]["fence_after_s"] = round(fenced[0]["t"] - record["fault_at"], 3)
            if released:
                record["arbiter"]["released_after_s"] = round(released[0]["t"] - record["fault_at"], 3)
    finally:
        stop_arbiter(configuration=conf)
    return record


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", required=True, help="the running stack's env file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--faults", default="kill,freeze,blackhole")
    parser.add_argument("--rate", type=float, default=100, help="workload writes/s")
    args = parser.parse_args(argv)
    conf = {"CHAOSHA_ENV_FILE": str(Path(args.env_file).resolve())}
    faults = [f for f in args.faults.split(",") if f]
    wait_for_healthy(180, configuration=conf)
    records: List[Dict[str, Any]] = []
    started = time.time()
    key = failover.KeyWatch(conf)  # when the leader key went and came back, as run.py records it
    try:
        for index in range(args.rounds):
            for fault in faults:
                for mode in MODES:
                    records.append(arbiter_round(conf, mode, fault, index, args.rate, key))
    finally:
        key.close()
    summary = failover.summarize(records, list(MODES), faults)
    result = {
        "started": started,
        "seconds": round(time.time() - started, 1),
        "env_file": conf["CHAOSHA_ENV_FILE"],
        "summary": summary,
        "records": records,
    }
    out = HERE.parent / "results" / f"arbiter-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    print(failover.markdown(summary, list(MODES)))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
