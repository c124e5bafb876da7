"""Ports published on 127.0.0.1 are unreachable from any other interface.

An adversary in a network namespace of its own, wired to the host by a veth
pair, sends packets addressed to 127.0.0.1 out of its veth (its loopback is
down, 127.0.0.1 is routed to the host, route_localnet lets it send and take
such packets).  Docker 20.10's nat PREROUTING would DNAT them to HAProxy;
the raw-table guard of ``compose/loopback-guard.sh`` must drop them.  The
test proves the attempt could have succeeded: the same namespace reaches a
listener on the host's veth address, the guard's packet counter rises by at
least the packets of the attempt, and with a one-off exemption for this veth
and port in front of the guard the same connect reaches PostgreSQL.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, List, NamedTuple

import pytest

pytestmark = pytest.mark.integration
GUARD = Path(__file__).resolve().parents[2] / "compose" / "loopback-guard.sh"
COMMENT = "chaosha-loopback-guard"
# RFC 2544's benchmarking network: never routed, not used by Docker.
HOST_IP, NS_IP = "198.18.12.1", "198.18.12.2"
# Connect, send PostgreSQL's SSLRequest and print the one-byte answer (N or S).
CLIENT = """
import socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
if sys.argv[4] == "pg":
    s.sendall(struct.pack("!ii", 8, 80877103))
    print(s.recv(1).decode())
else:
    print(s.recv(16).decode())
"""


class Wire(NamedTuple):
    netns: str
    host_if: str


def sh(*cmd: str, timeout: float = 15, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=check)


def in_ns(wire: Wire, *cmd: str, timeout: float = 15, check: bool = True) -> subprocess.CompletedProcess:
    return sh("ip", "netns", "exec", wire.netns, *cmd, timeout=timeout, check=check)


def counters(pattern: str) -> int:
    """Packets counted by the raw PREROUTING rule(s) whose text matches ``pattern``."""
    out = sh("iptables", "-w", "5", "-t", "raw", "-S", "PREROUTING", "-v").stdout
    total = 0
    for line in out.splitlines():
        found = re.search(r" -c (\d+) (\d+)", line)
        if found and re.search(pattern, line):
            total += int(found.group(1))
    return total


def connect(wire: Wire, host: str, port: int, kind: str, timeout: float = 3) -> subprocess.CompletedProcess:
    return in_ns(
        wire, sys.executable, "-c", CLIENT, host, str(port), str(timeout), kind, timeout=timeout + 10, check=False
    )


@pytest.fixture
def wire() -> Iterator[Wire]:
    if os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("iptables")):
        pytest.skip("needs root, iproute2 and iptables")
    tag = f"{os.getpid() % 100000}"
    made = Wire(f"chaosha-guard-{tag}", f"chg{tag}h")
    ns_if = f"chg{tag}n"
    try:
        sh("ip", "netns", "add", made.netns)
        sh("ip", "link", "add", made.host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", made.netns)
        sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", made.host_if)
        sh("ip", "link", "set", made.host_if, "up")
        for key in ("all", ns_if):
            in_ns(
                made, "sysctl", "-qw", f"net.ipv4.conf.{key}.route_localnet=1", f"net.ipv4.conf.{key}.rp_filter=0"
            )
        in_ns(made, "ip", "addr", "add", f"{NS_IP}/30", "dev", ns_if)
        in_ns(made, "ip", "link", "set", ns_if, "up")
        # lo stays down: the namespace has no local 127.0.0.0/8 route, 127.0.0.1 goes to the host.
        in_ns(made, "ip", "route", "add", "127.0.0.1/32", "via", HOST_IP, "dev", ns_if)
        assert "via " + HOST_IP in in_ns(made, "ip", "route", "get", "127.0.0.1").stdout
        yield made
    finally:
        sh("ip", "netns", "del", made.netns, check=False)  # takes the veth pair with it
        sh("ip", "link", "del", made.host_if, check=False)


def rule(wire: Wire, port: int, *target: str) -> List[str]:
    return ["PREROUTING", "-i", wire.host_if, "-d", "127.0.0.1/32", "-p", "tcp", "--dport", str(port), *target]


def test_loopback_published_port_is_unreachable_from_another_interface(stack, wire: Wire) -> None:
    assert sh("bash", str(GUARD), "check", check=False).returncode == 0, (
        "the loopback guard is missing after `stack up`: compose/bootstrap.sh should have added it"
    )
    rw = int(stack.settings.get("CHAOSHA_RW_PORT"))

    # control: the namespace reaches the host through the veth
    with socket.socket() as listener:
        listener.bind((HOST_IP, 0))
        listener.listen(1)
        listener.settimeout(10)

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"hello")

        server = threading.Thread(target=answer, daemon=True)
        server.start()
        control = connect(wire, HOST_IP, listener.getsockname()[1], "raw")
        server.join(10)
    assert control.returncode == 0 and control.stdout.strip() == "hello", control.stderr

    # the attempt: packets to 127.0.0.1:<rw> arrive on the veth and are dropped by the guard
    count = rule(wire, rw, "-m", "comment", "--comment", "chaosha-test-count")
    exempt = rule(wire, rw, "-j", "ACCEPT")
    try:
        sh("iptables", "-w", "5", "-t", "raw", "-I", *count[:1], "1", *count[1:])
        guard_before = counters(f"-d 127.0.0.0/8 .*{COMMENT}")
        attempt = connect(wire, "127.0.0.1", rw, "pg")
        seen = counters("chaosha-test-count")
        guard_delta = counters(f"-d 127.0.0.0/8 .*{COMMENT}") - guard_before
        assert attempt.returncode != 0, f"reached 127.0.0.1:{rw} from {wire.host_if}: {attempt.stdout}"
        assert "timed out" in attempt.stderr, attempt.stderr  # dropped, not refused
        assert seen >= 1, "no packet of the attempt arrived on the veth: the test proves nothing"
        assert guard_delta >= seen, f"the guard dropped {guard_delta} of the attempt's {seen} packets"

        # the same connect with this veth and port exempted reaches PostgreSQL through Docker's DNAT
        sh("iptables", "-w", "5", "-t", "raw", "-I", *exempt[:1], "1", *exempt[1:])
        reached = connect(wire, "127.0.0.1", rw, "pg", timeout=5)
        assert reached.returncode == 0 and reached.stdout.strip() in ("N", "S"), reached.stderr
    finally:
        for spec in (exempt, count):
            sh("iptables", "-w", "5", "-t", "raw", "-D", *spec, check=False)
