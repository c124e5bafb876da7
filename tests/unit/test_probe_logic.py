"""The pure decisions of the Patroni and HAProxy probes, with fakes for
the REST API and the connection: what counts as healthy, what counts as
routed, and that a silent peer never delays an answer."""

import time
from typing import Any, Dict, List, Sequence

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.clients import patroni
from chaosha.haproxy import probes as haproxy
from chaosha.patroni import probes as patroni_probes
from chaosha.timing import first_answer

CFG = {"CHAOSHA_ENV_FILE": "/nonexistent/.env", "CHAOSHA_PG_NODES": "pg1,pg2,pg3"}


def member(name: str, role: str, state: str, timeline: int = 3, lag: Any = 0) -> Dict[str, Any]:
    return {"name": name, "role": role, "state": state, "timeline": timeline, "lag": lag}


HEALTHY = [
    member("pg1", "leader", "running"),
    member("pg2", "sync_standby", "streaming"),
    member("pg3", "replica", "streaming", lag=100),
]


def fake_liveness(monkeypatch, silent: Sequence[str] = (), replies: Any = None) -> List[str]:
    """Fake each node's own REST API (``silent`` ones do not answer) and the
    leader's pg_stat_replication (``replies``: rows; default every replica
    replied just now).  Returns the targets the SQL was asked of."""
    asked: List[str] = []
    rows = replies if replies is not None else [("pg2", 0.2, True), ("pg3", 0.4, False)]

    def status(settings: Any, node: Any, timeout: float = 0) -> Any:
        return None if node.name in silent else {"state": "running"}

    def query(settings: Any, target: str, sql: str, params: Any = None, timeout: float = 0) -> Any:
        asked.append(target)
        if rows == "down":
            raise patroni.ActivityFailed(f"PostgreSQL {target} failed")
        return rows

    monkeypatch.setattr(patroni, "node_status", status)
    monkeypatch.setattr(patroni_probes, "query", query)
    return asked


@pytest.mark.parametrize(
    "members,pause,reason",
    [
        (HEALTHY, False, ""),
        ([*HEALTHY[:2], member("pg3", "replica", "streaming", lag=5_000_000)], False, "1 of 2 replicas"),
        ([*HEALTHY[:2], member("pg3", "replica", "streaming", timeline=2)], False, "1 of 2 replicas"),
        ([*HEALTHY[:2], member("pg3", "replica", "stopped")], False, "1 of 2 replicas"),
        ([*HEALTHY[:2], member("pg3", "replica", "streaming", lag="unknown")], False, "1 of 2 replicas"),
        (
            [member("pg1", "leader", "running"), member("pg2", "leader", "running"), HEALTHY[2]],
            False,
            "2 running leaders",
        ),
        (HEALTHY[1:], False, "0 running leaders"),
        (HEALTHY, True, "automatic failover is paused"),
    ],
)
def test_cluster_health_decides_from_the_cluster_view(
    monkeypatch, members: List[Dict[str, Any]], pause: bool, reason: str
) -> None:
    monkeypatch.setattr(
        patroni, "cluster", lambda settings, timeout=0: ({"members": members, "pause": pause}, "pg2")
    )
    fake_liveness(monkeypatch)
    health = patroni_probes.cluster_health(1_048_576, configuration=CFG)
    assert health["healthy"] is (reason == "")
    assert reason in health["reason"]


@pytest.mark.parametrize(
    "silent,replies,reason",
    [
        # a frozen or cut-off standby: Patroni's cached view still says streaming
        (["pg2"], None, "pg2's REST API does not answer"),
        ([], [("pg2", 4.5, True), ("pg3", 0.1, False)], "pg2 last replied 4.5 s ago while WAL waits"),
        ([], [("pg2", None, True), ("pg3", 0.1, False)], "pg2 last replied never"),
        ([], [("pg3", 0.1, False)], "pg2 is not in the leader's pg_stat_replication"),  # walsender timed out
        ([], "down", "the leader's PostgreSQL does not answer"),
        (["pg1"], None, "pg1's REST API does not answer"),  # a frozen leader
    ],
)
def test_cluster_health_sees_commits_waiting_behind_a_healthy_looking_view(
    monkeypatch, silent: List[str], replies: Any, reason: str
) -> None:
    monkeypatch.setattr(patroni, "cluster", lambda settings, timeout=0: ({"members": HEALTHY}, "pg3"))
    asked = fake_liveness(monkeypatch, silent, replies)
    health = patroni_probes.cluster_health(1_048_576, configuration=CFG)
    assert health["healthy"] is False and reason in health["reason"], health["reason"]
    assert asked == ["pg1"]  # replication as the leader sees it, not as HAProxy's port does
    assert health["silent"] == silent


@pytest.mark.parametrize(
    "replies",
    [
        [("pg2", 0.9, True), ("pg3", 0.2, True)],  # busy and replying
        [("pg2", 60.0, False), ("pg3", 600.0, False)],  # idle: nothing waits, however old the reply
        [("pg2", 2.9, True), ("pg3", 0.0, False)],  # just within the limit
    ],
)
def test_an_idle_or_busy_healthy_cluster_raises_no_alarm(monkeypatch, replies: Any) -> None:
    monkeypatch.setattr(patroni, "cluster", lambda settings, timeout=0: ({"members": HEALTHY}, "pg1"))
    fake_liveness(monkeypatch, [], replies)
    health = patroni_probes.cluster_health(1_048_576, max_reply_age_s=3, configuration=CFG)
    assert health["healthy"] is True, health["reason"]
    assert health["reply_age_s"] == {name: age for name, age, _ in replies}


def test_without_one_leader_no_replication_is_asked(monkeypatch) -> None:
    monkeypatch.setattr(patroni, "cluster", lambda settings, timeout=0: ({"members": HEALTHY[1:]}, "pg2"))
    asked = fake_liveness(monkeypatch)
    health = patroni_probes.cluster_health(configuration=CFG)
    assert asked == [] and health["healthy"] is False
    assert "0 running leaders" in health["reason"] and "pg_stat_replication" not in health["reason"]


def test_an_unreachable_cluster_is_unhealthy_not_an_error(monkeypatch) -> None:
    def silent(settings: Any, timeout: float = 0) -> Any:
        raise patroni.ActivityFailed("no Patroni REST API answered")

    monkeypatch.setattr(patroni, "cluster", silent)
    health = patroni_probes.cluster_health(configuration=CFG)
    assert health["healthy"] is False and "no Patroni REST API answered" in health["reason"]


@pytest.mark.parametrize(
    "reached,leader,routed",
    [
        ({"reached": True, "node": "pg1", "in_recovery": False}, "pg1", True),
        ({"reached": True, "node": "pg2", "in_recovery": False}, "pg1", False),  # a stale old primary
        ({"reached": True, "node": "pg1", "in_recovery": True}, "pg1", False),  # promoted, still recovering
        ({"reached": False, "node": "", "error": "timeout"}, "pg1", False),
        ({"reached": True, "node": "pg1", "in_recovery": False}, "", False),  # no leader key
    ],
)
def test_routed_means_the_writable_leader_answers_through_haproxy(
    monkeypatch, reached: Dict[str, Any], leader: str, routed: bool
) -> None:
    monkeypatch.setattr(haproxy, "_reach", lambda settings, port, timeout: dict(reached))
    monkeypatch.setattr(patroni, "leader_name", lambda settings, timeout=0: leader)
    route = haproxy.routes_to_leader(configuration=CFG)
    assert route["routes_to_leader"] is routed and route["leader"] == leader


def test_a_route_check_through_a_frozen_server_gives_up_in_time(monkeypatch) -> None:
    monkeypatch.setattr(haproxy, "_reach", lambda settings, port, timeout: time.sleep(5) or {})
    monkeypatch.setattr(patroni, "leader_name", lambda settings, timeout=0: "pg1")
    started = time.monotonic()
    route = haproxy._route(haproxy.load(CFG), 0.3)
    assert route["routes_to_leader"] is False and "no answer through HAProxy" in route["error"]
    assert time.monotonic() - started < 2.0


def test_first_answer_does_not_wait_for_a_silent_peer() -> None:
    started = time.monotonic()
    value, errors = first_answer([lambda: time.sleep(5), lambda: "pg2"], 3.0)
    assert value == "pg2" and time.monotonic() - started < 1.0
    value, errors = first_answer([lambda: 1 / 0, lambda: time.sleep(5)], 0.2)
    assert value is None and any("ZeroDivisionError" in e for e in errors)
    assert any("no answer within" in e for e in errors)


def fake_zookeeper_cut(monkeypatch, failsafe: bool, route: Dict[str, Any], cut: bool = True) -> List[float]:
    monkeypatch.setattr(
        patroni, "dynamic_config", lambda settings: {"failsafe_mode": failsafe, "ttl": 7, "loop_wait": 1}
    )
    monkeypatch.setattr(haproxy, "last_target", lambda settings: "pg1")
    cuts = [{"kind": "partition", "service": "pg1", "at": time.time()}] if cut else []
    monkeypatch.setattr(haproxy, "pending", lambda settings: cuts)
    monkeypatch.setattr(haproxy, "_route", lambda settings, timeout: dict(route))
    slept: List[float] = []
    monkeypatch.setattr(haproxy.time, "sleep", slept.append)
    return slept


WRITABLE_PG1 = {"reached": True, "node": "pg1", "in_recovery": False, "leader": "", "routes_to_leader": False}


def test_without_failsafe_a_zookeeper_cut_must_end_in_a_new_leader(monkeypatch) -> None:
    fake_zookeeper_cut(monkeypatch, False, WRITABLE_PG1)
    asked: List[Any] = []
    monkeypatch.setattr(haproxy, "wait_for_route", lambda *a: asked.append(a) or {"leader": "pg2"})
    found = haproxy.wait_for_zookeeper_cut_outcome(30, configuration=CFG)
    assert found == {"leader": "pg2", "failsafe_mode": False} and asked[0][:2] == (30, True)


def test_with_failsafe_the_cut_leader_must_still_take_writes_past_its_keys_expiry(monkeypatch) -> None:
    slept = fake_zookeeper_cut(monkeypatch, True, WRITABLE_PG1)
    assert haproxy.wait_for_zookeeper_cut_outcome(30, configuration=CFG)["failsafe_mode"] is True
    # the check waits for the key's expiry from its own start (the cut is in place by then):
    # ttl 7 + loop_wait 1 + 1 s
    assert slept == [9]


@pytest.mark.parametrize(
    "route,reason",
    [
        (dict(WRITABLE_PG1, node="pg2", leader="pg2"), "reaches pg2"),
        (dict(WRITABLE_PG1, in_recovery=True), "recovery: True"),
        (dict(WRITABLE_PG1, reached=False, node=""), "reaches no node"),
        (dict(WRITABLE_PG1, leader="pg2"), "pg2 took the leader key from pg1"),
    ],
)
def test_with_failsafe_a_demoted_or_replaced_leader_fails_the_probe(monkeypatch, route, reason) -> None:
    fake_zookeeper_cut(monkeypatch, True, route)
    with pytest.raises(ActivityFailed, match=reason):
        haproxy.wait_for_zookeeper_cut_outcome(30, configuration=CFG)


def test_with_failsafe_the_probe_needs_the_cut_it_follows(monkeypatch) -> None:
    fake_zookeeper_cut(monkeypatch, True, WRITABLE_PG1, cut=False)
    with pytest.raises(ActivityFailed, match="no partition of pg1 is pending: run this probe right after"):
        haproxy.wait_for_zookeeper_cut_outcome(30, configuration=CFG)
