"""The Docker client factory and the project's container lookup.

Every Docker call carries a deadline (the SDK's per-request timeout,
``CHAOSHA_TIMEOUT``).  Services may live on different engines:
``CHAOSHA_DOCKER_HOSTS="pg1=ssh://db1,pg2=ssh://db2"`` names one per
service; the others use ``CHAOSHA_DOCKER_HOST`` or the local engine.
"""

from typing import Dict, List, Tuple

import docker
from chaoslib.exceptions import ActivityFailed
from docker.models.containers import Container

from chaosha.config import Settings

__all__ = ["client", "container", "containers", "engine_urls", "PROJECT_LABEL", "SERVICE_LABEL"]

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
_clients: Dict[Tuple[str, float], docker.DockerClient] = {}


def engine_urls(settings: Settings) -> Dict[str, str]:
    """Service name -> Docker endpoint URL ("" = the default engine)."""
    urls: Dict[str, str] = {}
    for item in settings.get("CHAOSHA_DOCKER_HOSTS").split(","):
        if not item.strip():
            continue
        service, sep, url = item.partition("=")
        if not sep or not service.strip() or not url.strip():
            raise ActivityFailed(
                f"CHAOSHA_DOCKER_HOSTS entry {item!r} is malformed: use service=url,... "
                "e.g. pg1=ssh://db1,pg2=tcp://db2:2376"
            )
        urls[service.strip()] = url.strip()
    return urls


def client(settings: Settings, service: str = "", timeout: float = 0) -> docker.DockerClient:
    """A Docker client for the engine that runs ``service``."""
    url = engine_urls(settings).get(service) or settings.get("CHAOSHA_DOCKER_HOST")
    deadline = timeout or settings.timeout
    key = (url, deadline)
    if key not in _clients:
        try:
            if url:
                _clients[key] = docker.DockerClient(base_url=url, timeout=int(max(1, deadline)))
            else:
                _clients[key] = docker.from_env(timeout=int(max(1, deadline)))
        except docker.errors.DockerException as exc:
            raise ActivityFailed(
                f"cannot reach the Docker engine {url or '(default)'}: {exc}; "
                "is dockerd running (compose/bootstrap.sh starts it)?"
            ) from None
    return _clients[key]


def _engines(settings: Settings) -> List[str]:
    services = {""} | set(engine_urls(settings))
    return sorted(services)


def containers(settings: Settings, all: bool = True) -> List[Container]:
    """Every container of the configured Compose project, on every engine."""
    found: Dict[str, Container] = {}
    for service in _engines(settings):
        try:
            for c in client(settings, service).containers.list(
                all=all, filters={"label": f"{PROJECT_LABEL}={settings.project}"}
            ):
                found[c.id] = c
        except docker.errors.DockerException as exc:
            raise ActivityFailed(f"listing containers of project {settings.project!r} failed: {exc}") from None
    return sorted(found.values(), key=lambda c: c.labels.get(SERVICE_LABEL, ""))


def container(settings: Settings, service: str) -> Container:
    """The container of ``service`` in the configured Compose project.

    Raises ``ActivityFailed`` when there is none: a container outside the
    project is never returned, so no action can touch it.
    """
    try:
        found = client(settings, service).containers.list(
            all=True,
            filters={"label": [f"{PROJECT_LABEL}={settings.project}", f"{SERVICE_LABEL}={service}"]},
        )
    except docker.errors.DockerException as exc:
        raise ActivityFailed(f"looking up service {service!r} failed: {exc}") from None
    if not found:
        known = sorted({c.labels.get(SERVICE_LABEL, "?") for c in containers(settings)})
        raise ActivityFailed(
            f"no container of service {service!r} in Compose project {settings.project!r} "
            f"(services there: {', '.join(known) or 'none: is the stack up? run chaosha stack up'})"
        )
    return found[0]
