"""A third node added and removed as a user would (`chaosha stack add-node|remove-node`),
checked with clients of its own: patronictl and psql inside the containers, the Docker
engine's event stream, the env file, Docker volumes."""

import json
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

import pytest
import requests

from chaosha.clients.postgres import connect
from chaosha.config import parse_env_file
from chaosha.haproxy.probes import backend_states, reached_node
from chaosha.timing import wait_until

pytestmark = pytest.mark.integration
PATRONICTL = ["patronictl", "-c", "/etc/patroni/patroni.yml"]


def cli(stack: Any, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "chaosha.cli", "--env-file", str(stack.env_file), "stack", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def container(project: str, service: str) -> str:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}",
         "--filter", f"label=com.docker.compose.service={service}"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()  # fmt: skip
    return out[0] if out else ""


def exec_in(project: str, service: str, *cmd: str) -> str:
    found = container(project, service)
    assert found, f"no {service} container"
    return subprocess.run(
        ["docker", "exec", found, *cmd], capture_output=True, text=True, timeout=30, check=True
    ).stdout


def patronictl_list(project: str, via: str) -> Dict[str, Dict[str, Any]]:
    rows = json.loads(exec_in(project, via, *PATRONICTL, "list", "-f", "json"))
    return {row["Member"]: row for row in rows}


def slots(project: str, service: str) -> Dict[str, bool]:
    sql = "SELECT slot_name, active FROM pg_replication_slots"
    out = exec_in(project, service, "psql", "-h", "/run/postgresql", "-U", "postgres", "-Atc", sql)
    return {name: active == "t" for name, active in (line.split("|") for line in out.splitlines())}


def leader_of(members: Dict[str, Dict[str, Any]]) -> str:
    return next((n for n, m in members.items() if m["Role"] == "Leader" and m["State"] == "running"), "")


def healthy_with(project: str, via: str, names: List[str]) -> Optional[Dict[str, Dict[str, Any]]]:
    members = patronictl_list(project, via)
    ok = sorted(members) == sorted(names) and leader_of(members) != ""
    ok = ok and all(m["State"] == "streaming" for n, m in members.items() if n != leader_of(members))
    return members if ok else None


def write_token(settings: Any) -> str:
    token = uuid.uuid4().hex
    with connect(settings, "rw") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS node_test (token text PRIMARY KEY)")
        conn.execute("INSERT INTO node_test VALUES (%s)", (token,))
    return token


def tokens_on(project: str, service: str) -> set:
    sql = "SELECT token FROM node_test"
    return set(exec_in(project, service, "psql", "-h", "/run/postgresql", "-U", "postgres", "-Atc", sql).split())


class LeaderWatch:
    """Polls one node's REST API (not chaosha's client) for the leader:
    (monotonic-free wall time, leader) samples."""

    def __init__(self, url: str) -> None:
        self.url, self.samples, self.stop = url, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                found = requests.get(self.url, timeout=1).json().get("members", [])
                name = next((m["name"] for m in found if m.get("role") == "leader"), "")
                self.samples.append((time.time(), name))
            except (requests.RequestException, ValueError):
                pass
            self.stop.wait(0.1)

    def first_not(self, name: str) -> float:
        return next(t for t, leader in self.samples if leader and leader != name)


def stop_events(container_id: str, since: float) -> List[Tuple[float, str]]:
    out = subprocess.run(
        ["docker", "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}", "--filter",
         f"container={container_id}", "--format", "{{json .}}"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [(e["timeNano"] / 1e9, e.get("Action", e.get("status", ""))) for e in events]


def set_sync_count(project: str, value: str) -> None:
    exec_in(project, "pg1", *PATRONICTL, "edit-config", "--force", "-s", f"synchronous_node_count={value}")


def volume_exists(project: str) -> bool:
    out = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"name=^{project}_pg3-data$"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return bool(out.strip())


def haproxy_agrees(env: Any, leader: str, replica: str) -> bool:
    """HAProxy's backends list exactly the leader and the replica, and each
    port reaches that node.  HAProxy refuses an address another server of
    the backend still holds, so a removed node's last address held against
    its next owner shows here as a server under the wrong name."""
    cfg = {"CHAOSHA_ENV_FILE": str(env)}
    up = {b: backend_states(b, configuration=cfg)["up"] for b in ("primary", "replicas")}
    if up != {"primary": [leader], "replicas": [replica]}:
        return False
    return (
        reached_node("rw", configuration=cfg)["node"] == leader
        and reached_node("ro", configuration=cfg)["node"] == replica
    )


def test_pg3_is_added_leads_and_is_removed_without_loss(healthy: Any) -> None:
    stack, project = healthy.stack, healthy.settings.project
    env = stack.env_file
    try:
        added = cli(stack, "add-node", "pg3")
        assert added.returncode == 0, added.stderr[-2000:]
        assert parse_env_file(env)["CHAOSHA_PG_NODES"] == "pg1,pg2,pg3"
        members, _ = wait_until(lambda: healthy_with(project, "pg1", ["pg1", "pg2", "pg3"]), 60, 1, "3 members")
        first_leader = leader_of(members)
        assert slots(project, first_leader).get("pg3") is True, "no active pg3 slot on the leader"
        again = cli(stack, "add-node", "pg3")
        assert again.returncode == 0 and json.loads(again.stdout)["changed"] is False

        # pg3 leads: with two synchronous standbys patronictl may switch over to it
        set_sync_count(project, "2")
        wait_until(lambda: patronictl_list(project, "pg1")["pg3"]["Role"] == "Sync Standby", 60, 1, "pg3 sync")
        exec_in(
            project, "pg1", *PATRONICTL, "switchover", "--leader", first_leader, "--candidate", "pg3", "--force"
        )
        wait_until(
            lambda: leader_of(healthy_with(project, "pg1", ["pg1", "pg2", "pg3"]) or {}) == "pg3",
            90,
            1,
            "pg3 leads",
        )
        set_sync_count(project, "1")
        before = write_token(healthy.settings)

        pg3 = container(project, "pg3")
        api = f"http://127.0.0.1:{healthy.settings.get('CHAOSHA_PG1_API_PORT')}/cluster"
        watch = LeaderWatch(api)
        since = time.time()
        watch.thread.start()
        try:
            removed = cli(stack, "remove-node", "pg3")
        finally:
            watch.stop.set()
            watch.thread.join(5)
        assert removed.returncode == 0, removed.stderr[-3000:]
        result = json.loads(removed.stdout)

        # the leader moved away before Docker was told to stop pg3
        stopped = [t for t, action in stop_events(pg3, since) if action in ("kill", "stop", "die")]
        assert stopped, "no stop event of pg3"
        assert watch.first_not("pg3") < min(stopped)
        assert not container(project, "pg3")

        members, _ = wait_until(lambda: healthy_with(project, "pg1", ["pg1", "pg2"]), 60, 1, "2 members")
        new_leader = leader_of(members)
        replica = next(n for n in members if n != new_leader)
        assert parse_env_file(env)["CHAOSHA_PG_NODES"] == "pg1,pg2"
        for node in ("pg1", "pg2"):
            assert "pg3" not in slots(project, node), f"pg3 slot left on {node}"
        assert slots(project, new_leader).get(replica) is True, "the replica's slot on the leader is gone"
        time.sleep(6)  # three Patroni loops after member_slots_ttl is back: no slot recreated
        assert "pg3" not in slots(project, new_leader)
        assert "member_slots_ttl" not in exec_in(project, "pg1", *PATRONICTL, "show-config")  # default again
        assert volume_exists(project) and result["volume"] == f"{project}_pg3-data"

        after = write_token(healthy.settings)
        wait_until(lambda: {before, after} <= tokens_on(project, replica), 10, 0.5, "both rows on the replica")
        assert {before, after} <= tokens_on(project, new_leader)

        once_more = cli(stack, "remove-node", "pg3")
        assert once_more.returncode == 0 and json.loads(once_more.stdout)["changed"] is False, once_more.stderr

        refused = cli(stack, "remove-node", new_leader)
        assert refused.returncode != 0 and "no standby for synchronous replication" in refused.stderr
        assert healthy_with(project, "pg1", ["pg1", "pg2"]), "a refused removal changed the cluster"

        # a re-add resumes from the kept volume; --purge deletes it
        rejoin = cli(stack, "add-node", "pg3")
        assert rejoin.returncode == 0, rejoin.stderr[-2000:]
        purged = cli(stack, "remove-node", "pg3", "--purge")
        assert purged.returncode == 0, purged.stderr[-2000:]
        assert not volume_exists(project)
        members, _ = wait_until(lambda: healthy_with(project, "pg1", ["pg1", "pg2"]), 60, 1, "2 members")
        leader = leader_of(members)
        replica = next(n for n in members if n != leader)
        wait_until(
            lambda: haproxy_agrees(env, leader, replica), 15, 0.5, "HAProxy's backends to name the right nodes"
        )
    finally:
        set_sync_count(project, "1")
        cli(stack, "remove-node", "pg3", "--purge")
