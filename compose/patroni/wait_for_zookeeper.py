"""Wait (bounded) until a ZooKeeper member of patroni.yml serves in a quorum.

Patroni 4.1.5 gives up and exits when kazoo cannot connect within its
fixed start timeout (15 s); with restart policy "no" the node then stays
down.  A node started beside the ensemble (a full restart, a busy machine)
waits here instead.  Asks each member ``srvr`` over TLS with Patroni's own
certificate (each try within 2 s).  Exit 0 once one answers ``Mode: leader``
or ``follower``; 1 at the deadline (the entrypoint starts Patroni anyway).

    python3 wait_for_zookeeper.py /etc/patroni/patroni.yml SECONDS

The members are Patroni's: ``PATRONI_ZOOKEEPER_HOSTS`` when set (a YAML
list, as Patroni parses it; the lab sets host addresses), else the file's.
"""

import os
import socket
import ssl
import sys
import time

import yaml


def serving(host: str, port: int, context: ssl.SSLContext) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.settimeout(2)
                tls.sendall(b"srvr")
                answer = b""
                while chunk := tls.recv(4096):
                    answer += chunk
    except (OSError, ssl.SSLError):
        return False
    return b"Mode: leader" in answer or b"Mode: follower" in answer or b"Mode: standalone" in answer


def main(config: str, seconds: float) -> int:
    with open(config, encoding="utf-8") as handle:
        zk = yaml.safe_load(handle)["zookeeper"]
    context = ssl.create_default_context(cafile=zk["cacert"])
    context.load_cert_chain(zk["cert"], zk["key"])
    listed = os.environ.get("PATRONI_ZOOKEEPER_HOSTS", "").strip()
    if listed:  # as Patroni reads it: a YAML list, brackets optional
        listed = listed if listed.startswith("-") or "[" in listed else f"[{listed}]"
    names = yaml.safe_load(listed) if listed else zk["hosts"]
    hosts = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in names]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(serving(host, port, context) for host, port in hosts):
            return 0
        time.sleep(1)
    print(f"no ZooKeeper member served within {seconds:g}s: starting Patroni anyway", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
