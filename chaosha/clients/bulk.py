"""A bounded bulk load: one long transaction COPYing rows into
``chaosha_bulk`` through a PostgreSQL target, in a background thread of
the calling process, until ``size_mb`` megabytes were sent or
``duration_s`` seconds passed (whichever first), at most ``rate_mb_s``
megabytes a second (0: as fast as it goes), then COMMIT.

Every session is named ``chaosha-bulk-load`` (``application_name``) and
carries a server-side ``statement_timeout`` just above ``duration_s``, so
even a load whose process was killed ends on its own; :func:`end` cuts
every such session and drops the table (what ``heal`` runs).
"""

import threading
import time
from typing import Any, Dict, List, Optional

import psycopg

from chaosha.clients.postgres import connect, endpoint
from chaosha.config import Settings
from chaosha.timing import wait_until

__all__ = ["APP", "FAULT", "TABLE", "Load", "start", "current", "end", "end_within"]

APP = "chaosha-bulk-load"
FAULT = "bulk-load"  # the registry's kind for a running load
TABLE = "chaosha_bulk"
ROW = "x" * 1000  # ~1 kB a row, not compressed (TOAST starts at 2 kB)
CHUNK_ROWS = 1000

_LOADS: List["Load"] = []  # the loads this process started, latest last


class Load(threading.Thread):
    """The loader thread; ``summary()`` says how far it got."""

    def __init__(
        self, settings: Settings, target: str, size_mb: float, duration_s: float, rate_mb_s: float
    ) -> None:
        super().__init__(name="bulk-load", daemon=True)
        self.settings, self.target = settings, target
        self.limit_bytes = int(size_mb * 1024 * 1024)
        self.duration_s = duration_s
        self.rate_mb_s = rate_mb_s
        self.stop_event = threading.Event()
        self.sent_bytes = 0
        self.rows = 0
        self.started = time.time()
        self.ended: Optional[float] = None
        self.outcome = "running"
        self.error = ""

    def run(self) -> None:
        deadline = self.started + self.duration_s
        try:
            with self._session() as conn:
                with conn.cursor().copy(f"COPY {TABLE} (payload) FROM STDIN") as copy:
                    while self.sent_bytes < self.limit_bytes and time.time() < deadline:
                        if self.stop_event.is_set():
                            raise _Stopped()
                        copy.write("".join(f"{ROW}\n" for _ in range(CHUNK_ROWS)))
                        self.sent_bytes += CHUNK_ROWS * (len(ROW) + 1)
                        self.rows += CHUNK_ROWS
                        self._pace()
                conn.commit()
            self.outcome = "committed"
        except _Stopped:
            self.outcome = "stopped"  # the connection closes: rolled back
        except psycopg.Error as exc:
            self.outcome, self.error = "broken", " ".join(str(exc).split())[:300] or type(exc).__name__
        finally:
            self.ended = time.time()

    def _pace(self) -> None:
        """Sleep while ahead of ``rate_mb_s`` (waking early on stop)."""
        if self.rate_mb_s > 0:
            due = self.started + self.sent_bytes / (self.rate_mb_s * 1048576)
            self.stop_event.wait(max(0.0, due - time.time()))

    def _session(self) -> psycopg.Connection:
        conn = connect(self.settings, self.target, 10, autocommit=True)
        conn.deadline_s = 0  # the load is bounded by its own loop and statement_timeout
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial, payload text)")
        conn.execute("SELECT set_config('application_name', %s, false)", [APP])
        backstop_ms = int(self.duration_s * 1000) + 5000
        conn.execute("SELECT set_config('statement_timeout', %s, false)", [str(backstop_ms)])
        conn.autocommit = False
        return conn

    def summary(self) -> Dict[str, Any]:
        host, port = endpoint(self.settings, self.target)
        return {
            "target": self.target,
            "endpoint": f"{host}:{port}",
            "outcome": self.outcome,
            "sent_mb": round(self.sent_bytes / 1048576, 1),
            "rows": self.rows,
            "size_mb": round(self.limit_bytes / 1048576, 1),
            "duration_s": self.duration_s,
            "rate_mb_s": self.rate_mb_s,
            "ran_s": round((self.ended or time.time()) - self.started, 3),
            "error": self.error,
        }


class _Stopped(Exception):
    pass


def start(settings: Settings, target: str, size_mb: float, duration_s: float, rate_mb_s: float = 0) -> Load:
    load = Load(settings, target, size_mb, duration_s, rate_mb_s)
    _LOADS.append(load)
    load.start()
    return load


def current() -> Optional[Load]:
    """The latest load this process started, or None."""
    return _LOADS[-1] if _LOADS else None


def end(settings: Settings, timeout: float = 10) -> Dict[str, Any]:
    """Stop this process's loads, cut every ``chaosha-bulk-load`` session
    on the primary and drop the table.  Raises ``psycopg.Error`` when the
    primary cannot be reached (the caller keeps the fault for a retry)."""
    for load in _LOADS:
        load.stop_event.set()
    for load in _LOADS:
        load.join(timeout)
    with connect(settings, "rw", timeout) as conn:
        cut = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s", [APP]
        ).fetchone()
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    return {"sessions_cut": int(cut[0]) if cut else 0, "table_dropped": TABLE}


def end_within(settings: Settings, timeout_s: float = 30) -> Dict[str, Any]:
    """:func:`end`, retried until a primary answers (right after a failover
    there may be none for a moment); ``ActivityFailed`` at the deadline."""
    done, _ = wait_until(lambda: end(settings), timeout_s, 1.0, "a primary to end the bulk load on")
    return done
