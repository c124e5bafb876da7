"""The ZooKeeper client factory: a kazoo client to the whole ensemble and
four-letter words to one member, every call under a deadline
(``CHAOSHA_TIMEOUT``).

The ensemble is ``CHAOSHA_ZK_NODES`` (``zk1,zk2,zk3``), each member on its
published port ``CHAOSHA_ZK<n>_PORT`` of ``CHAOSHA_HOST``.
"""

import re
import socket
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Tuple

from chaoslib.exceptions import ActivityFailed
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import ZnodeStat

from chaosha.config import Settings, ZkNode
from chaosha.timing import Deadline

__all__ = [
    "hosts",
    "kazoo_client",
    "start",
    "connected",
    "read_znode",
    "children",
    "four_letter_word",
    "patroni_path",
]

WHITELIST_HINT = "is not executed because it is not in the whitelist"


def hosts(settings: Settings) -> str:
    """The kazoo connection string: ``127.0.0.1:12181,127.0.0.1:22181,...``."""
    return ",".join(f"{n.host}:{n.port}" for n in settings.zk_nodes)


def kazoo_client(settings: Settings, client_id: Optional[Tuple[int, bytes]] = None) -> KazooClient:
    """A kazoo client to the ensemble, not started (see :func:`start`).

    ``client_id`` = ``(session id, password)`` reattaches to an existing
    session.  Session timeout and command retries are bounded by
    ``settings.timeout``.
    """
    return KazooClient(
        hosts=hosts(settings),
        timeout=settings.timeout,
        client_id=client_id,
        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0},
        command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1.0, "deadline": settings.timeout},
    )


def start(zk: KazooClient, settings: Settings) -> None:
    """Connect ``zk`` within ``settings.timeout`` or raise ``ActivityFailed``."""
    try:
        zk.start(timeout=settings.timeout)
    except KazooTimeoutError:
        raise ActivityFailed(
            f"cannot connect to ZooKeeper ({hosts(settings)}) within {settings.timeout:g}s: "
            "is a quorum serving? check chaosha.zookeeper.probes.ensemble_status"
        ) from None


@contextmanager
def connected(settings: Settings) -> Iterator[KazooClient]:
    """A connected kazoo client, stopped (its session closed) on exit."""
    zk = kazoo_client(settings)
    start(zk, settings)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def _wait(async_result: Any, timeout: float, what: str) -> Any:
    try:
        return async_result.get(timeout=timeout)
    except KazooTimeoutError:
        raise ActivityFailed(f"ZooKeeper did not answer {what} within {timeout:g}s") from None


def read_znode(zk: KazooClient, path: str, timeout: float) -> Optional[Tuple[bytes, ZnodeStat]]:
    """``(data, stat)`` of ``path``, or None when it does not exist."""
    try:
        data, stat = _wait(zk.get_async(path), timeout, f"get {path}")
        return data, stat
    except NoNodeError:
        return None
    except KazooException as exc:
        raise ActivityFailed(f"reading znode {path} failed: {exc!r}") from None


def children(zk: KazooClient, path: str, timeout: float) -> List[str]:
    """Sorted children of ``path`` ([] when it does not exist)."""
    try:
        return sorted(_wait(zk.get_children_async(path), timeout, f"ls {path}"))
    except NoNodeError:
        return []
    except KazooException as exc:
        raise ActivityFailed(f"listing znode {path} failed: {exc!r}") from None


def patroni_path(settings: Settings, *parts: str) -> str:
    """Patroni's znode path, built as Patroni does: ``/service/chaosha/leader``."""
    joined = "/".join(
        ["", settings.get("CHAOSHA_PATRONI_NAMESPACE"), settings.get("CHAOSHA_PATRONI_SCOPE"), *parts]
    )
    return re.sub("/+", "/", joined).rstrip("/") or "/"


def four_letter_word(node: ZkNode, word: str, timeout: float) -> str:
    """Send ``word`` (``srvr``, ``mntr``, ``ruok``) to ``node``; its whole answer.

    Raises ``ActivityFailed`` naming the node when it cannot be reached or
    does not answer within ``timeout`` seconds, or when the word is not in
    the server's ``4lw.commands.whitelist``.
    """
    deadline = Deadline(timeout)
    chunks: List[bytes] = []
    try:
        with socket.create_connection((node.host, node.port), timeout=timeout) as sock:
            sock.sendall(word.encode("ascii"))
            while True:
                if deadline.expired():
                    raise TimeoutError("timed out")
                sock.settimeout(max(deadline.remaining(), 0.001))
                data = sock.recv(4096)
                if not data:
                    break
                chunks.append(data)
    except OSError as exc:
        raise ActivityFailed(
            f"ZooKeeper {node.name} ({node.host}:{node.port}) did not answer {word!r}: "
            f"{exc or type(exc).__name__}; is its container running?"
        ) from None
    text = b"".join(chunks).decode("utf-8", "replace")
    if WHITELIST_HINT in text:
        raise ActivityFailed(
            f"ZooKeeper {node.name} refuses {word!r}: add it to 4lw.commands.whitelist "
            "(compose/zookeeper/entrypoint.sh)"
        )
    if not text:
        raise ActivityFailed(
            f"ZooKeeper {node.name} ({node.host}:{node.port}) closed the connection without "
            f"answering {word!r}: is it still starting?"
        )
    return text
