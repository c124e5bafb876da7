"""Patroni probes: who leads, who streams, how healthy the cluster is."""

import time
from typing import Any, Dict, List, Optional, Tuple

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.clients import patroni as client
from chaosha.clients.postgres import each_node, query
from chaosha.config import Settings, load
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


# Replication as the leader sees it: per standby, how old its last reply is
# and whether WAL is waiting for its flush (a COMMIT would wait on it).
REPLIES_SQL = (
    "SELECT application_name, EXTRACT(EPOCH FROM clock_timestamp() - reply_time)::float8, "
    "flush_lsn IS NULL OR flush_lsn < pg_current_wal_lsn() FROM pg_stat_replication"
)
Replies = Dict[str, Tuple[Optional[float], bool]]


def stalls(
    streaming: List[str], silent: List[str], replies: Optional[Replies], max_reply_age_s: float
) -> List[str]:
    """Why commits may be waiting although Patroni's view (cached in the
    DCS until a member's session expires) looks healthy: a member whose own
    REST API does not answer promptly, a streaming replica the leader has no
    walsender for, or one whose last reply is older than ``max_reply_age_s``
    while WAL waits for its flush.  ``replies`` None: the leader's
    PostgreSQL did not answer."""
    reasons = [f"{name}'s REST API does not answer" for name in silent]
    if replies is None:
        return reasons + ["the leader's PostgreSQL does not answer"]
    for name in streaming:
        if name not in replies:
            reasons.append(f"{name} is not in the leader's pg_stat_replication")
            continue
        age, behind = replies[name]
        if behind and (age is None or age > max_reply_age_s):
            shown = "never" if age is None else f"{age:.1f} s ago"
            reasons.append(f"{name} last replied {shown} while WAL waits for its flush")
    return reasons


def _silent(settings: Settings, api_timeout_s: float) -> List[str]:
    answers = each_node(settings, lambda node: client.node_status(settings, node, api_timeout_s))
    return sorted(name for name, status in answers.items() if status is None)


def _replies(settings: Settings, leader: str, timeout_s: float) -> Optional[Replies]:
    try:
        rows = query(settings, leader, REPLIES_SQL, timeout=timeout_s)
    except ActivityFailed:
        return None
    return {str(r[0]): (None if r[1] is None else round(float(r[1]), 3), bool(r[2])) for r in rows}


def _health(
    configuration: Configuration,
    secrets: Secrets,
    max_lag_bytes: int,
    max_reply_age_s: float = 3,
    api_timeout_s: float = 2,
) -> Dict[str, Any]:
    settings = load(configuration, secrets)
    try:
        max_lag_bytes = int(max_lag_bytes)  # "${max_lag_bytes}" arrives as a string
    except ValueError:
        raise ActivityFailed(f"max_lag_bytes {max_lag_bytes!r} is not a whole number of bytes") from None
    reply_limit = parse_duration(max_reply_age_s, "max_reply_age_s")
    api_limit = parse_duration(api_timeout_s, "api_timeout_s")
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
    silent = _silent(settings, api_limit)
    replies = _replies(settings, leaders[0], api_limit) if len(leaders) == 1 else {}
    reasons += stalls(streaming if len(leaders) == 1 else [], silent, replies, reply_limit)
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
        "silent": silent,
        "reply_age_s": {name: age for name, (age, _) in (replies or {}).items()},
        "answered_by": answered_by,
    }


def cluster_health(
    max_lag_bytes: int = 1048576,
    max_reply_age_s: float = 3,
    api_timeout_s: float = 2,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Health summary: exactly one running leader, every other configured
    member streaming on the leader's timeline with lag under
    ``max_lag_bytes``, failover not paused -- and nothing that makes commits
    wait while Patroni's cached view still looks fine: every member's own
    REST API answers within ``api_timeout_s``, and every streaming replica
    has a walsender on the leader that heard from it within
    ``max_reply_age_s`` whenever WAL waits for its flush (a healthy standby
    replies every ``wal_receiver_status_interval``, 1 s here).  Key
    ``healthy`` is the verdict, ``reason`` says what is wrong, ``silent``
    and ``reply_age_s`` the liveness seen.  Never raises: an unreachable
    cluster is reported as unhealthy."""
    return _health(configuration, secrets, max_lag_bytes, max_reply_age_s, api_timeout_s)


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
