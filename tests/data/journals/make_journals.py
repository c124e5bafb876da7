"""Regenerates the hand-made journals and ledgers of this folder, keyed
exactly like chaostoolkit-lib 1.44's (chaoslib/run.py initialize_run_journal,
chaoslib/activity.py execute_activity, chaoslib/hypothesis.py).  The
verdicts are computed by chaosha's own verdict code from the ledgers.

Run: .venv/bin/python tests/data/journals/make_journals.py
"""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Dict, List, Optional

from chaosha.integrity.verdict import verdict_from_ledger

HERE = Path(__file__).resolve().parent
T0 = datetime(2026, 11, 26, 22, 0, 0, tzinfo=UTC).timestamp()
ADDR = {"pg1": "172.28.0.11", "pg2": "172.28.0.12"}


def iso(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset, UTC).isoformat()


def activity(
    name: str, kind: str, module: str, func: str, arguments: Optional[Dict[str, Any]] = None, tolerance: Any = None
) -> Dict[str, Any]:
    act: Dict[str, Any] = {
        "type": kind,
        "name": name,
        "provider": {"type": "python", "module": module, "func": func, "arguments": arguments or {}},
    }
    if tolerance is not None:
        act["tolerance"] = tolerance
    return act


HEALTH = activity(
    "cluster-is-healthy",
    "probe",
    "chaosha.patroni.probes",
    "cluster_health",
    tolerance={"type": "jsonpath", "path": "$.healthy", "expect": True},
)
START = activity(
    "start-workload", "action", "chaosha.integrity.actions", "start_workload", {"duration_s": 120, "rate": 20}
)
PROGRESS = activity("workload-is-writing", "probe", "chaosha.integrity.probes", "workload_progress")
KILL = activity("kill-the-primary", "action", "chaosha.docker.actions", "kill_container", {"target": "pg1"})
VERDICT = activity(
    "workload-verdict",
    "probe",
    "chaosha.integrity.probes",
    "workload_verdict",
    {"fault_at": ""},
    tolerance={"type": "jsonpath", "path": "$.passed", "expect": True},
)
RESTART = activity("restart-old-primary", "action", "chaosha.docker.actions", "start_container", {"target": "pg1"})


def experiment(title: str, after_verdict: bool = False) -> Dict[str, Any]:
    hypo = [HEALTH] + ([VERDICT] if after_verdict else [])
    method = [START, PROGRESS, KILL] + ([] if after_verdict else [VERDICT])
    return {
        "version": "1.0.0",
        "title": title,
        "description": "Kill the primary's container under a steady write load; the replica "
        "must take over without losing any acknowledged write.",
        "tags": ["patroni", "failover"],
        "runtime": {"rollbacks": {"strategy": "always"}},
        "steady-state-hypothesis": {"title": "One healthy primary, replicas streaming", "probes": hypo},
        "method": method,
        "rollbacks": [RESTART],
        "dry": None,
    }


def run(
    act: Dict[str, Any],
    start: float,
    end: Optional[float],
    output: Any = None,
    status: Optional[str] = "succeeded",
    error: str = "",
) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"activity": copy.deepcopy(act), "output": output, "start": iso(start)}
    if status:
        entry["status"] = status
    if error:
        entry["exception"] = [
            "Traceback (most recent call last):\n",
            f"chaoslib.exceptions.ActivityFailed: {error}\n",
        ]
    if end is not None:
        entry["end"] = iso(end)
        entry["duration"] = end - start
    return entry


def probe_run(act: Dict[str, Any], start: float, output: Any, met: bool = True) -> Dict[str, Any]:
    entry = run(act, start, start + 0.4, output)
    entry["tolerance_met"] = met
    return entry


def journal(
    exp: Dict[str, Any],
    status: str,
    runs: List[Dict[str, Any]],
    before: Any,
    after: Any,
    rollbacks: List[Dict[str, Any]],
    end: Optional[float],
    deviated: bool = False,
) -> Dict[str, Any]:
    data: Dict[str, Any] = {
        "chaoslib-version": "1.44.0",
        "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
        "node": "chaos-runner",
        "experiment": exp,
        "start": iso(0.0),
        "status": status,
        "deviated": deviated,
        "steady_states": {"before": before, "after": after, "during": []},
        "run": runs,
        "rollbacks": rollbacks,
    }
    if end is not None:
        data["end"] = iso(end)
        data["duration"] = end
    return data


def write_ledger(name: str, gap: float = 22.4, lose: int = 0) -> Dict[str, Any]:
    """A 20 writes/s ledger: pg1 (timeline 1) from 3 s, nothing from the kill
    at 13 s for ``gap`` seconds (errors every 0.5 s), then pg2 (timeline 2)
    until 50 s; the verdict is computed with ``lose`` acknowledged ids
    missing from the leader's final set."""
    path = HERE / f"{name}.jsonl"
    records: List[Dict[str, Any]] = [
        {
            "k": "run",
            "run": name,
            "t": T0 + 3,
            "pid": 4242,
            "target": "127.0.0.1:5432",
            "read_target": "127.0.0.1:5433",
            "duration": 120,
            "max_writes": 1000000,
            "rate": 20,
            "op_timeout": 3,
            "nodes": {v: k for k, v in ADDR.items()},
            "members": ["pg1", "pg2"],
        },
        {"k": "reserve", "upto": 1000},
    ]
    ident, t = 0, 3.0
    final: List[int] = []
    while t < 50:
        ident += 1
        if 13 <= t < 13 + gap:
            err = "in-doubt" if abs(t - 13) < 0.01 else "failed"
            records.append(
                {
                    "k": "w",
                    "id": ident,
                    "t0": T0 + t,
                    "t1": T0 + t + 0.45,
                    "r": err,
                    "err": "server closed the connection unexpectedly",
                }
            )
            t += 0.5
            continue
        node = "pg1" if t < 13 else "pg2"
        records.append(
            {
                "k": "w",
                "id": ident,
                "t0": T0 + t,
                "t1": T0 + t + 0.004,
                "r": "ok",
                "addr": ADDR[node],
                "tl": 1 if node == "pg1" else 2,
                "node": node,
            }
        )
        final.append(ident)
        if int(t * 20) % 4 == 0:
            records.append(
                {
                    "k": "r",
                    "t0": T0 + t,
                    "t1": T0 + t + 0.003,
                    "r": "ok",
                    "addr": ADDR["pg2" if node == "pg1" else "pg1"],
                    "ro": True,
                    "tl": 1 if node == "pg1" else 2,
                    "seen": ident,
                }
            )
        t = round(t + 0.05, 3)
    records.append(
        {"k": "end", "run": name, "t": T0 + 50.2, "reason": "signal", "last_id": ident, "seconds": 47.2}
    )
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    kept = final[:-lose] if lose else final
    audit = {
        "nodes": {
            n: {
                "reachable": True,
                "in_recovery": n == "pg1",
                "caught_up": True,
                "timeline": 2,
                "address": ADDR[n],
                "ids": kept,
            }
            for n in ADDR
        }
    }
    verdict = verdict_from_ledger(path, kept, audit, T0 + 13)
    verdict.update(run_id=name, stopped="yes", ledger=f"/srv/chaosha/.chaosha/integrity/{path.name}")
    return verdict


def main() -> None:
    healthy = {"healthy": True, "leader": "pg1", "members": 2}
    before = {"steady_state_met": True, "probes": [probe_run(HEALTH, 0.2, healthy)]}
    start = run(START, 1.0, 3.0, {"run_id": "r", "pid": 4242})
    progress = run(PROGRESS, 3.0, 13.0, {"ok": 200, "failed": 0, "in_doubt": 0})
    kill = run(KILL, 13.0, 13.3, {"service": "pg1", "killed": True})
    rollback = [run(RESTART, 60.5, 65.0, {"service": "pg1", "started": True})]
    after_ok = {"steady_state_met": True, "probes": [probe_run(HEALTH, 59.0, {**healthy, "leader": "pg2"})]}
    good = write_ledger("master-kill-ledger")
    files: Dict[str, Dict[str, Any]] = {}
    files["completed.json"] = journal(
        experiment("Kill the primary under load"),
        "completed",
        [start, progress, kill, run(VERDICT, 50.0, 58.0, good)],
        before,
        after_ok,
        rollback,
        66.0,
    )

    bad = write_ledger("lost-writes-ledger", gap=8.0, lose=3)
    after_bad = {
        "steady_state_met": False,
        "probes": [probe_run(HEALTH, 50.0, {**healthy, "leader": "pg2"}), probe_run(VERDICT, 50.5, bad, False)],
    }
    after_bad["probes"][1]["end"] = iso(58.0)
    files["deviated.json"] = journal(
        experiment("Kill the primary under load (asynchronous replication)", after_verdict=True),
        "completed",
        [start, progress, kill],
        before,
        after_bad,
        rollback,
        66.0,
        deviated=True,
    )

    unaudited = dict(
        good,
        lost=None,
        lost_ids=None,
        unexpected=None,
        recovered=None,
        passed=False,
        nodes_consistent=False,
        audit_error="timed out after 120s waiting for one primary",
        ledger="/srv/chaosha/.chaosha/integrity/gone.jsonl",
    )
    failing = {
        "steady_state_met": False,
        "probes": [run(HEALTH, 59.0, 61.0, None, "failed", "no leader in the cluster after 2 s")],
    }
    failing["probes"][0]["tolerance_met"] = False
    files["failed.json"] = journal(
        experiment("Kill the primary and its replica"),
        "failed",
        [start, progress, kill, run(VERDICT, 50.0, 58.0, unaudited)],
        before,
        failing,
        [],
        61.2,
    )

    aborted_kill = run(
        KILL, 13.0, 14.0, None, "failed", "refusing to fault: the cluster is already degraded (blast radius)"
    )
    files["aborted.json"] = journal(
        experiment("Kill the primary under load"),
        "aborted",
        [start, progress, aborted_kill],
        before,
        None,
        rollback,
        20.0,
    )

    files["interrupted.json"] = journal(
        experiment("Kill the primary under load"),
        "interrupted",
        [start, progress, kill, run(VERDICT, 50.0, None, None, None)],
        before,
        None,
        [],
        None,
    )

    not_met = {
        "steady_state_met": False,
        "probes": [probe_run(HEALTH, 0.2, {"healthy": False, "leader": None}, met=False)],
    }
    files["before-not-met.json"] = journal(
        experiment("Kill the primary under load"), "completed", [], not_met, None, [], 0.8
    )
    for name, data in files.items():
        (HERE / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    text = (HERE / "completed.json").read_text()
    (HERE / "truncated.json").write_text(text[: len(text) // 2], encoding="utf-8")


if __name__ == "__main__":
    main()
