"""The checker's anomalies on the real stack: none through a switchover
with eight writers and a reader on each port, and the real thing when a
replica is cut off from the leader or the only synchronous standby freezes."""

import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from chaosha.clients import patroni
from chaosha.config import load
from chaosha.docker.actions import heal_partition, partition_container, pause_container, unpause_container
from chaosha.haproxy.probes import wait_for_route
from chaosha.integrity.actions import start_workload
from chaosha.integrity.ledger import read_records
from chaosha.integrity.probes import workload_verdict
from chaosha.patroni.actions import switchover
from chaosha.patroni.probes import wait_for_healthy

pytestmark = pytest.mark.integration

FAILING = ("stale_reads", "invisible_commits", "demoted_reads", "cancelled_sync_acks")
# 4 persistent + 4 fresh-connection writers, a reader on each port
EIGHT = {"writers": 4, "fresh_writers": 4, "rate": 50, "fresh_rate": 10, "rw_reads": True}


def config(stack: Any, tmp_path: Path) -> Dict[str, str]:
    return {**stack.configuration, "CHAOSHA_STATE_DIR": str(tmp_path)}


def counts(verdict: Dict[str, Any]) -> Dict[str, int]:
    return {name: verdict["anomalies"][name]["count"] for name in FAILING}


def ro_reads(ledger: str) -> List[Dict[str, Any]]:
    """The ledger's successful reads on the read-only port."""
    return [r for r in read_records(ledger) if r.get("k") == "r" and r.get("r") == "ok" and r.get("via") == "ro"]


def replica_read_by(ledger: str, within_s: float) -> str:
    """The member that answered the reader's latest successful read on the
    read-only port, polled until a few have arrived."""
    deadline = time.monotonic() + within_s
    while True:
        members = [r["member"] for r in ro_reads(ledger) if r.get("member")]
        if len(members) >= 5:
            return str(members[-1])
        assert time.monotonic() < deadline, f"no read on the read-only port in {within_s} s"
        time.sleep(0.5)


def test_eight_writers_and_two_readers_through_a_switchover_show_no_anomaly(healthy: Any, tmp_path: Path) -> None:
    cfg = config(healthy, tmp_path)
    started = start_workload(duration_s=90, **EIGHT, configuration=cfg)
    time.sleep(3)
    moved = switchover(timeout_s=60, configuration=cfg)
    wait_for_route(60, new_leader=True, configuration=cfg)
    wait_for_healthy(120, configuration=cfg)
    time.sleep(3)
    verdict = workload_verdict(started["run_id"], configuration=cfg)
    print({k: verdict[k] for k in ("anomalies", "no_sync_exposure_s", "reads_by_port", "acks_by_member")})
    assert verdict["lost"] == 0 and verdict["passed"] is True, verdict["reasons"]
    assert counts(verdict) == dict.fromkeys(FAILING, 0), verdict["anomalies"]
    writes = [r for r in read_records(started["ledger"]) if r.get("k") == "w"]
    assert {r.get("writer", 1) for r in writes if not r.get("fresh")} == {1, 2, 3, 4}
    assert {r["fresh"] for r in writes if r.get("fresh")} == {1, 2, 3, 4}
    ports = verdict["reads_by_port"]
    members = {str(m["name"]) for m in patroni.members(load(cfg), 5)}
    # the read-write port answered by the old leader, then by the new one; every read names its member
    assert set(ports["rw"]["members"]) == {moved["previous_leader"], moved["leader"]}, ports
    assert ports["ro"]["ok"] > 20 and set(ports["ro"]["members"]) <= members, ports
    reads = [r for r in read_records(started["ledger"]) if r.get("k") == "r" and r.get("seen") is not None]
    # each read checked the recent ids one by one, not only the highest
    assert all(r["floor"] <= r["hi"] <= r["seen"] for r in reads[-20:]), reads[-20:]
    assert any(r["seen"] - r["floor"] > 10 for r in reads), "reads never checked a window of ids"


def test_a_replica_cut_off_from_the_leader_serves_stale_reads_for_seconds_only(
    healthy: Any, tmp_path: Path
) -> None:
    cfg = config(healthy, tmp_path)
    settings = load(cfg)
    leader = patroni.leader_name(settings, 5)
    # a 1 s lag budget, so the seconds before the replica is dropped show as stale reads
    started = start_workload(duration_s=60, rate=50, fresh_writers=0, max_read_lag_s=1, configuration=cfg)
    # the reader keeps one connection, so the replica HAProxy gave it is the one to cut (the
    # other replica would serve fresh reads: no stale read to see)
    reading = replica_read_by(started["ledger"], 20)
    assert reading != leader, reading
    # WAL stops reaching the replica; its walreceiver waits for wal_receiver_timeout (5 s), so
    # Patroni says "streaming" and HAProxy keeps sending reads to it until then and its check
    # fails (<= 3.25 s more).  The leader drops it as synchronous standby after
    # wal_sender_timeout (5 s), and commits go on.  A 20 s cut leaves the bound below 7 s before
    # the heal, where a replica that kept serving is seen.
    cut = partition_container(target=reading, peers=leader, ports="5432", configuration=cfg)
    try:
        time.sleep(20)
    finally:
        healed_at = time.time()
        heal_partition(target=cut["service"], configuration=cfg)
    wait_for_healthy(120, configuration=cfg)
    time.sleep(2)
    verdict = workload_verdict(started["run_id"], configuration=cfg)
    stale = verdict["anomalies"]["stale_reads"]
    print(stale["count"], stale["records"][:3], verdict["no_sync_exposure_s"])
    # stale beyond the 1 s budget for a few seconds at 20 reads/s (never beyond 5 s: the
    # catalogue's budget), then no longer served (the default 60 s wal_receiver_timeout kept
    # it serving for the whole cut)
    assert stale["count"] > 10, stale
    # from when the rules were in place (the call's return: under CI's load the docker call itself
    # took seconds), wal_receiver_timeout, HAProxy's lag, slack (CI saw a last read 10.7 s after the call)
    bound = cut["at"] + cut["took_s"] + 5 + 3.25 + 5
    served = [r["t0"] for r in ro_reads(started["ledger"]) if r.get("member") == cut["service"]]
    assert [t for t in served if bound < t < healed_at] == [], (cut["at"], cut["took_s"], healed_at)
    assert {r["node"] for r in stale["records"]} == {cut["service"]} and {r["via"] for r in stale["records"]} == {
        "ro"
    }
    assert verdict["lost"] == 0 and verdict["passed"] is False
    assert any("(stale_reads)" in reason for reason in verdict["reasons"]), verdict["reasons"]
    assert counts(verdict)["demoted_reads"] == 0 and counts(verdict)["invisible_commits"] == 0


def test_a_frozen_sync_standby_gives_cancelled_sync_acks_then_exposure(healthy: Any, tmp_path: Path) -> None:
    cfg = config(healthy, tmp_path)
    started = start_workload(duration_s=60, rate=50, fresh_writers=0, configuration=cfg)
    time.sleep(2)
    pause_container(target="@sync", configuration=cfg)
    try:
        # commits wait, the writer's 3 s deadline cancels the wait (acknowledged locally), until
        # the walsender times out (5 s) and Patroni drops the standby (loop 2 s): no sync standby
        time.sleep(14)
    finally:
        unpause_container(target="@faulted", configuration=cfg)
    wait_for_healthy(120, configuration=cfg)
    time.sleep(2)
    verdict = workload_verdict(started["run_id"], configuration=cfg)
    cancelled, exposed = verdict["anomalies"]["cancelled_sync_acks"], verdict["anomalies"]["no_sync_acks"]
    print(cancelled, {k: exposed[k] for k in ("count", "exposure_s", "intervals")})
    unsynced = [r["id"] for r in read_records(started["ledger"]) if r.get("k") == "w" and r.get("sync") is False]
    assert cancelled["count"] == len(unsynced) > 0 and cancelled["ids"] == sorted(unsynced)[:100]
    assert exposed["count"] > 10 and exposed["exposure_s"] > 2, exposed
    assert verdict["no_sync_exposure_s"] == exposed["exposure_s"]
    assert verdict["lost"] == 0 and verdict["passed"] is False
    assert any("(cancelled_sync_acks)" in reason for reason in verdict["reasons"]), verdict["reasons"]
    assert not any("no_sync" in reason for reason in verdict["reasons"])  # exposure is reported only
