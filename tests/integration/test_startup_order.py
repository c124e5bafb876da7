"""A Patroni node started while ZooKeeper does not serve waits for it
instead of exiting (Patroni 4.1.5 gives up after kazoo's 15 s start
timeout, and with restart policy "no" the node stays down)."""

import time

import docker
import pytest

from chaosha.docker.actions import start_container, stop_container
from chaosha.patroni.probes import wait_for_healthy
from chaosha.targets import resolve

pytestmark = pytest.mark.integration
ZOOKEEPER = ("zk1", "zk2", "zk3")


def _state(stack, service: str) -> str:
    client = docker.from_env(timeout=30)
    labels = [f"com.docker.compose.project={stack.settings.project}", f"com.docker.compose.service={service}"]
    (found,) = client.containers.list(all=True, filters={"label": labels})
    return str(found.status)


def test_a_node_started_before_zookeeper_serves_waits_and_joins(healthy):
    cfg = healthy.configuration
    replica = resolve(healthy.settings, "@replica")
    stop_container(replica, grace_s=30, configuration=cfg)
    for zk in ZOOKEEPER:
        stop_container(zk, grace_s=10, force=True, configuration=cfg)
    start_container(replica, configuration=cfg)
    time.sleep(25)  # longer than kazoo's 15 s start timeout
    assert _state(healthy, replica) == "running", "Patroni gave up on ZooKeeper and its container exited"
    for zk in ZOOKEEPER:
        start_container(zk, configuration=cfg)
    health = wait_for_healthy(180, configuration=cfg)
    assert health["healthy"], health
