"""A node is what Compose created for this project, nothing else: look-alike
containers alive during lookups are never returned nor touched, and
network sidecars leave neither themselves nor a volume behind."""

import subprocess
import uuid
from typing import Any, Iterator, List

import docker
import pytest

from chaosha.clients import docker as client
from chaosha.docker import actions, probes
from chaosha.timing import wait_until

pytestmark = pytest.mark.integration

DECOY = "chaosha.test-decoy"


def sh(*args: str, timeout: float = 60) -> str:
    return subprocess.run(
        ["timeout", str(timeout), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def run_decoy(image: str, *labels: str) -> str:
    name = f"decoy-{uuid.uuid4().hex[:8]}"
    args = ["docker", "run", "-d", "--rm", "--name", name, "-l", f"{DECOY}=1"]
    for label in labels:
        args += ["-l", label]
    sh(*args, "--entrypoint", "sleep", image, "300")
    return name


@pytest.fixture
def decoys(healthy: Any) -> Iterator[List[str]]:
    settings = healthy.settings
    tag, project = settings.image_tag, settings.project
    names = [run_decoy(f"chaosha/{image}:{tag}") for image in ("patroni", "zookeeper", "haproxy")]
    # a sidecar of a second project, from our image (which may carry our build labels)
    names.append(run_decoy(settings.tools_image, f"chaosha.sidecar={project}-other"))
    # forged project/service labels, even Compose's container labels
    names.append(
        run_decoy(
            settings.tools_image,
            f"com.docker.compose.project={project}",
            "com.docker.compose.service=pg1",
            "com.docker.compose.oneoff=False",
            "com.docker.compose.config-hash=forged",
            "com.docker.compose.container-number=1",
        )
    )
    try:
        yield names
    finally:
        sh("docker", "rm", "-f", *names)


def test_lookalikes_are_never_nodes_and_actions_hit_the_real_one(healthy: Any, decoys: List[str]) -> None:
    cfg, settings = healthy.configuration, healthy.settings
    listed = probes.project_containers(configuration=cfg)
    services = [c["service"] for c in listed]
    assert sorted(services) == sorted(set(services)), listed  # each service once
    assert {"pg1", "pg2", "zk1", "zk2", "zk3", "haproxy"} <= set(services)
    assert not {c["name"] for c in listed} & set(decoys)
    real = client.container(settings, "pg1")
    assert real.name == f"{settings.project}-pg1-1"

    actions.pause_container("pg1", configuration=cfg)
    try:
        assert probes.container_state("pg1", configuration=cfg)["paused"]
        for name in decoys:
            assert sh("docker", "inspect", "-f", "{{.State.Status}}", name) == "running"
    finally:
        actions.unpause_container("pg1", configuration=cfg)


def test_a_container_that_vanishes_mid_lookup_is_skipped(healthy: Any, monkeypatch: Any) -> None:
    """A look-alike that passes the list (Compose's name and labels) and is
    removed before it is inspected: the lookup goes on without it."""
    settings = healthy.settings
    name = f"{settings.project}-ghost-1"
    ghost = sh(
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "-l",
        f"{DECOY}=1",
        "-l",
        f"com.docker.compose.project={settings.project}",
        "-l",
        "com.docker.compose.service=ghost",
        "-l",
        "com.docker.compose.oneoff=False",
        "-l",
        "com.docker.compose.config-hash=x",
        "-l",
        "com.docker.compose.container-number=1",
        "--entrypoint",
        "sleep",
        settings.tools_image,
        "300",
    )
    original = docker.models.containers.ContainerCollection.get
    asked: List[str] = []

    def get(self: Any, container_id: str) -> Any:
        if container_id == ghost:
            sh("docker", "rm", "-f", name)
            asked.append(container_id)
        return original(self, container_id)

    try:
        monkeypatch.setattr(docker.models.containers.ContainerCollection, "get", get)
        services = [c.labels["com.docker.compose.service"] for c in client.containers(settings)]
        assert "pg1" in services and "ghost" not in services
        assert asked == [ghost], "the ghost passed the list and vanished before its inspect"
    finally:
        monkeypatch.undo()
        subprocess.run(["timeout", "30", "docker", "rm", "-f", name], capture_output=True)


def dangling() -> List[str]:
    return sh("docker", "volume", "ls", "-qf", "dangling=true").split()


def test_sidecars_leave_no_container_and_no_volume(healthy: Any, monkeypatch: Any) -> None:
    cfg, settings = healthy.configuration, healthy.settings
    mounted: List[str] = []
    original = docker.models.containers.Container.remove

    def remove(self: Any, **kwargs: Any) -> Any:  # note each sidecar's volumes on its way out
        mounted.extend(m.get("Name", "") for m in self.attrs.get("Mounts") or [] if m.get("Type") == "volume")
        assert kwargs.get("v") is True
        return original(self, **kwargs)

    monkeypatch.setattr(docker.models.containers.Container, "remove", remove)
    before = set(dangling())
    actions.partition_container("haproxy", peers="pg2", configuration=cfg)
    actions.heal_partition("haproxy", configuration=cfg)
    monkeypatch.undo()
    assert len(mounted) >= 2, "the tools image declares a VOLUME: each sidecar had one"
    left = set(dangling()) - before
    assert not left & set(mounted)
    for volume in mounted:
        assert (
            subprocess.run(
                ["timeout", "20", "docker", "volume", "inspect", volume], capture_output=True
            ).returncode
            != 0
        ), volume
    sidecars = sh("docker", "ps", "-aq", "--filter", f"label=chaosha.sidecar={settings.project}")
    assert sidecars == ""
    wait_until(lambda: probes.pending_faults(configuration=cfg) == [], 5, 0.5, "no fault left")
