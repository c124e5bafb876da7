"""What the arbiter looks at, every call under a deadline: the leader and
member keys, the leader's container (found through the project's Compose
lookup, never by name), whether the leader answers (Patroni's REST API,
PostgreSQL's protocol), whether ZooKeeper sees its session talking (4lw
``cons`` on every member) and the synchronous standby (``/sync``)."""

import json
import re
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Dict, Optional, Tuple

import docker
import requests
from chaoslib.exceptions import ActivityFailed
from docker.models.containers import Container
from kazoo.client import KazooClient

from chaosha.arbiter.decide import Leader
from chaosha.clients import docker as docker_client
from chaosha.clients import patroni, zookeeper
from chaosha.config import PgNode, Settings

__all__ = [
    "read_leader",
    "sync_standby",
    "ContainerWatch",
    "answers",
    "replica_status",
    "last_responses",
    "Talking",
    "parse_cons",
]

_CONS = re.compile(r"sid=0x([0-9a-fA-F]+).*?lresp=(\d+)")


def read_leader(zk: KazooClient, settings: Settings, timeout: float) -> Optional[Leader]:
    """The leader key (data, owner) and its member key's version; None
    when there is no leader key."""
    found = zookeeper.read_znode(zk, zookeeper.patroni_path(settings, "leader"), timeout)
    if found is None:
        return None
    member = found[0].decode("utf-8", "replace")
    version = -1
    own = zookeeper.read_znode(zk, zookeeper.patroni_path(settings, "members", member), timeout)
    if own is not None and own[1].ephemeralOwner == found[1].ephemeralOwner:
        version = own[1].version
    return Leader(member, found[1].ephemeralOwner, version)


def sync_standby(zk: KazooClient, settings: Settings, leader: str, timeout: float) -> str:
    """The first member ``/sync`` names as synchronous standby other than
    ``leader`` ("" when none, or ``/sync`` names another leader)."""
    found = zookeeper.read_znode(zk, zookeeper.patroni_path(settings, "sync"), timeout)
    if found is None:
        return ""
    try:
        body = json.loads(found[0] or b"{}")
    except ValueError:
        return ""
    if not isinstance(body, dict) or body.get("leader") != leader:
        return ""
    names = [n.strip() for n in str(body.get("sync_standby") or "").split(",") if n.strip()]
    return next((n for n in names if n != leader), "")


class ContainerWatch:
    """The Docker state of one member's container.  The container is found
    by the project's Compose lookup (:func:`chaosha.clients.docker.find`:
    a look-alike is never returned) and then inspected, with ``timeout``
    per call, until the member changes."""

    def __init__(self, settings: Settings, timeout: float) -> None:
        self.settings = Settings({**settings.values, "CHAOSHA_TIMEOUT": f"{timeout:g}"})
        self.member = ""
        self.found: Optional[Container] = None

    def container(self, member: str) -> Optional[Container]:
        """The member's container (looked up again when the member changed
        or the last inspect failed); ActivityFailed when Docker cannot be asked."""
        if member != self.member or self.found is None:
            self.member, self.found = member, docker_client.find(self.settings, member)
        return self.found

    def state(self, member: str) -> str:
        """``running``, ``paused``, ``exited``, ... ; ``missing`` (no such
        container in the project), ``unknown`` (Docker did not answer)."""
        try:
            found = self.container(member)
            if found is None:
                return "missing"
            found.reload()
        except docker.errors.NotFound:
            self.found = None
            return "missing"
        except (ActivityFailed, docker.errors.DockerException, requests.RequestException):
            self.found = None
            return "unknown"
        state = found.attrs.get("State") or {}
        return "paused" if state.get("Paused") else str(state.get("Status") or "unknown")


def _postgres_answers(node: PgNode, timeout: float) -> bool:
    """PostgreSQL's protocol answers an SSLRequest (one byte: S or N).  A
    bare TCP connect is not enough: the kernel (or docker-proxy) completes
    the handshake for a frozen process."""
    try:
        with socket.create_connection((node.host, node.port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")
            return sock.recv(1) in (b"S", b"N")
    except OSError:
        return False


def replica_status(node: PgNode, timeout: float) -> Dict[str, object]:
    """``GET /patroni`` of ``node`` ({} when it does not answer with JSON)."""
    try:
        return patroni.status(node, timeout)
    except (requests.RequestException, ValueError):
        return {}


def answers(node: PgNode, timeout: float, pool: Optional[ThreadPoolExecutor] = None) -> bool:
    """True when the node's REST API or its PostgreSQL answers within
    ``timeout``; both asked at once when given a ``pool`` (2 workers)."""
    if pool is None:
        return bool(replica_status(node, timeout)) or _postgres_answers(node, timeout)
    asked = [
        pool.submit(lambda: bool(replica_status(node, timeout))),
        pool.submit(_postgres_answers, node, timeout),
    ]
    try:
        return any(done.result() for done in as_completed(asked, timeout=timeout * 2 + 1))
    except FuturesTimeout:  # each call has its own deadline: not expected
        return False


def parse_cons(text: str) -> Dict[int, int]:
    """Session id -> last response (ZooKeeper's monotonic ms) from a ``cons`` answer."""
    return {int(sid, 16): int(lresp) for sid, lresp in _CONS.findall(text)}


def last_responses(
    settings: Settings, session: int, tls: ssl.SSLContext, timeout: float
) -> Optional[Dict[str, int]]:
    """ZooKeeper member -> its ``lresp`` for ``session`` (members that do
    not list the session are left out); None when a member could not be
    asked.  ``lresp`` is the server's *monotonic* clock (Java's nanoTime in
    ms), not the epoch: only its changes mean something (:class:`Talking`)."""
    found: Dict[str, int] = {}
    for node in settings.zk_nodes:
        try:
            sessions = parse_cons(zookeeper.four_letter_word(node, "cons", timeout, tls))
        except ActivityFailed:
            return None
        if session in sessions:
            found[node.name] = sessions[session]
    return found


class Talking:
    """Whether a session talks to ZooKeeper, from successive ``cons``
    samples and our own clock only: it talks while some member's ``lresp``
    for it changed less than ``recent_s`` ago (a first sample counts as a
    change).  A healthy Patroni gets a response at least every ~1 s (its
    loop, kazoo's pings), so ``recent_s`` 2 s of no change on every member
    means its session is silent."""

    def __init__(self, recent_s: float) -> None:
        self.recent_s = recent_s
        self.seen: Dict[Tuple[int, str], Tuple[int, float]] = {}  # (session, member) -> (lresp, first seen)

    def update(
        self, session: int, sample: Optional[Dict[str, int]], now: Optional[float] = None
    ) -> Optional[bool]:
        """Take a sample (:func:`last_responses`); True/False/None as
        :attr:`chaosha.arbiter.decide.Observation.zk_talking`."""
        now = time.monotonic() if now is None else now
        if sample is None:
            return None
        talking = False
        for member, lresp in sample.items():
            value, since = self.seen.get((session, member), (None, now))
            if value != lresp:
                since = now
            self.seen[(session, member)] = (lresp, since)
            talking = talking or now - since < self.recent_s
        return talking

    def forget(self, session: int) -> None:
        for key in [k for k in self.seen if k[0] == session]:
            del self.seen[key]
