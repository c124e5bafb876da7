"""Network faults inside a container's network namespace.

Commands run in a short-lived *sidecar* that joins the target's network
namespace (``--network container:<id>``, ``NET_ADMIN``) from the tools
image (``CHAOSHA_TOOLS_IMAGE``, which carries iproute2 and iptables), so
targets need no extra capability and remote engines work the same way.
All rules live in one iptables chain, ``CHAOSHA``, and one root qdisc on
``eth0``: removing both removes every network fault chaosha can leave.
"""

import shlex
from typing import Dict, List, Mapping, Sequence, Tuple

import docker
import requests
from chaoslib.exceptions import ActivityFailed
from docker.models.containers import Container

from chaosha.clients.docker import PROJECT_LABEL, SERVICE_LABEL, SIDECAR_LABEL, client, container
from chaosha.config import Settings

__all__ = [
    "IFACES",
    "run_in_netns",
    "block_rules",
    "endpoint_rules",
    "netem_args",
    "CLEAR_SCRIPT",
    "address_of",
    "project_network",
    "aliases_for",
    "sidecar_labels",
]

CHAIN = "CHAOSHA"
# Interfaces other than loopback (a reconnected container's is eth1, not eth0).
IFACES = "$(ip -o link show | awk -F': ' '$2 != \"lo\" {sub(/@.*/, \"\", $2); print $2}')"
CLEAR_SCRIPT = (
    f"for dev in {IFACES}; do tc qdisc del dev $dev root 2>/dev/null; done; "
    f"for h in INPUT OUTPUT; do while iptables -D $h -j {CHAIN} 2>/dev/null; do :; done; done; "
    f"iptables -F {CHAIN} 2>/dev/null; iptables -X {CHAIN} 2>/dev/null; true"
)


def sidecar_labels(settings: Settings) -> Dict[str, str]:
    """Labels of a sidecar: its own, and blanks over the Compose labels its
    image may carry, so no lookup takes it for a service container."""
    return {
        SIDECAR_LABEL: settings.project,
        PROJECT_LABEL: "",
        SERVICE_LABEL: "",
        "com.docker.compose.oneoff": "True",
    }


def run_in_netns(settings: Settings, target: Container, script: str, timeout: float = 30) -> str:
    """Run ``script`` (sh) in ``target``'s network namespace; returns output.

    The sidecar is removed with its volumes whatever happens.  Raises
    ``ActivityFailed`` with the output when it exits non-zero.
    """
    service = target.labels.get(SERVICE_LABEL, "")
    engine = client(settings, service, timeout=timeout)
    image = settings.tools_image
    try:
        sidecar = engine.containers.create(
            image,
            ["-c", script],
            entrypoint="sh",
            user="root",
            network_mode=f"container:{target.id}",
            cap_add=["NET_ADMIN"],
            labels=sidecar_labels(settings),
        )
    except docker.errors.ImageNotFound:
        raise ActivityFailed(
            f"tools image {image} is missing on the engine of {service}: "
            "build the stack (chaosha stack up) or set CHAOSHA_TOOLS_IMAGE"
        ) from None
    except docker.errors.APIError as exc:
        raise ActivityFailed(f"cannot create a sidecar for {target.name}: {exc.explanation}") from None
    try:
        code, output = _run_sidecar(sidecar, target, timeout)
    finally:
        try:
            sidecar.remove(v=True, force=True)
        except docker.errors.DockerException:
            pass
    if code != 0:
        raise ActivityFailed(f"network command in {target.name} failed ({code}): {output}")
    return output


def _run_sidecar(sidecar: Container, target: Container, timeout: float) -> Tuple[int, str]:
    """Start the sidecar and wait for it: (exit code, output)."""
    try:
        sidecar.start()
    except docker.errors.APIError as exc:
        raise ActivityFailed(
            f"cannot enter the network of {target.name}: {exc.explanation} (is it running?)"
        ) from None
    try:
        code = int(sidecar.wait(timeout=timeout).get("StatusCode", 1))
        return code, sidecar.logs().decode(errors="replace").strip()
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        raise ActivityFailed(f"network command in {target.name} took over {timeout:g}s") from None


def project_network(settings: Settings, target: Container) -> str:
    """Full name of the project's network (``<project>_<CHAOSHA_NETWORK>``)."""
    return f"{settings.project}_{settings.get('CHAOSHA_NETWORK')}"


def address_of(settings: Settings, service: str) -> str:
    """The service container's address on the project network."""
    target = container(settings, service)
    networks = target.attrs["NetworkSettings"]["Networks"]
    entry = networks.get(project_network(settings, target)) or {}
    address = entry.get("IPAddress", "")
    if not address:
        raise ActivityFailed(f"{service} has no address on the project network (disconnected?)")
    return str(address)


def aliases_for(target: Container) -> List[str]:
    """The DNS names Compose gives a container: its service and its name."""
    service = target.labels.get(SERVICE_LABEL, "")
    return [a for a in (service, target.name) if a]


def block_rules(
    peers: Dict[str, str], direction: str, ports: Sequence[int] = (), loss_percent: float = 100.0
) -> str:
    """Shell for iptables rules dropping traffic between the target and the
    ``peers`` addresses (all traffic when ``peers`` is empty), in
    ``direction`` ``both``, ``in`` or ``out``, optionally only ``ports``;
    ``loss_percent`` < 100 drops only that share, at random."""
    return endpoint_rules(
        {name: (addr, ports) for name, addr in peers.items()} or {"": ("", ports)}, direction, loss_percent
    )


def endpoint_rules(
    endpoints: Mapping[str, Tuple[str, Sequence[int]]], direction: str, loss_percent: float = 100.0
) -> str:
    """Like :func:`block_rules`, each peer with ports of its own: on a stack
    spread over machines a peer is its host address and the ports it
    publishes there (other services may share the address)."""
    if direction not in ("both", "in", "out"):
        raise ActivityFailed(f"direction {direction!r}: use both, in or out")
    if not 0 < loss_percent <= 100:
        raise ActivityFailed(f"loss_percent {loss_percent!r}: give a share above 0 and up to 100")
    drop = (
        "-j DROP"
        if loss_percent >= 100
        else (f"-m statistic --mode random --probability {loss_percent / 100:.4f} -j DROP")
    )
    lines = [f"iptables -N {CHAIN} 2>/dev/null || true"]
    for hook in ("INPUT", "OUTPUT"):
        lines.append(f"iptables -C {hook} -j {CHAIN} 2>/dev/null || iptables -I {hook} 1 -j {CHAIN}")
    for addr, ports in endpoints.values():
        port_args = [f"-p tcp --dport {p}" for p in ports] or [""]
        sport_args = [f"-p tcp --sport {p}" for p in ports] or [""]
        if direction in ("both", "in"):
            for port in sport_args:  # packets coming from the peer's port
                src = f"-s {shlex.quote(addr)}" if addr else "! -i lo"
                lines.append(f"iptables -A {CHAIN} {src} {port} {drop}".replace("  ", " "))
        if direction in ("both", "out"):
            for port in port_args:  # packets going to the peer's port
                dst = f"-d {shlex.quote(addr)}" if addr else "! -o lo"
                lines.append(f"iptables -A {CHAIN} {dst} {port} {drop}".replace("  ", " "))
    return " && ".join(lines)


def netem_args(delay_ms: float, jitter_ms: float, loss_percent: float) -> str:
    """Arguments of ``tc qdisc ... netem`` for the given impairment."""
    if delay_ms < 0 or jitter_ms < 0 or not 0 <= loss_percent <= 100:
        raise ActivityFailed("netem: delay and jitter must be >= 0 and loss between 0 and 100 %")
    if delay_ms == 0 and loss_percent == 0:
        raise ActivityFailed("netem: give a delay or a loss, or there is nothing to inject")
    args = ["netem"]
    if delay_ms:
        args += ["delay", f"{delay_ms:g}ms"] + ([f"{jitter_ms:g}ms"] if jitter_ms else [])
    if loss_percent:
        args += ["loss", f"{loss_percent:g}%"]
    return " ".join(args)
