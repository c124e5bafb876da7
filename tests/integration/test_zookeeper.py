"""The ZooKeeper probes and actions against a real stack (see conftest.py).

Every test leaves the ensemble whole: three members serving, one leader.
"""

import re
from typing import Any, Dict, List

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.timing import wait_until
from chaosha.zookeeper import actions, probes

pytestmark = pytest.mark.integration


def _heal(config: Dict[str, Any]) -> None:
    """Bring every member back and wait for a quorum of all three."""
    for node in ("zk1", "zk2", "zk3"):
        actions.start_node(node, wait_s=60, configuration=config)
    wait_until(
        lambda: len(probes.ensemble_status(configuration=config)["serving"]) == 3,
        60,
        what="all three ZooKeeper members serving",
    )
    wait_until(
        lambda: probes.patroni_leader_znode(configuration=config)["exists"], 60, what="a Patroni leader key"
    )


def _followers(state: Dict[str, Any]) -> List[str]:
    return sorted(n for n, s in state["nodes"].items() if s["mode"] == "follower")


def test_ensemble_has_one_leader_and_two_followers(stack: Any) -> None:
    state = probes.ensemble_status(configuration=stack.configuration)
    modes = sorted(s["mode"] for s in state["nodes"].values())
    assert modes == ["follower", "follower", "leader"]
    assert state["quorum"] is True and state["leader"] in state["nodes"]
    assert state["configured"] == 3 and state["majority"] == 2
    for node in state["nodes"].values():
        assert node["reachable"] and node["serving"] and node["error"] is None
        assert re.fullmatch(r"0x[0-9a-f]+", node["zxid"])
        assert node["node_count"] > 0 and node["version"].startswith("3.")
    assert state["nodes"][state["leader"]]["synced_followers"] == 2
    assert "status" not in state
    assert probes.quorum_present(configuration=stack.configuration) is True


def test_leader_znode_is_owned_by_a_patroni_member(stack: Any) -> None:
    znode = probes.patroni_leader_znode(configuration=stack.configuration)
    assert znode["exists"] and znode["reachable"]
    assert znode["path"] == "/service/chaosha/leader"
    assert znode["member"] in {n.name for n in stack.settings.pg_nodes}
    assert znode["session_id"] != 0
    assert znode["session_hex"] == f"0x{znode['session_id'] & (2**64 - 1):x}"
    assert znode["mtime"] > 0 and znode["mtime_iso"].endswith("+00:00")


def test_expire_session_dry_run_touches_nothing(stack: Any) -> None:
    before = probes.patroni_leader_znode(configuration=stack.configuration)
    result = actions.expire_session(dry_run=True, configuration=stack.configuration)
    assert result["dry_run"] is True and result["was_leader"] is True
    assert result["member"] == before["member"]
    assert result["session_hex"] == before["session_hex"]
    after = probes.patroni_leader_znode(configuration=stack.configuration)
    assert after["session_id"] == before["session_id"]


def test_expire_session_of_the_leader_key_is_retaken(stack: Any) -> None:
    config = stack.configuration
    before = probes.patroni_leader_znode(configuration=config)
    try:
        result = actions.expire_session(configuration=config)
        assert result["member"] == before["member"]
        assert result["session_hex"] == before["session_hex"]
        assert result["vanished"] is True and result["vanished_after_s"] < 1
        # a healthy leader takes its key back at once under a new session: no failover
        assert result["retaken"] is True
        assert result["new_session_hex"] != result["session_hex"]
        assert result["leader_after"] == before["member"] and result["failover"] is False
        after = probes.patroni_leader_znode(configuration=config)
        assert after["member"] == before["member"]
        assert after["session_id"] != before["session_id"]
    finally:
        _heal(config)


def test_expire_session_of_a_replica_recreates_its_member_znode(stack: Any) -> None:
    config = stack.configuration
    leader = probes.patroni_leader_znode(configuration=config)["member"]
    replica = next(n.name for n in stack.settings.pg_nodes if n.name != leader)
    try:
        result = actions.expire_session(target=replica, configuration=config)
        assert result["was_leader"] is False
        assert result["path"] == f"/service/chaosha/members/{replica}"
        assert result["vanished"] is True and result["retaken"] is True
        assert result["leader_before"] == result["leader_after"] == leader
    finally:
        _heal(config)


def test_expire_session_of_an_unknown_member_lists_the_known_ones(stack: Any) -> None:
    with pytest.raises(ActivityFailed) as caught:
        actions.expire_session(target="pg9", dry_run=True, configuration=stack.configuration)
    message = str(caught.value)
    assert "'pg9'" in message and "pg1" in message and "pg2" in message


def test_second_stop_is_refused_and_start_heals(stack: Any) -> None:
    config = stack.configuration
    first, second = _followers(probes.ensemble_status(configuration=config))
    try:
        stopped = actions.stop_node(first, configuration=config)
        assert stopped["container_state"] == "exited" and stopped["quorum_after"] is True
        state = probes.ensemble_status(configuration=config)
        assert state["quorum"] and first not in state["serving"]
        assert state["nodes"][first]["reachable"] is False

        with pytest.raises(ActivityFailed, match=f"'{second}'.*pass force=true to break quorum"):
            actions.stop_node(second, configuration=config)
        preview = actions.stop_node(second, force=True, dry_run=True, configuration=config)
        assert preview["dry_run"] is True and preview["quorum_after"] is False
        assert preview["container_state"] == "running"
        assert probes.quorum_present(configuration=config) is True

        started = actions.start_node(first, configuration=config)
        assert started["mode"] == "follower" and started["container_state"] == "running"
        assert len(probes.ensemble_status(configuration=config)["serving"]) == 3
    finally:
        _heal(config)


def test_killing_the_leader_elects_another(stack: Any) -> None:
    config = stack.configuration
    old = probes.ensemble_status(configuration=config)["leader"]
    try:
        killed = actions.kill_node(old, configuration=config)
        assert killed["container_state"] == "exited"  # kill is a manual stop: no restart

        def new_leader() -> Any:
            state = probes.ensemble_status(configuration=config)
            return state["leader"] if state["quorum"] and state["leader"] != old else None

        leader, _ = wait_until(new_leader, 30, interval=0.5, what="a new ZooKeeper leader")
        assert leader != old
        assert actions.start_node(old, configuration=config)["mode"] == "follower"
    finally:
        _heal(config)
