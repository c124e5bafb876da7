"""The write and read workloads: one record per operation in the ledger.

The writer inserts one unique, increasing id per transaction (a single
autocommit ``INSERT ... RETURNING`` server address, timeline and member
name, so every acknowledgement names the server that gave it, whatever
its address) and ends every attempt as ``ok``, ``failed`` or
``in-doubt``; an ``ok`` whose COMMIT came with the warning of a cancelled
wait for the synchronous standby is marked ``"sync": false``.  The reader
runs a small query through one port (``"via"``: ``ro`` or ``rw``): the
server's identity, the highest id it sees (``seen``) and, of the ids in
``(floor, hi]`` (``floor``: the highest id acknowledged a window ago),
those it does not see (``gaps``, at most :data:`GAPS_MAX`).
Both reconnect with a short backoff and stop on a shared event.  A
fresh writer does what the writer does on a new connection for every
write (an application pool after a failover); its records carry
``"fresh": <n>``, those of more persistent writers ``"writer": <n>``
(n >= 2; the first writer's records carry neither).  Every writer takes
its ids from one :class:`Ids`, so ids stay unique in the run, and
reports its acknowledgements there: a read records the highest id
acknowledged before it started (``acked``).
"""

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, Optional, Tuple

import psycopg

from chaosha.clients.postgres import (
    IDENTITY_SQL,
    MEMBER_SQL,
    GuardedConnection,
    connect,
    node_addresses,
    unsynced,
)
from chaosha.config import Settings
from chaosha.integrity.ledger import FAILED, IN_DOUBT, OK, Ledger
from chaosha.integrity.session import Session, Watchdog, error_text, outcome_of
from chaosha.timing import Pacer, wait_until

__all__ = [
    "TABLE_SQL",
    "INSERT_SQL",
    "READ_SQL",
    "ensure_table",
    "NodeMap",
    "Ids",
    "Crew",
    "Writer",
    "FreshWriter",
    "Reader",
]

TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS chaosha_ledger (run text NOT NULL, id bigint NOT NULL, "
    "written_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (run, id))"
)
TIMELINE_SQL = "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"
INSERT_SQL = (
    "INSERT INTO chaosha_ledger (run, id) VALUES (%s, %s) "
    f"RETURNING host(inet_server_addr()), {TIMELINE_SQL}, NULLIF({MEMBER_SQL}, '')"
)
# Identity, the highest visible id, the top of the checked range (floor, hi]
# (at most SPAN_MAX ids: a foreign huge id costs nothing) and its ids not visible.
READ_SQL = (
    IDENTITY_SQL + ", m.seen, m.hi, ARRAY(SELECT g FROM generate_series(%(floor)s::bigint + 1, m.hi) g "
    "EXCEPT SELECT id FROM chaosha_ledger WHERE run = %(run)s AND id > %(floor)s AND id <= m.hi "
    "ORDER BY 1 LIMIT %(cap)s) FROM (SELECT s.seen, CASE WHEN s.seen > %(floor)s::bigint + %(span)s "
    "THEN %(floor)s::bigint + %(span)s ELSE s.seen END AS hi "
    "FROM (SELECT max(id) AS seen FROM chaosha_ledger WHERE run = %(run)s) s) m"
)
GAPS_MAX = 200
SPAN_MAX = 50_000
HISTORY_STEP_S = 0.1
RESERVE_BLOCK = 1000
# A failed operation is retried after BACKOFF_MIN, doubling to BACKOFF_MAX:
# the resolution of every RTO the verdict measures (the first acknowledged
# write comes up to BACKOFF_MAX after the stack could take it).  0.1 s: a
# measuring client should add ~0.05 s to an outage, not ~0.25 s (it was 0.5
# until 2026-12-03); an outage costs each worker <= 10 attempts/s.
BACKOFF_MIN, BACKOFF_MAX = 0.05, 0.1


def ensure_table(settings: Settings, target: str, timeout: float) -> None:
    """Create the ledger table if missing, retrying until ``timeout``."""

    def create() -> bool:
        with connect(settings, target, min(timeout, settings.timeout)) as conn:
            conn.execute(TABLE_SQL)
        return True

    wait_until(create, timeout, 1.0, f"creating table chaosha_ledger through {target}")


class NodeMap:
    """Server address -> Patroni member, from ``node_addresses()``: only a
    fallback for servers that do not report ``chaosha.member``; an unknown
    address triggers a refresh in the background (never blocks a
    workload) and each new map is written to the ledger."""

    def __init__(self, settings: Settings, ledger: Ledger) -> None:
        self.settings = settings
        self.ledger = ledger
        self.map: Dict[str, str] = {}
        self._lock = threading.Lock()
        self._refreshing = False
        self._last = 0.0

    def refresh(self) -> None:
        found = node_addresses(self.settings, min(self.settings.timeout, 2))
        with self._lock:
            changed = {**self.map, **found} != self.map
            self.map.update(found)
            self._refreshing = False
            self._last = time.monotonic()
        if changed:
            self.ledger.append({"k": "nodes", "t": round(time.time(), 6), "map": dict(found)})

    def name(self, address: Optional[str]) -> Optional[str]:
        if address is None:
            return None
        with self._lock:
            known = self.map.get(address)
            if known is None and not self._refreshing and time.monotonic() - self._last > 1:
                self._refreshing = True
                threading.Thread(target=self.refresh, name="nodemap", daemon=True).start()
        return known


class Ids:
    """The run's ids 1, 2, ... up to ``max_writes``, shared by its writers;
    each block of ids is reserved in the ledger before it is used, so a
    killed writer leaves its tail in-doubt, not unexpected.  Writers report
    acknowledged ids (:meth:`acked`); readers ask for the highest one
    (``high``) and for the highest one ``window_s`` seconds ago (:meth:`floor`)."""

    def __init__(self, ledger: Ledger, max_writes: int) -> None:
        self.ledger = ledger
        self.max_writes = max_writes
        self.last = 0
        self.reserved = 0
        self.high = 0
        self._lock = threading.Lock()
        self._history: Deque[Tuple[float, int]] = deque()

    def acked(self, value: int) -> None:
        now = time.monotonic()
        with self._lock:
            if value <= self.high:
                return
            self.high = value
            # One entry per HISTORY_STEP_S: a floor a little high only checks fewer ids.
            if self._history and now - self._history[-1][0] < HISTORY_STEP_S:
                self._history[-1] = (self._history[-1][0], value)
            else:
                self._history.append((now, value))

    def floor(self, window_s: float) -> int:
        """The highest id acknowledged ``window_s`` seconds ago (0 before)."""
        cutoff = time.monotonic() - window_s
        with self._lock:
            while len(self._history) > 1 and self._history[1][0] <= cutoff:
                self._history.popleft()
            first = self._history[0] if self._history else None
            return first[1] if first is not None and first[0] <= cutoff else 0

    def next(self) -> Optional[int]:
        """The next id, or None once ``max_writes`` ids were given out."""
        with self._lock:
            if self.last >= self.max_writes:
                return None
            self.last += 1
            if self.last > self.reserved:
                self.reserved = min(self.last - 1 + RESERVE_BLOCK, self.max_writes)
                self.ledger.append({"k": "reserve", "upto": self.reserved}, flush=True)
            return self.last


@dataclass(frozen=True)
class Crew:
    """What every loop of one run shares: the stack, the ledger, the run id,
    the stop event, the watchdog, the node map and the id sequence."""

    settings: Settings
    ledger: Ledger
    run_id: str
    stop: threading.Event
    watchdog: Watchdog
    nodes: NodeMap
    ids: Ids


class _Loop:
    """Paced operations through ``target`` on one session (each within
    ``op_timeout`` seconds, ``rate`` per second) with reconnect and backoff."""

    kind = ""

    def __init__(self, crew: Crew, target: str, op_timeout: float, rate: float) -> None:
        self.settings, self.ledger, self.run_id = crew.settings, crew.ledger, crew.run_id
        self.stop, self.nodes, self.ids = crew.stop, crew.nodes, crew.ids
        self.target = target
        self.op_timeout = op_timeout
        self.rate = rate
        self.session = Session(crew.settings, target, op_timeout, self.setup, crew.watchdog)
        self.counts: Dict[str, int] = {OK: 0, FAILED: 0, IN_DOUBT: 0}

    def setup(self, conn: psycopg.Connection) -> None:
        pass

    def execute(self, conn: psycopg.Connection, record: Dict[str, Any]) -> None:
        raise NotImplementedError

    def attempt(self, record: Dict[str, Any]) -> Dict[str, Any]:
        """Run one operation (within ``op_timeout``, the session's
        client-side deadline) and fill ``record`` with its outcome."""
        record["t0"] = round(time.time(), 6)
        conn: Optional[GuardedConnection] = None
        try:
            conn = self.session.get()
            conn.deadline_hit = False
            conn.notices.clear()
            self.execute(conn, record)
            record["r"] = OK
        except psycopg.Error as exc:
            record["r"] = outcome_of(exc, conn)
            record["err"] = error_text(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not hide an outcome
            record["r"] = IN_DOUBT if conn is not None else FAILED
            record["err"] = error_text(exc)
        record["t1"] = round(time.time(), 6)
        if conn is not None:
            _note_connection(record, conn)
        return record

    def new_record(self) -> Optional[Dict[str, Any]]:
        """The next operation's record; None ends the loop."""
        return {"k": self.kind}

    def done(self) -> None:
        """After every operation (a fresh writer closes its connection)."""

    def run(self) -> Dict[str, int]:
        """Loop until the stop event (or no next record); the counts."""
        backoff = BACKOFF_MIN
        pacer = Pacer(1.0 / self.rate if self.rate > 0 else 0.0, self.stop)
        try:
            while not self.stop.is_set():
                record = self.new_record()
                if record is None:
                    break
                self.attempt(record)
                self.done()
                self.ledger.append(record)
                self.counts[record["r"]] += 1
                if record["r"] != OK:
                    self.session.close()
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    pacer.restart()
                    continue
                backoff = BACKOFF_MIN
                pacer.wait()
        finally:
            self.session.close()
        return self.counts


class Writer(_Loop):
    """Inserts the run's next id per write, on one session;
    ``number`` (0: the first writer) is recorded under ``label``."""

    kind = "w"
    label = "writer"

    def __init__(self, crew: Crew, target: str, op_timeout: float, rate: float, number: int = 0) -> None:
        super().__init__(crew, target, op_timeout, rate)
        self.number = number

    def setup(self, conn: psycopg.Connection) -> None:
        super().setup(conn)
        # A server-side backstop only: the client-side deadline fires first.
        # Its cancel of a COMMIT waiting for the synchronous standby returns
        # the commit with a warning (local only), recorded as "sync": false.
        conn.execute("SELECT set_config('statement_timeout', %s, false)", [f"{int(self.op_timeout * 2000)}ms"])

    def new_record(self) -> Optional[Dict[str, Any]]:
        next_id = self.ids.next()
        if next_id is None:
            return None
        record: Dict[str, Any] = {"k": self.kind, "id": next_id}
        if self.number:
            record[self.label] = self.number
        return record

    def execute(self, conn: psycopg.Connection, record: Dict[str, Any]) -> None:
        row = conn.execute(INSERT_SQL, (self.run_id, record["id"])).fetchone()
        self.ids.acked(record["id"])
        if row is not None:
            record["addr"], record["tl"], record["member"] = row
            record["node"] = row[2] or self.nodes.name(row[0])


class FreshWriter(Writer):
    """A writer that opens a new connection for every write (number
    ``number`` >= 1 of the run's fresh writers)."""

    label = "fresh"

    def done(self) -> None:
        self.session.close()


class Reader(_Loop):
    """Reads server identity, the run's highest visible id and the ids
    missing above the highest one acknowledged ``window_s`` seconds ago,
    through ``target`` (recorded as ``via``)."""

    kind = "r"

    def __init__(self, crew: Crew, target: str, op_timeout: float, rate: float, window_s: float) -> None:
        super().__init__(crew, target, op_timeout, rate)
        self.window_s = window_s

    def new_record(self) -> Optional[Dict[str, Any]]:
        return {"k": self.kind, "via": self.target, "acked": self.ids.high, "floor": self.ids.floor(self.window_s)}

    def execute(self, conn: psycopg.Connection, record: Dict[str, Any]) -> None:
        args = {"run": self.run_id, "floor": record["floor"], "cap": GAPS_MAX, "span": SPAN_MAX}
        row = conn.execute(READ_SQL, args).fetchone()
        if row is not None:
            record["addr"], record["ro"], record["tl"], record["member"], record["seen"], hi, gaps = row
            record["node"] = row[3] or self.nodes.name(row[0])
            record["gaps"] = list(gaps or [])
            # A cut list tells nothing above its last id.
            record["hi"] = record["gaps"][-1] if len(record["gaps"]) >= GAPS_MAX else hi


def _note_connection(record: Dict[str, Any], conn: GuardedConnection) -> None:
    """What the connection adds to an outcome: its deadline fired, the
    server's warnings, and an acknowledgement not synchronously replicated."""
    if conn.deadline_hit:
        record["deadline"] = True
    warning = "; ".join(n for n in conn.notices if n)
    if warning:
        record["warn"] = warning[:200]
    if record.get("r") == OK and record.get("k") == "w" and unsynced(warning):
        record["sync"] = False
