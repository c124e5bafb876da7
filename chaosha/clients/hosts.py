"""The hosts of a lab (chaosha/lab.py): their node containers, and the host
faults with their undo.

A host is a node container of the lab's Compose project
(``CHAOSHA_LAB_PROJECT``, on this machine's engine) that carries the
``chaosha.lab`` label: nothing else can be aimed at.  A target is a host
(``host1``), or a service or role (``pg1``, ``@leader``): the host whose
engine runs it (``CHAOSHA_DOCKER_HOSTS``).  Network faults are iptables
rules in the node's network namespace, run with ``docker exec`` in the node
(its image carries iptables): they drop the traffic of the host and of every
container on it, as a firewall on a machine would.
"""

import time
from typing import Any, Dict, List
from urllib.parse import urlparse

import docker
from chaoslib.exceptions import ActivityFailed
from docker.models.containers import Container

from chaosha import state as registry
from chaosha.clients.docker import containers, engine_urls, find
from chaosha.config import Settings

__all__ = [
    "LAB_LABEL",
    "FAULTS",
    "hosts",
    "host_of",
    "node",
    "lab_settings",
    "block_script",
    "CLEAR_SCRIPT",
    "undo",
    "heal_hosts",
    "freeze",
    "on_host",
    "apply_rules",
    "wait_engine",
]

LAB_LABEL = "chaosha.lab"
CHAIN = "CHAOSHA-HOST"
FAULTS = ("host-crash", "host-freeze", "host-isolate", "host-partition", "host-engine-restart")
CLEAR_SCRIPT = (
    f"for hook in INPUT OUTPUT FORWARD; do while iptables -D $hook -j {CHAIN} 2>/dev/null; do :; done; done; "
    f"iptables -F {CHAIN} 2>/dev/null; iptables -X {CHAIN} 2>/dev/null; true"
)


def lab_settings(settings: Settings) -> Settings:
    """``settings`` aimed at the lab's node containers on this machine's engine."""
    project = settings.get("CHAOSHA_LAB_PROJECT")
    if not project:
        raise ActivityFailed(
            "host faults need a lab: CHAOSHA_LAB_PROJECT is not set (run `chaosha lab up` and point "
            "CHAOSHA_ENV_FILE at the env file it writes)"
        )
    return Settings(dict(settings.values, CHAOSHA_PROJECT=project, CHAOSHA_DOCKER_HOSTS=""))


def hosts(settings: Settings) -> Dict[str, str]:
    """host name -> address (``CHAOSHA_LAB_HOST<n>``)."""
    found = {
        key[len("CHAOSHA_LAB_") :].lower(): value
        for key, value in settings.values.items()
        if key.startswith("CHAOSHA_LAB_HOST") and key[len("CHAOSHA_LAB_HOST") :].isdigit() and value
    }
    return dict(sorted(found.items()))


def host_of(settings: Settings, service: str) -> str:
    """The host ``service`` names (a host's own name), or the host whose engine runs it."""
    known = hosts(settings)
    if service in known:
        return service
    url = engine_urls(settings).get(service, "")
    address = urlparse(url).hostname if url else ""
    for host, host_address in known.items():
        if address == host_address:
            return host
    raise ActivityFailed(
        f"{service!r} is neither a lab host ({', '.join(known) or 'none'}) nor a service on one "
        f"(CHAOSHA_DOCKER_HOSTS maps it to {url or 'no engine'})"
    )


def node(settings: Settings, host: str) -> Container:
    """The node container of ``host``: the lab's Compose project, its label."""
    lab = lab_settings(settings)
    found = find(lab, host)
    if found is None or found.labels.get(LAB_LABEL) != lab.project:
        raise ActivityFailed(
            f"no node container of host {host!r} in lab {lab.project!r} (is the lab up? `chaosha lab status`)"
        )
    return found


def _exec(found: Container, script: str) -> str:
    try:
        code, output = found.exec_run(["sh", "-c", script])
    except docker.errors.APIError as exc:
        raise ActivityFailed(f"cannot run iptables in {found.name}: {exc.explanation} (is it running?)") from None
    text = output.decode(errors="replace").strip() if output else ""
    if code != 0:
        raise ActivityFailed(f"iptables in {found.name} failed ({code}): {text}")
    return text


def block_script(addresses: List[str]) -> str:
    """iptables rules dropping the host's traffic on its lab interface with
    ``addresses`` (every address when empty: the host is isolated)."""
    lines = [f"iptables -N {CHAIN} 2>/dev/null || true"]
    for hook in ("INPUT", "OUTPUT", "FORWARD"):
        lines.append(f"iptables -C {hook} -j {CHAIN} 2>/dev/null || iptables -I {hook} 1 -j {CHAIN}")
    if not addresses:
        lines += [f"iptables -A {CHAIN} -i eth0 -j DROP", f"iptables -A {CHAIN} -o eth0 -j DROP"]
    for address in addresses:
        lines += [f"iptables -A {CHAIN} -s {address} -j DROP", f"iptables -A {CHAIN} -d {address} -j DROP"]
    return " && ".join(lines)


def apply_rules(settings: Settings, kind: str, host: str, addresses: List[str], **details: Any) -> None:
    """Record the fault, apply the rules; on failure remove all of them again."""
    found = node(settings, host)
    registry.record(settings, kind, host, addresses=addresses, **details)
    try:
        _exec(found, block_script(addresses))
    except ActivityFailed:
        _exec(found, CLEAR_SCRIPT)
        registry.forget(settings, kind, host)
        raise


def wait_engine(settings: Settings, host: str, timeout: float = 90) -> float:
    """Wait until ``host``'s engine answers again; seconds waited."""
    url = f"tcp://{hosts(settings)[host]}:2375"
    started = time.monotonic()
    while True:
        try:  # the client asks the engine's API version when it is made
            engine = docker.DockerClient(base_url=url, timeout=5)
            engine.ping()
            engine.close()
            return round(time.monotonic() - started, 1)
        except docker.errors.DockerException as exc:
            if time.monotonic() - started > timeout:
                raise ActivityFailed(f"the engine of {host} did not answer within {timeout:g}s: {exc}") from None
            time.sleep(1)


def on_host(settings: Settings, host: str) -> List[Container]:
    """The stack's containers on ``host``'s engine."""
    address = hosts(settings)[host]
    return [c for c in containers(settings) if urlparse(c.client.api.base_url).hostname == address]


def freeze(settings: Settings, host: str) -> List[str]:
    """Pause the stack's containers on ``host``, then its node container:
    the engine's own containers live in cgroups beside the node's (the
    host's cgroup tree), which pausing the node alone does not freeze.
    Recorded first; returns the services paused."""
    found = node(settings, host)
    inner = [c for c in on_host(settings, host) if c.status == "running"]
    registry.record(settings, "host-freeze", host)
    for container in inner:
        container.pause()
    found.pause()
    return sorted(c.labels.get("com.docker.compose.service", c.name) for c in inner)


def undo(settings: Settings, kind: str, host: str) -> List[str]:
    """Undo one host fault; the steps taken."""
    found = node(settings, host)
    found.reload()
    steps: List[str] = []
    if found.status == "paused":
        found.unpause()
        steps.append("unpause")
    if found.status in ("exited", "created", "dead"):
        found.start()
        steps.append("start")
    if kind in ("host-isolate", "host-partition") and found.status != "exited":
        _exec(found, CLEAR_SCRIPT)
        steps.append("clear-iptables")
    if steps:
        steps.append(f"engine-after:{wait_engine(settings, host)}s")
    if kind == "host-freeze":
        for container in on_host(settings, host):
            if container.status == "paused":
                container.unpause()
                steps.append(f"unpause:{container.labels.get('com.docker.compose.service', container.name)}")
    registry.forget(settings, kind, host)
    return steps


def heal_hosts(settings: Settings) -> Dict[str, List[str]]:
    """Undo every recorded host fault (before the containers on the hosts
    can be healed: a crashed host's engine does not answer)."""
    done: Dict[str, List[str]] = {}
    for fault in registry.pending(settings):
        if fault["kind"] in FAULTS:
            done.setdefault(fault["service"], []).extend(undo(settings, fault["kind"], fault["service"]))
    return done
