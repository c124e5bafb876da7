"""HAProxy probes: backend states and which node a connection really reaches."""

from typing import Any, Dict

import psycopg
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.config import load
from chaosha.haproxy import stats
from chaosha.patroni import client as patroni
from chaosha.postgres.client import connect, endpoint, node_addresses, server_identity
from chaosha.state import last_target
from chaosha.timing import parse_duration, wait_until

__all__ = ["backend_states", "reached_node", "routes_to_leader", "wait_for_route"]


def backend_states(backend: str = "primary", configuration: Configuration = None,
                   secrets: Secrets = None) -> Dict[str, Any]:
    """States of one backend's servers from the stats CSV: ``servers``
    (name -> UP/DOWN/MAINT...), ``up`` (names UP) and ``up_count``.
    Backends: ``primary`` (port 5432), ``replicas`` (5433)."""
    rows = stats.fetch(load(configuration, secrets))
    servers = stats.backend_servers(rows, backend)
    if not servers:
        raise ActivityFailed(f"HAProxy has no backend {backend!r}: use primary or replicas")
    up = sorted(name for name, state in servers.items() if state.startswith("UP"))
    return {"backend": backend, "servers": servers, "up": up, "up_count": len(up)}


def reached_node(port: str = "rw", configuration: Configuration = None,
                 secrets: Secrets = None) -> Dict[str, Any]:
    """Open a connection through ``port`` (``rw``, ``ro`` or a number) and
    ask the server who it is: address, recovery state, timeline, and the
    node name (mapped by asking every node on its own port).  ``reached``
    is False, with ``error``, when no connection could be made."""
    settings = load(configuration, secrets)
    host, number = endpoint(settings, port)
    try:
        with connect(settings, port, timeout=min(settings.timeout, 5)) as conn:
            identity = server_identity(conn)
    except psycopg.Error as exc:
        return {"reached": False, "port": number, "node": "", "error": str(exc).strip()}
    identity["node"] = node_addresses(settings).get(identity["address"], "")
    return dict(identity, reached=True, port=number)


def routes_to_leader(configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Whether the node behind HAProxy's read-write port is the Patroni
    leader and writable.  ``routes_to_leader`` is the verdict; ``leader``
    and ``node`` say who is who."""
    settings = load(configuration, secrets)
    reached = reached_node("rw", configuration, secrets)
    try:
        leader = patroni.leader_name(settings, timeout=3)
    except ActivityFailed as exc:
        return dict(reached, routes_to_leader=False, leader="", error=str(exc))
    ok = bool(reached["reached"] and leader and reached["node"] == leader
              and not reached.get("in_recovery", True))
    return dict(reached, routes_to_leader=ok, leader=leader)


def wait_for_route(timeout: str = "90s", new_leader: bool = False, configuration: Configuration = None,
                   secrets: Secrets = None) -> Dict[str, Any]:
    """Wait until HAProxy's read-write port reaches the Patroni leader and
    it is writable (e.g. after the leader was killed).  With ``new_leader``
    the leader must also differ from the service the latest chaosha fault
    aimed at.  Returns the route and ``waited_s``; raises ActivityFailed at
    the deadline."""
    faulted = last_target(load(configuration, secrets)) if new_leader else ""

    def routed() -> Dict[str, Any]:
        route = routes_to_leader(configuration, secrets)
        return route if route["routes_to_leader"] and route["leader"] != faulted else {}

    route, waited = wait_until(routed, parse_duration(timeout, "timeout"), 0.5,
                               "HAProxy to route writes to a Patroni leader")
    return dict(route, waited_s=round(waited, 3))
