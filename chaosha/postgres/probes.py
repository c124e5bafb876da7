"""PostgreSQL probes: roles, replication, timelines, row counts, writes."""

import time
import uuid
from typing import Any, Dict, Optional

import psycopg
import psycopg.sql
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.clients.postgres import (
    GuardedConnection,
    connect,
    endpoint,
    identities,
    query,
    server_identity,
    unsynced,
)
from chaosha.config import Settings, load

__all__ = [
    "is_primary",
    "node_roles",
    "replication_status",
    "timeline",
    "row_count",
    "write_succeeds",
    "write_check",
]


def is_primary(target: str, configuration: Configuration = None, secrets: Secrets = None) -> bool:
    """True when ``target`` (a node name, ``rw``, ``ro`` or a port) accepts
    writes (not in recovery).  Raises ActivityFailed when it cannot be reached."""
    return not query(load(configuration, secrets), target, "SELECT pg_is_in_recovery()")[0][0]


def node_roles(configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Per node: ``primary``/``replica``/``unreachable``, its timeline (as
    Patroni reports it) and member name, asked on each node's own port, all
    nodes at once; ``primaries`` lists the writable ones."""
    settings = load(configuration, secrets)
    roles: Dict[str, Any] = {}
    for name, ident in identities(settings, min(settings.timeout, 3)).items():
        if "error" in ident:
            roles[name] = {"role": "unreachable", "error": ident["error"]}
        else:
            roles[name] = {
                "role": "replica" if ident["in_recovery"] else "primary",
                "timeline": ident["timeline"],
                "member": ident["member"],
            }
    primaries = sorted(n for n, r in roles.items() if r["role"] == "primary")
    return {"nodes": roles, "primaries": primaries, "primary_count": len(primaries)}


REPLICATION_SQL = """
SELECT application_name, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint AS flush_lag_bytes
FROM pg_stat_replication ORDER BY application_name
"""


def replication_status(
    target: str = "rw", configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Replication as the primary sees it (``pg_stat_replication``), asked
    through ``target`` (default: HAProxy's read-write port): one entry per
    standby with state, sync state and lag in bytes; ``streaming`` counts
    standbys in state streaming; ``max_lag_bytes`` is the worst replay lag."""
    rows = query(load(configuration, secrets), target, REPLICATION_SQL)
    standbys = [
        {"name": r[0], "state": r[1], "sync_state": r[2], "replay_lag_bytes": r[3], "flush_lag_bytes": r[4]}
        for r in rows
    ]
    lags = [s["replay_lag_bytes"] for s in standbys if s["replay_lag_bytes"] is not None]
    return {
        "standbys": standbys,
        "streaming": sum(1 for s in standbys if s["state"] == "streaming"),
        "max_lag_bytes": max(lags) if lags else 0,
    }


def timeline(target: str = "rw", configuration: Configuration = None, secrets: Secrets = None) -> int:
    """The timeline ``target`` is on (a primary: its current WAL's timeline)."""
    settings = load(configuration, secrets)
    try:
        with connect(settings, target) as conn:
            return int(server_identity(conn)["timeline"])
    except psycopg.Error as exc:
        host, port = endpoint(settings, target)
        raise ActivityFailed(f"PostgreSQL {target} ({host}:{port}): {str(exc).strip()}") from None


def row_count(table: str, target: str = "rw", configuration: Configuration = None, secrets: Secrets = None) -> int:
    """``count(*)`` of ``table`` (``schema.table`` allowed) on ``target``."""
    parts = table.split(".")
    if not table or len(parts) > 2 or not all(p.replace("_", "").isalnum() for p in parts):
        raise ActivityFailed(f"table name {table!r} is not a plain [schema.]table identifier")
    ident = psycopg.sql.Identifier(*parts)
    sql = psycopg.sql.SQL("SELECT count(*) FROM {}").format(ident)
    return int(query(load(configuration, secrets), target, sql.as_string(None))[0][0])


PROBE_TABLE_SQL = "CREATE TABLE IF NOT EXISTS chaosha_probe (token text PRIMARY KEY, at timestamptz DEFAULT now())"
PROBE_INSERT_SQL = "INSERT INTO chaosha_probe (token) VALUES (%s)"
PROBE_CLEAN_SQL = "DELETE FROM chaosha_probe WHERE at < now() - interval '1 hour'"


def write_check(
    target: str = "rw", timeout_s: float = 0, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Write and commit one row through ``target`` (default: HAProxy's
    read-write port) within ``timeout_s`` seconds in all (default
    ``CHAOSHA_TIMEOUT``), connect and a COMMIT's wait for the synchronous
    standby included.  Returns ``ok`` (committed in time and synchronously
    replicated), ``took_s``, ``waited_past_deadline``, ``synchronous``
    (false: committed locally only, null: unknown), ``warning``, ``error``.
    Never raises."""
    settings = load(configuration, secrets)
    return _write_check(settings, target, float(timeout_s) or settings.timeout)


def _write_check(settings: Settings, target: str, seconds: float) -> Dict[str, Any]:
    started = time.monotonic()
    result: Dict[str, Any] = {
        "ok": False,
        "took_s": None,
        "waited_past_deadline": False,
        "synchronous": None,
        "warning": None,
        "error": None,
    }
    conn: Optional[GuardedConnection] = None
    try:
        with connect(settings, target, seconds) as conn:
            with conn.deadline(max(seconds - (time.monotonic() - started), 0.05)):
                conn.execute(PROBE_TABLE_SQL)
                conn.notices.clear()
                conn.execute(PROBE_INSERT_SQL, (uuid.uuid4().hex,))
                conn.execute(PROBE_CLEAN_SQL)
            warning = "; ".join(n for n in conn.notices if n)
            result.update(synchronous=not unsynced(warning), warning=warning or None)
    except psycopg.Error as exc:
        result["error"] = " ".join(str(exc).split())[:300] or type(exc).__name__
    elapsed = time.monotonic() - started
    late = bool(conn is not None and conn.deadline_hit) or elapsed > seconds
    result.update(took_s=round(elapsed, 3), waited_past_deadline=late)
    result["ok"] = result["error"] is None and result["synchronous"] is True and not late
    return result


def write_succeeds(target: str = "rw", configuration: Configuration = None, secrets: Secrets = None) -> bool:
    """True when a row can be written, committed and synchronously
    replicated through ``target`` (default: HAProxy's read-write port) within
    ``CHAOSHA_TIMEOUT`` (see ``write_check``).  Never raises: an
    unreachable, read-only or too slow endpoint gives False."""
    settings = load(configuration, secrets)
    return bool(_write_check(settings, target, settings.timeout)["ok"])
