"""Target resolution and guards (chaosha.targets) with Docker and Patroni
faked: only what answers now counts; what cannot be told is refused."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import requests
from chaoslib.exceptions import ActivityFailed

from chaosha import state as registry
from chaosha import targets
from chaosha.clients import patroni as patroni_client
from chaosha.config import load
from chaosha.integrity import runner

LEADER = {"state": "running", "role": "primary"}
STREAMING = {"state": "running", "role": "replica", "replication_state": "streaming"}


class Box:
    def __init__(self, status: str = "running") -> None:
        self.attrs = {
            "State": {"Status": status, "Running": status in ("running", "paused"), "Paused": status == "paused"}
        }


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Dict[str, Any]:
    """pg1 leads, pg2 streams; both containers run.  Tests change that."""
    monkeypatch.setenv("CHAOSHA_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CHAOSHA_ENV_FILE", str(tmp_path / "none.env"))
    world: Dict[str, Any] = {
        "rest": {"pg1": LEADER, "pg2": STREAMING},
        "docker": {"pg1": Box(), "pg2": Box()},
        "calls": [],
    }

    def status(node: Any, timeout: float) -> Dict[str, Any]:
        world["calls"].append(("status", node.name, timeout))
        answer = world["rest"].get(node.name)
        if answer is None:
            raise requests.ConnectionError("refused")
        return dict(answer)

    def find(settings: Any, service: str) -> Any:
        if world["docker"] is None:
            raise ActivityFailed("cannot reach the Docker engine")
        return world["docker"].get(service)

    monkeypatch.setattr(targets.patroni, "status", status)
    monkeypatch.setattr(targets.docker_client, "find", find)
    world["settings"] = load()
    return world


def test_a_streaming_replica_lets_the_leader_go(world: Dict[str, Any]) -> None:
    assert targets.guard(world["settings"], "pg1", False) == {"could_serve": ["pg2"]}
    assert all(timeout <= targets.SERVE_TIMEOUT for _, _, timeout in world["calls"])


def test_a_killed_replica_still_listed_by_the_cluster_does_not_count(world: Dict[str, Any]) -> None:
    """The detection window: /cluster still says streaming, the node is dead."""
    world["docker"]["pg2"] = Box("exited")
    world["rest"]["pg2"] = None
    with pytest.raises(ActivityFailed, match=r"no other PostgreSQL node is serving \(pg2: container exited\)"):
        targets.guard(world["settings"], "pg1", False)


@pytest.mark.parametrize(
    "box,rest,why",
    [
        ("paused", STREAMING, "container paused"),
        ("running", None, "REST API did not answer"),
        ("running", {"state": "running", "role": "replica", "replication_state": None}, "not streaming"),
        ("running", {"state": "starting", "role": "replica"}, "state starting"),
    ],
)
def test_a_replica_that_cannot_serve_now_does_not_count(
    world: Dict[str, Any], box: str, rest: Any, why: str
) -> None:
    world["docker"]["pg2"] = Box(box)
    world["rest"]["pg2"] = rest
    with pytest.raises(ActivityFailed, match=why):
        targets.guard(world["settings"], "pg1", False)


def test_unreachable_docker_is_cannot_tell_not_unhealthy(world: Dict[str, Any]) -> None:
    world["docker"] = None
    with pytest.raises(
        ActivityFailed,
        match="cannot tell whether another node could serve: Docker did not answer.*pass force=true",
    ):
        targets.guard(world["settings"], "pg1", False)


def test_no_rest_api_answering_is_cannot_tell(world: Dict[str, Any]) -> None:
    world["rest"] = {}
    with pytest.raises(ActivityFailed, match="cannot tell.*no Patroni REST API answered"):
        targets.guard(world["settings"], "pg2", False)


def test_force_asks_nothing(world: Dict[str, Any]) -> None:
    world["docker"] = None
    assert targets.guard(world["settings"], "pg1", True) == {}
    assert world["calls"] == []


def test_roles_resolve_with_one_cluster_read(world: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    reads: List[int] = []

    def members(settings: Any, timeout: float = 0) -> List[Dict[str, Any]]:
        reads.append(1)
        return [
            {"name": "pg1", "role": "leader", "state": "running"},
            {"name": "pg2", "role": "sync_standby", "state": "streaming"},
        ]

    monkeypatch.setattr(targets.patroni, "members", members)
    assert targets.resolve_all(world["settings"], ["@leader", "@sync", "zk1", "@replica"]) == [
        "pg1",
        "pg2",
        "zk1",
        "pg2",
    ]
    assert reads == [1]
    assert targets.resolve_all(world["settings"], ["haproxy"]) == ["haproxy"] and reads == [1]
    with pytest.raises(ActivityFailed, match="unknown role target"):
        targets.resolve(world["settings"], "@boss")


def test_faulted_aims_where_the_latest_fault_did_and_is_refused_before_any(
    world: Dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def members(settings: Any, timeout: float = 0) -> List[Dict[str, Any]]:
        raise AssertionError("@faulted needs no Patroni read")

    monkeypatch.setattr(targets.patroni, "members", members)
    with pytest.raises(ActivityFailed, match="@faulted: no destructive action has aimed"):
        targets.resolve(world["settings"], "@faulted")
    registry.remember_target(world["settings"], "pg2")
    assert targets.resolve(world["settings"], "@faulted") == "pg2"
    assert targets.resolve_all(world["settings"], ["@faulted", "zk1"]) == ["pg2", "zk1"]


def test_a_refused_pause_leaves_no_fault(world: Dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: List[Any] = []

    def post(settings: Any, path: str, body: Dict[str, Any], timeout: float = 0, method: str = "POST") -> Any:
        seen.append([f["kind"] for f in registry.pending(settings)])  # recorded before it is sent
        return 503, "no"

    monkeypatch.setattr(patroni_client, "post", post)
    with pytest.raises(ActivityFailed, match="refused"):
        patroni_client.set_failover_pause(world["settings"], True)
    assert seen == [["patroni-pause"]]
    assert registry.pending(world["settings"]) == []


def _fake_workload(folder: Path, run_id: str, owner: int) -> "subprocess.Popen[bytes]":
    code = "import time; time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, runner.MODULE, "--run-id", run_id])
    (folder / f"{run_id}.json").write_text(
        json.dumps({"run_id": run_id, "pid": proc.pid, "ledger": str(folder / f"{run_id}.jsonl"), "owner": owner})
    )
    return proc


def test_stop_all_stops_orphans_only(world: Dict[str, Any]) -> None:
    """A workload whose starter is gone is stopped; one whose starter runs
    (a chaos run healing in its method) is left alone."""
    folder = runner.state_dir(world["settings"])
    orphan = _fake_workload(folder, "run-orphan", owner=1)  # its parent is us, not pid 1
    owned = _fake_workload(folder, "run-owned", owner=os.getpid())
    try:
        time.sleep(0.3)
        assert runner.stop_all(world["settings"], timeout=2) == ["run-orphan"]
        assert orphan.wait(5) is not None
        assert owned.poll() is None
    finally:
        for proc in (orphan, owned):
            proc.kill()
            proc.wait()


def test_stop_all_stops_orphaned_arbiter_instances_too(world: Dict[str, Any]) -> None:
    """An arbiter started by `chaosha arbiter start` (whose starter exited)
    is an orphan: heal's stop_all ends it, from the arbiter's own folder."""
    from chaosha.state import arbiter_dir

    folder = arbiter_dir(world["settings"])
    orphan = _fake_workload(folder, "arbiter-x-1", owner=1)
    try:
        time.sleep(0.3)
        assert runner.stop_all(world["settings"], timeout=2) == ["arbiter-x-1"]
        assert orphan.wait(5) is not None
    finally:
        orphan.kill()
        orphan.wait()


@pytest.mark.parametrize(
    "error,kept",
    [
        (ActivityFailed("Patroni on pg1 refused the credentials for PATCH /config"), []),
        (
            patroni_client.NoAnswer("PATCH /config: no Patroni REST API answered (pg1: ReadTimeout)"),
            ["patroni-pause"],
        ),
    ],
)
def test_a_pause_refused_for_credentials_is_forgotten_an_unanswered_one_kept(
    world: Dict[str, Any], monkeypatch: pytest.MonkeyPatch, error: Exception, kept: List[str]
) -> None:
    def post(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(patroni_client, "post", post)
    with pytest.raises(ActivityFailed):
        patroni_client.set_failover_pause(world["settings"], True)
    assert [f["kind"] for f in registry.pending(world["settings"])] == kept


def test_a_host_with_two_zookeeper_members_or_every_serving_node_is_refused_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A host fault takes all of its services at once: each alone would be
    allowed, together they break quorum or leave no node to fail over to."""
    settings = load({"CHAOSHA_STATE_DIR": str(tmp_path), "CHAOSHA_ENV_FILE": str(tmp_path / "none")})
    monkeypatch.setattr(targets, "zk_serving", lambda s: (["zk1", "zk2", "zk3"], ["zk1", "zk2", "zk3"]))
    monkeypatch.setattr(targets, "pg_serving", lambda s: (["pg1", "pg2"], {}))
    assert targets.guard(settings, "zk1", False)["quorum_after"] is True
    assert targets.guard_together(settings, ["pg1", "zk1"], False)["could_serve"] == ["pg2"]
    with pytest.raises(ActivityFailed, match="quorum"):
        targets.guard_together(settings, ["zk1", "zk2"], False)
    with pytest.raises(ActivityFailed, match="no other PostgreSQL node"):
        targets.guard_together(settings, ["pg1", "pg2", "zk3"], False)
    assert targets.guard_together(settings, ["zk1", "zk2"], True)["quorum_after"] is False
