"""Docker actions: kill, stop, start, restart, pause and unpause a service's
container; partition it (iptables, or leaving the network); add latency or
loss (tc netem).  Every fault has its undo, and ``heal`` undoes them all.

Targets are Compose service names or ``@leader``/``@replica``/``@sync``;
only containers of the configured Compose project are touched.  Every
destructive action takes ``dry_run`` (report, do nothing) and refuses to
take the last serving PostgreSQL node or ZooKeeper's quorum down unless
``force``.
"""

import time
from typing import Any, Dict, List

import docker
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha import state as registry
from chaosha.config import Settings, load
from chaosha.docker import lifecycle, network
from chaosha.docker.client import SERVICE_LABEL, container, containers
from chaosha.docker.targets import guard, resolve
from chaosha.timing import parse_duration

__all__ = [
    "kill_container", "stop_container", "start_container", "restart_container",
    "pause_container", "unpause_container",
    "partition_container", "heal_partition", "disconnect_network", "reconnect_network",
    "add_latency", "remove_latency", "heal",
]


STOP_SIGNALS = ("SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU")


def _prepare(settings: Settings, target: str, force: bool, destructive: bool = True) -> str:
    service = resolve(settings, target)
    container(settings, service)  # unknown service -> ActivityFailed before anything happens
    if destructive:
        guard(settings, service, force)
        registry.remember_target(settings, service)
    return service


def _docker_call(what: str, service: str, call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except docker.errors.APIError as exc:
        raise ActivityFailed(f"{what} {service} failed: {exc.explanation}") from None
    except docker.errors.DockerException as exc:
        raise ActivityFailed(f"{what} {service} failed: {exc}") from None


def _graceful(settings: Settings, service: str, verb: str, grace: float) -> None:
    """``stop``/``restart`` the container, with a deadline that covers the grace period."""
    target = container(settings, service)
    target.client.api.timeout = max(settings.timeout, grace + 20)
    try:
        _docker_call(verb, service, getattr(target, verb), timeout=int(grace))
    finally:
        target.client.api.timeout = settings.timeout


def _result(service: str, action: str, started: float, **extra: Any) -> Dict[str, Any]:
    return dict(extra, service=service, action=action, at=started,
                seconds=round(time.time() - started, 3))


def kill_container(service: str, signal: str = "SIGKILL", force: bool = False, dry_run: bool = False,
                   configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Send ``signal`` (default SIGKILL) to the service's container.
    Undo: start_container, or for SIGSTOP heal (sends SIGCONT)."""
    settings = load(configuration, secrets)
    sig = lifecycle.parse_signal(signal)
    service = _prepare(settings, service, force)
    if dry_run:
        return {"dry_run": True, "would": f"send {sig} to {service}", "service": service}
    started = time.time()
    if sig in STOP_SIGNALS:  # a stopped process is a fault too: heal sends SIGCONT
        registry.record(settings, "sigstop", service)
    _docker_call("killing", service, container(settings, service).kill, signal=sig)
    return _result(service, "kill", started, signal=sig)


def stop_container(service: str, grace: str = "30s", force: bool = False, dry_run: bool = False,
                   configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Stop the service's container gracefully (SIGTERM/its stop signal,
    then SIGKILL after ``grace``).  Undo: start_container."""
    settings = load(configuration, secrets)
    seconds = parse_duration(grace, "grace")
    service = _prepare(settings, service, force)
    if dry_run:
        return {"dry_run": True, "would": f"stop {service} (grace {seconds:g}s)", "service": service}
    started = time.time()
    _graceful(settings, service, "stop", seconds)
    return _result(service, "stop", started)


def start_container(service: str, configuration: Configuration = None,
                    secrets: Secrets = None) -> Dict[str, Any]:
    """Start the service's container if it is not running (undo of kill/stop)."""
    settings = load(configuration, secrets)
    target = container(settings, _prepare(settings, service, False, destructive=False))
    started = time.time()
    if target.status != "running":
        _docker_call("starting", service, target.start)
    return _result(target.labels[SERVICE_LABEL], "start", started)


def restart_container(service: str, grace: str = "10s", force: bool = False, dry_run: bool = False,
                      configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Restart the service's container (stop with ``grace``, then start)."""
    settings = load(configuration, secrets)
    seconds = parse_duration(grace, "grace")
    service = _prepare(settings, service, force)
    if dry_run:
        return {"dry_run": True, "would": f"restart {service}", "service": service}
    started = time.time()
    _graceful(settings, service, "restart", seconds)
    return _result(service, "restart", started)


def pause_container(service: str, force: bool = False, dry_run: bool = False,
                    configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Freeze every process of the service's container (docker pause, with
    a cgroup-freezer fallback).  Undo: unpause_container."""
    settings = load(configuration, secrets)
    service = _prepare(settings, service, force)
    if dry_run:
        return {"dry_run": True, "would": f"pause {service}", "service": service}
    started = time.time()
    registry.record(settings, "pause", service)
    method = lifecycle.freeze(container(settings, service))
    return _result(service, "pause", started, method=method)


def unpause_container(service: str, configuration: Configuration = None,
                      secrets: Secrets = None) -> Dict[str, Any]:
    """Thaw the service's container, even when docker unpause hangs."""
    settings = load(configuration, secrets)
    service = _prepare(settings, service, False, destructive=False)
    started = time.time()
    method = lifecycle.thaw(container(settings, service))
    registry.forget(settings, "pause", service)
    return _result(service, "unpause", started, method=method)


def _peer_addresses(settings: Settings, service: str, peers: str) -> Dict[str, str]:
    names = [p.strip() for p in peers.split(",") if p.strip()]
    resolved = [resolve(settings, p) for p in names]
    if service in resolved:
        raise ActivityFailed(f"{service} cannot be partitioned from itself: remove it from peers")
    return {p: network.address_of(settings, p) for p in resolved}


def _apply_in_netns(settings: Settings, kind: str, service: str, script: str, **details: Any) -> None:
    """Record the fault, apply it; on failure remove all of it again."""
    registry.record(settings, kind, service, **details)
    target = container(settings, service)
    try:
        network.run_in_netns(settings, target, script)
    except ActivityFailed as exc:
        network.run_in_netns(settings, target, network.CLEAR_SCRIPT)  # nothing half-applied
        registry.forget(settings, kind, service)
        if "qdisc kind is unknown" in str(exc):
            raise ActivityFailed(
                f"the kernel running {service} has no netem (CONFIG_NET_SCH_NETEM): latency "
                "faults need it; for packet loss use partition_container with loss_percent"
            ) from None
        raise


def partition_container(service: str, peers: str = "", direction: str = "both", ports: str = "",
                        loss_percent: float = 100.0, force: bool = False, dry_run: bool = False,
                        configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Drop the service's traffic with ``peers`` (comma-separated services;
    empty: everything but loopback), ``direction`` both/in/out, optionally
    only TCP ``ports`` of the peers (comma-separated), with iptables rules
    in the container's network namespace.  ``loss_percent`` below 100
    drops that share of packets at random instead (needs no netem).
    Undo: heal_partition."""
    settings = load(configuration, secrets)
    service = _prepare(settings, service, force)
    addresses = _peer_addresses(settings, service, peers)
    try:
        port_list = [int(p) for p in ports.split(",") if p.strip()]
    except ValueError:
        raise ActivityFailed(f"ports {ports!r}: give comma-separated port numbers") from None
    script = network.block_rules(addresses, direction, port_list, float(loss_percent))
    if dry_run:
        return {"dry_run": True, "would": script, "service": service, "peers": addresses}
    started = time.time()
    _apply_in_netns(settings, "partition", service, script, peers=addresses)
    return _result(service, "partition", started, peers=addresses, direction=direction)


def heal_partition(service: str, configuration: Configuration = None,
                   secrets: Secrets = None) -> Dict[str, Any]:
    """Remove chaosha's iptables rules and netem qdisc from the service."""
    settings = load(configuration, secrets)
    service = _prepare(settings, service, False, destructive=False)
    started = time.time()
    network.run_in_netns(settings, container(settings, service), network.CLEAR_SCRIPT)
    registry.forget(settings, "partition", service)
    registry.forget(settings, "netem", service)
    return _result(service, "heal-partition", started)


def disconnect_network(service: str, force: bool = False, dry_run: bool = False,
                       configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Take the service's container off the project network (a two-way
    partition; its published ports go dark too).  Undo: reconnect_network."""
    settings = load(configuration, secrets)
    service = _prepare(settings, service, force)
    target = container(settings, service)
    name = network.project_network(settings, target)
    if dry_run:
        return {"dry_run": True, "would": f"disconnect {service} from {name}", "service": service}
    started = time.time()
    registry.record(settings, "disconnect", service, network=name, aliases=network.aliases_for(target))
    net = target.client.networks.get(name)
    _docker_call("disconnecting", service, net.disconnect, target, force=True)
    return _result(service, "disconnect", started, network=name)


def reconnect_network(service: str, configuration: Configuration = None,
                      secrets: Secrets = None) -> Dict[str, Any]:
    """Put the service's container back on the project network with its DNS
    aliases (service name and container name)."""
    settings = load(configuration, secrets)
    service = _prepare(settings, service, False, destructive=False)
    target = lifecycle.refresh(container(settings, service))
    name = network.project_network(settings, target)
    started = time.time()
    if name not in target.attrs["NetworkSettings"]["Networks"]:
        net = target.client.networks.get(name)
        _docker_call("reconnecting", service, net.connect, target, aliases=network.aliases_for(target))
    registry.forget(settings, "disconnect", service)
    return _result(service, "reconnect", started, network=name)


def add_latency(service: str, delay: str = "200ms", jitter: str = "0ms", loss_percent: float = 0.0,
                dry_run: bool = False, configuration: Configuration = None,
                secrets: Secrets = None) -> Dict[str, Any]:
    """Delay (and/or drop ``loss_percent`` % of) every packet the service's
    container sends, with tc netem on its interfaces.  Undo: remove_latency."""
    settings = load(configuration, secrets)
    service = _prepare(settings, service, True)
    args = network.netem_args(parse_duration(delay, "delay") * 1000,
                              parse_duration(jitter, "jitter") * 1000, float(loss_percent))
    script = f"for dev in {network.IFACES}; do tc qdisc replace dev $dev root {args} || exit 1; done"
    if dry_run:
        return {"dry_run": True, "would": script, "service": service}
    started = time.time()
    _apply_in_netns(settings, "netem", service, script, netem=args)
    return _result(service, "latency", started, netem=args)


def remove_latency(service: str, configuration: Configuration = None,
                   secrets: Secrets = None) -> Dict[str, Any]:
    """Remove the netem qdisc from the service's container."""
    settings = load(configuration, secrets)
    service = _prepare(settings, service, False, destructive=False)
    started = time.time()
    network.run_in_netns(settings, container(settings, service),
                         f"for dev in {network.IFACES}; do tc qdisc del dev $dev root 2>/dev/null; done; true")
    registry.forget(settings, "netem", service)
    return _result(service, "remove-latency", started)


def heal(deep: bool = False, configuration: Configuration = None,
         secrets: Secrets = None) -> Dict[str, Any]:
    """Undo every fault chaosha can leave in the project: thaw paused
    containers, reconnect disconnected ones, remove recorded iptables/netem
    faults (with ``deep``: from every running container), start stopped
    containers, resume Patroni failover that chaosha paused.  Safe to run
    any time; returns what it did per service."""
    settings = load(configuration, secrets)
    done: Dict[str, List[str]] = {}
    recorded = {f["service"] for f in registry.pending(settings) if f["kind"] in ("partition", "netem")}
    stopped = {f["service"] for f in registry.pending(settings) if f["kind"] == "sigstop"}
    errors: List[str] = []
    for target in containers(settings):
        service = target.labels.get(SERVICE_LABEL, target.name)
        steps: List[str] = []
        try:
            target.reload()
            if target.attrs["State"].get("Paused") or lifecycle.is_frozen(target):
                steps.append("unpause:" + lifecycle.thaw(target))
            if service in stopped and target.status == "running":
                target.kill(signal="SIGCONT")
                steps.append("sigcont")
            name = network.project_network(settings, target)
            if name not in target.attrs["NetworkSettings"]["Networks"]:
                target.client.networks.get(name).connect(target, aliases=network.aliases_for(target))
                steps.append("reconnect")
            if target.status != "running":
                target.start()
                steps.append("start")
            if service in recorded or deep:
                network.run_in_netns(settings, target, network.CLEAR_SCRIPT)
                steps.append("clear-netfilter")
        except (ActivityFailed, docker.errors.DockerException) as exc:
            errors.append(f"{service}: {exc}")
        if steps:
            done[service] = steps
    if any(f["kind"] == "patroni-pause" for f in registry.pending(settings)):
        from chaosha.patroni.actions import resume_failover

        try:
            resume_failover(configuration=configuration, secrets=secrets)
            done["patroni"] = ["resume-failover"]
        except ActivityFailed as exc:
            errors.append(f"patroni: {exc}")
    for fault in registry.pending(settings):
        if not any(fault["service"] in e for e in errors):
            registry.forget(settings, fault["kind"], fault["service"])
    if errors:
        raise ActivityFailed("heal could not finish: " + "; ".join(errors) + " — run `chaosha heal` again")
    return {"healed": done, "services": len(done)}
