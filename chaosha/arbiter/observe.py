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
from typing import Dict, List, Optional

import docker
import requests
from chaoslib.exceptions import ActivityFailed
from docker.models.containers import Container
from kazoo.client import KazooClient

from chaosha.arbiter.decide import Leader
from chaosha.clients import docker as docker_client
from chaosha.clients import zookeeper
from chaosha.config import PgNode, Settings

__all__ = [
    "read_leader",
    "sync_standby",
    "ContainerWatch",
    "answers",
    "replica_status",
    "zk_talking",
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
        body = requests.get(f"{node.api_url}/patroni", timeout=(timeout, timeout)).json()
    except (requests.RequestException, ValueError):
        return {}
    return dict(body) if isinstance(body, dict) else {}


def answers(node: PgNode, timeout: float) -> bool:
    """True when the node's REST API or its PostgreSQL answers within ``timeout``."""
    return bool(replica_status(node, timeout)) or _postgres_answers(node, timeout)


def parse_cons(text: str) -> Dict[int, int]:
    """Session id -> last response (epoch ms) from a ``cons`` answer."""
    return {int(sid, 16): int(lresp) for sid, lresp in _CONS.findall(text)}


def zk_talking(
    settings: Settings, session: int, recent_s: float, tls: ssl.SSLContext, timeout: float
) -> Optional[bool]:
    """True when a ZooKeeper member lists ``session`` with a response in
    the last ``recent_s`` seconds; False when every member answered and
    none does; None when a member could not be asked."""
    now_ms = time.time() * 1000
    unanswered: List[str] = []
    for node in settings.zk_nodes:
        try:
            sessions = parse_cons(zookeeper.four_letter_word(node, "cons", timeout, tls))
        except ActivityFailed:
            unanswered.append(node.name)
            continue
        lresp = sessions.get(session)
        if lresp is not None and now_ms - lresp < recent_s * 1000:
            return True
    return None if unanswered else False
