#!/usr/bin/env python3
"""Benchmark: the integrity writer's acknowledged writes/s through HAProxy
beside pgbench running the same single-row INSERT over the same path with
one client.  Interleaved rounds (pgbench, writer, pgbench, writer, ...),
medians, ratio (target >= 0.5), a Markdown table row on stdout and JSON
under bench/results/.

    CHAOSHA_PG_PASSWORD=... .venv/bin/python bench/writer/run.py [--rounds 3] [--seconds 10]

Needs pgbench (Debian: apt-get install postgresql-client-15); installs
nothing itself.  Writes rows with run 'bench-*' into chaosha_ledger and
deletes them at the end.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from chaosha.clients.postgres import connect, endpoint
from chaosha.config import Settings, load
from chaosha.integrity.ledger import OK, read_records
from chaosha.integrity.workload import WorkloadOptions
from chaosha.integrity.writer import INSERT_SQL, ensure_table

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def pgbench_script(folder: Path) -> Path:
    """insert.sql: the writer's own statement, ids drawn at random."""
    sql = INSERT_SQL.replace("%s, %s", "'bench-pgbench', :id")
    path = folder / "insert.sql"
    path.write_text(f"\\set id random(1, 9000000000000000000)\n{sql};\n")
    return path


def run_pgbench(settings: Settings, script: Path, seconds: int, target: str) -> float:
    host, port = endpoint(settings, target)
    env = {**os.environ, "PGPASSWORD": settings.get("CHAOSHA_PG_PASSWORD"), "PGCONNECT_TIMEOUT": "5"}
    cmd = [
        "pgbench",
        "-n",
        "-c1",
        f"-T{seconds}",
        "-f",
        str(script),
        "-h",
        host,
        "-p",
        str(port),
        "-U",
        settings.get("CHAOSHA_PG_USER"),
        settings.get("CHAOSHA_PG_DATABASE"),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection", done.stdout)
    if done.returncode != 0 or not match:
        raise SystemExit(f"pgbench failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return float(match.group(1))


def run_writer(folder: Path, seconds: int, target: str, full: bool, index: int) -> float:
    run_id = f"bench-writer-{int(time.time())}-{index}"
    ledger = folder / f"{run_id}.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "chaosha.integrity.workload",
        "--run-id",
        run_id,
        "--ledger",
        str(ledger),
        *WorkloadOptions(duration=seconds, rate=0, target=target, reads=full, sampler=full).as_args(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90, check=False)
    if done.returncode != 0:
        raise SystemExit(f"writer failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    writes = [r for r in read_records(ledger) if r.get("k") == "w"]
    oks = [w for w in writes if w.get("r") == OK]
    span = max(w["t1"] for w in writes) - min(w["t0"] for w in writes)
    return len(oks) / span if span > 0 else 0.0


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--target", default="rw", help="rw (default), a node or a port")
    parser.add_argument(
        "--full", action="store_true", help="run the writer with its reader and sampler, as in experiments"
    )
    args = parser.parse_args(argv)
    if shutil.which("pgbench") is None:
        print(
            "pgbench is missing: install the Debian package postgresql-client-15 "
            "(apt-get install -y postgresql-client-15), then run again",
            file=sys.stderr,
        )
        return 2
    settings = load()
    ensure_table(settings, args.target, 30)
    host, port = endpoint(settings, args.target)
    pgbench: List[float] = []
    writer: List[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="chaosha-bench-") as tmp:
            script = pgbench_script(Path(tmp))
            for index in range(args.rounds):
                pgbench.append(run_pgbench(settings, script, args.seconds, args.target))
                writer.append(run_writer(Path(tmp), args.seconds, args.target, args.full, index))
                print(
                    f"round {index + 1}: pgbench {pgbench[-1]:.1f} tps, writer {writer[-1]:.1f} ok/s",
                    file=sys.stderr,
                )
    finally:
        with connect(settings, args.target) as conn:
            conn.execute("DELETE FROM chaosha_ledger WHERE run LIKE 'bench-%'")
    pg_med, wr_med = statistics.median(pgbench), statistics.median(writer)
    ratio = wr_med / pg_med if pg_med else 0.0
    result: Dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "endpoint": f"{host}:{port}",
        "seconds": args.seconds,
        "rounds": args.rounds,
        "full_workload": args.full,
        "pgbench_tps": pgbench,
        "writer_ok_per_s": writer,
        "pgbench_median": round(pg_med, 1),
        "writer_median": round(wr_med, 1),
        "ratio": round(ratio, 3),
        "target_ratio": 0.5,
        "meets_target": ratio >= 0.5,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"writer-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("| date | endpoint | workload | pgbench -c1 tps (median) | writer ok/s (median) | ratio |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {result['when'][:10]} | {host}:{port} | {'full' if args.full else 'writer only'} "
        f"| {pg_med:.1f} | {wr_med:.1f} | {ratio:.2f} |"
    )
    print(f"results: {out}", file=sys.stderr)
    return 0 if ratio >= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
