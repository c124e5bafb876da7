"""Probes: the integrity verdict of a workload run (stopping it first) and
its progress while it runs."""

import json
import os
import time
from pathlib import Path
from typing import Any, Dict

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.config import Settings, load
from chaosha.integrity.anomalies import FAILING
from chaosha.integrity.audit import audited_verdict, fault_time
from chaosha.integrity.ledger import FAILED, IN_DOUBT, OK, read_records
from chaosha.integrity.runner import load_state, process_alive, state_dir, stop_process
from chaosha.integrity.verdict import reasons_of, tolerate
from chaosha.timing import parse_duration

__all__ = ["workload_verdict", "workload_progress", "integrity_holds"]

EXPERIMENT_MARK = "experiment-started"


def _verdict_path(settings: Settings, run_id: str) -> Path:
    return state_dir(settings) / f"{run_id}.verdict.json"


def workload_verdict(
    run_id: str = "",
    stop: bool = True,
    heal_timeout_s: float = 120,
    fault_at: str = "",
    max_stale_reads: int = 0,
    max_invisible_commits: int = 0,
    max_demoted_reads: int = 0,
    max_cancelled_sync_acks: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Stop the workload ``run_id`` (default: the latest; ``stop`` false
    leaves it running), wait up to ``heal_timeout_s`` seconds for one primary
    and every replica to replay past its LSN, and return the verdict:
    ``lost``, ``unexpected``, ``in_doubt``, ``recovered``, ``acknowledged``,
    ``attempted``, ``two_primaries``, ``two_primary_incidents``, ``rto_s``,
    ``read_rto_s``, ``reroute_s``, ``streaming_s``, ``nodes_consistent``,
    ``timelines``, per-node ``nodes`` and ``passed``.  ``fault_at`` (epoch
    or ISO time) limits recovery gaps to those ending after it; the
    ``max_*`` let that many of an anomaly pass (``anomalies``; listed
    under ``tolerated``).  Returns a failing verdict rather than raising
    when the cluster is still down."""
    settings = load(configuration, secrets)
    allowed = _allowed(max_stale_reads, max_invisible_commits, max_demoted_reads, max_cancelled_sync_acks)
    heal = parse_duration(heal_timeout_s, "heal_timeout_s")
    return _judge(settings, run_id, stop, heal, fault_time(fault_at), allowed)


def _allowed(stale: int, invisible: int, demoted: int, cancelled: int) -> Dict[str, int]:
    """The anomaly tolerances of the ``max_*`` parameters, by anomaly name."""
    values = (stale, invisible, demoted, cancelled)
    return {name: int(v) for name, v in zip(FAILING, values, strict=True)}


def _judge(
    settings: Settings, run_id: str, stop: bool, heal_timeout: float, fault_at: float, allowed: Dict[str, int]
) -> Dict[str, Any]:
    """The verdict of ``run_id`` (kept beside its ledger for later probes)."""
    if stop:
        state = stop_process(settings, run_id)
    else:
        state = {**load_state(settings, run_id), "stopped": "no"}
    result = tolerate(audited_verdict(settings, state["ledger"], heal_timeout, fault_at), allowed)
    result.update(run_id=state["run_id"], stopped=state["stopped"])
    _verdict_path(settings, state["run_id"]).write_text(json.dumps(result, default=str))
    return result


def workload_progress(
    run_id: str = "", configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Counts so far of the workload ``run_id`` (default: the latest):
    ``running``, ``ok``/``failed``/``in_doubt`` writes, ``reads_ok`` and
    ``last_ok_age_s`` (seconds since the last acknowledged write)."""
    settings = load(configuration, secrets)
    state = load_state(settings, run_id)
    counts = {OK: 0, FAILED: 0, IN_DOUBT: 0}
    reads_ok = 0
    last_ok = 0.0
    for record in read_records(state["ledger"]):
        if record.get("k") == "w":
            counts[record.get("r", IN_DOUBT)] += 1
            if record.get("r") == OK:
                last_ok = max(last_ok, record["t1"])
        elif record.get("k") == "r" and record.get("r") == OK:
            reads_ok += 1
    return {
        "run_id": state["run_id"],
        "ledger": state["ledger"],
        "running": process_alive(int(state["pid"]), str(state["run_id"])),
        "ok": counts[OK],
        "failed": counts[FAILED],
        "in_doubt": counts[IN_DOUBT],
        "reads_ok": reads_ok,
        "last_ok_age_s": round(time.time() - last_ok, 3) if last_ok else None,
    }


def integrity_holds(
    max_rto_s: float = 60,
    max_write_stall_s: float = 0,
    max_stale_reads: int = 0,
    max_invisible_commits: int = 0,
    max_demoted_reads: int = 0,
    max_cancelled_sync_acks: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """The steady-state view of data integrity, for hypotheses: the verdict
    of the workload run started in this experiment (computed now, stopping
    the run, unless ``workload_verdict`` already judged it).  ``acceptable``
    is true when that verdict passed, ``rto_s`` <= ``max_rto_s`` and (when
    ``max_write_stall_s`` > 0) ``write_stall_s`` <= ``max_write_stall_s``, and
    also when no run was started yet in this experiment (``judged`` false:
    e.g. the hypothesis before the method); a run started by another
    process is never judged here.  Each anomaly (``stale_reads``,
    ``invisible_commits``, ``demoted_reads``, ``cancelled_sync_acks``)
    fails it beyond its ``max_*`` count; ``anomalies`` gives every count,
    ``no_sync_exposure_s`` the time acknowledged without a synchronous
    standby (reported only).  Needs the chaosha safeguard control to know
    when the experiment started."""
    settings = load(configuration, secrets)
    mark = state_dir(settings) / EXPERIMENT_MARK
    since = float(mark.read_text()) if mark.is_file() else 0.0
    try:
        state = load_state(settings)
    except ActivityFailed:
        state = {}
    if not state or float(state.get("started", 0)) < since or state.get("owner") != os.getpid():
        return {"judged": False, "acceptable": True, "reason": "no workload run in this experiment yet"}
    cached = _verdict_path(settings, state["run_id"])
    verdict = (
        json.loads(cached.read_text())
        if cached.is_file()
        else _judge(settings, state["run_id"], True, 120.0, 0.0, {})
    )
    rto = verdict.get("rto_s") or 0.0
    stall = verdict.get("write_stall_s") or 0.0
    stall_budget = parse_duration(max_write_stall_s, "max_write_stall_s")
    within_rto = rto <= float(max_rto_s)
    within_stall = not stall_budget or stall <= stall_budget
    allowed = _allowed(max_stale_reads, max_invisible_commits, max_demoted_reads, max_cancelled_sync_acks)
    reasons = reasons_of(verdict, allowed)
    reasons += [] if within_rto else [f"rto_s={rto} over the budget of {max_rto_s} s"]
    reasons += [] if within_stall else [f"write_stall_s={stall} over the budget of {stall_budget:g} s"]
    reason = "; ".join(reasons)
    return {
        "judged": True,
        "acceptable": not reasons,
        "reason": reason,
        "run_id": state["run_id"],
        "lost": verdict.get("lost"),
        "two_primaries": verdict.get("two_primaries"),
        "rto_s": rto,
        "max_rto_s": float(max_rto_s),
        "write_stall_s": stall,
        "anomalies": {name: (a or {}).get("count") for name, a in (verdict.get("anomalies") or {}).items()},
        "no_sync_exposure_s": verdict.get("no_sync_exposure_s"),
    }
