"""The PostgreSQL connection factory: every connection has a connect
deadline and a statement timeout, so no probe can hang on a dead node."""

from typing import Any, Dict, List, Optional, Tuple

import psycopg
from chaoslib.exceptions import ActivityFailed

from chaosha.config import Settings

__all__ = ["connect", "endpoint", "query", "server_identity", "node_addresses"]


def endpoint(settings: Settings, target: str) -> Tuple[str, int]:
    """``(host, port)`` for a target: ``rw`` (HAProxy read-write), ``ro``
    (HAProxy replicas), a node name (``pg1``) or a bare port number."""
    if target in ("rw", "primary", "haproxy"):
        return settings.host, settings.integer("CHAOSHA_RW_PORT")
    if target in ("ro", "replicas", "replica"):
        return settings.host, settings.integer("CHAOSHA_RO_PORT")
    if target.isdigit():
        return settings.host, int(target)
    node = settings.pg_node(target)
    return node.host, node.port


def connect(settings: Settings, target: str = "rw", timeout: float = 0,
            autocommit: bool = True, database: str = "") -> psycopg.Connection:
    """Open a connection to ``target`` (see :func:`endpoint`).

    ``timeout`` (default ``CHAOSHA_TIMEOUT``) bounds the connect and every
    statement.  Raises ``psycopg.OperationalError`` on failure: callers that
    are activities turn it into ``ActivityFailed``.
    """
    host, port = endpoint(settings, target)
    seconds = timeout or settings.timeout
    return psycopg.connect(
        host=host,
        port=port,
        user=settings.get("CHAOSHA_PG_USER"),
        password=settings.get("CHAOSHA_PG_PASSWORD"),
        dbname=database or settings.get("CHAOSHA_PG_DATABASE"),
        connect_timeout=max(1, int(round(seconds))),
        autocommit=autocommit,
        options=f"-c statement_timeout={int(seconds * 1000)}",
        application_name="chaosha",
    )


def query(settings: Settings, target: str, sql: str, params: Optional[Any] = None,
          timeout: float = 0) -> List[Tuple[Any, ...]]:
    """Run one statement on ``target`` and return its rows.

    Raises ``ActivityFailed`` naming the target when it cannot be reached.
    """
    host, port = endpoint(settings, target)
    try:
        with connect(settings, target, timeout) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []
    except psycopg.Error as exc:
        raise ActivityFailed(
            f"PostgreSQL {target} ({host}:{port}) failed: {str(exc).strip()}; "
            "check the node is up (chaosha stack status) and CHAOSHA_PG_PASSWORD"
        ) from None


IDENTITY_SQL = (
    "SELECT host(inet_server_addr()), pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() "
    "THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver), "
    "(SELECT timeline_id FROM pg_control_checkpoint())) "
    "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END"
)


def server_identity(conn: psycopg.Connection) -> Dict[str, Any]:
    """Address, recovery state and timeline of the server behind ``conn``."""
    row = conn.execute(IDENTITY_SQL).fetchone()
    assert row is not None
    return {"address": row[0], "in_recovery": bool(row[1]), "timeline": row[2]}


def node_addresses(settings: Settings, timeout: float = 0) -> Dict[str, str]:
    """Map each reachable node's server address (``inet_server_addr()``) to
    its name, by asking every node on its own published port.  Unreachable
    nodes are left out."""
    found: Dict[str, str] = {}
    for node in settings.pg_nodes:
        try:
            with connect(settings, node.name, timeout or min(settings.timeout, 3)) as conn:
                found[server_identity(conn)["address"]] = node.name
        except psycopg.Error:
            continue
    return found
