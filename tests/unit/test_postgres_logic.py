"""PostgreSQL client logic without a database: the deadline watchdog
(cancel, then cut), per-node calls in parallel, and write_check's verdict
on a COMMIT that waited past its deadline or was not replicated."""

import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

import psycopg
import pytest

from chaosha.clients import postgres as client
from chaosha.clients.postgres import GuardedConnection, Watchdog, each_node, unsynced
from chaosha.config import PgNode, load
from chaosha.postgres import probes

SYNC_WARNING = "canceling wait for synchronous replication due to user request"


def settings(tmp_path: Path, nodes: str = "pg1,pg2,pg3") -> Any:
    return load(
        {
            "CHAOSHA_STATE_DIR": str(tmp_path),
            "CHAOSHA_ENV_FILE": str(tmp_path / "none"),
            "CHAOSHA_PG_NODES": nodes,
            "CHAOSHA_TIMEOUT": "2",
        }
    )


class FakeConn:
    def __init__(self, fd: int) -> None:
        self.pgconn = SimpleNamespace(socket=fd)
        self.cancelled_at: List[float] = []

    def cancel_safe(self, timeout: float) -> None:
        self.cancelled_at.append(time.monotonic())


def test_watchdog_cancels_first_then_cuts_the_socket() -> None:
    ours, theirs = socket.socketpair()
    conn = FakeConn(ours.fileno())
    dog = Watchdog(tick=0.01, grace=0.3)
    started = time.monotonic()
    token = dog.arm(conn, 0.2)
    assert ours.recv(10) == b""  # EOF only because the watchdog shut it down
    cut = time.monotonic() - started
    assert conn.cancelled_at and 0.15 < conn.cancelled_at[0] - started < 0.4
    assert 0.45 < cut < 1.5  # the cancel had its grace before the cut
    assert dog.disarm(token) is True
    ours.close()
    theirs.close()


def test_a_frozen_cancel_does_not_stall_other_deadlines() -> None:
    class Stuck(FakeConn):
        def cancel_safe(self, timeout: float) -> None:
            time.sleep(5)

    a, b = socket.socketpair()
    c, d = socket.socketpair()
    dog = Watchdog(tick=0.01, grace=0.1)
    dog.arm(Stuck(a.fileno()), 0.1)
    dog.arm(FakeConn(c.fileno()), 0.3)
    started = time.monotonic()
    assert c.recv(10) == b""
    assert time.monotonic() - started < 1.5
    for s in (a, b, c, d):
        s.close()


def test_deadline_block_arms_once_and_marks_the_hit() -> None:
    ours, theirs = socket.socketpair()
    fake: Any = FakeConn(ours.fileno())
    fake.watchdog = Watchdog(tick=0.01, grace=0.05)
    fake._guarded = False
    fake.deadline_hit = False
    with GuardedConnection.deadline(fake, 0.1):
        with GuardedConnection.deadline(fake, 60):  # nested: the outer deadline rules
            assert ours.recv(10) == b""
    assert fake.deadline_hit is True and fake._guarded is False
    ours.close()
    theirs.close()


def test_unsynced_warning() -> None:
    assert unsynced(SYNC_WARNING)
    assert not unsynced('relation "chaosha_probe" already exists, skipping')


def test_each_node_runs_in_parallel(tmp_path: Path) -> None:
    def slow(node: PgNode) -> str:
        time.sleep(0.6)
        return node.name.upper()

    started = time.monotonic()
    assert each_node(settings(tmp_path), slow) == {"pg1": "PG1", "pg2": "PG2", "pg3": "PG3"}
    assert time.monotonic() - started < 1.1  # not 3 x 0.6 s


def test_identities_and_node_roles_ask_all_nodes_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Dict[str, float] = {}

    def fake_connect(s: Any, target: str, timeout: float = 0, **kw: Any) -> Any:
        calls[target] = time.monotonic()
        time.sleep(0.6)
        raise psycopg.OperationalError(f"{target}: timeout expired")

    monkeypatch.setattr(client, "connect", fake_connect)
    started = time.monotonic()
    found = client.identities(settings(tmp_path), 1)
    assert time.monotonic() - started < 1.1
    assert set(found) == {"pg1", "pg2", "pg3"} and all("error" in v for v in found.values())
    assert max(calls.values()) - min(calls.values()) < 0.3
    monkeypatch.setattr(
        probes,
        "identities",
        lambda s, t: {
            "pg1": {"address": "a", "in_recovery": False, "timeline": 4, "member": "pg1"},
            "pg2": {"error": "timeout expired"},
        },
    )
    roles = probes.node_roles(configuration={"CHAOSHA_ENV_FILE": str(tmp_path / "none")})
    assert roles["primaries"] == ["pg1"] and roles["nodes"]["pg2"]["role"] == "unreachable"
    assert roles["nodes"]["pg1"] == {"role": "primary", "timeline": 4, "member": "pg1"}


class FakeWriteConn:
    """What write_check sees of a connection: notices, deadline_hit."""

    def __init__(self, notice: str = "", late: float = 0.0, hit: bool = False) -> None:
        self.notices: List[str] = []
        self.deadline_hit = hit
        self.notice, self.late = notice, late

    def __enter__(self) -> "FakeWriteConn":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def deadline(self, seconds: float) -> Any:
        return GuardedConnection.deadline(SimpleNamespace(_guarded=True), seconds)

    def execute(self, sql: str, params: Any = None) -> None:
        if sql.startswith("INSERT"):
            time.sleep(self.late)
            if self.notice:
                self.notices.append(self.notice)


def check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, conn: Any, timeout: float) -> Any:
    def fake_connect(*a: Any, **kw: Any) -> Any:
        if isinstance(conn, Exception):
            raise conn
        return conn

    monkeypatch.setattr(probes, "connect", fake_connect)
    cfg = {"CHAOSHA_ENV_FILE": str(tmp_path / "none")}
    return probes.write_check("rw", timeout, configuration=cfg), probes.write_succeeds("rw", configuration=cfg)


def test_write_check_outcomes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, ok = check(monkeypatch, tmp_path, FakeWriteConn(), 2)
    assert result["ok"] is True and result["synchronous"] is True and ok is True
    # The watchdog cancelled a COMMIT waiting for the standby: committed locally only.
    result, ok = check(monkeypatch, tmp_path, FakeWriteConn(SYNC_WARNING, hit=True), 2)
    assert result["ok"] is False and result["synchronous"] is False and ok is False
    assert result["waited_past_deadline"] is True and "synchronous" in result["warning"]
    # Slower than its deadline, even without the watchdog noticing: not a success.
    result, _ = check(monkeypatch, tmp_path, FakeWriteConn(late=0.4), 0.2)
    assert result["ok"] is False and result["waited_past_deadline"] is True
    result, ok = check(monkeypatch, tmp_path, psycopg.OperationalError("refused"), 2)
    assert result["ok"] is False and result["error"] == "refused" and ok is False
    assert set(result) == {"ok", "took_s", "waited_past_deadline", "synchronous", "warning", "error"}


def test_write_check_is_discoverable() -> None:
    from chaoslib.discovery.discover import discover_probes

    found = {p["name"]: p for p in discover_probes("chaosha.postgres.probes")}
    assert "write_check" in found and "write_succeeds" in found
    assert [a["name"] for a in found["write_check"]["arguments"]][:2] == ["target", "timeout_s"]
    assert "write_check" in probes.__all__


def test_threads_left_behind_are_daemons() -> None:
    Watchdog()
    assert all(t.daemon for t in threading.enumerate() if t.name in ("watchdog", "pg-cancel"))
