"""PostgreSQL probes: roles, replication, timelines, row counts, writes."""

import uuid
from typing import Any, Dict

import psycopg
import psycopg.sql
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.config import load
from chaosha.postgres.client import connect, endpoint, query, server_identity

__all__ = ["is_primary", "node_roles", "replication_status", "timeline", "row_count",
           "write_succeeds"]


def is_primary(node: str, configuration: Configuration = None, secrets: Secrets = None) -> bool:
    """True when ``node`` accepts writes (not in recovery).  Raises
    ActivityFailed when the node cannot be reached."""
    return not query(load(configuration, secrets), node, "SELECT pg_is_in_recovery()")[0][0]


def node_roles(configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Per node: ``primary``/``replica``/``unreachable`` and its timeline,
    asked on each node's own port; ``primaries`` lists the writable ones."""
    settings = load(configuration, secrets)
    roles: Dict[str, Any] = {}
    for node in settings.pg_nodes:
        try:
            with connect(settings, node.name, timeout=min(settings.timeout, 3)) as conn:
                ident = server_identity(conn)
            roles[node.name] = {"role": "replica" if ident["in_recovery"] else "primary",
                                "timeline": ident["timeline"]}
        except psycopg.Error as exc:
            roles[node.name] = {"role": "unreachable", "error": str(exc).strip()}
    primaries = sorted(n for n, r in roles.items() if r["role"] == "primary")
    return {"nodes": roles, "primaries": primaries, "primary_count": len(primaries)}


REPLICATION_SQL = """
SELECT application_name, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_lag_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint AS flush_lag_bytes
FROM pg_stat_replication ORDER BY application_name
"""


def replication_status(node: str = "rw", configuration: Configuration = None,
                       secrets: Secrets = None) -> Dict[str, Any]:
    """Replication as the primary sees it (``pg_stat_replication``), asked
    through ``node`` (default: HAProxy's read-write port): one entry per
    standby with state, sync state and lag in bytes; ``streaming`` counts
    standbys in state streaming; ``max_lag_bytes`` is the worst replay lag."""
    rows = query(load(configuration, secrets), node, REPLICATION_SQL)
    standbys = [{"name": r[0], "state": r[1], "sync_state": r[2],
                 "replay_lag_bytes": r[3], "flush_lag_bytes": r[4]} for r in rows]
    lags = [s["replay_lag_bytes"] for s in standbys if s["replay_lag_bytes"] is not None]
    return {"standbys": standbys,
            "streaming": sum(1 for s in standbys if s["state"] == "streaming"),
            "max_lag_bytes": max(lags) if lags else 0}


def timeline(node: str = "rw", configuration: Configuration = None, secrets: Secrets = None) -> int:
    """The timeline ``node`` is on (a primary: its current WAL's timeline)."""
    settings = load(configuration, secrets)
    try:
        with connect(settings, node) as conn:
            return int(server_identity(conn)["timeline"])
    except psycopg.Error as exc:
        host, port = endpoint(settings, node)
        raise ActivityFailed(f"PostgreSQL {node} ({host}:{port}): {str(exc).strip()}") from None


def row_count(table: str, node: str = "rw", configuration: Configuration = None,
              secrets: Secrets = None) -> int:
    """``count(*)`` of ``table`` (``schema.table`` allowed) on ``node``."""
    parts = table.split(".")
    if not table or len(parts) > 2 or not all(p.replace("_", "").isalnum() for p in parts):
        raise ActivityFailed(f"table name {table!r} is not a plain [schema.]table identifier")
    ident = psycopg.sql.Identifier(*parts)
    sql = psycopg.sql.SQL("SELECT count(*) FROM {}").format(ident)
    return int(query(load(configuration, secrets), node, sql.as_string(None))[0][0])


def write_succeeds(node: str = "rw", configuration: Configuration = None,
                   secrets: Secrets = None) -> bool:
    """True when a row can be written and committed through ``node``
    (default: HAProxy's read-write port) within ``CHAOSHA_TIMEOUT``.
    Never raises: an unreachable or read-only endpoint gives False."""
    settings = load(configuration, secrets)
    token = uuid.uuid4().hex
    try:
        with connect(settings, node) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS chaosha_probe "
                         "(token text PRIMARY KEY, at timestamptz DEFAULT now())")
            conn.execute("INSERT INTO chaosha_probe (token) VALUES (%s)", (token,))
            conn.execute("DELETE FROM chaosha_probe WHERE at < now() - interval '1 hour'")
        return True
    except psycopg.Error:
        return False


