"""Guards hold during the detection window; every fault is recorded and
heal undoes it; dry runs and refusals record nothing; heal stops the
workload a killed run left behind."""

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha import state as registry
from chaosha.docker import actions, probes
from chaosha.integrity.runner import load_state, process_alive
from chaosha.patroni import actions as patroni_actions
from chaosha.patroni.probes import leader, wait_for_healthy
from chaosha.timing import wait_until
from chaosha.zookeeper import actions as zk_actions
from chaosha.zookeeper import probes as zk_probes

pytestmark = pytest.mark.integration


def test_leader_guard_holds_while_the_cluster_still_lists_a_dead_replica(healthy: Any) -> None:
    """SIGKILL the replica: Patroni's /cluster shows it streaming until its
    ZooKeeper session expires (~20 s).  Killing the leader must be refused
    at every instant of that window."""
    cfg = healthy.configuration
    old_leader = leader(configuration=cfg)
    replica = next(n.name for n in healthy.settings.pg_nodes if n.name != old_leader)
    actions.kill_container(replica, configuration=cfg)
    attempts = 0
    end = time.monotonic() + 25
    while time.monotonic() < end:
        for target, dry in (("@leader", False), (old_leader, True)):
            with pytest.raises(ActivityFailed, match="refusing to take|no member currently has"):
                actions.kill_container(target, dry_run=dry, configuration=cfg)
            attempts += 1
        time.sleep(0.3)
    assert attempts >= 20
    assert probes.container_state(old_leader, configuration=cfg)["running"]
    assert [f["kind"] for f in probes.pending_faults(configuration=cfg)] == ["down"]
    assert actions.heal(configuration=cfg)["healed"][replica] == ["start"]
    wait_for_healthy(120, configuration=cfg)


def _follower(cfg: Any) -> str:
    state = zk_probes.ensemble_status(configuration=cfg)
    return sorted(n for n, s in state["nodes"].items() if s["mode"] == "follower")[0]


@pytest.mark.parametrize("deep", [False, True])
def test_a_sigstopped_zookeeper_member_is_recorded_and_healed(healthy: Any, deep: bool) -> None:
    cfg = healthy.configuration
    node = _follower(cfg)
    zk_actions.kill_node(node, signal="SIGSTOP", configuration=cfg)
    assert [(f["kind"], f["service"]) for f in probes.pending_faults(configuration=cfg)] == [("sigstop", node)]
    wait_until(
        lambda: node not in zk_probes.ensemble_status(configuration=cfg)["serving"],
        15,
        0.5,
        f"{node} to stop answering",
    )
    assert "sigcont" in actions.heal(deep=deep, configuration=cfg)["healed"][node]
    assert probes.pending_faults(configuration=cfg) == []
    wait_until(
        lambda: len(zk_probes.ensemble_status(configuration=cfg)["serving"]) == 3,
        60,
        0.5,
        "all three ZooKeeper members serving",
    )


def test_dry_runs_and_refusals_record_nothing(healthy: Any) -> None:
    cfg, settings = healthy.configuration, healthy.settings
    registry.remember_target(settings, "nothing-yet")
    replica = next(n.name for n in settings.pg_nodes if n.name != leader(configuration=cfg))
    actions.kill_container(replica, dry_run=True, configuration=cfg)
    zk_actions.stop_node(_follower(cfg), dry_run=True, configuration=cfg)
    actions.partition_container(replica, peers="@leader", dry_run=True, configuration=cfg)
    patroni_actions.pause_failover(dry_run=True, configuration=cfg)
    wrong = dict(cfg, CHAOSHA_PATRONI_API_PASSWORD="wrong")
    with pytest.raises(ActivityFailed, match="credentials"):
        patroni_actions.pause_failover(configuration=wrong)
    assert probes.pending_faults(configuration=cfg) == []
    assert registry.last_target(settings) == "nothing-yet"


STARTER = """
import sys, time
from chaosha.integrity.actions import start_workload
start_workload(duration_s=300, rate=50, configuration={"CHAOSHA_ENV_FILE": sys.argv[1]})
print("started", flush=True)
time.sleep(600)
"""


def test_heal_stops_the_workload_a_killed_run_left_behind(healthy: Any) -> None:
    cfg, settings = healthy.configuration, healthy.settings
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, cfg["CHAOSHA_ENV_FILE"]], stdout=subprocess.PIPE, text=True
    )
    try:
        assert starter.stdout is not None and starter.stdout.readline().strip() == "started"
        state = load_state(settings)
        pid, run = int(state["pid"]), str(state["run_id"])
        os.kill(starter.pid, signal.SIGKILL)  # like a `chaos run` killed outright
        starter.wait(10)
        time.sleep(1)
        assert process_alive(pid, run), "the orphan keeps writing"
        assert actions.heal(configuration=cfg)["healed"]["workload"] == [f"stopped:{run}"]
        assert not process_alive(pid, run)
        assert "workload" not in actions.heal(configuration=cfg)["healed"]
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait(10)
