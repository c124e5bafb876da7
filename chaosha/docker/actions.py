"""Docker actions: kill, stop, start, restart, pause and unpause a service's
container; partition it (iptables, or leaving the network); add latency or
loss (tc netem).  Every fault is recorded before it is applied and has its
undo, and ``heal`` undoes them all.

Every action aims at ``target``: a Compose service name or
``@leader``/``@replica``/``@sync``/``@faulted`` (an undo aims where its
fault did); only service containers Compose created for the configured project are
touched.  Every destructive action takes ``dry_run`` (report, do nothing,
record nothing) and refuses to take the last serving PostgreSQL node or
ZooKeeper's quorum down unless ``force``.  Results name the ``service`` the
target resolved to, the ``action``, when it started (``at``) and ``took_s``.
"""

import time
from typing import Any, Dict, List, Set, Tuple

import docker
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from docker.models.containers import Container

from chaosha import state as registry
from chaosha.clients import bulk, host_firewall, lifecycle, network
from chaosha.clients import hosts as lab_hosts
from chaosha.clients.docker import SERVICE_LABEL, container, containers, engine_urls
from chaosha.clients.patroni import PAUSE_FAULT, SLOT_TTL_FAULT, restore_slot_retention, set_failover_pause
from chaosha.config import Settings, load
from chaosha.integrity.runner import stop_all
from chaosha.targets import guard, resolve, resolve_all
from chaosha.timing import parse_duration

__all__ = [
    "kill_container",
    "stop_container",
    "start_container",
    "restart_container",
    "pause_container",
    "unpause_container",
    "partition_container",
    "heal_partition",
    "disconnect_network",
    "reconnect_network",
    "add_latency",
    "remove_latency",
    "heal",
]


def _target(settings: Settings, target: str) -> Tuple[str, Container]:
    """The service ``target`` names and its container (unknown -> ActivityFailed)."""
    service = resolve(settings, target)
    return service, container(settings, service)


def _aim(settings: Settings, target: str, force: bool) -> Tuple[str, Container]:
    """Resolve, look up and guard a destructive action's target."""
    service, found = _target(settings, target)
    guard(settings, service, force)
    return service, found


def _plan(service: str, would: str, **extra: Any) -> Dict[str, Any]:
    return dict(extra, dry_run=True, would=would, service=service)


def _result(service: str, action: str, started: float, **extra: Any) -> Dict[str, Any]:
    return dict(extra, service=service, action=action, at=started, took_s=round(time.time() - started, 3))


def kill_container(
    target: str,
    signal: str = "SIGKILL",
    force: bool = False,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Send ``signal`` (default SIGKILL) to the target's container.
    Undo: start_container, or for SIGSTOP heal (sends SIGCONT)."""
    settings = load(configuration, secrets)
    sig = lifecycle.parse_signal(signal)
    service, found = _aim(settings, target, force)
    if dry_run:
        return _plan(service, f"send {sig} to {service}")
    started = time.time()
    registry.remember_target(settings, service)
    lifecycle.kill(settings, service, found, sig)
    return _result(service, "kill", started, signal=sig)


def stop_container(
    target: str,
    grace_s: float = 30,
    force: bool = False,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Stop the target's container gracefully (SIGTERM/its stop signal,
    then SIGKILL after ``grace_s`` seconds).  Undo: start_container."""
    settings = load(configuration, secrets)
    seconds = parse_duration(grace_s, "grace_s")
    service, found = _aim(settings, target, force)
    if dry_run:
        return _plan(service, f"stop {service} (grace {seconds:g}s)")
    started = time.time()
    registry.remember_target(settings, service)
    lifecycle.stop(settings, service, found, seconds)
    return _result(service, "stop", started)


def start_container(target: str, configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Start the target's container (undo of kill/stop; also thaws a
    paused one and sends SIGCONT to a running one)."""
    settings = load(configuration, secrets)
    service, found = _target(settings, target)
    started = time.time()
    steps = lifecycle.revive(settings, service, found)
    return _result(service, "start", started, steps=steps)


def restart_container(
    target: str,
    grace_s: float = 10,
    force: bool = False,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Restart the target's container (stop with ``grace_s`` seconds, then start)."""
    settings = load(configuration, secrets)
    seconds = parse_duration(grace_s, "grace_s")
    service, found = _aim(settings, target, force)
    if dry_run:
        return _plan(service, f"restart {service}")
    started = time.time()
    registry.remember_target(settings, service)
    lifecycle.restart(settings, service, found, seconds)
    return _result(service, "restart", started)


def pause_container(
    target: str,
    force: bool = False,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Freeze every process of the target's container (docker pause, with
    a cgroup-freezer fallback).  Undo: unpause_container."""
    settings = load(configuration, secrets)
    service, found = _aim(settings, target, force)
    if dry_run:
        return _plan(service, f"pause {service}")
    started = time.time()
    registry.remember_target(settings, service)
    method = lifecycle.pause(settings, service, found)
    return _result(service, "pause", started, method=method)


def unpause_container(target: str, configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Thaw the target's container, even when docker unpause hangs."""
    settings = load(configuration, secrets)
    service, found = _target(settings, target)
    started = time.time()
    method = lifecycle.unpause(settings, service, found)
    return _result(service, "unpause", started, method=method)


def _peer_addresses(settings: Settings, service: str, peers: str) -> Dict[str, str]:
    resolved = resolve_all(settings, [p.strip() for p in peers.split(",") if p.strip()])
    if service in resolved:
        raise ActivityFailed(f"{service} cannot be partitioned from itself: remove it from peers")
    return {p: network.address_of(settings, p) for p in resolved}


def _peer_endpoints(
    settings: Settings, service: str, peers: str, ports: List[int]
) -> Dict[str, Tuple[str, List[int]]]:
    """Each peer's host address and published ports (only ``ports`` of them when given)."""
    resolved = resolve_all(settings, [p.strip() for p in peers.split(",") if p.strip()])
    if service in resolved:
        raise ActivityFailed(f"{service} cannot be partitioned from itself: remove it from peers")
    endpoints: Dict[str, Tuple[str, List[int]]] = {}
    for peer in resolved:
        address, published = settings.endpoint(peer)
        kept = [n for n in published if not ports or n in ports]
        if not kept:  # never a rule without a port: other services may share the address
            raise ActivityFailed(
                f"{peer} publishes none of the ports {ports} on {address} (it has {published}): "
                "give ports it publishes, or leave ports empty"
            )
        endpoints[peer] = (address, kept)
    return endpoints


def _apply_in_netns(
    settings: Settings, kind: str, service: str, found: Container, script: str, **details: Any
) -> None:
    """Record the fault, apply it; on failure remove all of it again."""
    registry.record(settings, kind, service, **details)
    try:
        network.run_in_netns(settings, found, script)
    except ActivityFailed as exc:
        network.run_in_netns(settings, found, network.CLEAR_SCRIPT)  # nothing half-applied
        registry.forget(settings, kind, service)
        if "qdisc kind is unknown" in str(exc):
            raise ActivityFailed(
                f"the kernel running {service} has no netem (CONFIG_NET_SCH_NETEM): latency "
                "faults need it; for packet loss use partition_container with loss_percent"
            ) from None
        raise


def partition_container(
    target: str,
    peers: str = "",
    direction: str = "both",
    ports: str = "",
    loss_percent: float = 100.0,
    force: bool = False,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Drop the target's traffic with ``peers`` (comma-separated services;
    empty: everything but loopback), ``direction`` both/in/out, optionally
    only TCP ``ports`` of the peers (comma-separated), with iptables rules
    in the container's network namespace.  ``loss_percent`` below 100
    drops that share of packets at random instead (needs no netem).
    Undo: heal_partition."""
    settings = load(configuration, secrets)
    service, found = _aim(settings, target, force)
    try:
        port_list = [int(p) for p in ports.split(",") if p.strip()]
    except ValueError:
        raise ActivityFailed(f"ports {ports!r}: give comma-separated port numbers") from None
    if peers.strip() and len(set(engine_urls(settings).values())) > 1:
        # spread over machines, services talk by host address and published port: a
        # peer's address on its own engine's network carries none of that traffic
        endpoints = _peer_endpoints(settings, service, peers, port_list)
        addresses = {p: f"{addr}:{','.join(map(str, p_ports))}" for p, (addr, p_ports) in endpoints.items()}
        script = network.endpoint_rules(endpoints, direction, float(loss_percent))
    else:
        addresses = _peer_addresses(settings, service, peers)
        script = network.block_rules(addresses, direction, port_list, float(loss_percent))
    if dry_run:
        return _plan(service, script, peers=addresses)
    started = time.time()
    registry.remember_target(settings, service)
    _apply_in_netns(settings, "partition", service, found, script, peers=addresses)
    return _result(service, "partition", started, peers=addresses, direction=direction)


def heal_partition(target: str, configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Remove chaosha's iptables rules and netem qdisc from the target."""
    settings = load(configuration, secrets)
    service, found = _target(settings, target)
    started = time.time()
    network.run_in_netns(settings, found, network.CLEAR_SCRIPT)
    registry.forget(settings, "partition", service)
    registry.forget(settings, "netem", service)
    return _result(service, "heal-partition", started)


def disconnect_network(
    target: str,
    force: bool = False,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Take the target's container off the project network (a two-way
    partition; its published ports go dark too).  Undo: reconnect_network."""
    settings = load(configuration, secrets)
    service, found = _aim(settings, target, force)
    name = network.project_network(settings, found)
    if dry_run:
        return _plan(service, f"disconnect {service} from {name}")
    started = time.time()
    registry.remember_target(settings, service)
    registry.record(settings, "disconnect", service, network=name, aliases=network.aliases_for(found))
    try:
        net = lifecycle.call("finding the network of", service, found.client.networks.get, name)
        lifecycle.call("disconnecting", service, net.disconnect, found, force=True)
    except ActivityFailed:
        registry.forget(settings, "disconnect", service)
        raise
    return _result(service, "disconnect", started, network=name)


def _reconnect(settings: Settings, service: str, found: Container) -> bool:
    """Put the container back on the project network; True if it was off."""
    name = network.project_network(settings, found)
    if name in found.attrs["NetworkSettings"]["Networks"]:
        return False
    net = lifecycle.call("finding the network of", service, found.client.networks.get, name)
    lifecycle.call("reconnecting", service, net.connect, found, aliases=network.aliases_for(found))
    return True


def reconnect_network(target: str, configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Put the target's container back on the project network with its DNS
    aliases (service name and container name)."""
    settings = load(configuration, secrets)
    service, found = _target(settings, target)
    started = time.time()
    _reconnect(settings, service, found)
    registry.forget(settings, "disconnect", service)
    return _result(service, "reconnect", started, network=network.project_network(settings, found))


def add_latency(
    target: str,
    delay_s: float = 0.2,
    jitter_s: float = 0,
    loss_percent: float = 0.0,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Delay by ``delay_s`` seconds (± ``jitter_s``), and/or drop
    ``loss_percent`` % of, every packet the target's container sends, with
    tc netem on its interfaces.  Undo: remove_latency (on ``@faulted``)."""
    settings = load(configuration, secrets)
    service, found = _target(settings, target)  # a slow node still serves: no guard
    args = network.netem_args(
        parse_duration(delay_s, "delay_s") * 1000, parse_duration(jitter_s, "jitter_s") * 1000, float(loss_percent)
    )
    script = f"for dev in {network.IFACES}; do tc qdisc replace dev $dev root {args} || exit 1; done"
    if dry_run:
        return _plan(service, script)
    started = time.time()
    registry.remember_target(settings, service)
    _apply_in_netns(settings, "netem", service, found, script, netem=args)
    return _result(service, "latency", started, netem=args)


def remove_latency(target: str, configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Remove the netem qdisc from the target's container."""
    settings = load(configuration, secrets)
    service, found = _target(settings, target)
    started = time.time()
    network.run_in_netns(
        settings, found, f"for dev in {network.IFACES}; do tc qdisc del dev $dev root 2>/dev/null; done; true"
    )
    registry.forget(settings, "netem", service)
    return _result(service, "remove-latency", started)


def _heal_container(settings: Settings, found: Container, faults: List[Dict[str, Any]], deep: bool) -> List[str]:
    """Undo every fault on one container; the steps taken."""
    service = found.labels.get(SERVICE_LABEL, found.name)
    kinds: Set[str] = {f["kind"] for f in faults if f["service"] == service}
    lifecycle.call("inspecting", service, found.reload)
    steps = lifecycle.revive(settings, service, found, sigcont=deep or lifecycle.SIGSTOP in kinds)
    if _reconnect(settings, service, found):
        steps.append("reconnect")
    registry.forget(settings, "disconnect", service)
    if deep or kinds & {"partition", "netem"}:
        network.run_in_netns(settings, found, network.CLEAR_SCRIPT)
        steps.append("clear-netfilter")
    for kind in ("partition", "netem"):
        registry.forget(settings, kind, service)
    return steps


def heal(
    deep: bool = False, force: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Undo every fault chaosha can leave in the project: thaw paused
    containers, SIGCONT SIGSTOPped ones, reconnect disconnected ones, remove
    recorded iptables/netem faults (with ``deep``: from every running
    container, and SIGCONT to all), start stopped containers, end a
    recorded bulk load (cut its sessions, drop its table), remove this
    host's iptables rules ``cut_host_from`` left, resume Patroni
    failover that chaosha paused (and the member_slots_ttl a removal
    suspended), stop orphaned workload processes (whose
    run died).  Safe to run any time; refuses, unless ``force``, while an
    experiment runs against the stack in another process (it would undo that
    run's faults).  Returns what it did per service."""
    settings = load(configuration, secrets)
    registry.refuse_while_busy(settings, "heal", force)
    done: Dict[str, List[str]] = {}
    errors: List[str] = []
    stopped = stop_all(settings)
    if stopped:
        done["workload"] = [f"stopped:{run}" for run in stopped]
    if any(f["kind"] in lab_hosts.FAULTS for f in registry.pending(settings)):
        try:  # first: a crashed or isolated host's engine does not answer
            done.update(lab_hosts.heal_hosts(settings))
        except (ActivityFailed, docker.errors.DockerException) as exc:
            raise ActivityFailed(f"heal could not undo a host fault: {exc} — run `chaosha heal` again") from None
    faults = registry.pending(settings)
    for found in containers(settings):
        service = found.labels.get(SERVICE_LABEL, found.name)
        try:
            steps = _heal_container(settings, found, faults, deep)
        except (ActivityFailed, docker.errors.DockerException) as exc:
            errors.append(f"{service}: {exc}")
            continue
        if steps:
            done[service] = steps
    if any(f["kind"] == host_firewall.FAULT for f in faults):  # this host cut off from a node
        try:
            done["host"] = [f"removed-output-rules:{host_firewall.clear(settings)}"]
        except ActivityFailed as exc:
            errors.append(f"{next(f['service'] for f in faults if f['kind'] == host_firewall.FAULT)}: {exc}")
    loads = [f for f in faults if f["kind"] == bulk.FAULT]
    if loads:
        try:
            ended = bulk.end_within(settings)
            done["bulk-load"] = [f"cut:{ended['sessions_cut']}", f"dropped:{ended['table_dropped']}"]
        except ActivityFailed as exc:
            errors.append(f"{loads[0]['service']}: {exc}")
    if any(f["kind"] == PAUSE_FAULT for f in faults):
        try:
            set_failover_pause(settings, False)
            done["patroni"] = ["resume-failover"]
        except ActivityFailed as exc:
            errors.append(f"patroni: {exc}")
    if any(f["kind"] == SLOT_TTL_FAULT for f in faults):  # a `stack remove-node` that did not finish
        try:
            restore_slot_retention(settings)
            done.setdefault("patroni", []).append("restore-member-slots-ttl")
        except ActivityFailed as exc:
            errors.append(f"patroni: {exc}")
    for fault in registry.pending(settings):
        if not any(e.startswith(f"{fault['service']}:") for e in errors):
            registry.forget(settings, fault["kind"], fault["service"])
    if errors:
        raise ActivityFailed("heal could not finish: " + "; ".join(errors) + " — run `chaosha heal` again")
    return {"healed": done, "services": len(done)}
