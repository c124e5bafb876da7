"""Docker probes: the state of the project's containers and pending faults."""

from typing import Any, Dict, List

from chaoslib.types import Configuration, Secrets

from chaosha import state as registry
from chaosha.clients.docker import SERVICE_LABEL, container, containers
from chaosha.config import load
from chaosha.targets import resolve

__all__ = ["container_state", "project_containers", "pending_faults"]


def container_state(target: str, configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """State of the target's container (a service or a role such as
    ``@leader``): ``service``, running, paused, exit code, start time."""
    settings = load(configuration, secrets)
    service = resolve(settings, target)
    state = container(settings, service).attrs["State"]
    return {
        "service": service,
        "state": state.get("Status"),
        "running": bool(state.get("Running")),
        "paused": bool(state.get("Paused")),
        "exit_code": state.get("ExitCode"),
        "started_at": state.get("StartedAt"),
    }


def project_containers(configuration: Configuration = None, secrets: Secrets = None) -> List[Dict[str, Any]]:
    """Every container of the Compose project with its state."""
    return [
        {
            "service": c.labels.get(SERVICE_LABEL, ""),
            "name": c.name,
            "state": c.status,
            "paused": bool(c.attrs["State"].get("Paused")),
        }
        for c in containers(load(configuration, secrets))
    ]


def pending_faults(configuration: Configuration = None, secrets: Secrets = None) -> List[Dict[str, Any]]:
    """Faults chaosha recorded and has not undone yet (heal clears them)."""
    return registry.pending(load(configuration, secrets))
