"""The Docker client factory and the project's container lookup.

Every Docker call carries a deadline (the SDK's per-request timeout,
``CHAOSHA_TIMEOUT``).  Services may live on different engines:
``CHAOSHA_DOCKER_HOSTS="pg1=ssh://db1,pg2=ssh://db2"`` names one per
service; the others use ``CHAOSHA_DOCKER_HOST`` or the local engine.
An ``ssh://`` engine is reached with the ``ssh`` command (the SDK's
``use_ssh_client``: the user's ssh config, agent and known hosts), with
``-F CHAOSHA_SSH_CONFIG`` when that names an ssh_config file (the lab's).
The SDK sets no deadline on an ssh pipe: the ssh config should (e.g.
``ConnectTimeout``, ``ServerAliveInterval``).
"""

import os
import signal
import subprocess
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlparse

import docker
from chaoslib.exceptions import ActivityFailed
from docker.models.containers import Container

from chaosha.config import Settings

__all__ = [
    "client",
    "container",
    "containers",
    "engine_urls",
    "find",
    "is_service_container",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "SIDECAR_LABEL",
]

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
# Set by Compose on the containers it creates, never on images: a `docker
# run` of our images inherits the project/service *build* labels only.
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
NUMBER_LABEL = "com.docker.compose.container-number"
ONEOFF_LABEL = "com.docker.compose.oneoff"
SIDECAR_LABEL = "chaosha.sidecar"
_clients: Dict[Tuple[str, float], docker.DockerClient] = {}
_ssh_configs: Dict[str, str] = {}  # ssh host (as the SDK splits the URL) -> ssh_config file


def _use_ssh_config(host: str, config: str) -> None:
    """Have the SDK's ``ssh`` pipe to ``host`` run with ``-F config`` (the
    SDK passes no options of its own).  Imported here: the SDK's ssh
    transport needs paramiko (``docker[ssh]``), even for the ``ssh`` command."""
    from docker.transport import sshconn

    class ConfiguredSSHSocket(sshconn.SSHSocket):
        def connect(self, **kwargs: Any) -> None:
            file = _ssh_configs.get(self.host)
            if not file:
                return super().connect(**kwargs)
            login = [*(["-l", self.user] if self.user else []), *(["-p", self.port] if self.port else [])]
            env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "SSL_CERT_FILE")}
            self.proc = subprocess.Popen(
                ["ssh", "-F", file, *login, "--", self.host, "docker system dial-stdio"],
                env=env,
                stdout=subprocess.PIPE,
                stdin=subprocess.PIPE,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
            )

    _ssh_configs[host] = config
    if not getattr(sshconn.SSHSocket, "chaosha", False):
        ConfiguredSSHSocket.chaosha = True
        sshconn.SSHSocket = ConfiguredSSHSocket


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
            if url.startswith("ssh://"):
                config = settings.get("CHAOSHA_SSH_CONFIG")
                if config:
                    _use_ssh_config(urlparse(url).hostname or "", config)
                _clients[key] = docker.DockerClient(
                    base_url=url, timeout=int(max(1, deadline)), use_ssh_client=True
                )
            elif url:
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


def is_service_container(labels: Dict[str, str], project: str, name: str = "") -> bool:
    """True when ``labels`` (and ``name``) are those of a service container
    Compose created for ``project``: not a one-off, not a chaosha sidecar,
    not a plain ``docker run`` of one of our images (which inherits the
    image's Compose *build* labels but none of the container ones)."""
    if labels.get(PROJECT_LABEL) != project or SIDECAR_LABEL in labels:
        return False
    if not all(labels.get(key) for key in (SERVICE_LABEL, CONFIG_HASH_LABEL, NUMBER_LABEL)):
        return False
    if labels.get(ONEOFF_LABEL) != "False":
        return False
    expected = f"{project}-{labels[SERVICE_LABEL]}-{labels[NUMBER_LABEL]}"
    return not name or name.lstrip("/") == expected


def _lookup(settings: Settings, engine: str, service: str = "") -> List[Container]:
    """The project's service containers on ``engine`` (of ``service`` when
    given), lowest container number first; one removed mid-lookup is skipped."""
    labels = [f"{PROJECT_LABEL}={settings.project}", f"{ONEOFF_LABEL}=False", CONFIG_HASH_LABEL, NUMBER_LABEL]
    if service:
        labels.append(f"{SERVICE_LABEL}={service}")
    api = client(settings, engine)
    found: List[Container] = []
    for sparse in api.containers.list(all=True, filters={"label": labels}, sparse=True):
        names = sparse.attrs.get("Names") or [""]
        if not is_service_container(sparse.attrs.get("Labels") or {}, settings.project, names[0]):
            continue
        try:
            full = api.containers.get(sparse.id)
        except docker.errors.NotFound:  # removed between the list and the inspect
            continue
        if is_service_container(full.labels, settings.project, full.name):
            found.append(full)
    return sorted(found, key=lambda c: int(c.labels.get(NUMBER_LABEL, "0") or 0))


def containers(settings: Settings, all: bool = True) -> List[Container]:
    """Every service container Compose created for the configured project,
    on every engine (sidecars, one-offs and look-alikes excluded)."""
    found: Dict[str, Container] = {}
    for service in _engines(settings):
        try:
            for c in _lookup(settings, service):
                if all or c.status == "running":
                    found[c.id] = c
        except docker.errors.DockerException as exc:
            raise ActivityFailed(f"listing containers of project {settings.project!r} failed: {exc}") from None
    return sorted(found.values(), key=lambda c: (c.labels.get(SERVICE_LABEL, ""), c.name))


def find(settings: Settings, service: str) -> Optional[Container]:
    """The container of ``service`` in the configured project, or None.

    Raises ``ActivityFailed`` when the engine cannot be asked.
    """
    try:
        found = _lookup(settings, service, service)
    except docker.errors.DockerException as exc:
        raise ActivityFailed(f"looking up service {service!r} failed: {exc}") from None
    return found[0] if found else None


def container(settings: Settings, service: str) -> Container:
    """The container of ``service`` in the configured Compose project.

    Raises ``ActivityFailed`` when there is none: a container outside the
    project (or a look-alike of one) is never returned, so no action can
    touch it.
    """
    found = find(settings, service)
    if found is None:
        known = sorted({c.labels.get(SERVICE_LABEL, "?") for c in containers(settings)})
        raise ActivityFailed(
            f"no container of service {service!r} in Compose project {settings.project!r} "
            f"(services there: {', '.join(known) or 'none: is the stack up? run chaosha stack up'})"
        )
    return found
