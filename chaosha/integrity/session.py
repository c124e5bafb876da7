"""A PostgreSQL session for workloads: reconnects, and a client-side
deadline on every statement (:class:`chaosha.clients.postgres.Watchdog`:
cancel, then shut the socket down) so even a frozen server or a
black-holed network ends an operation in time."""

from typing import Any, Callable, Optional

import psycopg

from chaosha.clients.postgres import GuardedConnection, Watchdog, connect
from chaosha.config import Settings
from chaosha.integrity.ledger import FAILED, IN_DOUBT

__all__ = ["Watchdog", "Session", "outcome_of", "error_text"]


def error_text(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def outcome_of(exc: BaseException, conn: Any) -> str:
    """``failed`` when the server answered with an error on a connection
    that is still usable (the implicit transaction was rolled back), else
    ``in-doubt`` (connection lost or deadline hit: the COMMIT may have
    happened)."""
    if conn is None:
        return FAILED
    if getattr(exc, "sqlstate", None) and not conn.closed and not conn.broken:
        return FAILED
    return IN_DOUBT


class Session:
    """A lazily (re)opened connection to one target (``rw``, ``ro``, a node
    name or a port); ``setup`` runs on each new connection.  ``timeout``
    bounds the connect, ``op_timeout`` (default: the same) each statement,
    enforced by ``watchdog``."""

    def __init__(
        self,
        settings: Settings,
        target: str,
        timeout: float,
        setup: Callable[[psycopg.Connection], None] = lambda conn: None,
        watchdog: Optional[Watchdog] = None,
        op_timeout: float = 0,
    ) -> None:
        self.settings = settings
        self.target = target
        self.timeout = timeout
        self.op_timeout = op_timeout or timeout
        self.setup = setup
        self.watchdog = watchdog
        self.conn: Any = None

    def get(self) -> GuardedConnection:
        """The open connection, connecting first (raises ``psycopg.Error``)."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.close()
            conn = connect(self.settings, self.target, self.timeout, watchdog=self.watchdog)
            conn.deadline_s = self.op_timeout
            try:
                self.setup(conn)
            except psycopg.Error:
                conn.close()
                raise
            self.conn = conn
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001,S110 - closing a broken connection
                pass
            self.conn = None
