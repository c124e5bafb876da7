"""ZooKeeper requires authentication (issue #12): an adversary on the
published ports (or on the stack's network) cannot read or change Patroni's
znodes, and the attack of the issue (write /failover, delete /status,
rewrite /config) changes nothing.  chaosha's own identity reads, never writes.
"""

import json
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NotEmptyError
from kazoo.handlers.threading import KazooTimeoutError

from chaosha.clients import zk_tls
from chaosha.clients import zookeeper as client
from chaosha.config import Settings
from chaosha.patroni.actions import switchover
from chaosha.patroni.probes import wait_for_healthy
from chaosha.zookeeper import probes

pytestmark = pytest.mark.integration

EXPECTED_ACL = {
    ("x509", "CN=patroni", "ALL"),
    ("x509", "CN=chaosha", "READ"),
    ("x509", "CN=chaosha-arbiter", "READ,DELETE"),
}


File = Optional[str]


def _kazoo(settings: Settings, ca: File, cert: File, key: File, tls: bool = True) -> Any:
    return KazooClient(
        hosts=client.hosts(settings),
        timeout=5,
        use_ssl=tls,
        ca=ca,
        certfile=cert,
        keyfile=key,
        verify_certs=True,
        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5},
        command_retry={"max_tries": 0},
    )


def _cannot_connect(zk: KazooClient) -> bool:
    try:
        zk.start(timeout=5)
    except KazooTimeoutError:
        return True
    finally:
        zk.stop()
        zk.close()
    return False


def _raw_word(host: str, port: int, context: Optional[ssl.SSLContext]) -> bytes:
    """What the server answers ``ruok`` with (b"" when it closes, refuses or
    says nothing: a TLS port waits for a whole record header)."""
    try:
        with socket.create_connection((host, port), timeout=5) as raw:
            raw.settimeout(5)
            sock = context.wrap_socket(raw, server_hostname=host) if context else raw
            sock.sendall(b"ruok")
            return sock.recv(64)
    except (ssl.SSLError, ConnectionError, TimeoutError):
        return b""


def _mint(settings: Settings, folder: Path, cn: str) -> Dict[str, str]:
    """A client certificate ``CN=cn`` signed by the stack's own CA (as an
    insider who stole nothing but the right to ask the CA would hold)."""
    ca_dir = Path(settings.get(zk_tls.TLS_DIR_KEY))
    (folder / "ext.cnf").write_text("[c]\nextendedKeyUsage = clientAuth\n")
    for args in (
        ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
         "-keyout", "k.pem", "-out", "r.csr"],
        ["x509", "-req", "-in", "r.csr", "-CA", str(ca_dir / "ca.pem"), "-CAkey", str(ca_dir / "ca.key"),
         "-set_serial", "7", "-days", "1", "-extfile", "ext.cnf", "-extensions", "c", "-out", "c.pem"],
    ):  # fmt: skip
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=30)
    return {"ca": str(ca_dir / "ca.pem"), "cert": str(folder / "c.pem"), "key": str(folder / "k.pem")}


def _walk(zk: KazooClient, path: str) -> List[str]:
    found = [path]
    for child in zk.get_children(path):
        found += _walk(zk, f"{path.rstrip('/')}/{child}")
    return found


@pytest.fixture(scope="module")
def znodes(stack: Any) -> Iterator[List[str]]:
    """Every znode under /service/, walked by chaosha's (authorised) client;
    a switchover first when /failover does not exist yet, so that it does."""
    settings = stack.settings
    failover = client.patroni_path(settings, "failover")
    with client.connected(settings) as zk:
        missing = zk.exists(failover) is None
    if missing:
        switchover(timeout_s=90, configuration=stack.configuration)
        wait_for_healthy(120, configuration=stack.configuration)
    with client.connected(settings) as zk:
        found = _walk(zk, "/service")
    yield found


def test_the_walk_finds_patroni_s_whole_tree(stack: Any, znodes: List[str]) -> None:
    base = client.patroni_path(stack.settings)
    names = {path[len(base) + 1 :] for path in znodes if path.startswith(base + "/")}
    for expected in ("leader", "members", "members/pg1", "members/pg2", "config", "status", "failover",
                     "initialize", "history", "sync"):  # fmt: skip
        assert expected in names, (expected, sorted(names))


def test_every_znode_is_patroni_s_alone_and_chaosha_reads(stack: Any, znodes: List[str]) -> None:
    """The ACL of /service and of everything under it, parents included."""
    with client.connected(stack.settings) as zk:
        for path in znodes:
            acls, _ = zk.get_acls(path)
            found = {(a.id.scheme, a.id.id, ",".join(a.acl_list)) for a in acls}
            assert found == EXPECTED_ACL, (path, found)


def test_plain_tcp_to_the_published_ports_gets_no_zookeeper(stack: Any) -> None:
    settings = stack.settings
    for node in settings.zk_nodes:
        assert _raw_word(node.host, node.port, None) == b"", node.name
    assert _cannot_connect(_kazoo(settings, None, None, None, tls=False))


def test_tls_without_a_client_certificate_is_refused(stack: Any) -> None:
    settings = stack.settings
    ca = str(Path(settings.get(zk_tls.TLS_DIR_KEY)) / "ca.pem")
    context = ssl.create_default_context(cafile=ca)
    for node in settings.zk_nodes:
        assert _raw_word(node.host, node.port, context) == b"", node.name
    assert _cannot_connect(_kazoo(settings, ca, None, None))


def test_a_certificate_from_another_ca_is_refused(stack: Any, tmp_path: Path) -> None:
    settings = stack.settings
    other = tmp_path / "other.tls"
    zk_tls.generate(other, ["127.0.0.1"])
    ca = str(Path(settings.get(zk_tls.TLS_DIR_KEY)) / "ca.pem")  # the server itself is trusted
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(other / "chaosha.pem", other / "chaosha.key")
    for node in settings.zk_nodes:
        assert _raw_word(node.host, node.port, context) == b"", node.name
    assert _cannot_connect(_kazoo(settings, ca, str(other / "chaosha.pem"), str(other / "chaosha.key")))
    # the handshake is what fails: with the stack's own certificate the same client gets in
    mine = zk_tls.client_context(settings)
    assert all(_raw_word(n.host, n.port, mine) == b"imok" for n in settings.zk_nodes)


def test_the_plain_port_is_not_on_the_stack_network(stack: Any) -> None:
    """Another container of the stack (pg1) reaches zk1 only over TLS: the
    plain port listens on zk1's loopback (its healthcheck) alone."""
    code = (
        "import socket\n"
        "for port in (2181, 2281):\n"
        "    try:\n"
        "        s = socket.create_connection(('zk1', port), timeout=3); s.sendall(b'ruok')\n"
        "        print(port, repr(s.recv(16)))\n"
        "    except OSError as exc:\n"
        "        print(port, type(exc).__name__)\n"
    )
    result = stack.stack.compose("exec", "-T", "pg1", "python3", "-c", code, capture=True, timeout=60)
    lines = result.stdout.split("\n")
    assert lines[0] == "2181 ConnectionRefusedError", result.stdout
    assert lines[1] in ("2281 b''", "2281 ConnectionResetError", "2281 TimeoutError"), result.stdout


def _attack(zk: KazooClient, settings: Settings, znodes: List[str]) -> List[str]:
    """Every write the issue's attacker would try; the ones that got through."""
    path = lambda *parts: client.patroni_path(settings, *parts)  # noqa: E731
    leader = probes.patroni_leader_znode(configuration={"CHAOSHA_ENV_FILE": settings.env_file})["member"]
    other = "pg2" if leader == "pg1" else "pg1"
    config = {"ttl": 20, "loop_wait": 2, "retry_timeout": 4, "synchronous_mode": False, "failsafe_mode": True}
    forged = json.dumps({"leader": leader, "member": other}).encode()
    attempts = [
        ("set /failover", lambda: zk.set(path("failover"), forged)),
        ("delete /failover", lambda: zk.delete(path("failover"))),
        ("delete /status", lambda: zk.delete(path("status"))),
        ("set /config", lambda: zk.set(path("config"), json.dumps(config).encode())),
        ("delete /leader", lambda: zk.delete(path("leader"))),
        ("create /leader2", lambda: zk.create(path("leader2"), other.encode())),
    ]
    for node in znodes:
        attempts.append((f"set {node}", lambda node=node: zk.set(node, b"owned")))
        attempts.append((f"create {node}/x", lambda node=node: zk.create(f"{node}/x", b"owned")))
        if node != "/service":  # its parent is / (world ALL): it is refused as not empty
            attempts.append((f"delete {node}", lambda node=node: zk.delete(node)))
    through = []
    for what, attempt in attempts:
        try:
            attempt()
            through.append(what)
        except NoAuthError:
            pass
    with pytest.raises(NotEmptyError):
        zk.delete("/service")
    return through


@pytest.mark.parametrize("identity", ["intruder", "chaosha"])
def test_the_attack_of_the_issue_changes_nothing(
    stack: Any, znodes: List[str], tmp_path: Path, identity: str
) -> None:
    """An identity of the stack's own CA other than Patroni's (an intruder's
    certificate, or chaosha's: READ only) can write nothing; no switchover."""
    settings = stack.settings
    with client.connected(settings) as zk:
        before = {p: zk.get(p)[0] for p in znodes if zk.exists(p)}
    leader = probes.patroni_leader_znode(configuration=stack.configuration)
    if identity == "chaosha":
        files = dict(zip(("ca", "cert", "key"), zk_tls.client_files(settings), strict=True))
    else:
        files = _mint(settings, tmp_path, "intruder")
    attacker = _kazoo(settings, files["ca"], files["cert"], files["key"])
    attacker.start(timeout=10)
    try:
        if identity == "intruder":
            with pytest.raises(NoAuthError):
                attacker.get(client.patroni_path(settings, "config"))
        else:
            assert (
                attacker.get(client.patroni_path(settings, "config"))[0]
                == before[client.patroni_path(settings, "config")]
            )
        assert _attack(attacker, settings, znodes) == []
    finally:
        attacker.stop()
        attacker.close()
    time.sleep(6)  # three of Patroni's loops: a forged /failover would have been acted on by now
    after = probes.patroni_leader_znode(configuration=stack.configuration)
    assert (after["member"], after["session_id"]) == (leader["member"], leader["session_id"])
    with client.connected(settings) as zk:
        for path in (client.patroni_path(settings, n) for n in ("config", "status", "failover")):
            assert zk.get(path)[0] == before[path], path


def test_the_arbiter_identity_can_neither_write_nor_create(stack: Any, znodes: List[str]) -> None:
    """The opt-in arbiter's identity (READ, DELETE) changes no znode's data
    and creates none under Patroni's tree (deleting is its one right)."""
    settings = stack.settings
    ca, cert, key = zk_tls.client_files(settings, "arbiter")
    arbiter = _kazoo(settings, ca, cert, key)
    arbiter.start(timeout=10)
    through = []
    try:
        for node in znodes:
            for what, attempt in (
                (f"set {node}", lambda node=node: arbiter.set(node, b"owned")),
                (f"create {node}/x", lambda node=node: arbiter.create(f"{node}/x", b"owned")),
            ):
                try:
                    attempt()
                    through.append(what)
                except NoAuthError:
                    pass
    finally:
        arbiter.stop()
        arbiter.close()
    assert through == []
