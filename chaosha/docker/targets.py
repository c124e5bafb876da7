"""Resolve a target service and check that faulting it is safe.

Targets are Compose service names, or roles resolved when the action runs:
``@leader`` (the Patroni leader), ``@replica`` (a streaming replica),
``@sync`` (the synchronous standby).  Guards refuse, unless ``force``:
taking down the last PostgreSQL node that could serve, and breaking
ZooKeeper's quorum.
"""

from typing import Any, Dict, List

from chaoslib.exceptions import ActivityFailed

from chaosha.config import Settings
from chaosha.patroni import client as patroni
from chaosha.zookeeper.ensemble import guard_removal, survey

__all__ = ["resolve", "guard"]


def resolve(settings: Settings, target: str) -> str:
    """Service name for ``target`` (a service, ``@leader``, ``@replica``, ``@sync``)."""
    if not target:
        raise ActivityFailed("no target service given: name a service (pg1, zk2, haproxy...) or @leader")
    if not target.startswith("@"):
        return target
    members = patroni.members(settings)
    roles = {"@leader": ("leader",), "@sync": ("sync_standby",), "@replica": ("sync_standby", "replica")}
    if target not in roles:
        raise ActivityFailed(f"unknown role target {target!r}: use @leader, @replica or @sync")
    for member in members:
        if member.get("role") in roles[target] and member.get("state") in ("running", "streaming"):
            return str(member["name"])
    raise ActivityFailed(f"no member currently has the role {target[1:]}: "
                         f"members are {[(m.get('name'), m.get('role')) for m in members]}")


def _serving_pg(settings: Settings, members: List[Dict[str, Any]]) -> List[str]:
    return [str(m["name"]) for m in members
            if (m.get("role") == "leader" and m.get("state") == "running")
            or (m.get("role") in ("replica", "sync_standby") and m.get("state") == "streaming")]


def guard(settings: Settings, service: str, force: bool) -> None:
    """Raise ``ActivityFailed`` when taking ``service`` down is unsafe."""
    if force:
        return
    pg_names = [n.name for n in settings.pg_nodes]
    if service in pg_names:
        try:
            members = patroni.members(settings, timeout=3)
        except ActivityFailed:
            members = []
        others = [n for n in _serving_pg(settings, members) if n != service]
        if not others:
            raise ActivityFailed(
                f"refusing to take {service} down: no other PostgreSQL node is serving "
                "(it would leave no replica to fail over to); pass force=true to do it anyway"
            )
    if service in [n.name for n in settings.zk_nodes]:
        state = survey(settings)
        guard_removal(service, state["serving"], list(state["nodes"]), force)
