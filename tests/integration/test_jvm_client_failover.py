"""The JVM client (pgjdbc + DBCP2 with the alfresco profile's settings) on
the real stack: through a leader kill nothing acknowledged is lost, every
commit names its member, the Alfresco-shaped rows of every committed
attempt are there exactly once, and a row removed behind its back is
caught."""

import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from chaosha.alfresco.actions import start_alfresco_client, stop_alfresco_client
from chaosha.clients.postgres import connect
from chaosha.config import load
from chaosha.docker.actions import heal, kill_container
from chaosha.integrity.audit import find_primary
from chaosha.integrity.ledger import read_records
from chaosha.integrity.probes import workload_progress, workload_verdict
from chaosha.patroni.probes import wait_for_healthy
from chaosha.timing import wait_until

pytestmark = pytest.mark.integration

PROPS_SQL = (
    "SELECT p.string_value::bigint, count(*) FROM chaosha_alf.alf_node_properties p "
    "JOIN chaosha_alf.alf_node n ON n.id = p.node_id "
    "JOIN chaosha_alf.alf_child_assoc a ON a.child_node_id = n.id "
    "WHERE p.qname = 'chaosha:ledgerId' AND a.parent_name = %s GROUP BY 1"
)


def _committed_nodes(cfg: Dict[str, str], run: str) -> Dict[int, int]:
    """Ledger id -> number of complete node rows, read from the primary's
    Alfresco database."""
    settings = load({**cfg, "CHAOSHA_PG_DATABASE": "alfresco"})
    with connect(settings, find_primary(settings, 60)) as conn:
        return {int(i): int(n) for i, n in conn.execute(PROPS_SQL, ("chaos-probe-" + run,)).fetchall()}


def _acked(ledger: str) -> List[Dict[str, Any]]:
    return [r for r in read_records(ledger) if r.get("k") == "w" and r.get("r") == "ok"]


def test_jvm_client_rides_out_a_leader_kill(healthy: Any, tmp_path: Path) -> None:
    cfg = {**healthy.configuration, "CHAOSHA_STATE_DIR": str(tmp_path)}
    started = start_alfresco_client(duration_s=120, rate=40, threads=4, configuration=cfg)
    assert started["settings"]["db.pool.validate.borrow"] == "true"
    assert "socketTimeout=" in started["settings"]["db.url"] and "alfresco" in started["settings"]["db.url"]
    run = started["run_id"]
    time.sleep(3)
    before = len(_acked(started["ledger"]))
    kill_container("@leader", configuration=cfg)
    killed_at = time.time()

    def committed_again() -> bool:
        return any(w["t1"] > killed_at + 1 for w in _acked(started["ledger"]))

    wait_until(committed_again, 90, 0.5, "a commit after the leader kill")
    time.sleep(2)
    stopped = stop_alfresco_client(run, configuration=cfg)
    assert stopped["stopped"] == "terminated" and stopped["ops"].get("ok", 0) > 20
    heal(configuration=cfg)
    wait_for_healthy(180, configuration=cfg)
    verdict = workload_verdict(run, stop=False, heal_timeout_s=120, fault_at=str(killed_at), configuration=cfg)
    assert verdict["passed"] is True, verdict["reasons"]
    assert verdict["lost"] == 0 and verdict["unexpected"] == 0 and verdict["failed_committed"] == 0
    assert verdict["duplicate_commits"] == 0 and verdict["duplicate_unexplained"] == 0
    assert verdict["acknowledged"] > before > 20
    # records attributed: every commit names its member, on both sides of the failover
    assert verdict["acks_member_reported"] == verdict["acknowledged"]
    assert len(verdict["acks_by_member"]) == 2, verdict["acks_by_member"]
    assert verdict["failed_attempts"] >= 1 and verdict["app_rto_s"] is not None
    # the Alfresco-shaped rows: every committed attempt left one complete node
    nodes = _committed_nodes(cfg, run)
    acked = {int(w["id"]) for w in _acked(started["ledger"])}
    assert acked <= set(nodes) and set(nodes.values()) == {1}


def test_a_node_deleted_behind_the_clients_back_is_lost(healthy: Any, tmp_path: Path) -> None:
    cfg = {**healthy.configuration, "CHAOSHA_STATE_DIR": str(tmp_path)}
    started = start_alfresco_client(duration_s=60, rate=40, threads=2, configuration=cfg)
    time.sleep(2)
    assert workload_progress(started["run_id"], configuration=cfg)["ok"] > 5
    stopped = stop_alfresco_client(started["run_id"], configuration=cfg)
    assert stopped["stopped"] == "terminated" and stopped["reason"] == "signal"
    victim = _acked(started["ledger"])[3]["id"]
    settings = load({**cfg, "CHAOSHA_PG_DATABASE": "alfresco"})
    with connect(settings, find_primary(settings, 30)) as conn:
        deleted = conn.execute(
            "DELETE FROM chaosha_ledger WHERE run = %s AND id = %s", (started["run_id"], victim)
        ).rowcount
    assert deleted == 1
    verdict = workload_verdict(started["run_id"], configuration=cfg)
    assert verdict["lost_ids"] == [victim] and verdict["passed"] is False
    assert verdict["writer_ended_cleanly"] is True and verdict["retries"] == 0
