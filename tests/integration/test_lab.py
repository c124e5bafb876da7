"""The lab (chaosha/lab.py): the stack spread over three hosts, each with
its own Docker engine; the catalogue's master-kill run unchanged against it
(only the env file differs), checked by clients of this test's own."""

import json
import os
import subprocess
from pathlib import Path
from typing import Dict, Iterator, Optional

import psycopg
import pytest
from chaos_runs import chaos_run
from chaoslib.exceptions import ActivityFailed

from chaosha.clients import haproxy
from chaosha.config import load, parse_env_file
from chaosha.docker.actions import heal, pause_container
from chaosha.docker.probes import container_state, pending_faults
from chaosha.host.actions import crash_host, freeze_host, isolate_host, partition_hosts, restart_host_engine
from chaosha.integrity.ledger import read_records
from chaosha.lab import HOSTS, Lab
from chaosha.patroni.probes import wait_for_healthy
from chaosha.stack import docker_available
from chaosha.timing import wait_until
from chaosha.zookeeper.probes import ensemble_status

# ~15 min (the lab's start, four experiments, the host faults): not in `make test`; CI's leg
# .ci/lab runs the placement check, master-kill, host-crash and the ssh test (~4 min); all of them
# with CHAOSHA_TEST_LAB=1.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("CHAOSHA_TEST_LAB") != "1", reason="the lab's tests: set CHAOSHA_TEST_LAB=1"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
JOURNALS = ROOT / ".chaosha" / "journals" / "lab"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if not docker_available():
        pytest.fail("the lab needs a Docker engine: run compose/bootstrap.sh first")
    project = os.environ.get(
        "CHAOSHA_TEST_LAB_PROJECT", os.environ.get("CHAOSHA_TEST_PROJECT", "chaosha-test") + "-lab"
    )
    subnet = os.environ.get("CHAOSHA_TEST_LAB_SUBNET", "10.27.90.0/24")  # not a user lab's default
    the_lab = Lab(project=project, folder=ROOT / ".chaosha" / "test-labs", subnet=subnet)
    try:
        the_lab.up(wait=300)
        yield the_lab
    finally:
        if os.environ.get("CHAOSHA_TEST_KEEP") != "1":
            the_lab.down()


def values(lab: Lab) -> Dict[str, str]:
    return parse_env_file(lab.env_file)


def node(lab: Lab, name: str) -> Dict[str, object]:
    """Role and identity of node ``name``, asked on its host's address."""
    v = values(lab)
    with psycopg.connect(
        host=v[f"CHAOSHA_{name.upper()}_HOST"],
        port=int(v[f"CHAOSHA_{name.upper()}_PORT"]),
        user="postgres",
        password=v["CHAOSHA_PG_PASSWORD"],
        dbname="postgres",
        connect_timeout=5,
        autocommit=True,
    ) as conn:
        row = conn.execute("SELECT pg_is_in_recovery(), current_setting('chaosha.member')").fetchone()
    assert row is not None
    return {"in_recovery": row[0], "member": row[1]}


def primary(lab: Lab) -> str:
    found = [name for name in ("pg1", "pg2") if not node(lab, name)["in_recovery"]]
    assert len(found) == 1, f"primaries: {found}"
    return found[0]


def on_engine(lab: Lab, host: str, service: str) -> Dict[str, object]:
    """``docker inspect`` of ``service`` on ``host``'s engine, by the docker CLI."""
    name = f"{lab.stack_project}-{service}-1"
    out = lab.engine(host, "inspect", "-f", "{{json .State}}", name, timeout=30).stdout
    return json.loads(out)


def test_every_service_runs_on_its_host_and_reaches_the_others_by_host_address(lab):
    v = values(lab)
    for host, services in HOSTS.items():
        for service in services:
            assert on_engine(lab, host, service)["Running"] is True, (host, service)
    # Patroni's members register with their host addresses, not container names
    members = subprocess.run(
        ["curl", "-fsS", "--max-time", "5", f"http://{v['CHAOSHA_PG1_HOST']}:{v['CHAOSHA_PG1_API_PORT']}/cluster"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    hosts = {m["name"]: m["host"] for m in json.loads(members)["members"]}
    assert hosts == {"pg1": v["CHAOSHA_PG1_HOST"], "pg2": v["CHAOSHA_PG2_HOST"]}
    # each engine has only its own host's services
    for host, services in HOSTS.items():
        names = lab.engine(host, "ps", "--format", "{{.Names}}", timeout=30).stdout.split()
        assert sorted(names) == sorted(f"{lab.stack_project}-{s}-1" for s in services), (host, names)


@pytest.mark.parametrize(
    "name", ["master-kill", "leader-dcs-partition", "host-crash", "host-isolation", "host-split"]
)
def test_a_leader_fault_runs_unchanged_on_the_lab(lab, name):
    before = primary(lab)
    proc = chaos_run(str(lab.env_file), name, JOURNALS)
    output, _ = proc.communicate(timeout=600)
    journal = json.loads((JOURNALS / f"{name}.json").read_text())
    assert journal["status"] == "completed" and journal["deviated"] is False, output[-3000:]
    run = {r["activity"]["name"]: r.get("output") for r in journal["run"]}
    if name == "master-kill":
        assert run["kill-the-leader"]["service"] == before
    elif name == "leader-dcs-partition":  # cut by host address and published port, pg1's own host's zk1 too
        cut = run["cut-the-leader-from-zookeeper"]
        assert cut["service"] == before and set(cut["peers"]) == {"zk1", "zk2", "zk3"}, cut
        v = values(lab)
        assert all(
            cut["peers"][zk].startswith(v[f"CHAOSHA_{zk.upper()}_HOST"] + ":2281") for zk in cut["peers"]
        ), cut
    else:  # the fault hit the leader's host
        fault = next(out for activity, out in run.items() if activity.endswith("-the-leaders-host"))
        assert fault["host"] == next(h for h, services in HOSTS.items() if before in services), fault
        if name == "host-crash":  # its ZooKeeper member went with it
            assert before in fault["services"] and any(s.startswith("zk") for s in fault["services"]), fault
    verdict = run["integrity-verdict"]
    assert verdict["lost"] == 0 and verdict["two_primaries"] is False, verdict
    # our own clients, straight to the hosts' addresses: the leader moved,
    # the old one is a replica again, and every acknowledged write is there
    after = primary(lab)
    assert after != before
    assert node(lab, before)["in_recovery"] is True
    ledger = run["start-ledger-workload"]["ledger"]
    acked = {r["id"] for r in read_records(ledger) if r.get("k") == "w" and r.get("r") == "ok"}
    assert len(acked) > 100, len(acked)
    v = values(lab)
    with psycopg.connect(
        host=v[f"CHAOSHA_{after.upper()}_HOST"],
        port=int(v[f"CHAOSHA_{after.upper()}_PORT"]),
        user="postgres",
        password=v["CHAOSHA_PG_PASSWORD"],
        dbname="postgres",
        connect_timeout=5,
    ) as conn:
        rows = conn.execute(
            "SELECT id FROM chaosha_ledger WHERE run = %s", (run["start-ledger-workload"]["run_id"],)
        ).fetchall()
    missing = acked - {r[0] for r in rows}
    assert not missing, sorted(missing)[:20]
    # a kill or crash stopped the old leader's container on its own host's engine, and heal started it there
    host = next(h for h, services in HOSTS.items() if before in services)
    state = on_engine(lab, host, before)
    assert state["Running"] is True, state
    if name in ("master-kill", "host-crash"):
        assert state["StartedAt"] > journal["start"], state


def ssh_configuration(lab: Lab, service: str) -> Dict[str, str]:
    """The lab's settings with ``service``'s engine reached over ssh://."""
    host = next(h for h, services in HOSTS.items() if service in services)
    urls = dict(item.split("=", 1) for item in values(lab)["CHAOSHA_DOCKER_HOSTS"].split(","))
    urls[service] = lab.ssh_url(host)
    return {
        "CHAOSHA_ENV_FILE": str(lab.env_file),
        "CHAOSHA_DOCKER_HOSTS": ",".join(f"{k}={u}" for k, u in urls.items()),
    }


def test_a_fault_over_ssh_and_its_heal(lab):
    pytest.importorskip("paramiko", reason="the docker SDK's ssh:// needs docker[ssh] (setup.cfg)")
    config = ssh_configuration(lab, "zk3")
    assert load(config).get("CHAOSHA_DOCKER_HOSTS").count("ssh://") == 1
    # the quorum guard refuses to pause a member while another one rejoins (after a host fault)
    wait_until(lambda: len(ensemble_status(configuration=config)["serving"]) == 3, 90, 1, "every member serving")
    state: Optional[Dict[str, object]] = None
    try:
        assert container_state("zk3", configuration=config)["state"] == "running"
        pause_container("zk3", configuration=config)
        state = on_engine(lab, "host3", "zk3")  # by tcp, with the docker CLI: independent of the ssh path
        assert state["Paused"] is True, state
    finally:
        healed = heal(configuration=config)
    assert on_engine(lab, "host3", "zk3")["Paused"] is False, healed


def reachable(lab: Lab, name: str) -> bool:
    try:
        node(lab, name)
        return True
    except psycopg.OperationalError:
        return False


def test_a_crashed_host_takes_all_its_services_and_heal_brings_them_back(lab):
    config = {"CHAOSHA_ENV_FILE": str(lab.env_file)}
    wait_for_healthy(180, configuration=config)
    replica = next(n for n in ("pg1", "pg2") if n != primary(lab))
    host = next(h for h, services in HOSTS.items() if replica in services)
    try:
        crashed = crash_host("@replica", configuration=config)
        assert crashed["host"] == host and set(crashed["services"]) == set(HOSTS[host]), crashed
        node_state = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Running}}", f"{lab.project}-{host}-1"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        assert node_state == "false"
        assert not reachable(lab, replica)
        assert [f["kind"] for f in pending_faults(configuration=config)] == ["host-crash"]
    finally:
        heal(configuration=config)
    wait_for_healthy(180, configuration=config)
    assert node(lab, replica)["in_recovery"] is True
    assert pending_faults(configuration=config) == []


@pytest.mark.parametrize("fault", ["isolate", "freeze", "partition"])
def test_a_cut_off_host_is_unreachable_and_heal_reconnects_it(lab, fault):
    config = {"CHAOSHA_ENV_FILE": str(lab.env_file)}
    wait_for_healthy(180, configuration=config)
    replica = next(n for n in ("pg1", "pg2") if n != primary(lab))
    host = next(h for h, services in HOSTS.items() if replica in services)
    other = next(h for h in HOSTS if h != host and "haproxy" in HOSTS[h])
    try:
        if fault in ("isolate", "freeze"):
            (isolate_host if fault == "isolate" else freeze_host)(host, configuration=config)
            assert not reachable(lab, replica)  # from this machine too
        else:
            partition_hosts(host, other, configuration=config)
            assert reachable(lab, replica)  # this machine still reaches it

            # HAProxy's host no longer does: the replica leaves the read-only backend
            def down_in_haproxy() -> bool:
                servers = haproxy.backend_servers(haproxy.fetch(load(config)), "replicas")
                return servers.get(replica, "").startswith("DOWN")

            wait_until(down_in_haproxy, 30, 1, f"HAProxy to mark {replica} down")
    finally:
        heal(configuration=config)
    wait_for_healthy(180, configuration=config)
    assert reachable(lab, replica)


def test_an_engine_restart_stops_the_hosts_containers_until_heal_and_the_guard_holds_its_last_node(lab):
    """A restarted engine (a reboot) comes back without its containers
    (restart policy "no"); while that host is down, crashing the other
    PostgreSQL host is refused: its node would be the last that could serve."""
    config = {"CHAOSHA_ENV_FILE": str(lab.env_file)}
    wait_for_healthy(180, configuration=config)
    leader = primary(lab)
    replica = next(n for n in ("pg1", "pg2") if n != leader)
    host = next(h for h, services in HOSTS.items() if replica in services)
    try:
        done = restart_host_engine("@replica", configuration=config)
        assert done["host"] == host and done["engine_after_s"] >= 0, done
        states = {s: on_engine(lab, host, s)["Status"] for s in HOSTS[host]}  # by tcp, with the docker CLI
        assert set(states.values()) == {"exited"}, states
        assert not reachable(lab, replica)
        with pytest.raises(ActivityFailed, match="no other PostgreSQL node"):
            crash_host("@leader", configuration=config)
        assert node(lab, leader)["in_recovery"] is False  # the refusal touched nothing
    finally:
        heal(configuration=config)
    wait_for_healthy(180, configuration=config)
    assert node(lab, replica)["in_recovery"] is True
    assert pending_faults(configuration=config) == []
