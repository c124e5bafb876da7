"""The post-heal audit: the run's ids as held by the leader and by every
node once each replica has replayed past the primary's current LSN."""

from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import psycopg
import requests
from chaoslib.exceptions import ActivityFailed

from chaosha.clients import patroni
from chaosha.clients.postgres import connect, identities
from chaosha.config import Settings
from chaosha.integrity.ledger import read_records
from chaosha.integrity.session import error_text
from chaosha.integrity.verdict import reasons_of, verdict_from_ledger
from chaosha.timing import Deadline, epoch, wait_until

__all__ = ["find_primary", "run_ids", "audit_cluster", "audited_verdict", "fault_time"]

IDS_SQL = "SELECT id FROM chaosha_ledger WHERE run = %s"
REPLAY_SQL = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn, pg_last_wal_replay_lsn()::text"


def _identities(settings: Settings, timeout: float) -> Dict[str, Dict[str, Any]]:
    """Every node's identity, all asked at once (see ``client.identities``)."""
    return identities(settings, timeout)


def find_primary(settings: Settings, timeout: float) -> str:
    """The one node that is not in recovery, waiting up to ``timeout`` for
    exactly one; raises ``ActivityFailed`` naming what was seen."""
    seen: Dict[str, Any] = {}

    def single() -> Any:
        seen.update(_identities(settings, min(settings.timeout, 3)))
        writable = [n for n, i in seen.items() if i.get("in_recovery") is False]
        return writable[0] if len(writable) == 1 else None

    try:
        return wait_until(single, timeout, 1.0, "exactly one primary")[0]
    except ActivityFailed:
        raise ActivityFailed(
            f"no single primary among {', '.join(seen)} after {timeout:g}s ({seen}): "
            "heal the cluster (chaosha stack status) before asking for the verdict"
        ) from None


def run_ids(settings: Settings, node: str, run: str, timeout: float) -> List[int]:
    """Ids of ``run`` held by ``node`` (raises ``psycopg.Error``)."""
    with connect(settings, node, timeout) as conn:
        return [row[0] for row in conn.execute(IDS_SQL, (run,)).fetchall()]


def _wait_replay(settings: Settings, replicas: List[str], lsn: str, timeout: float) -> Dict[str, Tuple[bool, Any]]:
    state: Dict[str, Tuple[bool, Any]] = {n: (False, None) for n in replicas}

    def caught_up() -> bool:
        for name in replicas:
            if state[name][0]:
                continue
            try:
                with connect(settings, name, min(settings.timeout, 3)) as conn:
                    row = conn.execute(REPLAY_SQL, (lsn,)).fetchone()
                state[name] = (bool(row and row[0]), row[1] if row else None)
            except psycopg.Error as exc:
                state[name] = (False, error_text(exc))
        return all(done for done, _ in state.values())

    try:
        wait_until(caught_up, max(timeout, 0.1), 0.5, "replicas replaying")
    except ActivityFailed:
        pass  # reported per node as caught_up false
    return state


def _patroni(settings: Settings, name: str, timeout: float) -> Dict[str, Any]:
    try:
        body = patroni.status(settings.pg_node(name), timeout)
        return {"role": body.get("role"), "streaming": body.get("replication_state")}
    except (requests.RequestException, ValueError) as exc:
        return {"role": None, "streaming": None, "patroni_error": error_text(exc)}


def audit_cluster(settings: Settings, run: str, timeout: float = 60.0) -> Dict[str, Any]:
    """``{"primary", "final_ids", "target_lsn", "nodes": {name: {reachable,
    address, in_recovery, timeline, caught_up, replay_lsn, ids, role,
    streaming}}}``, all within ``timeout`` seconds.  Raises
    ``ActivityFailed`` when there is no single primary to read from."""
    deadline = Deadline(timeout)
    step = min(settings.timeout, 5)
    primary = find_primary(settings, deadline.remaining())
    try:
        with connect(settings, primary, step) as conn:
            final = [row[0] for row in conn.execute(IDS_SQL, (run,)).fetchall()]
            lsn = str(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])  # type: ignore[index]
    except psycopg.Error as exc:
        raise ActivityFailed(
            f"cannot read run {run} from the primary {primary}: {error_text(exc)}; check the node is up"
        ) from None
    replicas = [n.name for n in settings.pg_nodes if n.name != primary]
    replay = _wait_replay(settings, replicas, lsn, deadline.remaining())
    nodes: Dict[str, Dict[str, Any]] = {}
    identities = _identities(settings, step)
    for name, identity in identities.items():
        node: Dict[str, Any] = {"reachable": "error" not in identity}
        if name in replay:
            node["caught_up"], node["replay_lsn"] = replay[name]
        else:
            node["caught_up"], node["replay_lsn"] = True, lsn
        if node["reachable"]:
            node.update(
                address=identity["address"],
                in_recovery=identity["in_recovery"],
                timeline=identity["timeline"],
                member=identity["member"],
            )
            try:
                node["ids"] = run_ids(settings, name, run, step)
            except psycopg.Error as exc:
                node.update(reachable=False, error=error_text(exc))
        else:
            node["error"] = identity["error"]
        node.update(_patroni(settings, name, min(step, 2)))
        nodes[name] = node
    return {"primary": primary, "final_ids": final, "target_lsn": lsn, "nodes": nodes}


def fault_time(value: Any) -> float:
    """Epoch seconds of a ``fault_at`` given as epoch seconds or ISO-8601;
    0 for empty; ActivityFailed for anything else."""
    if value in (None, "", 0):
        return 0.0
    found = epoch(value)
    if found is None:
        raise ActivityFailed(
            f"fault_at={value!r} is neither epoch seconds nor an ISO-8601 timestamp (2026-11-26T23:05:00Z)"
        )
    return found


def audited_verdict(
    settings: Settings, ledger: Union[str, Path], timeout: float = 120.0, fault_at: float = 0.0
) -> Dict[str, Any]:
    """Audit the cluster for the run of ``ledger`` and compute its verdict.
    When no single primary can be read within ``timeout`` the verdict still
    comes back, with ``passed`` false, the id counts null and the reason
    in ``audit_error``."""
    run = ""
    for record in read_records(ledger):
        if record.get("k") == "run":
            run = str(record["run"])
            # a client writing into another database (the JVM client: Alfresco's)
            if record.get("database"):
                settings = Settings({**settings.values, "CHAOSHA_PG_DATABASE": str(record["database"])})
            break
    if not run:
        raise ActivityFailed(
            f"{ledger} has no run header: it is not a workload ledger, or "
            "the workload never reached the database (see its .log)"
        )
    try:
        audit = audit_cluster(settings, run, timeout)
    except ActivityFailed as exc:
        result = verdict_from_ledger(ledger, [], None, fault_at)
        result.update({key: None for key in UNKNOWN_WITHOUT_AUDIT})
        result["anomalies"]["invisible_commits"] = None  # needs the final ids
        result["anomalies"]["cancelled_sync_acks"]["lost"] = None
        result.update(passed=False, audit_error=str(exc))
        result["reasons"] = reasons_of(result)
        return result
    return verdict_from_ledger(ledger, audit["final_ids"], audit, fault_at)


UNKNOWN_WITHOUT_AUDIT = (
    "lost",
    "lost_ids",
    "unexpected",
    "unexpected_ids",
    "recovered",
    "failed_committed",
    "failed_committed_ids",
    "final",
)
