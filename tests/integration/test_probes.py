"""Every probe and action not already driven by the fault and experiment
tests, against the real stack, plus bad input."""

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.docker import actions as docker_actions
from chaosha.docker import probes as docker_probes
from chaosha.haproxy.probes import backend_states, reached_node
from chaosha.patroni import actions as patroni_actions
from chaosha.patroni import probes as patroni_probes
from chaosha.postgres import probes as pg
from chaosha.timing import wait_until

pytestmark = pytest.mark.integration


def test_patroni_members_history_and_health(stack):
    cfg = stack.configuration
    members = patroni_probes.members(configuration=cfg)
    assert sorted(m["name"] for m in members) == ["pg1", "pg2"]
    leader = patroni_probes.leader(configuration=cfg)
    assert [m["role"] for m in members if m["name"] == leader] == ["leader"]
    health = patroni_probes.cluster_health(configuration=cfg)
    assert health["healthy"] and health["leader"] == leader
    assert all({"timeline", "at", "new_leader"} <= set(h) for h in patroni_probes.history(configuration=cfg))


def test_postgres_probes_agree_with_patroni(stack):
    cfg = stack.configuration
    leader = patroni_probes.leader(configuration=cfg)
    replica = next(n for n in ("pg1", "pg2") if n != leader)
    assert pg.is_primary(leader, configuration=cfg) and not pg.is_primary(replica, configuration=cfg)
    roles = pg.node_roles(configuration=cfg)
    assert roles["primaries"] == [leader] and roles["nodes"][replica]["role"] == "replica"
    status = pg.replication_status(configuration=cfg)
    assert status["streaming"] == 1 and status["standbys"][0]["name"] == replica
    assert pg.timeline(leader, configuration=cfg) == pg.timeline("rw", configuration=cfg)
    assert pg.write_succeeds(configuration=cfg)
    assert pg.row_count("chaosha_probe", configuration=cfg) >= 1
    assert not pg.write_succeeds("ro", configuration=cfg)  # replicas refuse writes


def test_haproxy_ports_reach_the_right_nodes(stack):
    cfg = stack.configuration
    leader = patroni_probes.leader(configuration=cfg)
    replica = next(n for n in ("pg1", "pg2") if n != leader)

    def settled() -> bool:
        # right after a previous test's switchover HAProxy may still be
        # checking (rise 2 on the read-only port): wait for its backends
        up = {b: backend_states(b, configuration=cfg)["up"] for b in ("primary", "replicas")}
        return up == {"primary": [leader], "replicas": [replica]}

    wait_until(settled, 20, 0.25, "HAProxy's backends to list the leader and the replica")
    assert reached_node("rw", configuration=cfg)["node"] == leader
    ro = reached_node("ro", configuration=cfg)
    assert ro["reached"] and ro["in_recovery"] and ro["node"] == replica


def test_switchover_to_a_named_candidate_then_failover_back(healthy):
    cfg = healthy.configuration
    leader = patroni_probes.leader(configuration=cfg)
    other = next(n for n in ("pg1", "pg2") if n != leader)
    done = patroni_actions.switchover(candidate=other, configuration=cfg)
    assert done["previous_leader"] == leader and done["leader"] == other
    patroni_probes.wait_for_healthy(120, configuration=cfg)

    def old_leader_is_sync() -> bool:  # failover refuses a candidate that may lack acknowledged commits
        return any(
            m["name"] == leader and m["role"] == "sync_standby" for m in patroni_probes.members(configuration=cfg)
        )

    wait_until(old_leader_is_sync, 60, 0.5, f"{leader} to be the synchronous standby")
    back = patroni_actions.failover(candidate=leader, configuration=cfg)
    assert back["leader"] == leader


def test_pause_and_resume_automatic_failover(healthy):
    cfg = healthy.configuration
    try:
        patroni_actions.pause_failover(configuration=cfg)
        assert patroni_probes.cluster_health(configuration=cfg)["paused"] is True
    finally:
        patroni_actions.resume_failover(configuration=cfg)
    patroni_probes.wait_for_healthy(60, configuration=cfg)
    assert docker_probes.pending_faults(configuration=cfg) == []


def test_heal_resumes_failover_that_chaosha_paused(healthy):
    cfg = healthy.configuration
    patroni_actions.pause_failover(configuration=cfg)
    assert [f["kind"] for f in docker_probes.pending_faults(configuration=cfg)] == ["patroni-pause"]
    assert docker_actions.heal(configuration=cfg)["healed"]["patroni"] == ["resume-failover"]
    assert patroni_probes.cluster_health(configuration=cfg)["paused"] is False


def test_container_probes_and_restart(healthy):
    cfg = healthy.configuration
    services = {c["service"] for c in docker_probes.project_containers(configuration=cfg)}
    assert {"haproxy", "pg1", "pg2", "zk1", "zk2", "zk3"} <= services
    before = docker_probes.container_state("haproxy", configuration=cfg)["started_at"]
    docker_actions.restart_container("haproxy", grace_s=2, configuration=cfg)
    after = docker_probes.container_state("haproxy", configuration=cfg)
    assert after["running"] and after["started_at"] != before
    assert docker_actions.start_container("haproxy", configuration=cfg)["service"] == "haproxy"


def test_bad_input_gets_a_clear_error_and_changes_nothing(stack, tmp_path):
    cfg = stack.configuration
    leader = patroni_probes.leader(configuration=cfg)
    with pytest.raises(ActivityFailed, match="unknown PostgreSQL node 'pg7'"):
        patroni_actions.switchover(candidate="pg7", configuration=cfg)
    with pytest.raises(ActivityFailed, match="already leads"):
        patroni_actions.switchover(candidate=leader, configuration=cfg)
    with pytest.raises(ActivityFailed, match="not a duration"):
        docker_actions.stop_container("pg1", grace_s="soonish", configuration=cfg)
    with pytest.raises(ActivityFailed, match="refused the credentials"):
        patroni_actions.pause_failover(configuration=dict(cfg, CHAOSHA_PATRONI_API_PASSWORD="wrong"))
    with pytest.raises(ActivityFailed, match="no Patroni REST API answered"):
        patroni_probes.leader(configuration=dict(cfg, CHAOSHA_PG1_API_PORT="1", CHAOSHA_PG2_API_PORT="2"))
    with pytest.raises(ActivityFailed, match="password authentication failed"):
        pg.is_primary(leader, configuration=dict(cfg, CHAOSHA_PG_PASSWORD="wrong"))
    assert pg.write_succeeds(configuration=dict(cfg, CHAOSHA_RW_PORT="1")) is False
    assert patroni_probes.leader(configuration=cfg) == leader
    assert patroni_probes.cluster_health(configuration=cfg)["paused"] is False
