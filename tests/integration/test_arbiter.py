"""The opt-in arbiter against the real stack (CHAOSHA_TEST_ARBITER=1: each
test waits out failovers and a rewind).  What is checked is checked
independently of the arbiter: the new primary with psycopg straight to the
nodes, the leader key with chaosha's own (read-only) ZooKeeper client, loss
with the integrity workload's verdict."""

import os
import signal
import subprocess
import time
from typing import Any, Dict, Iterator, List, Optional

import psycopg
import pytest

from chaosha.arbiter.actions import start_arbiter, stop_arbiter
from chaosha.arbiter.probes import arbiter_status
from chaosha.clients import docker as docker_client
from chaosha.clients import zookeeper
from chaosha.config import Settings
from chaosha.docker.actions import heal, kill_container
from chaosha.integrity.actions import start_workload
from chaosha.integrity.ledger import read_records
from chaosha.integrity.probes import workload_verdict
from chaosha.patroni.probes import wait_for_healthy

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("CHAOSHA_TEST_ARBITER") != "1", reason="the arbiter's tests: set CHAOSHA_TEST_ARBITER=1"
    ),
]


def leader_key(settings: Settings) -> Optional[Dict[str, Any]]:
    with zookeeper.connected(settings) as zk:
        found = zookeeper.read_znode(zk, zookeeper.patroni_path(settings, "leader"), 5)
    if found is None:
        return None
    return {"member": found[0].decode(), "session": found[1].ephemeralOwner}


def primaries(settings: Settings) -> List[str]:
    """The nodes whose PostgreSQL is writable, asked directly."""
    found = []
    for node in settings.pg_nodes:
        try:
            with psycopg.connect(
                host=node.host, port=node.port, user=settings.get("CHAOSHA_PG_USER"),
                password=settings.get("CHAOSHA_PG_PASSWORD"), dbname=settings.get("CHAOSHA_PG_DATABASE"),
                connect_timeout=2,
            ) as conn:  # fmt: skip
                if conn.execute("SELECT NOT pg_is_in_recovery()").fetchone() == (True,):
                    found.append(node.name)
        except psycopg.Error:
            continue
    return found


def wait_for_primary(settings: Settings, other_than: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in primaries(settings) if p != other_than]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no primary other than {other_than} within {timeout}s")


def events(state: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [r for r in read_records(state["log"]) if r.get("k") == "event"]


@pytest.fixture
def arbiter_run(healthy: Any) -> Iterator[Any]:
    """A healthy stack with a workload running; the arbiter is stopped and
    the stack healed after the test (the verdict is the test's)."""
    cfg = healthy.configuration
    try:
        yield healthy
    finally:
        stop_arbiter(configuration=cfg)


def verdict_after_heal(cfg: Dict[str, str], run_id: str) -> Dict[str, Any]:
    stop_arbiter(configuration=cfg)
    heal(configuration=cfg)
    wait_for_healthy(180, configuration=cfg)
    return workload_verdict(run_id, configuration=cfg)


def test_a_killed_leader_is_fenced_and_released_with_no_loss(arbiter_run: Any) -> None:
    cfg, settings = arbiter_run.configuration, arbiter_run.settings
    work = start_workload(duration_s=120, rate=50, configuration=cfg)
    started = start_arbiter(instances_count=2, configuration=cfg)
    before = leader_key(settings)
    assert before is not None
    time.sleep(2)
    kill_container(before["member"], configuration=cfg)
    new = wait_for_primary(settings, before["member"], 60)
    after = leader_key(settings)
    assert after is not None and after["member"] == new != before["member"]
    status = arbiter_status(configuration=cfg)
    assert status["fences"] == 1 and status["releases"] == 1, status
    holder = next(i for i in status["instances"] if i["run_id"] == started["holder"])
    steps = [s["event"] for s in holder["steps"]]
    assert steps[:3] == ["fence-start", "fenced", "released"], holder["steps"]
    time.sleep(3)
    verdict = verdict_after_heal(cfg, work["run_id"])
    assert verdict["lost"] == 0 and verdict["two_primaries"] is False and verdict["passed"] is True, verdict


def _leader_ip(settings: Settings, member: str) -> str:
    found = docker_client.container(settings, member)
    networks = found.attrs["NetworkSettings"]["Networks"]
    return str(next(n["IPAddress"] for n in networks.values() if n.get("IPAddress")))


def _iptables(*args: str) -> None:
    subprocess.run(["timeout", "30", "iptables", *args], check=True, capture_output=True)


def test_an_arbiter_cut_off_from_a_healthy_leader_fences_nothing(arbiter_run: Any) -> None:
    """The host (where the arbiter runs) loses the leader's address, only
    that address: the leader still talks to ZooKeeper, so no fence."""
    cfg, settings = arbiter_run.configuration, arbiter_run.settings
    before = leader_key(settings)
    assert before is not None
    start_arbiter(instances_count=1, configuration=cfg)
    address = _leader_ip(settings, before["member"])
    rule = ("OUTPUT", "-d", f"{address}/32", "-j", "DROP")
    _iptables("-I", *rule)
    try:
        time.sleep(10)  # well past cut_after_s and the ZooKeeper "recent" window
        status = arbiter_status(configuration=cfg)
    finally:
        _iptables("-D", *rule)
    (instance,) = status["instances"]
    decisions = [e for e in events(instance) if e["event"] == "decision"]
    assert status["fences"] == 0 and instance["steps"] == [], instance["steps"]
    # it did see the leader go silent (the cut worked), and said why it did nothing
    assert any("still talking" in e["reason"] for e in decisions), decisions
    assert leader_key(settings) == before
    assert primaries(settings) == [before["member"]]


def test_the_standby_instance_completes_a_fence_whose_holder_was_killed(arbiter_run: Any) -> None:
    cfg, settings = arbiter_run.configuration, arbiter_run.settings
    work = start_workload(duration_s=120, rate=50, configuration=cfg)
    started = start_arbiter(instances_count=2, hold_s=30, configuration=cfg)
    before = leader_key(settings)
    assert before is not None
    time.sleep(2)
    kill_container(before["member"], configuration=cfg)
    status = arbiter_status(configuration=cfg)
    deadline = time.monotonic() + 20
    holder = {}
    while time.monotonic() < deadline:
        status = arbiter_status(configuration=cfg)
        holder = next(i for i in status["instances"] if i["run_id"] == started["holder"])
        if any(s["event"] == "hold" for s in holder["steps"]):
            break
        time.sleep(0.1)
    assert [s["event"] for s in holder["steps"]] == ["fence-start", "fenced", "hold"], holder
    os.kill(int(holder["pid"]), signal.SIGKILL)  # mid-fence: fenced, not released
    new = wait_for_primary(settings, before["member"], 60)
    other = next(r for r in started["run_ids"] if r != started["holder"])
    deadline = time.monotonic() + 20
    steps: List[str] = []
    while time.monotonic() < deadline and "released" not in steps and "not-released" not in steps:
        steps = [s["event"] for i in arbiter_status(configuration=cfg)["instances"] if i["run_id"] == other
                 for s in i["steps"]]  # fmt: skip
        time.sleep(0.2)
    assert steps == ["pending-fence", "released"], steps
    after = leader_key(settings)
    assert after is not None and after["member"] == new != before["member"]
    verdict = verdict_after_heal(cfg, work["run_id"])
    assert verdict["lost"] == 0 and verdict["two_primaries"] is False and verdict["passed"] is True, verdict


def test_a_decoy_named_like_the_leader_is_never_fenced(arbiter_run: Any) -> None:
    cfg, settings = arbiter_run.configuration, arbiter_run.settings
    before = leader_key(settings)
    assert before is not None
    member = before["member"]
    decoy = f"{settings.project}-{member}-1-decoy"
    labels = [
        f"com.docker.compose.project={settings.project}", f"com.docker.compose.service={member}",
        "com.docker.compose.oneoff=False", "com.docker.compose.config-hash=forged",
        "com.docker.compose.container-number=1", "chaosha.test-decoy=1",
    ]  # fmt: skip
    args = [a for label in labels for a in ("-l", label)]
    subprocess.run(["timeout", "60", "docker", "run", "-d", "--rm", "--name", decoy, *args, "--entrypoint",
                    "sleep", settings.tools_image, "300"], check=True, capture_output=True)  # fmt: skip
    try:
        start_arbiter(instances_count=1, configuration=cfg)
        time.sleep(2)  # the arbiter must have seen the standby stream before the fault
        real = docker_client.container(settings, member).id
        kill_container(member, configuration=cfg)
        wait_for_primary(settings, member, 60)
        (instance,) = arbiter_status(configuration=cfg)["instances"]
        fenced = next(s for s in instance["steps"] if s["event"] == "fenced")
        assert real.startswith(fenced["container"])
        state = subprocess.run(["timeout", "30", "docker", "inspect", "-f", "{{.State.Status}}", decoy],
                               check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
        assert state == "running"
    finally:
        subprocess.run(["timeout", "60", "docker", "rm", "-f", decoy], capture_output=True)
