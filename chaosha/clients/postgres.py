"""The PostgreSQL connection factory: every connection has a connect
deadline, a statement timeout and a client-side deadline on every
statement (a watchdog that cancels the query, then shuts the socket down),
so no probe can hang on a dead node, a frozen network or a COMMIT waiting
for a frozen synchronous standby (PostgreSQL does not apply
``statement_timeout`` to that wait)."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

import psycopg
from chaoslib.exceptions import ActivityFailed

from chaosha.config import PgNode, Settings

__all__ = [
    "connect",
    "endpoint",
    "query",
    "server_identity",
    "node_addresses",
    "identities",
    "each_node",
    "Watchdog",
    "GuardedConnection",
    "unsynced",
    "IDENTITY_SQL",
    "MEMBER_SQL",
]

T = TypeVar("T")
CANCEL_GRACE = 0.5


class Watchdog:
    """One thread enforcing deadlines on connections: when one expires it
    sends a cancel request (in its own thread) and ``grace`` seconds later
    shuts the socket down, so the blocked call returns in any case."""

    def __init__(self, tick: float = 0.05, grace: float = CANCEL_GRACE) -> None:
        self._lock = threading.Lock()
        self._armed: Dict[int, Tuple[float, Any, int, bool]] = {}
        self._fired: Dict[int, bool] = {}
        self._next = 0
        self._tick = tick
        self._grace = grace
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)
        self._thread.start()

    def arm(self, conn: Any, seconds: float) -> int:
        """Cancel ``conn``'s query, then cut its socket, unless disarmed
        within ``seconds``."""
        with self._lock:
            self._next += 1
            self._armed[self._next] = (time.monotonic() + seconds, conn, conn.pgconn.socket, False)
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
                for token, (deadline, conn, fd, cancelled) in list(self._armed.items()):
                    if now < deadline:
                        continue
                    self._fired[token] = True
                    if cancelled or self._grace <= 0:
                        del self._armed[token]
                        _shutdown(fd)
                    else:
                        self._armed[token] = (now + self._grace, conn, fd, True)
                        threading.Thread(
                            target=_cancel, args=(conn, self._grace), name="pg-cancel", daemon=True
                        ).start()


def _cancel(conn: Any, timeout: float) -> None:
    try:
        conn.cancel_safe(timeout=timeout)
    except Exception:  # noqa: BLE001,S110 - the socket shutdown follows anyway
        pass


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


_DEFAULT: List[Watchdog] = []
_DEFAULT_LOCK = threading.Lock()


def default_watchdog() -> Watchdog:
    """The process-wide watchdog (started on first use)."""
    with _DEFAULT_LOCK:
        if not _DEFAULT:
            _DEFAULT.append(Watchdog())
        return _DEFAULT[0]


class GuardedConnection(psycopg.Connection[Tuple[Any, ...]]):
    """A connection whose every ``execute``/``commit`` must finish within
    ``deadline_s`` (0 = none); ``deadline(seconds)`` bounds a whole block
    instead.  ``deadline_hit`` tells a call ran into its deadline;
    ``notices`` collects the server's notices and warnings."""

    deadline_s: float = 0.0
    deadline_hit: bool = False
    watchdog: Optional[Watchdog] = None
    notices: List[str]
    _guarded: bool = False

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Bound everything run inside the block by ``seconds`` in total."""
        if self._guarded or seconds <= 0:
            yield
            return
        dog = self.watchdog or default_watchdog()
        token = dog.arm(self, seconds)
        self._guarded = True
        try:
            yield
        finally:
            self._guarded = False
            if dog.disarm(token):
                self.deadline_hit = True

    def execute(
        self, query: Any, params: Any = None, *, prepare: Optional[bool] = None, binary: bool = False
    ) -> "psycopg.Cursor[Tuple[Any, ...]]":
        with self.deadline(self.deadline_s):
            return super().execute(query, params, prepare=prepare, binary=binary)

    def commit(self) -> None:
        with self.deadline(self.deadline_s):
            super().commit()

    def _notice(self, diag: Any) -> None:
        self.notices.append(str(diag.message_primary or ""))


def unsynced(notice: str) -> bool:
    """True for the warning of a COMMIT whose wait for the synchronous
    standby was cancelled: committed locally, perhaps not replicated."""
    return "synchronous replication" in notice


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


def _open(seconds: float, watchdog: Optional[Watchdog], **params: Any) -> GuardedConnection:
    conn = GuardedConnection.connect(connect_timeout=max(1, int(round(seconds))), **params)
    conn.deadline_s = seconds
    conn.watchdog = watchdog
    conn.notices = []
    conn.add_notice_handler(conn._notice)
    return conn


def connect(
    settings: Settings,
    target: str = "rw",
    timeout: float = 0,
    autocommit: bool = True,
    database: str = "",
    watchdog: Optional[Watchdog] = None,
) -> GuardedConnection:
    """Open a connection to ``target`` (see :func:`endpoint`).

    ``timeout`` (default ``CHAOSHA_TIMEOUT``) bounds the connect (libpq's
    floor is 2 s) and, client-side, every statement and commit (see
    :class:`GuardedConnection`).  Raises ``psycopg.OperationalError`` on
    failure: callers that are activities turn it into ``ActivityFailed``.
    """
    host, port = endpoint(settings, target)
    seconds = timeout or settings.timeout
    return _open(
        seconds,
        watchdog,
        host=host,
        port=port,
        user=settings.get("CHAOSHA_PG_USER"),
        password=settings.get("CHAOSHA_PG_PASSWORD"),
        dbname=database or settings.get("CHAOSHA_PG_DATABASE"),
        autocommit=autocommit,
        options=f"-c statement_timeout={int(seconds * 1000)}",
        application_name="chaosha",
    )


def query(
    settings: Settings, target: str, sql: str, params: Optional[Any] = None, timeout: float = 0
) -> List[Tuple[Any, ...]]:
    """Run one statement on ``target`` and return its rows.

    Raises ``ActivityFailed`` naming the target when it cannot be reached
    or does not answer within ``timeout``.
    """
    host, port = endpoint(settings, target)
    conn: Optional[GuardedConnection] = None
    try:
        with connect(settings, target, timeout) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []
    except psycopg.Error as exc:
        late = (
            f"no answer within {timeout or settings.timeout:g}s; "
            if conn is not None and conn.deadline_hit
            else ""
        )
        raise ActivityFailed(
            f"PostgreSQL {target} ({host}:{port}) failed: {late}{str(exc).strip()}; "
            "check the node is up (chaosha stack status) and CHAOSHA_PG_PASSWORD"
        ) from None


# The member name each Patroni node sets as the custom GUC chaosha.member
# (compose/patroni/entrypoint.sh); NULL on a server without it.
MEMBER_SQL = "current_setting('chaosha.member', true)"
IDENTITY_SQL = (
    "SELECT host(inet_server_addr()), pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() "
    "THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver), "
    "(SELECT timeline_id FROM pg_control_checkpoint())) "
    "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END, "
    f"NULLIF({MEMBER_SQL}, '')"
)


def replica_timeline(conn: psycopg.Connection) -> Optional[int]:
    """A standby's timeline as Patroni reports it (``replica_cached_timeline``):
    ``IDENTIFY_SYSTEM`` on a replication connection to the same server,
    i.e. the timeline WAL is replayed on.  None when it cannot be asked."""
    info = conn.info
    seconds = getattr(conn, "deadline_s", 0.0) or 3.0
    try:
        with _open(
            seconds,
            getattr(conn, "watchdog", None),
            host=info.host,
            port=info.port,
            user=info.user,
            password=info.password,
            dbname=info.dbname,
            replication="database",
            autocommit=True,
            application_name="chaosha",
        ) as repl:
            row = repl.execute("IDENTIFY_SYSTEM").fetchone()
        return int(row[1]) if row else None
    except (psycopg.Error, ValueError, TypeError):
        return None


def server_identity(conn: psycopg.Connection) -> Dict[str, Any]:
    """Address, recovery state, timeline (a standby's as Patroni computes
    it) and member name (``chaosha.member``) of the server behind ``conn``."""
    row = conn.execute(IDENTITY_SQL).fetchone()
    assert row is not None
    timeline = row[2]
    if row[1]:
        timeline = replica_timeline(conn) or timeline
    return {"address": row[0], "in_recovery": bool(row[1]), "timeline": timeline, "member": row[3]}


def each_node(settings: Settings, task: Callable[[PgNode], T]) -> Dict[str, T]:
    """``task(node)`` for every node at once (one thread each), by name:
    a frozen node costs one deadline, not one per node in series."""
    nodes = list(settings.pg_nodes)
    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix="pg-node") as pool:
        futures = {node.name: pool.submit(task, node) for node in nodes}
    return {name: future.result() for name, future in futures.items()}


def identities(settings: Settings, timeout: float = 0) -> Dict[str, Dict[str, Any]]:
    """:func:`server_identity` of every node on its own port, in parallel;
    ``{"error": text}`` for a node that did not answer within ``timeout``."""
    seconds = timeout or min(settings.timeout, 3)

    def ask(node: PgNode) -> Dict[str, Any]:
        try:
            with connect(settings, node.name, seconds) as conn, conn.deadline(seconds):
                return server_identity(conn)
        except psycopg.Error as exc:
            return {"error": " ".join(str(exc).split())[:300] or type(exc).__name__}

    return each_node(settings, ask)


def node_addresses(settings: Settings, timeout: float = 0) -> Dict[str, str]:
    """Map each reachable node's server address (``inet_server_addr()``) to
    its name, by asking every node on its own published port (in
    parallel).  Unreachable nodes are left out."""
    return {
        ident["address"]: name for name, ident in identities(settings, timeout).items() if "error" not in ident
    }
