"""The integrity workload and verdict on the real stack: tampering behind
the writer's back must show up exactly."""

import json
import time
from pathlib import Path
from typing import Any, Dict

import pytest

from chaosha.cli import main
from chaosha.clients.postgres import connect
from chaosha.config import load
from chaosha.integrity.actions import start_workload, stop_workload
from chaosha.integrity.audit import find_primary
from chaosha.integrity.ledger import read_records
from chaosha.integrity.probes import workload_progress, workload_verdict

pytestmark = pytest.mark.integration

NEVER_ATTEMPTED = 10**12


def config(stack: Any, tmp_path: Path) -> Dict[str, str]:
    return {**stack.configuration, "CHAOSHA_STATE_DIR": str(tmp_path)}


def progress_once(run_id: str, cfg: Dict[str, str], ok: int, reads: int, within_s: float = 50) -> Dict[str, Any]:
    """The workload's progress once it has more than ``ok`` acknowledged writes
    and ``reads`` reads, polled: on a loaded machine the rate asked for is not
    the rate served (its speed is bench/writer's business, not a test's)."""
    deadline = time.monotonic() + within_s
    while True:
        progress = workload_progress(run_id, configuration=cfg)
        done = progress["ok"] > ok and progress["reads_ok"] > reads
        if done or not progress["running"] or time.monotonic() > deadline:
            return progress
        time.sleep(0.5)


def test_clean_run_passes(stack: Any, tmp_path: Path) -> None:
    cfg = config(stack, tmp_path)
    started = start_workload(duration_s=60, rate=100, configuration=cfg)
    progress = progress_once(started["run_id"], cfg, ok=100, reads=10)
    assert progress["running"] is True and progress["ok"] > 100, progress
    verdict = workload_verdict(started["run_id"], configuration=cfg)
    assert verdict["stopped"] == "terminated" and verdict["writer_ended_cleanly"] is True
    assert verdict["lost"] == 0 and verdict["unexpected"] == 0
    assert verdict["acknowledged"] >= progress["ok"] and verdict["reads_ok"] >= progress["reads_ok"]
    assert verdict["samples"] > 0
    assert verdict["nodes_consistent"] is True and verdict["two_primaries"] is False
    assert verdict["passed"] is True
    assert len(set(verdict["timelines"].values())) == 1
    json.dumps(verdict)


def test_deleted_and_foreign_rows_are_reported(stack: Any, tmp_path: Path) -> None:
    cfg = config(stack, tmp_path)
    settings = load(cfg)
    started = start_workload(duration_s=60, rate=100, configuration=cfg)
    run = started["run_id"]
    time.sleep(2)
    acked = [r["id"] for r in read_records(started["ledger"]) if r.get("k") == "w" and r.get("r") == "ok"]
    victim = acked[len(acked) // 2]
    with connect(settings, find_primary(settings, 30)) as conn:
        deleted = conn.execute("DELETE FROM chaosha_ledger WHERE run = %s AND id = %s", (run, victim)).rowcount
        conn.execute("INSERT INTO chaosha_ledger (run, id) VALUES (%s, %s)", (run, NEVER_ATTEMPTED))
    assert deleted == 1
    time.sleep(1)
    verdict = workload_verdict(run, configuration=cfg)
    assert verdict["lost"] == 1 and verdict["lost_ids"] == [victim]
    assert verdict["unexpected"] == 1 and verdict["unexpected_ids"] == [NEVER_ATTEMPTED]
    assert verdict["two_primaries"] is False
    assert verdict["nodes_consistent"] is True  # every node agrees on the tampered set
    assert verdict["passed"] is False
    # The CLI gives the same answer and a failing exit code.
    assert main(["verdict", started["ledger"], "--timeout", "30"]) == 1
    # Stopping again is harmless (rollbacks).
    assert stop_workload(run, configuration=cfg)["stopped"] == "already-exited"
