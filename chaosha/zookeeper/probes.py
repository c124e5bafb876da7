"""ZooKeeper probes: the ensemble's quorum and Patroni's leader znode.

Probes report an unreachable target in their result instead of raising,
so a hypothesis can tell "down" from "broken probe".
"""

from datetime import UTC, datetime
from typing import Any, Dict

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.clients import zookeeper as client
from chaosha.clients.ensemble import survey
from chaosha.clients.zk_passwords import session_hex
from chaosha.config import load

__all__ = ["ensemble_status", "quorum_present", "patroni_leader_znode"]


def ensemble_status(configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Status of every ZooKeeper member, from the ``srvr`` and ``mntr`` words.

    Returns ``nodes`` (per member: ``reachable``, ``serving``, ``mode``
    leader/follower/standalone or null, ``zxid``, ``epoch``, ``node_count``,
    ``connections``, ``latency_s`` {min, avg, max}, ``response_s``,
    ``peer_state``, ``ephemerals``, ``error`` when unreachable), ``serving``
    (names of serving voters), ``configured``, ``majority``, ``leader``
    (name or null) and ``quorum`` (a leader exists and a majority serves).
    A member silent for 3 s counts as unreachable; never raises for a
    member that is down.
    """
    return survey(load(configuration, secrets))


def quorum_present(configuration: Configuration = None, secrets: Secrets = None) -> bool:
    """True when the ensemble has a leader and a majority of members serving."""
    return bool(survey(load(configuration, secrets))["quorum"])


def patroni_leader_znode(configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Patroni's leader key ``{CHAOSHA_PATRONI_NAMESPACE}{CHAOSHA_PATRONI_SCOPE}/leader``.

    Returns ``exists``, ``path``, ``reachable`` and, when it exists,
    ``member`` (the leader's name), ``session_id`` (its ephemeralOwner as
    ZooKeeper's signed long), ``session_hex``, ``mtime`` (ms since the
    epoch) and ``mtime_iso``.  ``{"exists": false, "reachable": false,
    "error": ...}`` when no quorum answers within ``CHAOSHA_TIMEOUT``.
    """
    settings = load(configuration, secrets)
    path = client.patroni_path(settings, "leader")
    try:
        with client.connected(settings) as zk:
            found = client.read_znode(zk, path, settings.timeout)
    except ActivityFailed as exc:
        return {"exists": False, "path": path, "reachable": False, "error": str(exc)}
    if found is None:
        return {"exists": False, "path": path, "reachable": True}
    data, stat = found
    return {
        "exists": True,
        "path": path,
        "reachable": True,
        "member": data.decode("utf-8", "replace"),
        "session_id": stat.ephemeralOwner,
        "session_hex": session_hex(stat.ephemeralOwner),
        "mtime": stat.mtime,
        "mtime_iso": datetime.fromtimestamp(stat.mtime / 1000, UTC).isoformat(),
    }
