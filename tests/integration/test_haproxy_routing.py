"""HAProxy against the real stack, watched from its stats CSV at high
frequency: a server is UP in a backend only after its own checks passed."""

import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from chaosha.clients import docker as containers
from chaosha.clients import haproxy as stats
from chaosha.clients.patroni import node_status, wait_for_primary
from chaosha.clients.postgres import connect
from chaosha.config import Settings, load
from chaosha.docker import actions
from chaosha.patroni.probes import leader, wait_for_healthy
from chaosha.timing import wait_until

pytestmark = pytest.mark.integration

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d ")


class Poller:
    """Calls ``sample()`` every ``every_s`` seconds in a thread, keeping
    ``(time, result)``; a failed call is kept as None."""

    def __init__(self, sample: Callable[[], Any], every_s: float = 0.02) -> None:
        self.sample = sample
        self.every_s = every_s
        self.seen: List[Tuple[float, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                value = self.sample()
            except Exception:  # noqa: BLE001 - an unanswered sample is data
                value = None
            self.seen.append((time.time(), value))
            self._stop.wait(self.every_s)

    def __enter__(self) -> "Poller":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)


def servers(settings: Settings) -> Callable[[], Dict[str, Dict[str, str]]]:
    def sample() -> Dict[str, Dict[str, str]]:
        rows = stats.fetch(settings, 1)
        return {b: stats.backend_servers(rows, b) for b in ("primary", "replicas")}

    return sample


def status_of(seen: List[Tuple[float, Any]], backend: str, server: str) -> List[Tuple[float, str]]:
    return [(t, v[backend].get(server, "")) for t, v in seen if v]


def replica_of(settings: Settings, cfg: Dict[str, str]) -> str:
    return next(n.name for n in settings.pg_nodes if n.name != leader(configuration=cfg))


def up_in(settings: Settings, backend: str, server: str) -> bool:
    return stats.backend_servers(stats.fetch(settings, 2), backend).get(server, "").startswith("UP")


def test_restarted_replica_is_never_up_in_the_primary_backend(healthy):
    cfg = healthy.configuration
    settings = load(cfg)
    replica = replica_of(settings, cfg)
    wait_until(lambda: up_in(settings, "replicas", replica), 60, 0.2, f"{replica} UP in replicas")
    found = containers.container(settings, replica)
    with Poller(servers(settings)) as watch:
        time.sleep(1)
        # Stopped long enough for its name to stop resolving (Docker's DNS
        # drops a stopped container), then started: the path on which
        # HAProxy's resolver used to mark it UP before any check.
        found.stop(timeout=10)
        wait_until(lambda: not up_in(settings, "replicas", replica), 30, 0.1, f"{replica} DOWN in replicas")
        time.sleep(4)
        found.start()
        wait_for_healthy(120, configuration=cfg)
        wait_until(lambda: up_in(settings, "replicas", replica), 60, 0.1, f"{replica} UP in replicas again")
        time.sleep(2)
    primary = status_of(watch.seen, "primary", replica)
    replicas = status_of(watch.seen, "replicas", replica)
    assert len(primary) > 100, "the stats page was hardly sampled"
    assert any(not s.startswith("UP") for _, s in replicas) and replicas[-1][1].startswith("UP"), replicas[-5:]
    wrong = [(t, s) for t, s in primary if s.startswith("UP")]
    assert wrong == [], f"{replica} UP in the read-write backend at {wrong[:5]}"
    log = containers.container(settings, "haproxy").logs(stderr=False).decode()
    assert "resolves again" not in log, log[-2000:]


def write_forever(settings: Settings) -> Callable[[], None]:
    """One insert per call through the read-write port (errors ignored), so
    the frozen leader holds WAL its standby never confirmed: it must rewind."""
    state: Dict[str, Any] = {}

    def write() -> None:
        try:
            if state.get("conn") is None:
                state["conn"] = connect(settings, "rw", 2)
                state["conn"].execute("CREATE TABLE IF NOT EXISTS chaosha_thaw (t timestamptz)")
            state["conn"].execute("INSERT INTO chaosha_thaw VALUES (clock_timestamp())")
        except Exception:
            state.pop("conn", None)
            raise

    return write


def test_thawed_old_leader_is_listed_for_reads_only_once_it_streams(healthy):
    cfg = healthy.configuration
    settings = load(cfg)
    old = leader(configuration=cfg)
    node = next(n for n in settings.pg_nodes if n.name == old)

    def patroni() -> Optional[Dict[str, Any]]:
        return node_status(settings, node, 0.5)

    with Poller(servers(settings)) as watch, Poller(write_forever(settings), 0.005):
        time.sleep(1)
        actions.pause_container(old, configuration=cfg)
        try:
            wait_for_primary(settings, 120, exclude=old)
        finally:
            with Poller(patroni, 0.02) as api:
                thawed = time.time()
                actions.unpause_container(old, configuration=cfg)
                wait_for_healthy(180, configuration=cfg)
                wait_until(lambda: up_in(settings, "replicas", old), 60, 0.1, f"{old} UP in replicas")
    ups = [t for t, s in status_of(watch.seen, "replicas", old) if t >= thawed and s.startswith("UP")]
    assert ups, "the old leader never came back into the read-only backend"
    streaming = [
        t
        for t, body in api.seen
        if body and body.get("role") == "replica" and body.get("replication_state") == "streaming"
    ]
    assert streaming, "Patroni never reported the old leader streaming"
    # Listed for reads only after it streamed from the new leader: never
    # while it was a primary that lost the lock, or a standby about to rewind.
    assert ups[0] >= streaming[0], (ups[0] - thawed, streaming[0] - thawed)
    during = [body for t, body in api.seen if t <= ups[0] and body]
    assert any(b.get("role") != "replica" or b.get("replication_state") != "streaming" for b in during), (
        "the old leader was never seen outside streaming: the fault did not happen"
    )


def test_haproxy_runs_unprivileged_and_logs_with_timestamps(healthy):
    settings = load(healthy.configuration)
    found = containers.container(settings, "haproxy")
    top = found.top(ps_args="-o uid,pid,comm")
    uid = top["Titles"].index("UID")
    processes = [p for p in top["Processes"] if "haproxy" in p[-1]]
    assert processes, top
    assert all(p[uid] not in ("0", "root") for p in processes), top
    status = found.exec_run(["cat", "/proc/1/status"]).output.decode()
    assert re.search(r"^Uid:\s+([1-9]\d*)\s", status, re.M), status
    lines = [line for line in found.logs(stdout=True, stderr=False).decode().splitlines() if line.strip()]
    assert lines, "HAProxy logged nothing on stdout (a server coming UP is logged)"
    untimed = [line for line in lines if not ISO.match(line)]
    assert untimed == [], untimed[:5]


def _address(found: Any) -> str:
    found.reload()
    return next(iter(found.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]


def test_haproxy_follows_a_node_whose_address_changed_after_a_restart(healthy):
    """CI: a nemesis run's node came back on a new address while HAProxy
    kept checking the old one for minutes (``hold obsolete 1d`` kept the old
    record, and HAProxy keeps a server's address while its record is held).
    Here a decoy takes the stopped replica's address, so it must come back
    on another: HAProxy must list it again, on its new address."""
    cfg = healthy.configuration
    settings = load(cfg)
    replica = replica_of(settings, cfg)
    wait_until(lambda: up_in(settings, "replicas", replica), 60, 0.2, f"{replica} UP in replicas")
    found = containers.container(settings, replica)
    old = _address(found)
    network = next(iter(found.attrs["NetworkSettings"]["Networks"]))
    engine = containers.client(settings, replica)
    decoys: List[Any] = []
    try:
        found.stop(timeout=10)
        for _ in range(12):  # Docker hands out the lowest free address: fill up to the replica's
            decoys.append(
                engine.containers.run(
                    settings.tools_image,
                    entrypoint=["sleep", "300"],
                    detach=True,
                    network=network,
                    labels={containers.SIDECAR_LABEL: "address-decoy"},
                )
            )
            if _address(decoys[-1]) == old:
                break
        else:
            pytest.skip(f"no decoy was given {old}: Docker's allocator did not hand it out again")
        found.start()
        new = _address(found)
        assert new != old, (old, new)
        wait_for_healthy(120, configuration=cfg)
        wait_until(lambda: up_in(settings, "replicas", replica), 60, 0.5, f"{replica} UP in replicas on {new}")
    finally:
        for decoy in decoys:
            decoy.remove(force=True)
        found.reload()
        if found.status != "running":
            found.start()
