#!/usr/bin/env python3
"""Benchmark: what Alfresco's database layer sees through each catalogue
fault, and what each pool/driver setting does to it.

Per round: the JVM client (chaosha.alfresco.jvm: pgjdbc + DBCP2 with the
alfresco profile's settings, 4 threads, 40 node creates/s, retried like
RetryingTransactionHelper) through HAProxy, 3 s baseline, the fault, wait
for a commit after it (at most --wait seconds), heal, wait for a healthy
cluster, stop the client, verdict.  Per round it reports the application
RTO (first failed attempt -> first commit after it), the longest gap
between commits (rto_s), the longest node create (retries included),
failed node creates as the application sees them, failed attempts,
retries, stale connections handed out by the pool, duplicates, lost.

    .venv/bin/python bench/alfresco-client/run.py --env-file ENV \\
        [--faults master-kill,master-pause,...] [--variants profile,no-borrow-validation,...] [--rounds 1]

A variant is the profile with some settings replaced (VARIANTS below);
``profile`` is the profile as it is.  Runs against the (running) stack of
ENV; writes JSON to bench/results/alfresco-client-*.json and prints a
Markdown table.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

from chaosha.alfresco.actions import start_alfresco_client, stop_alfresco_client
from chaosha.config import load
from chaosha.docker import actions as docker
from chaosha.haproxy.probes import wait_for_route
from chaosha.integrity.ledger import read_records
from chaosha.integrity.probes import workload_verdict
from chaosha.integrity.retries import retry_part
from chaosha.integrity.runner import load_state
from chaosha.patroni.actions import switchover
from chaosha.patroni.probes import wait_for_healthy
from chaosha.postgres.actions import start_bulk_load
from chaosha.zookeeper import actions as zookeeper

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
Conf = Dict[str, str]

FAULTS: Dict[str, Callable[[Conf], Any]] = {
    "master-kill": lambda c: docker.kill_container("@leader", configuration=c),
    "master-stop": lambda c: docker.stop_container("@leader", configuration=c),
    "master-pause": lambda c: docker.pause_container("@leader", configuration=c),
    "master-partition": lambda c: docker.disconnect_network("@leader", configuration=c),
    "switchover": lambda c: switchover(timeout_s=60, configuration=c),
    "haproxy-restart": lambda c: docker.restart_container("haproxy", configuration=c),
    "replica-kill": lambda c: docker.kill_container("@replica", configuration=c),
    "leader-dcs-partition": lambda c: docker.partition_container("@leader", "zk1,zk2,zk3", configuration=c),
    "zk-session-expiry": lambda c: zookeeper.expire_session("", configuration=c),
    "zk-node-loss": lambda c: zookeeper.stop_node("zk1", configuration=c),
    "zk-quorum-loss": lambda c: held(
        30, zookeeper.stop_node("zk1", configuration=c), zookeeper.stop_node("zk2", True, configuration=c)
    ),
    "full-stack-restart": lambda c: [
        docker.stop_container(t, 30, True, configuration=c)
        for t in ("@replica", "@leader", "haproxy", "zk1", "zk2", "zk3")
    ],
    "replica-pause": lambda c: held(25, docker.pause_container("@sync", configuration=c)),
    "replica-partition": lambda c: held(25, docker.partition_container("@sync", configuration=c)),
    "master-kill-during-bulk-load": lambda c: held(
        0,
        start_bulk_load("rw", 200, 60, 10, 2, configuration=c),
        time.sleep(5),
        docker.kill_container("@leader", configuration=c),
    ),
}
NEW_LEADER = (
    "master-kill",
    "master-stop",
    "master-pause",
    "master-partition",
    "switchover",
    "leader-dcs-partition",
    "master-kill-during-bulk-load",
)
# Held for a time by the fault itself, then healed at once: nothing commits before the heal.
HEAL_AT_ONCE = ("zk-quorum-loss", "full-stack-restart")


def held(seconds: float, *done: Any) -> List[Any]:
    """The faults' results, after holding them ``seconds``."""
    time.sleep(seconds)
    return list(done)


# Each variant: the alfresco profile with these settings replaced.
VARIANTS: Dict[str, Dict[str, Any]] = {
    "profile": {},
    "no-borrow-validation": {"db.pool.validate.borrow": "false"},
    "alfresco-default-evictor": {"db.pool.evict.validate": "false", "db.pool.evict.interval": "600000"},
    "socket-timeout-0": {"url.socketTimeout": "0"},
    "socket-timeout-10": {"url.socketTimeout": "10"},
    "connect-timeout-30": {"url.connectTimeout": "30"},
    "no-keepalive": {"url.tcpKeepAlive": "false"},
}
TIMES = ("app_rto_s", "longest_op_s")  # recomputed by --recompute, with stale_connections
FIGURES = (
    "app_rto_s",
    "rto_s",
    "longest_op_s",
    "app_failures",
    "failed_attempts",
    "retries",
    "stale_connections",
    "duplicates",
    "lost",
)


def committed_after(ledger: str, at: float) -> bool:
    return any(r.get("k") == "w" and r.get("r") == "ok" and r["t1"] > at for r in read_records(ledger))


def one_round(conf: Conf, fault: str, variant: str, wait: float) -> Dict[str, Any]:
    wait_for_healthy(180, configuration=conf)
    started = start_alfresco_client(300, 40, 4, 1000000, "rw", VARIANTS[variant], configuration=conf)
    time.sleep(3)
    at = time.time()
    FAULTS[fault](conf)
    deadline = time.monotonic() + (0 if fault in HEAL_AT_ONCE else wait)
    while time.monotonic() < deadline and not committed_after(started["ledger"], at + 0.5):
        time.sleep(0.5)
    # A commit after the fault began and before heal: under the fault for a
    # lasting one, after its own hold for one that ends inside its call.
    committed = committed_after(started["ledger"], at + 0.5)
    if fault in NEW_LEADER:  # a leader cut from ZooKeeper commits on until it demotes: wait for the new one
        wait_for_route(120, True, configuration=conf)
    docker.heal(configuration=conf)
    wait_for_healthy(180, configuration=conf)
    time.sleep(3)  # commits on the healed cluster
    stop_alfresco_client(started["run_id"], configuration=conf)
    verdict = workload_verdict(started["run_id"], False, 120, str(at), configuration=conf)
    row = {"fault": fault, "variant": variant, "fault_at": at, "committed_before_heal": committed}
    row["passed"] = verdict.get("passed")
    row.update({k: verdict.get(k) for k in FIGURES})
    row.update(ops=verdict.get("ops_by_outcome"), reasons=verdict.get("reasons"), run_id=started["run_id"])
    return row


def _connection_error(w: Dict[str, Any]) -> bool:
    state = w.get("state")
    return w.get("r") != "ok" and (state is None or str(state).startswith(("08", "57P")))


def recompute(conf: Conf, rows: List[Dict[str, Any]]) -> None:
    """Timing figures of ``rows`` again from their ledgers (after a change of
    their definition); the id figures need the audit and stay."""
    settings = load(conf)
    for row in rows:
        ledger = load_state(settings, row["run_id"])["ledger"]
        records = list(read_records(ledger))
        fault_at = float(row.get("fault_at") or 0)  # 0: the run's first failure
        writes = [r for r in records if r.get("k") == "w"]
        ops = [r for r in records if r.get("k") == "op"]
        final = {int(w["id"]) for w in writes if w.get("r") == "ok"}
        row.update({k: v for k, v in retry_part(writes, ops, final, fault_at).items() if k in TIMES})
        # older ledgers marked only reused connections: the same rule for all
        row["stale_connections"] = sum(1 for w in writes if w.get("step") == "first" and _connection_error(w))


def median(rows: List[Dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return round(statistics.median(values), 2) if values else None


def table(rows: List[Dict[str, Any]]) -> str:
    head = "| fault | variant | rounds | " + " | ".join(FIGURES) + " | passed |"
    lines = [head, "|" + "---|" * (len(FIGURES) + 4)]
    seen: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        seen.setdefault((r["fault"], r["variant"]), []).append(r)
    for (fault, variant), group in seen.items():
        cells = [str(median(group, k)) for k in FIGURES]
        passed = sum(1 for r in group if r["passed"])
        lines.append(
            f"| {fault} | {variant} | {len(group)} | " + " | ".join(cells) + f" | {passed}/{len(group)} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env-file", required=True, help="the env file of a running stack")
    p.add_argument("--faults", default=",".join(FAULTS))
    p.add_argument("--variants", default="profile")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--wait", type=float, default=150, help="seconds to wait for a commit after the fault")
    p.add_argument("--recompute", default="", help="a results file: recompute its timing figures, print the table")
    args = p.parse_args()
    conf = {"CHAOSHA_ENV_FILE": str(Path(args.env_file).resolve())}
    if args.recompute:
        rows = json.loads(Path(args.recompute).read_text())
        recompute(conf, rows)
        Path(args.recompute).write_text(json.dumps(rows, indent=2))
        print(table(rows))
        return 0
    rows: List[Dict[str, Any]] = []
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"alfresco-client-{time.strftime('%Y%m%dT%H%M%S')}.json"
    for _ in range(args.rounds):
        for variant in args.variants.split(","):
            for fault in args.faults.split(","):
                row = one_round(conf, fault, variant, args.wait)
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
                out.write_text(json.dumps(rows, indent=2))
    print(table(rows))
    return 0 if all(r["lost"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
