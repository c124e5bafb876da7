"""The JVM client (pgjdbc + DBCP2 with the alfresco profile's settings) on
the real stack: through a switchover and (the experiment variant) a leader
kill nothing acknowledged is lost, every
commit names its member, the Alfresco-shaped rows of every committed
attempt are there exactly once, and a row removed behind its back is
caught; heal stops a client whose starter died."""

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
from chaos_runs import ROOT, chaos_run

from chaosha.alfresco.actions import start_alfresco_client, stop_alfresco_client
from chaosha.clients.postgres import connect
from chaosha.config import load
from chaosha.docker.actions import heal
from chaosha.integrity.audit import find_primary
from chaosha.integrity.ledger import read_records
from chaosha.integrity.probes import workload_progress, workload_verdict
from chaosha.integrity.runner import process_alive
from chaosha.patroni.actions import switchover
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


def test_jvm_client_rides_out_a_switchover(healthy: Any, tmp_path: Path) -> None:
    cfg = {**healthy.configuration, "CHAOSHA_STATE_DIR": str(tmp_path)}
    started = start_alfresco_client(duration_s=120, rate=40, threads=4, configuration=cfg)
    assert started["settings"]["db.pool.validate.borrow"] == "true"
    assert "socketTimeout=" in started["settings"]["db.url"] and "/alfresco?" in started["settings"]["db.url"]
    run = started["run_id"]
    time.sleep(3)
    before = len(_acked(started["ledger"]))
    switched = switchover(timeout_s=60, configuration=cfg)
    at = time.time()
    wait_until(lambda: any(w["t1"] > at + 1 for w in _acked(started["ledger"])), 90, 0.5, "a commit after it")
    stopped = stop_alfresco_client(run, configuration=cfg)
    assert stopped["stopped"] == "terminated" and stopped["ops"].get("ok", 0) > before > 20
    wait_for_healthy(120, configuration=cfg)
    verdict = workload_verdict(run, stop=False, heal_timeout_s=120, configuration=cfg)
    assert verdict["passed"] is True, verdict["reasons"]
    assert verdict["lost"] == 0 and verdict["unexpected"] == 0 and verdict["failed_committed"] == 0
    assert verdict["duplicate_commits"] == 0 and verdict["duplicate_unexplained"] == 0
    # records attributed: every commit names its member, both leaders seen
    assert verdict["acks_member_reported"] == verdict["acknowledged"]
    assert set(verdict["acks_by_member"]) == {switched["previous_leader"], switched["leader"]}
    # a pool: most commits ran on a connection handed out before
    reused = [w for w in _acked(started["ledger"]) if w.get("reused")]
    assert len(reused) > verdict["acknowledged"] // 2
    # the Alfresco-shaped rows: every committed attempt left one complete node
    nodes = _committed_nodes(cfg, run)
    acked = {int(w["id"]) for w in _acked(started["ledger"])}
    assert acked <= set(nodes) and set(nodes.values()) == {1}


def test_the_experiment_variant_with_the_jvm_client(healthy: Any) -> None:
    name = "alfresco-jdbc-write-during-failover"
    folder = ROOT / ".chaosha" / "journals"
    proc = chaos_run(healthy.configuration["CHAOSHA_ENV_FILE"], name, folder)
    output, _ = proc.communicate(timeout=600)
    journal = json.loads((folder / f"{name}.json").read_text())
    assert journal["status"] == "completed" and journal["deviated"] is False, output[-3000:]
    verdict = next(r["output"] for r in journal["run"] if r["activity"]["name"] == "integrity-verdict")
    assert verdict["passed"] is True and verdict["lost"] == 0, verdict["reasons"]
    assert verdict["ops"] > 0 and verdict["failed_attempts"] > 0 and len(verdict["acks_by_member"]) == 2
    assert proc.returncode == 0


def test_heal_stops_an_orphaned_jvm_client(healthy: Any, tmp_path: Path) -> None:
    cfg = {**healthy.configuration, "CHAOSHA_STATE_DIR": str(tmp_path)}
    starter = (
        "import json, os, sys; from chaosha.alfresco.actions import start_alfresco_client; "
        "s = start_alfresco_client(duration_s=300, rate=5, threads=1, configuration=json.loads(sys.argv[1])); "
        "print(s['pid'], s['ledger'], flush=True); os._exit(0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", starter, json.dumps(cfg)], capture_output=True, text=True, timeout=180, check=True
    )
    pid, ledger = int(out.stdout.split()[-2]), out.stdout.split()[-1]
    run = Path(ledger).stem
    assert process_alive(pid, run)  # the JVM outlived its starter
    healed = heal(configuration=cfg)
    assert healed["healed"].get("workload") == [f"stopped:{run}"], healed
    assert not process_alive(pid, run)  # gone, or a zombie its new parent has not reaped yet
    # stopped by SIGTERM: the client wrote its end record
    assert [r.get("reason") for r in read_records(ledger) if r.get("k") == "end"] == ["signal"]


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
