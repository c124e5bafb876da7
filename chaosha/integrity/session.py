"""A PostgreSQL session for workloads: reconnects, and a client-side
deadline (a watchdog that shuts the socket down) so even a frozen server or
a black-holed network ends an operation in time."""

import socket
import threading
import time
from typing import Any, Callable, Dict, Tuple

import psycopg

from chaosha.config import Settings
from chaosha.integrity.ledger import FAILED, IN_DOUBT
from chaosha.postgres.client import connect

__all__ = ["Watchdog", "Session", "outcome_of", "error_text"]


class Watchdog:
    """One thread enforcing operation deadlines on connections' sockets."""

    def __init__(self, tick: float = 0.05) -> None:
        self._lock = threading.Lock()
        self._armed: Dict[int, Tuple[float, int]] = {}
        self._fired: Dict[int, bool] = {}
        self._next = 0
        self._tick = tick
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)
        self._thread.start()

    def arm(self, conn: psycopg.Connection, seconds: float) -> int:
        """Shut ``conn``'s socket down if not disarmed within ``seconds``."""
        with self._lock:
            self._next += 1
            self._armed[self._next] = (time.monotonic() + seconds, conn.pgconn.socket)
            return self._next

    def disarm(self, token: int) -> bool:
        """Cancel a deadline; True when it had already fired."""
        with self._lock:
            self._armed.pop(token, None)
            return self._fired.pop(token, False)

    def _loop(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                for token, (deadline, fd) in list(self._armed.items()):
                    if now >= deadline:
                        del self._armed[token]
                        self._fired[token] = True
                        _shutdown(fd)


def _shutdown(fd: int) -> None:
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()  # the fd stays libpq's


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
    name or a port); ``setup`` runs on each new connection."""

    def __init__(self, settings: Settings, target: str, timeout: float,
                 setup: Callable[[psycopg.Connection], None] = lambda conn: None) -> None:
        self.settings = settings
        self.target = target
        self.timeout = timeout
        self.setup = setup
        self.conn: Any = None

    def get(self) -> psycopg.Connection:
        """The open connection, connecting first (raises ``psycopg.Error``)."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.close()
            conn = connect(self.settings, self.target, self.timeout)
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
