"""Patroni probes: who leads, who streams, how healthy the cluster is."""

import time
from typing import Any, Dict, List

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.clients import patroni as client
from chaosha.config import load
from chaosha.timing import parse_duration, wait_until

__all__ = [
    "leader",
    "members",
    "cluster_health",
    "history",
    "wait_for_leader",
    "wait_for_healthy",
]


def leader(configuration: Configuration = None, secrets: Secrets = None) -> str:
    """Name of the member holding the leader key ("" when there is none).

    Raises ActivityFailed when no Patroni REST API answers.
    """
    return client.leader_name(load(configuration, secrets))


def members(configuration: Configuration = None, secrets: Secrets = None) -> List[Dict[str, Any]]:
    """Every member: name, role, state, timeline and replication lag in bytes."""
    return [
        {
            "name": m.get("name"),
            "role": m.get("role"),
            "state": m.get("state"),
            "timeline": m.get("timeline"),
            "lag_bytes": m.get("lag") if isinstance(m.get("lag"), int) else None,
            "host": m.get("host"),
        }
        for m in client.members(load(configuration, secrets))
    ]


def _health(configuration: Configuration, secrets: Secrets, max_lag_bytes: int) -> Dict[str, Any]:
    settings = load(configuration, secrets)
    try:
        max_lag_bytes = int(max_lag_bytes)  # "${max_lag_bytes}" arrives as a string
    except ValueError:
        raise ActivityFailed(f"max_lag_bytes {max_lag_bytes!r} is not a whole number of bytes") from None
    try:
        body, answered_by = client.cluster(settings)
    except ActivityFailed as exc:
        return {
            "healthy": False,
            "reason": str(exc),
            "leaders": [],
            "streaming": [],
            "members": 0,
            "expected_members": len(settings.pg_nodes),
            "paused": False,
        }
    found = body.get("members", [])
    leaders = [m["name"] for m in found if m.get("role") == "leader" and m.get("state") == "running"]
    leader_tl = next((m.get("timeline") for m in found if m.get("role") == "leader"), None)
    streaming = [
        m["name"]
        for m in found
        if m.get("role") in ("replica", "sync_standby")
        and m.get("state") == "streaming"
        and m.get("timeline") == leader_tl
        and isinstance(m.get("lag", 0), int)
        and m.get("lag", 0) <= max_lag_bytes
    ]
    expected = len(settings.pg_nodes)
    reasons = []
    if len(leaders) != 1:
        reasons.append(f"{len(leaders)} running leaders")
    if len(streaming) != expected - 1:
        reasons.append(f"{len(streaming)} of {expected - 1} replicas streaming within {max_lag_bytes} bytes")
    if body.get("pause"):
        reasons.append("automatic failover is paused")
    return {
        "healthy": not reasons,
        "reason": "; ".join(reasons),
        "leader": leaders[0] if len(leaders) == 1 else "",
        "leaders": leaders,
        "streaming": streaming,
        "sync_standby": [m["name"] for m in found if m.get("role") == "sync_standby"],
        "timeline": leader_tl,
        "members": len(found),
        "expected_members": expected,
        "paused": bool(body.get("pause")),
        "answered_by": answered_by,
    }


def cluster_health(
    max_lag_bytes: int = 1048576, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Health summary: exactly one running leader, every other configured
    member streaming on the leader's timeline with lag under
    ``max_lag_bytes``, failover not paused.  Key ``healthy`` is the verdict,
    ``reason`` says what is wrong.  Never raises: an unreachable cluster is
    reported as unhealthy."""
    return _health(configuration, secrets, max_lag_bytes)


def history(configuration: Configuration = None, secrets: Secrets = None) -> List[Dict[str, Any]]:
    """Timeline history (``GET /history``): one entry per promotion."""
    settings = load(configuration, secrets)
    _, node_name = client.cluster(settings)
    node = settings.pg_node(node_name)
    with client.api(settings) as session:
        response = session.get(f"{node.api_url}/history", timeout=(3, settings.timeout))
    rows = response.json() if response.ok else []
    return [
        {
            "timeline": r[0],
            "lsn": r[1],
            "reason": r[2],
            "at": r[3] if len(r) > 3 else None,
            "new_leader": r[4] if len(r) > 4 else None,
        }
        for r in rows
    ]


def wait_for_leader(
    timeout_s: float = 60, exclude: str = "", configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Wait up to ``timeout_s`` seconds until a member (other than
    ``exclude``, if given) holds the leader key and runs as primary.
    Returns ``leader`` and ``took_s``; raises ActivityFailed at the deadline."""
    name, waited = client.wait_for_primary(
        load(configuration, secrets), parse_duration(timeout_s, "timeout_s"), exclude
    )
    return {"leader": name, "took_s": round(waited, 3)}


def wait_for_healthy(
    timeout_s: float = 120,
    max_lag_bytes: int = 1048576,
    settle_s: float = 3,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Wait up to ``timeout_s`` seconds until :func:`cluster_health` has
    said healthy for ``settle_s`` seconds without a break (a rejoining node
    can stream for a moment, then restart for pg_rewind).  Returns the
    health summary plus ``took_s``; raises ActivityFailed at the deadline
    with the last reason."""
    last: Dict[str, Any] = {}
    quiet = parse_duration(settle_s, "settle_s")
    healthy_since: List[float] = []

    def check() -> Dict[str, Any]:
        last.clear()
        last.update(_health(configuration, secrets, max_lag_bytes))
        if not last["healthy"]:
            healthy_since.clear()
            return {}
        if not healthy_since:
            healthy_since.append(time.monotonic())
        return last if time.monotonic() - healthy_since[0] >= quiet else {}

    try:
        health, waited = wait_until(check, parse_duration(timeout_s, "timeout_s"), 0.5, "a healthy cluster")
    except ActivityFailed as exc:
        raise ActivityFailed(f"{exc}: {last.get('reason', '')}") from None
    return dict(health, took_s=round(waited, 3))
