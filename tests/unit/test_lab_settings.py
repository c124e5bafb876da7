"""The lab's settings (chaosha/lab.py) and what chaosha makes of them:
per-node hosts, engines per service, host targets, and the refusals on a
stack spread over several engines."""

from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.clients import hosts
from chaosha.clients.network import endpoint_rules
from chaosha.config import load
from chaosha.docker.actions import _peer_endpoints
from chaosha.lab import HOSTS, Lab
from chaosha.stack import Stack, StackError


@pytest.fixture
def lab_env(tmp_path: Path) -> Path:
    lab = Lab(project="chaosha-unit-lab", folder=tmp_path, subnet="127.99.0.0/24")
    lab.env_file.write_text("".join(f"{k}={v}\n" for k, v in lab.values().items()))
    return lab.env_file


def test_every_node_is_reached_on_its_host(lab_env):
    s = load({"CHAOSHA_ENV_FILE": str(lab_env)})
    assert {n.name: (n.host, n.port) for n in s.pg_nodes} == {
        "pg1": ("127.99.0.11", 5432),
        "pg2": ("127.99.0.12", 5432),
    }
    assert [(z.host, z.port) for z in s.zk_nodes] == [
        ("127.99.0.11", 2281),
        ("127.99.0.12", 2281),
        ("127.99.0.13", 2281),
    ]
    assert s.host == "127.99.0.13"  # HAProxy's host


def test_without_node_hosts_every_node_is_on_chaosha_host():
    s = load({"CHAOSHA_ENV_FILE": "/nonexistent", "CHAOSHA_HOST": "192.0.2.7"})
    assert {n.host for n in s.pg_nodes + s.zk_nodes} == {"192.0.2.7"}  # type: ignore[operator]


def test_each_service_uses_its_hosts_engine(lab_env):
    s = load({"CHAOSHA_ENV_FILE": str(lab_env)})
    for host, services in HOSTS.items():
        for service in services:
            assert hosts.host_of(s, service) == host
    assert hosts.host_of(s, "host2") == "host2"
    with pytest.raises(ActivityFailed, match="neither a lab host"):
        hosts.host_of(s, "pg3")


def test_host_rules_drop_only_the_lab_interface_or_the_peers():
    isolate = hosts.block_script([])
    assert "-i eth0 -j DROP" in isolate and "-o eth0 -j DROP" in isolate and " -s " not in isolate
    cut = hosts.block_script(["127.99.0.12"])
    assert "-s 127.99.0.12 -j DROP" in cut and "-d 127.99.0.12 -j DROP" in cut and "eth0" not in cut
    assert all(f"-I {hook} 1 -j CHAOSHA-HOST" in cut for hook in ("INPUT", "OUTPUT", "FORWARD"))


def test_a_partition_by_peer_across_engines_cuts_the_peers_host_addresses_and_published_ports(lab_env):
    # the peers' addresses on their own engines' networks carry none of their traffic: on a spread
    # stack a peer is its host's address and the ports it publishes there, which others share
    s = load({"CHAOSHA_ENV_FILE": str(lab_env)})
    zk = _peer_endpoints(s, "pg1", "zk1,zk2,zk3", [])
    assert zk == {f"zk{n}": (s.node_host(f"zk{n}"), [2281, 2888, 3888]) for n in (1, 2, 3)}
    assert zk["zk1"][0] == s.node_host("pg1")  # zk1 shares pg1's host: only its ports are cut
    assert _peer_endpoints(s, "pg1", "zk2,haproxy", [2281, 5433]) == {
        "zk2": (s.node_host("zk2"), [2281]),
        "haproxy": (s.host, [5433]),
    }
    with pytest.raises(ActivityFailed, match="pg2 publishes none of the ports \\[9999\\]"):
        _peer_endpoints(s, "pg1", "pg2", [9999])  # never a rule for the whole shared address
    with pytest.raises(ActivityFailed, match="from itself"):
        _peer_endpoints(s, "pg1", "pg1,zk1", [])
    rules = endpoint_rules(zk, "both").split(" && ")
    drops = [r for r in rules if r.endswith("-j DROP")]
    assert len(drops) == 3 * 3 * 2 and all("-p tcp --" in r for r in drops)
    address = s.node_host("zk1")
    assert f"iptables -A CHAOSHA -d {address} -p tcp --dport 2281 -j DROP" in rules
    assert f"iptables -A CHAOSHA -s {address} -p tcp --sport 2281 -j DROP" in rules


def test_stack_commands_refuse_a_labs_env_file(lab_env):
    with pytest.raises(StackError, match="chaosha lab"):
        Stack(env_file=lab_env).status()


def test_host_faults_refuse_without_a_lab():
    with pytest.raises(ActivityFailed, match="need a lab"):
        hosts.node(load({"CHAOSHA_ENV_FILE": "/nonexistent"}), "host1")
