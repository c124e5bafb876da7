"""What the lab's hosts are doing (chaosha/clients/hosts.py)."""

from typing import Any, Dict, List

from chaoslib.types import Configuration, Secrets

from chaosha import state as registry
from chaosha.clients import hosts as lab_hosts
from chaosha.config import load

__all__ = ["host_states"]


def host_states(configuration: Configuration = None, secrets: Secrets = None) -> List[Dict[str, Any]]:
    """Every lab host: address, its node container's state, its recorded faults."""
    settings = load(configuration, secrets)
    faults = registry.pending(settings)
    out = []
    for host, address in lab_hosts.hosts(settings).items():
        found = lab_hosts.node(settings, host)
        out.append(
            {
                "host": host,
                "address": address,
                "state": found.status,
                "faults": sorted(f["kind"] for f in faults if f["service"] == host),
            }
        )
    return out
