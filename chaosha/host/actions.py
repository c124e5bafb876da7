"""Host faults on the lab: every service of a host is hit at once.

Each fault is recorded (chaosha/state.py) before it is applied and undone
by its own action or by ``heal`` (chaosha/docker/actions.py), which undoes
host faults first: a crashed host's engine does not answer until the host
is started again.  Only the lab's node containers can be aimed at
(chaosha/clients/hosts.py).
"""

import time
from typing import Any, Dict, List
from urllib.parse import urlparse

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha import state as registry
from chaosha.clients import hosts as lab_hosts
from chaosha.clients.docker import engine_urls
from chaosha.config import Settings, load
from chaosha.targets import guard_together, resolve
from chaosha.timing import parse_duration

__all__ = [
    "crash_host",
    "start_host",
    "freeze_host",
    "thaw_host",
    "isolate_host",
    "partition_hosts",
    "heal_host",
    "restart_host_engine",
]


def _host(settings: Settings, target: str) -> str:
    if target in lab_hosts.hosts(settings):
        return target
    return lab_hosts.host_of(settings, resolve(settings, target))


def _guarded(settings: Settings, target: str, force: bool) -> str:
    """The target's host, once :func:`guard_together` allows its services down."""
    host = _host(settings, target)
    guard_together(settings, _services_on(settings, host), force)
    return host


def _result(host: str, action: str, started: float, **extra: Any) -> Dict[str, Any]:
    return {"host": host, "action": action, "at": started, "took_s": round(time.time() - started, 3), **extra}


def crash_host(
    target: str, force: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Crash the target's host (a host, or a service/role on it): SIGKILL of
    its node container, so its engine and every container on it stop at
    once, like a power cut.  Refused, unless ``force``, when its services
    are the last PostgreSQL node that could serve or a ZooKeeper quorum.
    Undo: start_host (then heal starts the containers, restart policy "no")."""
    settings = load(configuration, secrets)
    host = _guarded(settings, target, force)
    found = lab_hosts.node(settings, host)
    started = time.time()
    registry.record(settings, "host-crash", host)
    found.kill()
    return _result(host, "crash", started, services=_services_on(settings, host))


def start_host(target: str, configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Start a crashed host and wait for its engine (the containers on it
    stay stopped until heal starts them)."""
    settings = load(configuration, secrets)
    host = _host(settings, target)
    started = time.time()
    return _result(host, "start", started, steps=lab_hosts.undo(settings, "host-crash", host))


def restart_host_engine(
    target: str,
    force: bool = False,
    stop_timeout_s: float = 30,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Restart the Docker engine of the target's host, as a reboot does:
    the engine stops every container on it (SIGTERM, then SIGKILL after its
    own 15 s), within ``stop_timeout_s`` seconds before its node is killed;
    the containers stay stopped until heal starts them (restart policy
    "no").  Guarded as crash_host.  Returns ``engine_after_s``, the seconds
    until the engine answered again."""
    settings = load(configuration, secrets)
    host = _guarded(settings, target, force)
    found = lab_hosts.node(settings, host)
    services = _services_on(settings, host)
    started = time.time()
    registry.record(settings, "host-engine-restart", host)
    found.restart(timeout=int(parse_duration(stop_timeout_s, "stop_timeout_s")))
    waited = lab_hosts.wait_engine(settings, host)
    return _result(host, "engine-restart", started, services=services, engine_after_s=waited)


def freeze_host(
    target: str, force: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Freeze the target's host: docker pause of the stack's containers on
    it and of its node container (the engine too); guarded as crash_host.
    Undo: thaw_host."""
    settings = load(configuration, secrets)
    host = _guarded(settings, target, force)
    started = time.time()
    return _result(host, "freeze", started, services=lab_hosts.freeze(settings, host))


def thaw_host(target: str, configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Unpause a frozen host."""
    settings = load(configuration, secrets)
    host = _host(settings, target)
    started = time.time()
    return _result(host, "thaw", started, steps=lab_hosts.undo(settings, "host-freeze", host))


def isolate_host(
    target: str, force: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Drop all of the target's host's traffic on its lab interface (the
    engine's API too: chaosha cannot reach it until the undo, which runs in
    the node container from this machine's engine); guarded as crash_host.
    Undo: heal_host."""
    settings = load(configuration, secrets)
    host = _guarded(settings, target, force)
    started = time.time()
    lab_hosts.apply_rules(settings, "host-isolate", host, [])
    return _result(host, "isolate", started, services=_services_on(settings, host))


def partition_hosts(
    target: str,
    peers: str,
    force: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Cut the target's host from the ``peers`` hosts (comma-separated hosts,
    services or roles), both ways; the rest of the lab still reaches both
    sides.  Cut from every other host, it is guarded as crash_host.
    Undo: heal_host."""
    settings = load(configuration, secrets)
    host = _host(settings, target)
    others = sorted({_host(settings, p.strip()) for p in peers.split(",") if p.strip()})
    if not others or host in others:
        raise ActivityFailed(
            f"partition_hosts {host} from {peers!r}: name other hosts (or services on them) than {host}"
        )
    if set(others) | {host} == set(lab_hosts.hosts(settings)):  # its side is this host alone
        guard_together(settings, _services_on(settings, host), force)
    addresses = [lab_hosts.hosts(settings)[o] for o in others]
    started = time.time()
    lab_hosts.apply_rules(settings, "host-partition", host, addresses, peers=others)
    return _result(host, "partition", started, peers=others)


def heal_host(target: str, configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Undo every recorded fault of the target's host."""
    settings = load(configuration, secrets)
    host = _host(settings, target)
    started = time.time()
    steps: List[str] = []
    for fault in registry.pending(settings):
        if fault["service"] == host and fault["kind"] in lab_hosts.FAULTS:
            steps += lab_hosts.undo(settings, fault["kind"], host)
    return _result(host, "heal", started, steps=steps)


def _services_on(settings: Settings, host: str) -> List[str]:
    """The stack's services whose engine is ``host``'s."""
    address = lab_hosts.hosts(settings)[host]
    return sorted(s for s, url in engine_urls(settings).items() if urlparse(url).hostname == address)
