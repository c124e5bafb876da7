"""One configuration model for every chaosha subsystem.

Every setting has a ``CHAOSHA_*`` name.  A value is looked up, first hit
wins, in: the activity's ``secrets``, the experiment's ``configuration``
(either spelling: ``CHAOSHA_RW_PORT`` or ``chaosha_rw_port``), the process
environment, the stack's generated env file, and the defaults below, which
match ``compose/docker-compose.yml``.

The env file is found by one rule, from any directory: the file
``CHAOSHA_ENV_FILE`` names (a relative name is tried from the working
directory, then from the checkout chaosha is installed from); else
``compose/.env`` in the working directory; else the checkout's
``compose/.env``; else none, and the defaults apply (``Settings.env_file`` is
then empty, and the CLI says so).  With ``CHAOSHA_PORT_BASE`` every port not
set otherwise is the base plus its offset in :data:`PORT_KEYS`.

Each node is reached on ``CHAOSHA_<NODE>_HOST`` (e.g. ``CHAOSHA_PG1_HOST``,
``CHAOSHA_ZK2_HOST``) when set, else on ``CHAOSHA_HOST`` (HAProxy's host):
a stack spread over several machines (``chaosha lab``) sets one per node.
"""

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type, TypeVar

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

__all__ = [
    "Settings",
    "PgNode",
    "ZkNode",
    "load",
    "DEFAULTS",
    "PORT_KEYS",
    "parse_env_file",
    "find_env_file",
    "options_from_json",
]

ZK_QUORUM_PORTS = (2888, 3888)
DEFAULTS: Dict[str, str] = {
    "CHAOSHA_PROJECT": "chaosha",
    "CHAOSHA_HOST": "127.0.0.1",
    "CHAOSHA_RW_PORT": "5432",
    "CHAOSHA_RO_PORT": "5433",
    "CHAOSHA_STATS_PORT": "7000",
    "CHAOSHA_PG_NODES": "pg1,pg2",
    "CHAOSHA_PG1_PORT": "15432",
    "CHAOSHA_PG1_API_PORT": "18008",
    "CHAOSHA_PG2_PORT": "25432",
    "CHAOSHA_PG2_API_PORT": "28008",
    "CHAOSHA_PG3_PORT": "35432",
    "CHAOSHA_PG3_API_PORT": "38008",
    "CHAOSHA_ZK_NODES": "zk1,zk2,zk3",
    "CHAOSHA_ZK1_PORT": "12181",
    "CHAOSHA_ZK2_PORT": "22181",
    "CHAOSHA_ZK3_PORT": "32181",
    "CHAOSHA_PG_USER": "postgres",
    "CHAOSHA_PG_DATABASE": "postgres",
    "CHAOSHA_PG_PASSWORD": "",
    "CHAOSHA_PATRONI_API_USER": "patroni",
    "CHAOSHA_PATRONI_API_PASSWORD": "",
    "CHAOSHA_PATRONI_SCOPE": "chaosha",
    "CHAOSHA_PATRONI_NAMESPACE": "/service/",
    "CHAOSHA_HAPROXY_SERVICE": "haproxy",
    "CHAOSHA_NETWORK": "ha",
    "CHAOSHA_DOCKER_HOST": "",
    "CHAOSHA_DOCKER_HOSTS": "",
    # ssh_config file for ssh:// engines (chaosha/clients/docker.py); the lab writes one
    "CHAOSHA_SSH_CONFIG": "",
    "CHAOSHA_TOOLS_IMAGE": "",
    "CHAOSHA_IMAGE_TAG": "",
    "CHAOSHA_PORT_BASE": "",
    "CHAOSHA_TIMEOUT": "10",
    "CHAOSHA_ALFRESCO_PORT": "8080",
    "CHAOSHA_SHARE_PORT": "8180",
    "CHAOSHA_ALFRESCO_URL": "http://127.0.0.1:8080",
    "CHAOSHA_ALFRESCO_USER": "admin",
    "CHAOSHA_ALFRESCO_PASSWORD": "admin",
    "CHAOSHA_STATE_DIR": "",
    # compose/profiles/<name>.env: the timing of ZooKeeper, Patroni, HAProxy (chaosha/failover_profile.py)
    "CHAOSHA_FAILOVER_PROFILE": "default",
}
# Every host port the stack publishes, in the order CHAOSHA_PORT_BASE counts them.
PORT_KEYS = (
    "CHAOSHA_RW_PORT",
    "CHAOSHA_RO_PORT",
    "CHAOSHA_STATS_PORT",
    "CHAOSHA_PG1_PORT",
    "CHAOSHA_PG1_API_PORT",
    "CHAOSHA_PG2_PORT",
    "CHAOSHA_PG2_API_PORT",
    "CHAOSHA_PG3_PORT",
    "CHAOSHA_PG3_API_PORT",
    "CHAOSHA_ZK1_PORT",
    "CHAOSHA_ZK2_PORT",
    "CHAOSHA_ZK3_PORT",
)
CHECKOUT = Path(__file__).resolve().parents[1]
DEFAULT_ENV_FILE = "compose/.env"


@dataclass(frozen=True)
class PgNode:
    """A Patroni/PostgreSQL node as reached from where chaosha runs."""

    name: str
    host: str
    port: int
    api_port: int

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


@dataclass(frozen=True)
class ZkNode:
    """A ZooKeeper ensemble member as reached from where chaosha runs."""

    name: str
    host: str
    port: int


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build it with :func:`load`."""

    values: Mapping[str, str] = field(default_factory=dict)

    def get(self, key: str) -> str:
        return self.values.get(key, DEFAULTS.get(key, ""))

    def integer(self, key: str) -> int:
        raw = self.get(key)
        try:
            return int(raw)
        except ValueError:
            raise ActivityFailed(
                f"setting {key}={raw!r} is not a whole number: fix it in the "
                "experiment's configuration, the environment or compose/.env"
            ) from None

    def seconds(self, key: str) -> float:
        raw = self.get(key)
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value <= 0:
            raise ActivityFailed(f"setting {key}={raw!r} must be a positive number of seconds")
        return value

    @property
    def project(self) -> str:
        return self.get("CHAOSHA_PROJECT")

    @property
    def host(self) -> str:
        return self.get("CHAOSHA_HOST")

    @property
    def timeout(self) -> float:
        """Deadline in seconds of one network call."""
        return self.seconds("CHAOSHA_TIMEOUT")

    @property
    def pg_nodes(self) -> List[PgNode]:
        return [
            PgNode(
                n,
                self.node_host(n),
                self.integer(f"CHAOSHA_{n.upper()}_PORT"),
                self.integer(f"CHAOSHA_{n.upper()}_API_PORT"),
            )
            for n in _names(self.get("CHAOSHA_PG_NODES"))
        ]

    @property
    def zk_nodes(self) -> List[ZkNode]:
        return [
            ZkNode(n, self.node_host(n), self.integer(f"CHAOSHA_{n.upper()}_PORT"))
            for n in _names(self.get("CHAOSHA_ZK_NODES"))
        ]

    def node_host(self, name: str) -> str:
        """Where node ``name`` publishes its ports: ``CHAOSHA_<NAME>_HOST``, else ``CHAOSHA_HOST``."""
        return self.get(f"CHAOSHA_{name.upper()}_HOST") or self.host

    def endpoint(self, service: str) -> Tuple[str, List[int]]:
        """Where the other services reach ``service`` on a stack spread over
        machines: its host address and the ports it publishes there (ZooKeeper's
        quorum ports too: compose/lab/spread.yml publishes them as they are)."""
        if service == "haproxy":
            return self.host, [
                self.integer(k) for k in ("CHAOSHA_RW_PORT", "CHAOSHA_RO_PORT", "CHAOSHA_STATS_PORT")
            ]
        if service in _names(self.get("CHAOSHA_ZK_NODES")):
            member = self.zk_node(service)
            return member.host, [member.port, *ZK_QUORUM_PORTS]
        node = self.pg_node(service)
        return node.host, [node.port, node.api_port]

    def pg_node(self, name: str) -> PgNode:
        """The PostgreSQL node ``name``; ActivityFailed naming the known ones."""
        return _named(self.pg_nodes, name, "PostgreSQL", "CHAOSHA_PG_NODES")

    def zk_node(self, name: str) -> ZkNode:
        """The ZooKeeper member ``name``; ActivityFailed naming the known ones."""
        return _named(self.zk_nodes, name, "ZooKeeper", "CHAOSHA_ZK_NODES")

    @property
    def env_file(self) -> str:
        """The env file these settings were read from ("" = none: defaults)."""
        return self.get("CHAOSHA_ENV_FILE")

    @property
    def image_tag(self) -> str:
        """Tag of the stack's images: ``CHAOSHA_IMAGE_TAG``, else the project
        name, so one project's build never moves another's images."""
        return self.get("CHAOSHA_IMAGE_TAG") or self.project

    @property
    def tools_image(self) -> str:
        """Image of the network-fault sidecar (carries iproute2, iptables)."""
        return self.get("CHAOSHA_TOOLS_IMAGE") or f"chaosha/patroni:{self.image_tag}"

    @property
    def state_dir(self) -> Path:
        """Root of chaosha's state (``CHAOSHA_STATE_DIR``, default
        ``$XDG_STATE_HOME/chaosha`` or ``~/.local/state/chaosha``); one
        folder per project below it (:mod:`chaosha.state`)."""
        raw = self.get("CHAOSHA_STATE_DIR")
        if raw:
            path = Path(raw).expanduser()
        else:
            path = Path(os.environ.get("XDG_STATE_HOME") or "~/.local/state").expanduser() / "chaosha"
        path.mkdir(parents=True, exist_ok=True)
        return path


N = TypeVar("N", PgNode, ZkNode)


def _named(nodes: List[N], name: str, kind: str, setting: str) -> N:
    for node in nodes:
        if node.name == name:
            return node
    known = ", ".join(n.name for n in nodes)
    raise ActivityFailed(f"unknown {kind} node {name!r}: known nodes are {known} ({setting})")


def _names(raw: str) -> List[str]:
    return [n.strip() for n in raw.split(",") if n.strip()]


def parse_env_file(path: Path) -> Dict[str, str]:
    """Read a Compose-style env file (``KEY=value`` lines, ``#`` comments).

    Raises ``ValueError`` naming the line for anything else, so a malformed
    file is reported instead of half-read.
    """
    values: Dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum() or key[0].isdigit():
            raise ValueError(f"{path}:{number}: expected KEY=value, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _lookup(source: Optional[Mapping[str, Any]], key: str) -> Optional[str]:
    if not source:
        return None
    for name in (key, key.lower()):
        value = source.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def find_env_file(named: Optional[str] = None) -> Optional[Path]:
    """The env file by the rule of the module docstring; None when there is
    none (a named file that does not exist counts as none: the CLI says so)."""
    name = named if named is not None else os.environ.get("CHAOSHA_ENV_FILE", "")
    candidates = [Path(name).expanduser()] if name else [Path(DEFAULT_ENV_FILE)]
    if not candidates[0].is_absolute():
        candidates.append(CHECKOUT / candidates[0])
    for path in candidates:
        if path.is_file():
            return path.resolve()
    return None


def _flatten(secrets: Secrets) -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for key, value in (secrets or {}).items():
        if isinstance(value, Mapping):  # scoped secrets: {"chaosha": {...}}
            flat.update(value)
        else:
            flat[key] = value
    return flat


def load(configuration: Configuration = None, secrets: Secrets = None) -> Settings:
    """Resolve every ``CHAOSHA_*`` setting (see the module docstring)."""
    flat_secrets = _flatten(secrets)
    env_path = find_env_file(_lookup(configuration, "CHAOSHA_ENV_FILE"))
    env_file: Dict[str, str] = {}
    if env_path is not None:
        try:
            env_file = parse_env_file(env_path)
        except ValueError as exc:
            raise ActivityFailed(f"cannot read the stack's env file: {exc}") from None
    keys = set(DEFAULTS) | {k for k in env_file if k.startswith("CHAOSHA_")}
    keys |= {
        k.upper() for src in (configuration or {}, flat_secrets) for k in src if k.upper().startswith("CHAOSHA_")
    }
    keys |= {k for k in os.environ if k.startswith("CHAOSHA_")}
    values: Dict[str, str] = {}
    for key in keys:
        for source in (flat_secrets, configuration, os.environ, env_file):
            found = _lookup(source, key)
            if found is not None:
                values[key] = found
                break
        else:
            values[key] = DEFAULTS.get(key, "")
    values["CHAOSHA_ENV_FILE"] = str(env_path or "")
    _apply_port_base(values, [flat_secrets, configuration, os.environ, env_file])
    return Settings(values)


def _apply_port_base(values: Dict[str, str], sources: List[Optional[Mapping[str, Any]]]) -> None:
    """Ports not set anywhere become ``CHAOSHA_PORT_BASE`` + their offset."""
    base = values.get("CHAOSHA_PORT_BASE", "")
    if not base:
        return
    if not base.isdigit() or not 0 < int(base) <= 65535 - len(PORT_KEYS):
        raise ActivityFailed(
            f"CHAOSHA_PORT_BASE={base!r} is not a port number below "
            f"{65536 - len(PORT_KEYS)}: fix it where it is set"
        )
    for offset, key in enumerate(PORT_KEYS):
        if not any(_lookup(source, key) is not None for source in sources):
            values[key] = str(int(base) + offset)


Options = TypeVar("Options")


def options_from_json(cls: Type[Options], text: str, what: str) -> Options:
    """The options dataclass ``cls`` from the JSON a background process got
    on its command line; ValueError naming any option ``cls`` does not have."""
    data = json.loads(text)
    unknown = sorted(set(data) - {f.name for f in fields(cls)})  # type: ignore[arg-type]
    if unknown:
        raise ValueError(f"unknown {what} options {unknown}")
    return cls(**data)
