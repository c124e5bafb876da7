"""What a fault aims at, and whether it is safe to aim there.

Targets are Compose service names, or roles resolved when the action runs:
``@leader`` (the Patroni leader), ``@replica`` (a streaming replica),
``@sync`` (the synchronous standby), ``@faulted`` (the service the latest
destructive action aimed at: an undo aims where its fault did).  Guards refuse, unless ``force``, to
take down the last PostgreSQL node that could serve and to break
ZooKeeper's quorum.  They count only what serves *now*: a container that
Docker says runs unpaused and that answers itself (its own Patroni REST API
within ``SERVE_TIMEOUT``; its own ``srvr``) — not what the cluster still
believes during its detection window.  When they cannot tell, they refuse.

This module sits above the subsystem clients (Patroni, ZooKeeper, Docker)
and uses only them; the docker and zookeeper actions use it.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple

import requests
from chaoslib.exceptions import ActivityFailed

from chaosha.clients import docker as docker_client
from chaosha.clients import patroni
from chaosha.clients.ensemble import guard_removal, survey
from chaosha.config import PgNode, Settings
from chaosha.state import last_target

__all__ = [
    "resolve",
    "resolve_all",
    "guard",
    "guard_together",
    "pg_serving",
    "zk_serving",
    "SERVE_TIMEOUT",
    "FAULTED",
]

ROLES = {"@leader": ("leader",), "@sync": ("sync_standby",), "@replica": ("sync_standby", "replica")}
FAULTED = "@faulted"  # the service the latest destructive action aimed at (chaosha.state.last_target)
SERVE_TIMEOUT = 1.5  # s: a node that could serve answers its own REST API well within this


class CannotTell(ActivityFailed):
    """The state needed to judge a guard could not be determined."""


def resolve_all(settings: Settings, targets: Sequence[str]) -> List[str]:
    """Service names for ``targets``; asks Patroni (once) only for roles."""
    members: Optional[List[Dict[str, Any]]] = None
    names: List[str] = []
    for target in targets:
        if not target:
            raise ActivityFailed("no target given: name a service (pg1, zk2, haproxy...) or @leader")
        if not target.startswith("@"):
            names.append(target)
            continue
        if target == FAULTED:
            names.append(_faulted(settings))
            continue
        if target not in ROLES:
            raise ActivityFailed(f"unknown role target {target!r}: use @leader, @replica, @sync or @faulted")
        members = patroni.members(settings) if members is None else members
        names.append(_with_role(members, target))
    return names


def resolve(settings: Settings, target: str) -> str:
    """Service name for ``target`` (a service, ``@leader``, ``@replica``,
    ``@sync`` or ``@faulted``)."""
    return resolve_all(settings, [target])[0]


def _faulted(settings: Settings) -> str:
    service = last_target(settings)
    if not service:
        raise ActivityFailed(
            f"target {FAULTED}: no destructive action has aimed at a service of project "
            f"{settings.project!r} yet; name the service to undo instead (pg1, zk2, ...)"
        )
    return service


def _with_role(members: List[Dict[str, Any]], target: str) -> str:
    for member in members:
        if member.get("role") in ROLES[target] and member.get("state") in ("running", "streaming"):
            return str(member["name"])
    raise ActivityFailed(
        f"no member currently has the role {target[1:]}: "
        f"members are {[(m.get('name'), m.get('role')) for m in members]}"
    )


def _container_states(settings: Settings, services: Sequence[str]) -> Dict[str, str]:
    """service -> ``running`` (and unpaused), or what else Docker says."""
    states: Dict[str, str] = {}
    for service in services:
        try:
            found = docker_client.find(settings, service)
        except ActivityFailed as exc:
            raise CannotTell(f"Docker did not answer ({exc})") from None
        if found is None:
            states[service] = "no container"
            continue
        state = found.attrs.get("State") or {}
        states[service] = (
            "paused"
            if state.get("Paused")
            else "running"
            if state.get("Running")
            else str(state.get("Status") or "down")
        )
    return states


def _rest_status(node: PgNode) -> Tuple[Optional[Dict[str, Any]], str]:
    try:
        return patroni.status(node, SERVE_TIMEOUT), ""
    except (requests.RequestException, ValueError) as exc:
        return None, type(exc).__name__


def _serves(status: Dict[str, Any]) -> str:
    """ "" when this /patroni answer is of a node that could serve, else why not."""
    role, state = status.get("role"), status.get("state")
    if state != "running":
        return f"state {state}"
    if role in ("primary", "master", "standby_leader"):
        return ""
    if role == "replica":
        replication = status.get("replication_state")
        return "" if replication == "streaming" else f"replica {replication or 'not streaming'}"
    return f"role {role}"


def pg_serving(settings: Settings) -> Tuple[List[str], Dict[str, str]]:
    """PostgreSQL nodes that could serve now, and why each other one cannot.

    Raises :class:`CannotTell` when Docker does not answer, or when no
    node's REST API answers although their containers run.
    """
    nodes = settings.pg_nodes
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        answers = list(pool.map(_rest_status, nodes))
    containers = _container_states(settings, [n.name for n in nodes])
    if all(status is None for status, _ in answers) and "running" in containers.values():
        errors = ", ".join(f"{n.name}: {error}" for n, (_, error) in zip(nodes, answers, strict=True))
        raise CannotTell(f"no Patroni REST API answered within {SERVE_TIMEOUT:g}s ({errors})")
    serving: List[str] = []
    why: Dict[str, str] = {}
    for node, (status, error) in zip(nodes, answers, strict=True):
        reason = (
            f"container {containers[node.name]}"
            if containers[node.name] != "running"
            else f"REST API did not answer ({error})"
            if status is None
            else _serves(status)
        )
        if reason:
            why[node.name] = reason
        else:
            serving.append(node.name)
    return serving, why


def zk_serving(settings: Settings) -> Tuple[List[str], List[str]]:
    """(ZooKeeper members serving now and running unpaused, configured members).

    Raises :class:`CannotTell` when Docker does not answer, or when no
    member answers although their containers run.
    """
    state = survey(settings)
    configured = list(state["nodes"])
    containers = _container_states(settings, configured)
    if not any(s.get("reachable") for s in state["nodes"].values()) and "running" in containers.values():
        errors = "; ".join(str(s.get("error")) for s in state["nodes"].values())
        raise CannotTell(f"no ZooKeeper member answered ({errors})")
    return [n for n in state["serving"] if containers.get(n) == "running"], configured


def _refuse_unknown(service: str, exc: CannotTell, what: str) -> ActivityFailed:
    return ActivityFailed(
        f"refusing to take {service} down: cannot tell whether {what}: {exc}; pass force=true to do it anyway"
    )


def guard(settings: Settings, service: str, force: bool) -> Dict[str, Any]:
    """Raise ``ActivityFailed`` when taking ``service`` down is unsafe (or
    its safety cannot be told), unless ``force``.  Returns what it found:
    for a ZooKeeper member, the quorum arithmetic of ``guard_removal``."""
    return guard_together(settings, [service], force)


def guard_together(settings: Settings, services: Sequence[str], force: bool) -> Dict[str, Any]:
    """:func:`guard` for ``services`` taken down at once (a host's): some
    other PostgreSQL node must be serving and the ZooKeeper members left a
    quorum, unless ``force``."""
    down = ", ".join(services)
    pg = [s for s in services if s in [n.name for n in settings.pg_nodes]]
    zk = [s for s in services if s in [n.name for n in settings.zk_nodes]]
    found: Dict[str, Any] = {}
    if pg and not force:
        try:
            serving, why = pg_serving(settings)
        except CannotTell as exc:
            raise _refuse_unknown(down, exc, "another node could serve") from None
        others = [n for n in serving if n not in pg]
        if not others:
            detail = ", ".join(f"{n}: {r}" for n, r in why.items() if n not in pg) or "none configured"
            raise ActivityFailed(
                f"refusing to take {down} down: no other PostgreSQL node is serving ({detail}); "
                "it would leave no node to fail over to; pass force=true to do it anyway"
            )
        found["could_serve"] = others
    if zk:
        try:
            serving_zk, configured = zk_serving(settings)
        except CannotTell as exc:
            if not force:
                raise _refuse_unknown(down, exc, "a ZooKeeper quorum would remain") from None
            serving_zk, configured = [], [n.name for n in settings.zk_nodes]
        found.update(guard_removal(",".join(zk), serving_zk, configured, force))
    return found
