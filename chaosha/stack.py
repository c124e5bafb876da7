"""Bring the Compose stack up, down, and report on it (``chaosha stack``).

``up`` runs ``compose/bootstrap.sh`` (Docker engine, Compose v2, base image),
writes the git-ignored env file with random passwords on first use, refuses
to take over a project that another checkout or env file started, checks
that the published ports are free, builds the images (tagged with the
project, without Compose's labels) and waits until a write through HAProxy's
read-write port succeeds on the Patroni leader.

Compose is handed the settings chaosha resolved (environment over env file
over defaults), so what chaosha checks and what Compose starts are the same.
"""

import ipaddress
import json
import os
import secrets as pysecrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from chaoslib.exceptions import ActivityFailed

from chaosha import failover_profile, state
from chaosha.clients import patroni, zk_tls
from chaosha.clients.docker import containers
from chaosha.clients.postgres import query
from chaosha.config import DEFAULTS, PORT_KEYS, Settings, load, parse_env_file
from chaosha.haproxy.probes import routes_to_leader
from chaosha.nodes import (
    NODES_KEY,
    removal_refusal,
    set_env_value,
    slot_name,
    streams,
    switchover_candidate,
    with_node,
    without_node,
)
from chaosha.patroni.probes import cluster_health
from chaosha.postgres.probes import write_succeeds
from chaosha.timing import wait_until

__all__ = ["Stack", "StackError", "SECRET_KEYS", "PORT_KEYS", "find_compose_dir"]

SECRET_KEYS = (
    "CHAOSHA_PG_PASSWORD",
    "CHAOSHA_REPLICATION_PASSWORD",
    "CHAOSHA_REWIND_PASSWORD",
    "CHAOSHA_PATRONI_API_PASSWORD",
    "CHAOSHA_ALFRESCO_DB_PASSWORD",
)
# image name -> Dockerfile folder under compose/ (one image each, services share them)
IMAGES = ("zookeeper", "patroni", "haproxy")
# Settings a user may give in the environment at `stack up`; written into a
# new env file so that every later command (from anywhere) sees the same.
PERSISTED_KEYS = (
    "CHAOSHA_PROJECT",
    "CHAOSHA_PORT_BASE",
    "CHAOSHA_BIND",
    "CHAOSHA_IMAGE_TAG",
    "CHAOSHA_RESTART_POLICY",
    failover_profile.PROFILE_KEY,
    *PORT_KEYS,
)
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
ENV_FILE_LABEL = "com.docker.compose.project.environment_file"


class StackError(RuntimeError):
    """A stack operation failed; the message says what to do."""


def find_compose_dir() -> Path:
    """``./compose`` when run from a checkout, else the one beside the package."""
    for candidate in (Path.cwd() / "compose", Path(__file__).resolve().parents[1] / "compose"):
        if (candidate / "docker-compose.yml").is_file():
            return candidate
    raise StackError("cannot find compose/docker-compose.yml: run from the chaosha checkout")


def _log(message: str) -> None:
    print(f"[chaosha] {message}", file=sys.stderr, flush=True)


@dataclass
class Stack:
    """One Compose project of the stack."""

    compose_dir: Path = field(default_factory=find_compose_dir)
    env_file: Optional[Path] = None
    profiles: Sequence[str] = ()
    overrides: Dict[str, str] = field(default_factory=dict)
    # set by ensure_env when it (re)generated ZooKeeper's TLS credentials
    credentials_renewed: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.env_file is None:
            self.env_file = self.compose_dir / ".env"

    @classmethod
    def isolated(cls, project: str, port_base: int, folder: Path, **fields: Any) -> "Stack":
        """A stack of its own: Compose project ``project``, its twelve ports
        from ``port_base`` (CHAOSHA_PORT_BASE), env file ``folder/<project>.env``
        — what tests and benchmarks use beside a user's stack."""
        folder.mkdir(parents=True, exist_ok=True)
        overrides = {"CHAOSHA_PROJECT": project, "CHAOSHA_PORT_BASE": str(port_base)}
        return cls(
            compose_dir=find_compose_dir(), env_file=folder / f"{project}.env", overrides=overrides, **fields
        )

    # -- configuration --------------------------------------------------
    def ensure_env(self) -> Dict[str, str]:
        """Create or complete the env file: missing passwords are generated,
        existing values (and the user's own lines) are kept; then
        ZooKeeper's TLS credentials (:meth:`ensure_credentials`)."""
        assert self.env_file is not None
        values: Dict[str, str] = {}
        if self.env_file.exists():
            try:
                values = parse_env_file(self.env_file)
            except ValueError as exc:
                raise StackError(
                    f"{exc}; fix or delete that line (passwords are regenerated "
                    "only for a new cluster: keep them if volumes exist)"
                ) from None
        wanted = {k: os.environ[k] for k in PERSISTED_KEYS if os.environ.get(k) and k not in values}
        wanted.update(self.overrides)
        wanted.update({k: pysecrets.token_urlsafe(24) for k in SECRET_KEYS if not values.get(k)})
        if not values.get(zk_tls.TLS_DIR_KEY):
            wanted[zk_tls.TLS_DIR_KEY] = str(zk_tls.folder_for(self.env_file).resolve())
        merged = dict(values, **wanted)
        for key in PORT_KEYS:  # validate before writing anything
            raw = merged.get(key, DEFAULTS[key])
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise StackError(f"{self.env_file}: {key}={raw!r} is not a port number (1-65535)")
        missing = {k: v for k, v in wanted.items() if values.get(k) != v}
        if missing:
            self.env_file.parent.mkdir(parents=True, exist_ok=True)
            new = not self.env_file.exists()
            with open(self.env_file, "a") as fh:
                if new:
                    fh.write("# Generated by `chaosha stack up`: passwords of this stack. Not in git.\n")
                for key, value in missing.items():
                    fh.write(f"{key}={value}\n")
            os.chmod(self.env_file, 0o600)
        self.ensure_credentials()
        return merged

    def ensure_credentials(self) -> Path:
        """ZooKeeper's TLS credentials in the folder the env file names
        (``CHAOSHA_ZK_TLS_DIR``): generated when any file is missing, else
        kept.  The server certificate is valid for the ZooKeeper services'
        names, their hosts' addresses and ``CHAOSHA_HOST``."""
        settings = self.settings()
        if not settings.get(zk_tls.TLS_DIR_KEY):
            raise StackError(f"{zk_tls.TLS_DIR_KEY} is not set in {self.env_file}: run `chaosha stack up`")
        folder = Path(settings.get(zk_tls.TLS_DIR_KEY)).expanduser()
        zk = settings.zk_nodes
        names = [n.name for n in zk] + ["localhost", "127.0.0.1", settings.host] + [n.host for n in zk]
        try:
            renewed = zk_tls.ensure(folder, names)
        except (ActivityFailed, OSError) as exc:
            raise StackError(f"cannot generate ZooKeeper's TLS credentials in {folder}: {exc}") from None
        if renewed:
            _log(f"generated ZooKeeper's TLS credentials in {folder}")
            self.credentials_renewed = True
        return folder

    def settings(self) -> Settings:
        assert self.env_file is not None
        return load({"CHAOSHA_ENV_FILE": str(self.env_file)})

    @property
    def project(self) -> str:
        return self.settings().project

    # -- compose ----------------------------------------------------------
    def compose(
        self, *args: str, check: bool = True, capture: bool = False, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        if self.settings().get("CHAOSHA_LAB_PROJECT"):
            raise StackError(
                f"{self.env_file} is a lab's (its stack runs on the lab's hosts' engines): "
                "use `chaosha lab up|down|status` for it"
            )
        cmd = [
            "docker",
            "compose",
            "--project-directory",
            str(self.compose_dir),
            "-f",
            str(self.compose_dir / "docker-compose.yml"),
        ]
        if self.env_file is not None and self.env_file.is_file():
            cmd += ["--env-file", str(self.env_file)]
        for profile in self.profiles:
            cmd += ["--profile", profile]
        try:
            result = subprocess.run(
                cmd + list(args), env=self.environment(), timeout=timeout, capture_output=capture, text=True
            )
        except subprocess.TimeoutExpired:
            raise StackError(f"`docker compose {' '.join(args)}` took over {timeout:g}s") from None
        if check and result.returncode != 0:
            detail = (result.stderr or "").strip()[-2000:] if capture else ""
            raise StackError(f"`docker compose {' '.join(args)}` failed ({result.returncode}) {detail}")
        return result

    def environment(self) -> Dict[str, str]:
        """The process environment plus every setting chaosha resolved, for
        Compose (the shell's values win over ``--env-file`` in Compose too)."""
        settings = self.settings()
        env = dict(os.environ)
        env.update({k: v for k, v in settings.values.items() if k.startswith("CHAOSHA_") and v})
        env.update(CHAOSHA_PROJECT=settings.project, CHAOSHA_IMAGE_TAG=settings.image_tag)
        ca = env.get("CHAOSHA_BUILD_CA") or env.get("PIP_CERT") or env.get("SSL_CERT_FILE")
        if ca and Path(ca).is_file():
            env["CHAOSHA_BUILD_CA"] = ca
        return env

    def bootstrap(self) -> None:
        script = self.compose_dir / "bootstrap.sh"
        result = subprocess.run(["bash", str(script)], timeout=1800)
        if result.returncode != 0:
            raise StackError("bootstrap failed: see the [bootstrap] lines above")

    def check_loopback_guard(self) -> bool:
        """Warn when the ports publish on loopback but the raw-table rule of
        ``compose/loopback-guard.sh`` (added by the bootstrap) is missing:
        without it Docker 20.10 forwards packets for 127.0.0.1 that arrive on
        other interfaces.  True when guarded or not needed."""
        if not loopback_bind(self.settings().get("CHAOSHA_BIND")):
            return True
        script = self.compose_dir / "loopback-guard.sh"
        result = subprocess.run(["bash", str(script), "check"], capture_output=True, timeout=30)
        if result.returncode != 0:
            _log(
                "warning: the loopback guard is missing, so ports on 127.0.0.1 are reachable from hosts "
                f"that route 127.0.0.1 here: run `sudo {script}` (README: Limits)"
            )
        return result.returncode == 0

    def _own_ports(self) -> set:
        """Host ports this project's containers already publish."""
        out = self.compose("ps", "--all", "--format", "json", check=False, capture=True).stdout
        rows = []
        for line in out.splitlines():  # one JSON object per line (or one array)
            line = line.strip()
            if line:
                parsed = json.loads(line)
                rows.extend(parsed if isinstance(parsed, list) else [parsed])
        return {
            int(p["PublishedPort"]) for row in rows for p in row.get("Publishers") or [] if p.get("PublishedPort")
        }

    def check_ports(self, values: Dict[str, str]) -> None:
        """Refuse when a port Compose will publish (``values``: the resolved
        settings) is taken by anything but this project's own containers."""
        own = self._own_ports()
        bind = values.get("CHAOSHA_BIND") or "127.0.0.1"
        for key in PORT_KEYS:
            raw = values.get(key) or DEFAULTS[key]
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise StackError(
                    f"{key}={raw!r} is not a port number (1-65535): fix it in {self.env_file} or the environment"
                )
            port = int(raw)
            started = [*self.profiles, *values.get(NODES_KEY, DEFAULTS[NODES_KEY]).split(",")]
            if port in own or (key.startswith("CHAOSHA_PG3_") and "pg3" not in started):
                continue
            self._require_free(bind, port, key)

    def _require_free(self, bind: str, port: int, key: str) -> None:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((bind, port))
            except OSError:
                raise StackError(
                    f"port {bind}:{port} ({key}) is already taken by another program: "
                    f"stop it, or set {key}=<free port> in {self.env_file}"
                ) from None

    def check_owner(self) -> None:
        """Refuse to take over the project when its containers were created
        from another checkout or another env file (Compose labels each one
        with both): that would recreate them with other passwords."""
        settings = self.settings()
        here = (str(self.compose_dir.resolve()), str(Path(str(self.env_file)).resolve()))
        try:
            found = containers(settings)
        except ActivityFailed as exc:
            raise StackError(f"cannot list the containers of project {settings.project!r}: {exc}") from None
        for found_container in found:
            labels = found_container.labels
            theirs = (labels.get(WORKING_DIR_LABEL, ""), labels.get(ENV_FILE_LABEL, ""))
            if theirs[0] and theirs[0] != here[0] or theirs[1] and here[1] not in theirs[1].split(","):
                raise StackError(
                    f"Compose project {settings.project!r} already runs from {theirs[0]} with env file "
                    f"{theirs[1] or '(none)'}, not from {here[0]} with {here[1]}: set CHAOSHA_PROJECT "
                    f"(and CHAOSHA_PORT_BASE) to other values in {self.env_file}, or bring that stack "
                    "down from where it was started"
                )

    def build(self, images: Sequence[str] = IMAGES, no_cache: bool = False) -> None:
        """Build our images with ``docker build``, tagged ``chaosha/<image>:<tag>``.
        Not ``compose build``: it stamps Compose's project and service labels
        on the images, and every container run from them would pass as that
        service."""
        env = self.environment()
        ca = env.get("CHAOSHA_BUILD_CA") or str(self.compose_dir / "no-extra-ca.pem")
        env["DOCKER_BUILDKIT"] = "1"
        tag = self.settings().image_tag
        for image in images:
            cmd = [
                "docker",
                "build",
                "-q",
                "-f",
                str(self.compose_dir / image / "Dockerfile"),
                "-t",
                f"chaosha/{image}:{tag}",
                "--secret",
                f"id=ca,src={ca}",
                str(self.compose_dir),
            ]
            cmd[2:2] = ["--no-cache"] if no_cache else []
            try:
                result = subprocess.run(cmd, env=env, timeout=1800, capture_output=True, text=True)
            except subprocess.TimeoutExpired:
                raise StackError(f"building chaosha/{image}:{tag} took over 1800 s") from None
            if result.returncode != 0:
                raise StackError(f"building chaosha/{image}:{tag} failed: {result.stderr.strip()[-2000:]}")

    def up(self, wait: float = 180) -> Dict[str, object]:
        started = time.monotonic()
        self.bootstrap()
        self.check_loopback_guard()
        self.ensure_env()
        self.check_owner()
        values = dict(self.settings().values)
        try:
            failover_profile.values(values[failover_profile.PROFILE_KEY])
        except ActivityFailed as exc:
            raise StackError(str(exc)) from None
        self.check_ports(values)
        _log("building images (cached after the first time)")
        self.build()
        _log("starting containers")
        # containers still hold the files they were started with: new credentials need new containers
        renew = ["--force-recreate"] if self.credentials_renewed else []
        self.compose(
            *self._node_profiles_args(listed_only=True),
            "up",
            "-d",
            "--no-build",
            "--remove-orphans",
            *renew,
            *self._services_to_start(),
            timeout=300,
        )
        self.credentials_renewed = False
        ready = self.ready_on_profile(wait, "chaosha stack logs")
        ready["seconds"] = round(time.monotonic() - started, 1)
        return ready

    def ready_on_profile(self, wait: float, logs: str) -> Dict[str, object]:
        """After a start: :meth:`wait_ready`, then converge Patroni's
        ``/config`` on the failover profile (and wait again when it was
        patched); ``logs`` is the command StackError points to."""
        _log("waiting for a write through HAProxy on the Patroni leader")
        ready = self.wait_ready(wait)
        try:
            converged = failover_profile.converge(self.settings(), wait)
        except ActivityFailed as exc:
            raise StackError(f"{exc}; see `{logs}`") from None
        if converged["patched"]:
            _log(f"failover profile {converged['profile']}: Patroni's /config patched with {converged['patched']}")
            ready = self.wait_ready(wait)
        ready["profile"] = converged["profile"]
        return ready

    def wait_ready(self, timeout: float = 180) -> Dict[str, object]:
        """Wait until a write through the read-write port lands on the
        leader and every replica streams (what every experiment's steady
        state asks for)."""
        settings = self.settings()
        config = {"CHAOSHA_ENV_FILE": str(self.env_file)}

        def ready() -> Optional[Dict[str, object]]:
            if not write_succeeds("rw", configuration=config):
                return None
            route = routes_to_leader(configuration=config)
            if not route["routes_to_leader"] or not cluster_health(configuration=config)["healthy"]:
                return None
            return route

        try:
            route, _ = wait_until(
                ready, timeout, interval=1, what="a write through HAProxy on the leader, replicas streaming"
            )
        except ActivityFailed as exc:
            raise StackError(f"{exc}; see `chaosha stack logs`") from None
        return {"leader": route["leader"], "rw": f"{settings.host}:{settings.get('CHAOSHA_RW_PORT')}"}

    def down(self, volumes: bool = False) -> None:
        args = [*self._node_profiles_args(listed_only=False), "down", "--remove-orphans", "--timeout", "30"]
        if volumes:
            args.append("--volumes")
        self.compose(*args, timeout=300)

    def status(self) -> str:
        return self.compose("ps", capture=True).stdout

    def logs(self, services: List[str], tail: int = 200) -> None:
        self.compose("logs", "--no-color", f"--tail={tail}", *services)

    # -- nodes: `stack add-node` / `stack remove-node` ---------------------
    def patroni_services(self, *names: str) -> Dict[str, List[str]]:
        """The Compose file's PostgreSQL node services (those run from the
        Patroni image), with ``names``' profiles enabled: name -> profiles."""
        args = [a for n in names for a in ("--profile", n)]
        out = self.compose(*args, "config", "--format", "json", capture=True, timeout=60).stdout
        services = json.loads(out).get("services", {})
        return {
            name: list(spec.get("profiles") or [])
            for name, spec in services.items()
            if str(spec.get("image", "")).startswith("chaosha/patroni:")
        }

    def _listed(self) -> List[str]:
        return [n.strip() for n in self.settings().get(NODES_KEY).split(",") if n.strip()]

    def _node_profiles_args(self, listed_only: bool) -> List[str]:
        """``--profile`` arguments for the nodes of ``CHAOSHA_PG_NODES`` (a
        listed pg3 is started by ``up``), or for every node (``down`` removes
        a pg3 whatever the list says)."""
        found = self.patroni_services(*self._listed()) if listed_only else self.patroni_services("*")
        names = self._listed() if listed_only else list(found)
        return [a for n in names for p in found.get(n, []) for a in ("--profile", p)]

    def _services_to_start(self) -> List[str]:
        """Every service of the enabled profiles but the PostgreSQL nodes
        missing from ``CHAOSHA_PG_NODES`` (a removed pg1 stays removed)."""
        listed = self._listed()
        args = [a for n in listed for a in ("--profile", n)]
        out = self.compose(*args, "config", "--services", capture=True, timeout=60).stdout.split()
        nodes = self.patroni_services(*listed)
        return [s for s in out if s not in nodes or s in listed]

    def _node_profiles(self, name: str) -> List[str]:
        found = self.patroni_services(name)
        if name not in found:
            raise StackError(
                f"{name!r} is not a PostgreSQL node of {self.compose_dir / 'docker-compose.yml'} "
                f"(those are {', '.join(sorted(found))})"
            )
        return [a for p in found[name] for a in ("--profile", p)]

    def _with_nodes(self, nodes: str) -> Settings:
        """The stack's settings with ``CHAOSHA_PG_NODES`` = ``nodes``."""
        return load({"CHAOSHA_ENV_FILE": str(self.env_file), NODES_KEY: nodes})

    def _write_nodes(self, nodes: str) -> None:
        assert self.env_file is not None
        set_env_value(self.env_file, NODES_KEY, nodes)
        shell = os.environ.get(NODES_KEY)
        if shell and shell != nodes:
            _log(f"warning: {NODES_KEY}={shell} in the environment overrides {self.env_file} ({nodes})")

    def _streaming(self, settings: Settings, name: str) -> Optional[Dict[str, Any]]:
        found = patroni.members(settings, timeout=3)
        timeline = next((m.get("timeline") for m in found if m.get("role") == "leader"), None)
        member = next((m for m in found if m.get("name") == name), None)
        return member if member and streams(member, timeline) else None

    def add_node(self, name: str, wait: float = 300) -> Dict[str, Any]:
        """Start node ``name`` (its Compose profile enabled), wait until it
        streams from the leader, then add it to ``CHAOSHA_PG_NODES`` in the
        env file.  Nothing to do when it is listed and streams already."""
        started = time.monotonic()
        profiles = self._node_profiles(name)
        current = self.settings().get(NODES_KEY)
        settings = self._with_nodes(with_node(current, name))
        state.refuse_while_busy(settings, f"stack add-node {name}", False)
        node = settings.pg_node(name)
        listed = with_node(current, name) == current
        if listed and self._streaming(settings, name):
            return {"node": name, "changed": False, "nodes": current}
        own = self._own_ports()
        bind = settings.get("CHAOSHA_BIND") or "127.0.0.1"
        for key, port in (
            (f"CHAOSHA_{name.upper()}_PORT", node.port),
            (f"CHAOSHA_{name.upper()}_API_PORT", node.api_port),
        ):
            if port not in own:
                self._require_free(bind, port, key)
        _log(f"starting {name}")
        self.compose(*profiles, "up", "-d", "--no-build", "--no-deps", name, timeout=300)
        _log(f"waiting until {name} streams from the leader (a new node copies a base backup first)")
        try:
            wait_until(lambda: self._streaming(settings, name), wait, 1, f"{name} streaming from the leader")
        except ActivityFailed as exc:
            raise StackError(
                f"{exc}: {NODES_KEY} is unchanged; see `chaosha stack logs {name}`; "
                f"`chaosha stack remove-node {name}` undoes the start (--purge: its data too)"
            ) from None
        self._write_nodes(with_node(current, name))
        return {
            "node": name,
            "changed": True,
            "nodes": with_node(current, name),
            "took_s": round(time.monotonic() - started, 1),
        }

    def remove_node(self, name: str, force: bool = False, purge: bool = False, wait: float = 90) -> Dict[str, Any]:
        """Take node ``name`` out of the cluster: switch over away from it
        if it leads (nothing is stopped when that fails), stop and remove its
        container, wait until Patroni forgets the member, drop it from
        ``CHAOSHA_PG_NODES``, and have Patroni drop its replication slot on
        every node left.  Its volume is kept (a re-add resumes from it)
        unless ``purge``.  Refused when no node that could serve would be
        left, and, unless ``force``, when only one would (no synchronous
        standby)."""
        started = time.monotonic()
        profiles = self._node_profiles(name)
        current = self.settings().get(NODES_KEY)
        everyone = self._with_nodes(with_node(current, name))
        remaining = self._with_nodes(without_node(current, name))
        state.refuse_while_busy(everyone, f"stack remove-node {name}", False)
        if patroni.restore_slot_retention(everyone):
            _log("restored member_slots_ttl, left suspended by a removal that did not finish")
        found = patroni.members(everyone)
        done: List[str] = []
        if any(m.get("name") == name for m in found):
            refusal = removal_refusal(found, name, force)
            if refusal:
                raise StackError(refusal)
            if next((m["name"] for m in found if m.get("role") == "leader"), "") == name:
                done.append(self._switch_away(everyone, name, wait))
        if self.compose(*profiles, "ps", "--all", "-q", name, capture=True, timeout=60).stdout.strip():
            _log(f"stopping and removing {name}")
            self.compose(*profiles, "stop", name, capture=True, timeout=120)
            self.compose(*profiles, "rm", "--force", name, capture=True, timeout=120)
            done.append("container-removed")

        def forgotten() -> bool:
            return not any(m.get("name") == name for m in patroni.members(remaining, timeout=3))

        wait_until(forgotten, wait, 1, f"Patroni to forget member {name} (its ZooKeeper session to end)")
        if without_node(current, name) != current:
            self._write_nodes(without_node(current, name))
            done.append(f"{NODES_KEY}={without_node(current, name)}")
        if "container-removed" in done:
            self._forget_address(name, wait)
            done.append("haproxy-restarted")
        dropped = self._drop_member_slot(remaining, name, wait)
        if dropped:
            done.append(f"slot-dropped:{','.join(dropped)}")
        volume = self._node_volume(name)
        if purge and volume:
            subprocess.run(["docker", "volume", "rm", volume], check=True, capture_output=True, timeout=60)
            done.append(f"volume-removed:{volume}")
        return {
            "node": name,
            "changed": bool(done),
            "done": done,
            "nodes": without_node(current, name),
            "volume": "" if purge else volume,
            "took_s": round(time.monotonic() - started, 1),
        }

    def _forget_address(self, name: str, wait: float) -> None:
        """Restart HAProxy so it lets go of removed node ``name``'s address:
        it keeps a vanished server's last address (``hold nx``: states change
        only by checks) and refuses an address another server of the backend
        holds, so the next container given that address would be stuck
        behind a stale entry.  Clients reconnect (~1 s)."""
        _log(f"restarting HAProxy so it lets go of {name}'s last address")
        self.compose("restart", "haproxy", capture=True, timeout=60)
        config = {"CHAOSHA_ENV_FILE": str(self.env_file)}
        what = "HAProxy to route to the leader"
        wait_until(lambda: routes_to_leader(configuration=config)["routes_to_leader"], wait, 0.5, what)

    def _switch_away(self, settings: Settings, name: str, wait: float) -> str:
        def sync_standby() -> bool:
            # a leader that just took over has no synchronous standby until a replica streams from it
            members = patroni.members(settings, timeout=3)
            synchronous = any(m.get("role") == "sync_standby" for m in members)
            return synchronous and bool(switchover_candidate(members, name))

        try:
            wait_until(sync_standby, min(wait, 60), 1, f"a synchronous standby of {name}")
        except ActivityFailed as exc:
            raise StackError(f"{exc}: no synchronous standby to take over from {name}; nothing stopped") from None
        # Patroni picks the synchronous standby itself: our view of /sync may be
        # a loop behind (e.g. right after synchronous_node_count changed)
        _log(f"{name} leads: switching over (Patroni picks its synchronous standby)")
        code, text = patroni.post(settings, "/switchover", {"leader": name})
        if code not in (200, 202):
            raise StackError(f"Patroni refused the switchover away from {name} ({code}): {text}; nothing stopped")
        try:
            new, _ = patroni.wait_for_primary(settings, wait, exclude=name)
        except ActivityFailed as exc:
            raise StackError(f"{exc}; {name} was not stopped") from None
        return f"switchover:{name}->{new}"

    def _slot_holders(self, settings: Settings, slot: str) -> List[str]:
        sql = "SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s"
        return [n.name for n in settings.pg_nodes if query(settings, n.name, sql, (slot,), timeout=5)]

    def _drop_member_slot(self, settings: Settings, name: str, wait: float) -> List[str]:
        """Have Patroni drop the slot of removed member ``name`` on every
        node left: Patroni 4 keeps the slots of vanished members for
        ``member_slots_ttl`` (30 min by default; an inactive slot pins WAL)
        and recreates one dropped behind its back, so the retention is
        suspended (0) until the slot is gone, then restored.  Returns the
        nodes that held it."""
        slot = slot_name(name)
        held = self._slot_holders(settings, slot)
        if not held:
            return []
        _log(f"slot {slot} on {', '.join(held)}: suspending Patroni's member_slots_ttl until it is dropped")
        patroni.suspend_slot_retention(settings)
        try:
            wait_until(lambda: not self._slot_holders(settings, slot), wait, 1, f"Patroni to drop slot {slot}")
        finally:
            patroni.restore_slot_retention(settings)
        return held

    def _node_volume(self, name: str) -> str:
        """The Docker volume of node ``name``'s data ("" when there is none)."""
        project = self.settings().project
        out = subprocess.run(
            [
                "docker",
                "volume",
                "ls",
                "-q",
                "--filter",
                f"label=com.docker.compose.project={project}",
                "--filter",
                f"label=com.docker.compose.volume={name}-data",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
        return out[0] if out else ""


def loopback_bind(bind: str) -> bool:
    """True when ``CHAOSHA_BIND`` (empty: 127.0.0.1) is a loopback address."""
    try:
        return ipaddress.ip_address(bind or "127.0.0.1").is_loopback
    except ValueError:  # a host name: not ours to judge
        return False


def docker_available() -> bool:
    """True when a Docker engine answers (for tests and the CLI)."""
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
