"""The ZooKeeper client factory: a kazoo client to the whole ensemble and
four-letter words to one member, every call under a deadline
(``CHAOSHA_TIMEOUT``).

The ensemble is ``CHAOSHA_ZK_NODES`` (``zk1,zk2,zk3``), each member on its
published port ``CHAOSHA_ZK<n>_PORT`` of ``CHAOSHA_HOST``.  Every
connection is TLS with chaosha's client certificate (identity
``CN=chaosha``, READ on Patroni's znodes: :mod:`chaosha.clients.zk_tls`).
"""

import re
import socket
import ssl
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Tuple

from chaoslib.exceptions import ActivityFailed
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import ZnodeStat

from chaosha.clients import zk_tls
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
    "tls_problem",
    "patroni_path",
]

WHITELIST_HINT = "is not executed because it is not in the whitelist"


def hosts(settings: Settings) -> str:
    """The kazoo connection string: ``127.0.0.1:12181,127.0.0.1:22181,...``."""
    return ",".join(f"{n.host}:{n.port}" for n in settings.zk_nodes)


def kazoo_client(
    settings: Settings,
    client_id: Optional[Tuple[int, bytes]] = None,
    identity: str = "chaosha",
    session_s: float = 0,
    default_acl: Optional[List[Any]] = None,
) -> KazooClient:
    """A kazoo client to the ensemble, not started (see :func:`start`).

    ``client_id`` = ``(session id, password)`` reattaches to an existing
    session.  Session timeout (``session_s``, default) and command retries
    are bounded by ``settings.timeout``; ``identity`` names the client
    certificate (:func:`chaosha.clients.zk_tls.client_files`),
    ``default_acl`` the ACL of the znodes it creates.  ActivityFailed when
    the TLS credentials are missing.
    """
    ca, cert, key = zk_tls.client_files(settings, identity)
    return KazooClient(
        hosts=hosts(settings),
        timeout=session_s or settings.timeout,
        default_acl=default_acl,
        client_id=client_id,
        use_ssl=True,
        ca=ca,
        certfile=cert,
        keyfile=key,
        verify_certs=True,
        check_hostname=True,
        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0},
        command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1.0, "deadline": settings.timeout},
    )


def start(zk: KazooClient, settings: Settings) -> None:
    """Connect ``zk`` within ``settings.timeout`` or raise ``ActivityFailed``."""
    try:
        zk.start(timeout=settings.timeout)
    except KazooTimeoutError:
        zk.stop()
        zk.close()
        raise ActivityFailed(
            f"cannot connect to ZooKeeper ({hosts(settings)}) within {settings.timeout:g}s: "
            f"{tls_problem(settings) or 'is a quorum serving? check chaosha.zookeeper.probes.ensemble_status'}"
        ) from None


def tls_problem(settings: Settings) -> Optional[str]:
    """Why a TLS handshake with the first reachable member fails (its
    certificate, ours), or None when one succeeds or none is reachable."""
    context = zk_tls.client_context(settings)
    timeout = min(settings.timeout, 3.0)
    for node in settings.zk_nodes:
        try:
            with socket.create_connection((node.host, node.port), timeout=timeout) as raw:
                with context.wrap_socket(raw, server_hostname=node.host) as sock:
                    sock.settimeout(timeout)
                    sock.sendall(b"ruok")
                    sock.recv(16)
            return None
        except ssl.SSLError as exc:
            return (
                f"TLS with {node.name} ({node.host}:{node.port}) failed: {exc}; the stack's "
                f"credentials ({settings.get(zk_tls.TLS_DIR_KEY)}) do not match the running "
                "containers: run `chaosha stack up`"
            )
        except OSError:
            continue
    return None


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


def _read_all(sock: ssl.SSLSocket, deadline: Deadline, chunks: List[bytes]) -> None:
    """Read until the server closes (ZooKeeper does not send close_notify)."""
    while True:
        if deadline.expired():
            raise TimeoutError("timed out")
        sock.settimeout(max(deadline.remaining(), 0.001))
        try:
            data = sock.recv(4096)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return
        if not data:
            return
        chunks.append(data)


def four_letter_word(node: ZkNode, word: str, timeout: float, tls: ssl.SSLContext) -> str:
    """Send ``word`` (``srvr``, ``mntr``, ``ruok``) to ``node`` over TLS
    (``tls``: :func:`chaosha.clients.zk_tls.client_context`); its whole answer.

    Raises ``ActivityFailed`` naming the node when it cannot be reached,
    refuses the handshake or does not answer within ``timeout`` seconds,
    or when the word is not in the server's ``4lw.commands.whitelist``.
    """
    deadline = Deadline(timeout)
    chunks: List[bytes] = []
    try:
        with socket.create_connection((node.host, node.port), timeout=timeout) as raw:
            raw.settimeout(max(deadline.remaining(), 0.001))
            with tls.wrap_socket(raw, server_hostname=node.host) as sock:
                sock.sendall(word.encode("ascii"))
                _read_all(sock, deadline, chunks)
    except ssl.SSLError as exc:
        raise ActivityFailed(
            f"ZooKeeper {node.name} ({node.host}:{node.port}): TLS handshake failed for {word!r}: {exc}; "
            "are the stack's credentials those its containers run with? run `chaosha stack up`"
        ) from None
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
