"""The split-brain sampler: every node's ``pg_is_in_recovery()`` (direct
port) and Patroni role (REST ``GET /patroni``) several times a second, each
node in its own thread so a frozen node cannot slow the others down."""

import threading
import time
from typing import Any, Dict, List

import psycopg
import requests

from chaosha.clients import patroni
from chaosha.clients.postgres import server_identity
from chaosha.config import PgNode, Settings
from chaosha.integrity.ledger import Ledger
from chaosha.integrity.session import Session, Watchdog, error_text
from chaosha.timing import Pacer

__all__ = ["Sampler", "sample_node", "sync_standbys"]

SYNC_STATES = ("sync", "quorum")


def sync_standbys(body: Dict[str, Any]) -> List[str]:
    """The standbys a primary's ``GET /patroni`` lists as synchronous."""
    return sorted(
        str(r.get("application_name"))
        for r in body.get("replication") or []
        if r.get("sync_state") in SYNC_STATES and r.get("state") == "streaming"
    )


def sample_node(node: PgNode, session: Session, timeout: float) -> Dict[str, Any]:
    """One ``s`` record: SQL view (``writable``, ``tl``, ``member``, window
    ``t0``-``t1``, each statement within the session's deadline) and
    Patroni view (``role``, ``state``, ``repl``, window ``pt0``-``pt1``; a
    primary's also ``sync``: its synchronous standbys, from
    ``pg_stat_replication`` as Patroni reports it); fields are null where
    the node did not answer."""
    record: Dict[str, Any] = {
        "k": "s",
        "node": node.name,
        "t0": round(time.time(), 6),
        "writable": None,
        "tl": None,
    }
    try:
        identity = server_identity(session.get())
        record["writable"] = not identity["in_recovery"]
        record["tl"] = identity["timeline"]
        record["addr"] = identity["address"]
        record["member"] = identity["member"]
    except psycopg.Error as exc:
        session.close()
        record["err"] = error_text(exc)
    record["t1"] = round(time.time(), 6)
    record["pt0"] = record["t1"]
    try:
        body = patroni.status(node, timeout)
        record.update(
            role=body.get("role"),
            state=body.get("state"),
            repl=body.get("replication_state"),
            ptl=body.get("timeline"),
        )
        if record["role"] == "primary":
            record["sync"] = sync_standbys(body)
    except (requests.RequestException, ValueError) as exc:
        record.update(role=None, perr=error_text(exc))
    record["pt1"] = round(time.time(), 6)
    return record


class Sampler:
    """Samples every node every ``interval`` seconds until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        stop: threading.Event,
        watchdog: Watchdog,
        interval: float = 0.25,
        timeout: float = 1.0,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.stop = stop
        self.watchdog = watchdog
        self.interval = interval
        self.timeout = timeout
        self.count = 0
        self._lock = threading.Lock()

    def threads(self) -> List[threading.Thread]:
        return [
            threading.Thread(target=self._node_loop, args=(node,), daemon=True, name=f"sampler-{node.name}")
            for node in self.settings.pg_nodes
        ]

    def _node_loop(self, node: PgNode) -> None:
        session = Session(
            self.settings, node.name, max(self.timeout, 2.0), watchdog=self.watchdog, op_timeout=self.timeout
        )
        pacer = Pacer(self.interval, self.stop)
        try:
            while not self.stop.is_set():
                self.ledger.append(sample_node(node, session, self.timeout))
                with self._lock:
                    self.count += 1
                pacer.wait()
        finally:
            session.close()
