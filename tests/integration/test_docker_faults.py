"""Docker faults against the real stack: each one injected, observed, undone."""

import time

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.config import load
from chaosha.docker import actions, probes
from chaosha.haproxy.probes import backend_states, routes_to_leader
from chaosha.patroni.probes import cluster_health, leader, wait_for_healthy, wait_for_leader
from chaosha.postgres.probes import replication_status, write_succeeds
from chaosha.timing import wait_until

pytestmark = pytest.mark.integration


def replica_of(cfg):
    return next(n.name for n in load(cfg).pg_nodes if n.name != leader(configuration=cfg))


def test_unknown_service_is_refused_before_anything_happens(healthy):
    with pytest.raises(ActivityFailed, match="no container of service 'nope'"):
        actions.kill_container("nope", configuration=healthy.configuration)
    with pytest.raises(ActivityFailed, match="unknown signal"):
        actions.kill_container("pg1", signal="SIGNOPE", configuration=healthy.configuration)


def test_dry_run_reports_and_does_nothing(healthy):
    cfg = healthy.configuration
    before = leader(configuration=cfg)
    plan = actions.kill_container("@leader", dry_run=True, configuration=cfg)
    assert plan == {"dry_run": True, "would": f"send SIGKILL to {before}", "service": before}
    assert probes.container_state(before, configuration=cfg)["running"]


def test_kill_leader_fails_over_and_heal_rejoins_old_leader(healthy):
    cfg = healthy.configuration
    old = leader(configuration=cfg)
    result = actions.kill_container("@leader", configuration=cfg)
    assert result["service"] == old and result["signal"] == "SIGKILL"
    assert not probes.container_state(old, configuration=cfg)["running"]
    new = wait_for_leader(60, exclude=old, configuration=cfg)["leader"]
    assert new != old
    wait_until(lambda: routes_to_leader(configuration=cfg)["routes_to_leader"], 20, 0.5, "routing")
    assert write_succeeds(configuration=cfg)
    actions.heal(configuration=cfg)
    health = wait_for_healthy(120, configuration=cfg)
    assert health["leader"] == new and health["streaming"] == [old]


def test_guard_refuses_to_take_down_the_last_serving_node(healthy):
    cfg = healthy.configuration
    replica = replica_of(cfg)
    actions.stop_container(replica, grace_s=5, configuration=cfg)
    with pytest.raises(ActivityFailed, match="no other PostgreSQL node is serving"):
        actions.kill_container("@leader", configuration=cfg)
    assert write_succeeds(configuration=cfg)


def test_pause_and_unpause_replica(healthy):
    cfg = healthy.configuration
    replica = replica_of(cfg)
    result = actions.pause_container(replica, configuration=cfg)
    assert result["method"] in ("docker", "cgroup", "sigstop")
    assert probes.container_state(replica, configuration=cfg)["paused"]
    assert [f["kind"] for f in probes.pending_faults(configuration=cfg)] == ["pause"]
    actions.unpause_container(replica, configuration=cfg)
    assert not probes.container_state(replica, configuration=cfg)["paused"]
    assert probes.pending_faults(configuration=cfg) == []


def test_partition_replica_from_leader_stops_streaming_until_healed(healthy):
    cfg = healthy.configuration
    replica = replica_of(cfg)
    actions.partition_container(replica, peers="@leader", configuration=cfg)
    wait_until(
        lambda: replication_status(configuration=cfg)["streaming"] == 0, 60, 1, "the leader to lose its replica"
    )
    actions.heal_partition(replica, configuration=cfg)
    wait_for_healthy(90, configuration=cfg)


def test_latency_slows_synchronous_commits_or_is_refused_cleanly(healthy):
    """Where the kernel has netem, latency slows synchronous commits and is
    removed; where it has not (this project's CI kernel), the action says so
    and leaves nothing behind."""
    cfg = healthy.configuration
    replica = replica_of(cfg)

    def commit_seconds():
        start = time.monotonic()
        assert write_succeeds(configuration=cfg)
        return time.monotonic() - start

    try:
        actions.add_latency(replica, delay_s=0.3, configuration=cfg)
    except ActivityFailed as exc:
        assert "has no netem" in str(exc)
        assert probes.pending_faults(configuration=cfg) == []
        return
    slow = min(commit_seconds() for _ in range(3))
    actions.remove_latency(replica, configuration=cfg)
    fast = min(commit_seconds() for _ in range(3))
    assert slow >= 0.3 > fast


def test_random_packet_loss_between_replica_and_leader(healthy):
    cfg = healthy.configuration
    replica = replica_of(cfg)
    plan = actions.partition_container(replica, peers="@leader", loss_percent=30, dry_run=True, configuration=cfg)
    assert "--probability 0.3000" in plan["would"]
    actions.partition_container(replica, peers="@leader", loss_percent=30, configuration=cfg)
    assert [f["kind"] for f in probes.pending_faults(configuration=cfg)] == ["partition"]
    actions.heal_partition(replica, configuration=cfg)
    assert probes.pending_faults(configuration=cfg) == []


def test_disconnect_and_reconnect_keeps_the_service_dns_name(healthy):
    cfg = healthy.configuration
    replica = replica_of(cfg)
    actions.disconnect_network(replica, configuration=cfg)
    wait_until(
        lambda: backend_states("replicas", configuration=cfg)["up_count"] == 0,
        30,
        0.5,
        "HAProxy to mark the replica down",
    )
    actions.reconnect_network(replica, configuration=cfg)
    wait_until(
        lambda: replica in backend_states("replicas", configuration=cfg)["up"],
        60,
        0.5,
        "HAProxy to find the replica again by its name",
    )


def test_heal_undoes_several_faults_at_once(healthy):
    cfg = healthy.configuration
    replica = replica_of(cfg)
    actions.partition_container("haproxy", peers=replica, configuration=cfg)
    actions.pause_container(replica, configuration=cfg)
    assert len(probes.pending_faults(configuration=cfg)) == 2
    healed = actions.heal(configuration=cfg)["healed"]
    assert "unpause:docker" in healed[replica] and "clear-netfilter" in healed["haproxy"]
    assert probes.pending_faults(configuration=cfg) == []
    assert not probes.container_state(replica, configuration=cfg)["paused"]
    assert cluster_health(configuration=cfg)["leaders"]


def test_heal_continues_a_sigstopped_container(healthy):
    cfg = healthy.configuration
    replica = replica_of(cfg)
    actions.kill_container(replica, signal="SIGSTOP", configuration=cfg)
    assert [f["kind"] for f in probes.pending_faults(configuration=cfg)] == ["sigstop"]
    assert actions.heal(configuration=cfg)["healed"][replica] == ["sigcont"]
    assert probes.pending_faults(configuration=cfg) == []
    wait_for_healthy(60, configuration=cfg)
