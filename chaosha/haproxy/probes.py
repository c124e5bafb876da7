"""HAProxy probes: backend states and which node a connection really reaches."""

import functools
import time
from typing import Any, Dict

import psycopg
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.clients import haproxy as stats
from chaosha.clients import patroni
from chaosha.clients.postgres import connect, endpoint, server_identity
from chaosha.config import Settings, load
from chaosha.state import last_target, pending
from chaosha.timing import first_answer, parse_duration, wait_until

__all__ = [
    "backend_states",
    "reached_node",
    "routes_to_leader",
    "wait_for_route",
    "wait_for_zookeeper_cut_outcome",
]


def backend_states(
    backend: str = "primary", configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """States of one backend's servers from the stats CSV: ``servers``
    (name -> UP/DOWN/MAINT...), ``up`` (names UP) and ``up_count``.
    Backends: ``primary`` (port 5432), ``replicas`` (5433)."""
    rows = stats.fetch(load(configuration, secrets))
    servers = stats.backend_servers(rows, backend)
    if not servers:
        raise ActivityFailed(f"HAProxy has no backend {backend!r}: use primary or replicas")
    up = sorted(name for name, state in servers.items() if state.startswith("UP"))
    return {"backend": backend, "servers": servers, "up": up, "up_count": len(up)}


# A check through HAProxy that takes longer than this is "not routed yet":
# the next one starts at once, so wait_for_route ends soon after writes resume.
ROUTE_CHECK_S = 0.75


def _reach(settings: Settings, target: str, timeout: float) -> Dict[str, Any]:
    """Connect through ``target`` and ask the server who it is (its member
    name comes from the server itself: ``chaosha.member``)."""
    host, number = endpoint(settings, target)
    try:
        with connect(settings, target, timeout) as conn, conn.deadline(timeout):
            identity = server_identity(conn)
    except psycopg.Error as exc:
        return {"reached": False, "port": number, "node": "", "error": " ".join(str(exc).split())}
    return dict(identity, node=identity.get("member") or "", reached=True, port=number)


def reached_node(
    target: str = "rw", configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Open a connection through ``target`` (``rw``, ``ro``, a port number
    or a node name) and ask the server who it is: address, ``port``,
    recovery state, timeline and ``node`` (the Patroni member name the
    server reports).  ``reached`` is False, with ``error``, when no
    connection could be made."""
    settings = load(configuration, secrets)
    return _reach(settings, target, min(settings.timeout, 5))


def _route(settings: Settings, timeout: float) -> Dict[str, Any]:
    reached, _ = first_answer([functools.partial(_reach, settings, "rw", timeout)], timeout)
    if reached is None:
        reached = {"reached": False, "node": "", "error": f"no answer through HAProxy within {timeout:g}s"}
    try:
        leader = patroni.leader_name(settings, timeout=max(timeout, 1.0))
    except ActivityFailed as exc:
        return dict(reached, routes_to_leader=False, leader="", error=str(exc))
    ok = bool(reached["reached"] and leader and reached["node"] == leader and not reached.get("in_recovery", True))
    return dict(reached, routes_to_leader=ok, leader=leader)


def routes_to_leader(configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Whether the node behind HAProxy's read-write port is the Patroni
    leader and writable.  ``routes_to_leader`` is the verdict; ``leader``
    and ``node`` say who is who."""
    settings = load(configuration, secrets)
    return _route(settings, min(settings.timeout, 5))


def wait_for_route(
    timeout_s: float = 90, new_leader: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Wait up to ``timeout_s`` seconds until HAProxy's read-write port reaches the Patroni leader and
    it is writable (e.g. after the leader was killed); each check gives up
    after 0.75 s, so it returns soon after writes resume.  With
    ``new_leader`` the leader must also differ from the service the latest
    chaosha fault aimed at.  Returns the route and ``took_s``; raises
    ActivityFailed at the deadline."""
    settings = load(configuration, secrets)
    faulted = last_target(settings) if new_leader else ""

    def routed() -> Dict[str, Any]:
        route = _route(settings, ROUTE_CHECK_S)
        return route if route["routes_to_leader"] and route["leader"] != faulted else {}

    route, waited = wait_until(
        routed, parse_duration(timeout_s, "timeout_s"), 0.1, "HAProxy to route writes to a Patroni leader"
    )
    return dict(route, took_s=round(waited, 3))


def wait_for_zookeeper_cut_outcome(
    timeout_s: float = 120, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """After a chaosha partition cut the leader from ZooKeeper only, check
    what the cluster's ``failsafe_mode`` says must follow.  Off: the leader
    demotes itself, so wait up to ``timeout_s`` seconds until HAProxy routes
    writes to a new leader (:func:`wait_for_route` with ``new_leader``).
    On: the leader stays primary while it reaches every member, so once its
    key has expired (ttl + loop_wait + 1 s after this probe starts: the cut
    is in place by then, while the fault's record predates its rules by as
    long as the Docker call took) HAProxy's read-write port must still reach
    it, writable, and no other member may hold the key.
    Returns ``failsafe_mode``, the route and ``took_s``; raises
    ActivityFailed otherwise."""
    settings = load(configuration, secrets)
    config = patroni.dynamic_config(settings)
    if not config.get("failsafe_mode"):
        return dict(wait_for_route(timeout_s, True, configuration, secrets), failsafe_mode=False)
    target = last_target(settings)
    if not any(f["service"] == target and f["kind"] == "partition" for f in pending(settings)):
        raise ActivityFailed(
            f"no partition of {target or 'the leader'} is pending: run this probe right after "
            "chaosha.docker.actions.partition_container cut the leader from zk1,zk2,zk3"
        )
    began = time.time()
    time.sleep(int(config["ttl"]) + int(config["loop_wait"]) + 1)
    route = _route(settings, min(settings.timeout, 5))
    if not route["reached"] or route["node"] != target or route.get("in_recovery", True):
        raise ActivityFailed(
            f"failsafe_mode is on, yet HAProxy's read-write port reaches {route['node'] or 'no node'} "
            f"(recovery: {route.get('in_recovery')}), not {target} as primary: {route.get('error', '')}; "
            "check that the leader reaches every member's REST API (POST /failsafe)"
        )
    if route["leader"] not in ("", target):
        raise ActivityFailed(f"failsafe_mode is on, yet {route['leader']} took the leader key from {target}")
    return dict(route, failsafe_mode=True, took_s=round(time.time() - began, 3))
