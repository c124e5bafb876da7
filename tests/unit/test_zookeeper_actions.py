"""The ZooKeeper actions' logic with Docker and the ensemble faked: the
quorum guard in front of stop/kill, dry runs, undo, and the returned shapes."""

import ssl
from pathlib import Path
from typing import Any, Dict, List

import pytest
from chaoslib.discovery.discover import discover_actions, discover_probes
from chaoslib.exceptions import ActivityFailed

from chaosha import state as registry
from chaosha import targets
from chaosha.config import load
from chaosha.zookeeper import actions, probes


class FakeApi:
    timeout = 30


class FakeClient:
    api = FakeApi()


class FakeContainer:
    """Just enough of docker's Container for chaosha.clients.lifecycle."""

    def __init__(self, name: str, status: str = "running") -> None:
        self.name = name
        self.id = f"fake-{name}"
        self.status = status
        self.client = FakeClient()
        self.calls: List[str] = []

    @property
    def attrs(self) -> Dict[str, Any]:
        return {
            "State": {
                "Status": self.status,
                "Running": self.status in ("running", "paused"),
                "Paused": self.status == "paused",
                "Pid": 0,
            }
        }

    def reload(self) -> None:
        pass

    def stop(self, timeout: int = 10) -> None:
        self.calls.append("stop")
        self.status = "exited"

    def kill(self, signal: str = "SIGKILL") -> None:
        self.calls.append(f"kill {signal}")
        if signal not in ("SIGCONT", "SIGSTOP"):
            self.status = "exited"

    def start(self) -> None:
        self.calls.append("start")
        self.status = "running"

    def unpause(self) -> None:
        self.calls.append("unpause")
        self.status = "running"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Dict[str, Any]:
    """Containers zk1..zk3 and a settable set of serving members; the fault
    registry in a temporary state folder."""
    monkeypatch.setenv("CHAOSHA_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CHAOSHA_ENV_FILE", str(tmp_path / "none.env"))
    state: Dict[str, Any] = {
        "containers": {n: FakeContainer(f"proj-{n}-1") for n in ("zk1", "zk2", "zk3")},
        "serving": ["zk1", "zk2", "zk3"],
    }

    def survey(settings: Any) -> Dict[str, Any]:
        nodes = {
            n: {"mode": "follower" if n in state["serving"] else None, "reachable": True}
            for n in ("zk1", "zk2", "zk3")
        }
        return {"nodes": nodes, "serving": list(state["serving"])}

    monkeypatch.setattr(targets, "survey", survey)
    monkeypatch.setattr(targets.docker_client, "find", lambda settings, n: state["containers"].get(n))
    monkeypatch.setattr(actions, "container", lambda settings, n: state["containers"][n])
    monkeypatch.setattr(actions, "_voting_mode", lambda member, timeout, tls: "follower")
    monkeypatch.setattr(actions.zk_tls, "client_context", lambda settings: ssl.create_default_context())
    state["settings"] = load()
    return state


def kinds(fake: Dict[str, Any]) -> List[str]:
    return [f"{f['kind']}:{f['service']}" for f in registry.pending(fake["settings"])]


def test_stop_first_member(fake: Dict[str, Any]) -> None:
    result = actions.stop_node("zk1")
    assert fake["containers"]["zk1"].calls == ["stop"]
    assert result["serving_after"] == ["zk2", "zk3"] and result["quorum_after"] is True
    assert result["container_state"] == "exited" and result["dry_run"] is False
    assert "status" not in result


def test_second_stop_refused_without_force(fake: Dict[str, Any]) -> None:
    fake["serving"] = ["zk2", "zk3"]
    with pytest.raises(ActivityFailed, match="'zk2'.*pass force=true to break quorum"):
        actions.stop_node("zk2")
    assert fake["containers"]["zk2"].calls == []


def test_dry_run_refuses_like_the_real_thing(fake: Dict[str, Any]) -> None:
    fake["serving"] = ["zk2", "zk3"]
    with pytest.raises(ActivityFailed):
        actions.stop_node("zk2", dry_run=True)


def test_dry_run_with_force_reports_without_acting(fake: Dict[str, Any]) -> None:
    fake["serving"] = ["zk2", "zk3"]
    result = actions.kill_node("zk2", force=True, dry_run=True)
    assert fake["containers"]["zk2"].calls == []
    assert result["quorum_after"] is False and result["forced"] is True
    assert result["container_state"] == "running" and result["signal"] == "SIGKILL"


def test_kill_sends_the_signal_and_records_the_fault(fake: Dict[str, Any]) -> None:
    actions.kill_node("zk3", signal="stop")
    assert fake["containers"]["zk3"].calls == ["kill SIGSTOP"]
    assert kinds(fake) == ["sigstop:zk3"]
    assert registry.last_target(fake["settings"]) == "zk3"


def test_a_sigstopped_member_counts_as_not_serving_once_it_stops_answering(fake: Dict[str, Any]) -> None:
    fake["containers"]["zk1"].status = "paused"  # Docker says paused, srvr (stale) says follower
    with pytest.raises(ActivityFailed, match="'zk2'.*pass force=true"):
        actions.stop_node("zk2")


def test_stop_and_start_record_and_forget(fake: Dict[str, Any]) -> None:
    actions.stop_node("zk1")
    assert kinds(fake) == ["down:zk1"]
    actions.start_node("zk1", wait_s=0)
    assert kinds(fake) == []


def test_dry_runs_and_refusals_record_nothing(fake: Dict[str, Any]) -> None:
    actions.kill_node("zk1", dry_run=True)
    fake["serving"] = ["zk2", "zk3"]
    with pytest.raises(ActivityFailed):
        actions.kill_node("zk2")
    assert kinds(fake) == [] and registry.last_target(fake["settings"]) == ""
    assert all(c.calls == [] for c in fake["containers"].values())


def test_guard_refuses_when_docker_cannot_be_asked(fake: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def down(settings: Any, name: str) -> Any:
        raise ActivityFailed("cannot reach the Docker engine")

    monkeypatch.setattr(targets.docker_client, "find", down)
    with pytest.raises(ActivityFailed, match="cannot tell whether a ZooKeeper quorum would remain"):
        actions.stop_node("zk1")


def test_kill_rejects_empty_signal(fake: Dict[str, Any]) -> None:
    with pytest.raises(ActivityFailed, match="signal is empty"):
        actions.kill_node("zk1", signal=" ")


def test_unknown_node_lists_known_ones(fake: Dict[str, Any]) -> None:
    with pytest.raises(ActivityFailed, match="known nodes are zk1, zk2, zk3"):
        actions.stop_node("pg1")


@pytest.mark.parametrize(
    ("status", "call"), [("exited", "start"), ("running", "kill SIGCONT"), ("paused", "unpause")]
)
def test_start_node_revives_any_state(fake: Dict[str, Any], status: str, call: str) -> None:
    fake["containers"]["zk1"].status = status
    result = actions.start_node("zk1", wait_s=5)
    assert fake["containers"]["zk1"].calls == [call]
    assert result["mode"] == "follower" and result["container_state"] == "running"


def test_start_node_without_waiting(fake: Dict[str, Any]) -> None:
    result = actions.start_node("zk1", wait_s=0)
    assert result["mode"] is None and 0 <= result["took_s"] < 1


def test_start_node_times_out_naming_the_node(fake: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "_voting_mode", lambda member, timeout, tls: None)
    with pytest.raises(ActivityFailed, match="ZooKeeper zk2 to serve"):
        actions.start_node("zk2", wait_s=0.2)


def test_patroni_leader_znode_reports_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(settings: Any) -> Any:
        raise ActivityFailed("cannot connect to ZooKeeper")

    monkeypatch.setattr(probes.client, "connected", refuse)
    result = probes.patroni_leader_znode()
    assert result == {
        "exists": False,
        "path": "/service/chaosha/leader",
        "reachable": False,
        "error": "cannot connect to ZooKeeper",
    }


def test_discovery_lists_the_activities() -> None:
    listed = discover_probes("chaosha.zookeeper.probes") + discover_actions("chaosha.zookeeper.actions")
    found = {(a["type"], a["name"]): a for a in listed}
    assert set(found) == {
        ("probe", "ensemble_status"),
        ("probe", "quorum_present"),
        ("probe", "patroni_leader_znode"),
        ("action", "stop_node"),
        ("action", "kill_node"),
        ("action", "start_node"),
        ("action", "expire_session"),
    }
    for activity in found.values():
        assert activity["doc"], activity["name"]
        assert [a["name"] for a in activity["arguments"]][-2:] == ["configuration", "secrets"]
        assert "object" not in {
            a.get("type") for a in activity["arguments"] if a["name"] not in ("configuration", "secrets")
        }
