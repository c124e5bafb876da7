"""The lab (``chaosha lab up|down|status``): the stack spread over three
"hosts" on this machine, each a container that runs its own Docker engine
and ssh server (compose/lab/), on a bridge network with fixed addresses.

host1 runs zk1 + pg1, host2 zk2 + pg2, host3 zk3 + HAProxy; services reach
each other by host address and published port (compose/lab/spread.yml).
Nothing is pulled: our images are built once on this machine's engine and
loaded into each host's (``docker save | docker load``).  The lab writes one
env file (``<folder>/<project>.env``: the stack's passwords, every node's
host, ``CHAOSHA_DOCKER_HOSTS`` = each service's engine on
``tcp://<host>:2375``) beside ZooKeeper's credentials and the ssh key and
config (``<project>.ssh/``), so every chaosha command and experiment runs
against the lab with ``CHAOSHA_ENV_FILE`` pointing at that file.
"""

import ipaddress
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

from chaosha.config import CHECKOUT
from chaosha.stack import IMAGES, Stack, StackError, find_compose_dir

__all__ = ["Lab", "HOSTS", "LAB_LABEL", "ENGINE_PORT", "default_folder"]

# host -> the services it runs, in start order
HOSTS: Dict[str, Tuple[str, ...]] = {"host1": ("zk1", "pg1"), "host2": ("zk2", "pg2"), "host3": ("zk3", "haproxy")}
# service -> its host (HAProxy's host is CHAOSHA_HOST)
PLACEMENT = {service: host for host, services in HOSTS.items() for service in services}
LAB_LABEL = "chaosha.lab"  # on every node container: the lab's project
ENGINE_PORT = 2375
# The ports of a real machine: every host has an address of its own.
PORTS = {
    "CHAOSHA_RW_PORT": "5432",
    "CHAOSHA_RO_PORT": "5433",
    "CHAOSHA_STATS_PORT": "7000",
    "CHAOSHA_PG1_PORT": "5432",
    "CHAOSHA_PG1_API_PORT": "8008",
    "CHAOSHA_PG2_PORT": "5432",
    "CHAOSHA_PG2_API_PORT": "8008",
    "CHAOSHA_ZK1_PORT": "2281",
    "CHAOSHA_ZK2_PORT": "2281",
    "CHAOSHA_ZK3_PORT": "2281",
}
DEFAULT_SUBNET = "10.27.0.0/24"
ENGINE_WAIT_S = 90.0
LOAD_TIMEOUT_S = 900.0


def default_folder() -> Path:
    """Where ``chaosha lab`` keeps its files: the checkout's ``.chaosha/lab``."""
    return CHECKOUT / ".chaosha" / "lab"


def _log(message: str) -> None:
    print(f"[chaosha lab] {message}", file=sys.stderr, flush=True)


def _run(cmd: List[str], timeout: float, what: str, **kwargs: object) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(cmd, timeout=timeout, capture_output=True, text=True, **kwargs)  # type: ignore
    except subprocess.TimeoutExpired:
        raise StackError(f"{what} took over {timeout:g}s") from None
    if result.returncode != 0:
        raise StackError(
            f"{what} failed ({result.returncode}): {(result.stderr or result.stdout).strip()[-1500:]}"
        )
    return result


@dataclass
class Lab:
    """One lab: node containers of Compose project ``project`` on this
    machine's engine, the stack's Compose project ``<project>-stack`` on
    every node's engine."""

    project: str = "chaosha-lab"
    folder: Path = field(default_factory=default_folder)
    subnet: str = DEFAULT_SUBNET
    profile: str = "default"
    compose_dir: Path = field(default_factory=find_compose_dir)

    @property
    def env_file(self) -> Path:
        return self.folder / f"{self.project}.env"

    @property
    def ssh_dir(self) -> Path:
        return self.folder / f"{self.project}.ssh"

    @property
    def stack_project(self) -> str:
        return f"{self.project}-stack"

    def addresses(self) -> Dict[str, str]:
        """host -> its address on the lab network (.11, .12, .13)."""
        network = ipaddress.ip_network(self.subnet)
        if network.num_addresses < 16:
            raise StackError(f"lab subnet {self.subnet} is too small: use a /28 or larger")
        return {host: str(network.network_address + 11 + i) for i, host in enumerate(HOSTS)}

    def engine_url(self, host: str) -> str:
        return f"tcp://{self.addresses()[host]}:{ENGINE_PORT}"

    def ssh_url(self, host: str) -> str:
        return f"ssh://root@{self.addresses()[host]}"

    # -- configuration ----------------------------------------------------
    def values(self) -> Dict[str, str]:
        """The settings the lab writes into its env file."""
        ip = self.addresses()
        values = {
            "CHAOSHA_LAB_PROJECT": self.project,
            "CHAOSHA_LAB_SUBNET": self.subnet,
            **{f"CHAOSHA_LAB_{host.upper()}": address for host, address in ip.items()},
            "CHAOSHA_LAB_SSH_DIR": str(self.ssh_dir.resolve()),
            "CHAOSHA_PROJECT": self.stack_project,
            "CHAOSHA_FAILOVER_PROFILE": self.profile,
            "CHAOSHA_PG_NODES": "pg1,pg2",
            "CHAOSHA_HOST": ip[PLACEMENT["haproxy"]],
            **{f"CHAOSHA_{s.upper()}_HOST": ip[h] for s, h in PLACEMENT.items() if s != "haproxy"},
            **PORTS,
            "CHAOSHA_DOCKER_HOSTS": ",".join(f"{s}={self.engine_url(h)}" for s, h in PLACEMENT.items()),
            "CHAOSHA_SSH_CONFIG": str((self.ssh_dir / "config").resolve()),
        }
        return values

    def stack(self) -> Stack:
        return Stack(compose_dir=self.compose_dir, env_file=self.env_file, overrides=self.values())

    def ensure_ssh(self) -> None:
        """A client key, one host key for every node, the authorized_keys,
        known_hosts and an ssh config beside the env file (kept once made)."""
        folder = self.ssh_dir
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        for name in ("id_ed25519", "host_key"):
            if not (folder / name).is_file():
                _run(
                    [
                        "ssh-keygen",
                        "-q",
                        "-t",
                        "ed25519",
                        "-N",
                        "",
                        "-C",
                        f"{self.project}-{name}",
                        "-f",
                        str(folder / name),
                    ],
                    30,
                    "ssh-keygen",
                )
        (folder / "authorized_keys").write_text((folder / "id_ed25519.pub").read_text())
        ip = self.addresses()
        host_key = " ".join((folder / "host_key.pub").read_text().split()[:2])
        (folder / "known_hosts").write_text(f"{','.join(ip.values())} {host_key}\n")
        (folder / "config").write_text(
            f"# Written by `chaosha lab up`: ssh to the lab's hosts (CHAOSHA_SSH_CONFIG)\n"
            f"Host {' '.join(ip.values())}\n"
            "  User root\n"
            f"  IdentityFile {(folder / 'id_ed25519').resolve()}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {(folder / 'known_hosts').resolve()}\n"
            "  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 5\n"
            "  ServerAliveInterval 5\n"
            "  ServerAliveCountMax 2\n"
        )

    # -- outer compose and the engines -------------------------------------
    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``docker compose`` of the node containers, on this machine's engine."""
        cmd = [
            "docker",
            "compose",
            "--project-directory",
            str(self.compose_dir / "lab"),
            "-f",
            str(self.compose_dir / "lab" / "docker-compose.yml"),
            "--env-file",
            str(self.env_file),
        ]
        return _run(cmd + list(args), timeout, f"`docker compose {' '.join(args)}` of the lab", env=self._env())

    def _env(self, bind: str = "") -> Dict[str, str]:
        env = self.stack().environment()
        if bind:
            env["CHAOSHA_BIND"] = bind
        return env

    def stack_compose(self, host: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``docker compose`` of the stack on ``host``'s engine (its services
        publish on the host's address)."""
        cmd = [
            "docker",
            "-H",
            self.engine_url(host),
            "compose",
            "--project-directory",
            str(self.compose_dir),
            "-f",
            str(self.compose_dir / "docker-compose.yml"),
            "-f",
            str(self.compose_dir / "lab" / "spread.yml"),
            "--env-file",
            str(self.env_file),
        ]
        env = self._env(bind=self.addresses()[host])
        # each engine's own network for the stack (compose/lab/spread.yml), one per host as on machines
        number = list(HOSTS).index(host) + 1
        env.update(
            CHAOSHA_LAB_STACK_SUBNET=f"172.31.{number}.0/24", CHAOSHA_LAB_STACK_GATEWAY=f"172.31.{number}.254"
        )
        return _run(cmd + list(args), timeout, f"`docker compose {' '.join(args)}` on {host}", env=env)

    def engine(self, host: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """A docker command against ``host``'s engine."""
        return _run(["docker", "-H", self.engine_url(host), *args], timeout, f"`docker {args[0]}` on {host}")

    def wait_engines(self, timeout: float = ENGINE_WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        for host in HOSTS:
            while True:
                try:
                    self.engine(host, "info", "--format", "{{.ServerVersion}}", timeout=10)
                    break
                except StackError as exc:
                    if time.monotonic() > deadline:
                        raise StackError(
                            f"the engine of {host} did not answer within {timeout:g}s: {exc}"
                        ) from None
                    time.sleep(1)

    def images(self) -> List[str]:
        tag = self.stack().settings().image_tag
        return [f"chaosha/{image}:{tag}" for image in IMAGES]

    def load_images(self) -> Dict[str, float]:
        """Load our images into every host's engine (in parallel), skipping
        a host that has the same image IDs already; host -> seconds."""
        wanted = self.images()
        ids = _run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", *wanted], 60, "docker image inspect"
        ).stdout.split()
        took: Dict[str, float] = {}
        errors: List[str] = []

        def load(host: str) -> None:
            started = time.monotonic()
            have = subprocess.run(
                ["docker", "-H", self.engine_url(host), "image", "inspect", "-f", "{{.Id}}", *wanted],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.split()
            if have == ids:
                took[host] = 0.0
                return
            script = f"set -o pipefail; docker save {' '.join(wanted)} | docker -H {self.engine_url(host)} load -q"
            try:
                _run(["bash", "-c", script], LOAD_TIMEOUT_S, f"loading the images into {host}")
            except StackError as exc:
                errors.append(str(exc))
            took[host] = round(time.monotonic() - started, 1)

        threads = [threading.Thread(target=load, args=(host,)) for host in HOSTS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise StackError("; ".join(errors))
        return took

    # -- commands -------------------------------------------------------------
    def up(self, wait: float = 300) -> Dict[str, object]:
        """Build, start the hosts, load the images, spread the stack and
        wait for a write through HAProxy on the leader."""
        started = time.monotonic()
        stack = self.stack()
        stack.bootstrap()
        self.folder.mkdir(parents=True, exist_ok=True)
        stack.ensure_env()
        self.ensure_ssh()
        _log("building the stack's images and the node image (cached after the first time)")
        stack.build()
        node_image = f"chaosha/lab-node:{self.project}"
        _run(
            [
                "docker",
                "build",
                "-q",
                "-f",
                str(self.compose_dir / "lab" / "Dockerfile"),
                "-t",
                node_image,
                str(self.compose_dir),
            ],
            1800,
            f"building {node_image}",
            env=dict(self._env(), DOCKER_BUILDKIT="1"),
        )
        built = time.monotonic()
        _log(f"starting the hosts {', '.join(f'{h} {a}' for h, a in self.addresses().items())}")
        self.compose("up", "-d", "--remove-orphans")
        self.wait_engines()
        _log("loading the images into every host's engine")
        loads = self.load_images()
        loaded = time.monotonic()
        # ZooKeeper on every host first: a Patroni node's start waits until
        # the members on its own engine are healthy, i.e. serve in a quorum
        for phase in (0, 1):
            for host, services in HOSTS.items():
                _log(f"starting {services[phase]} on {host}")
                self.stack_compose(host, "up", "-d", "--no-build", "--no-deps", services[phase])
        ready = stack.ready_on_profile(wait, "chaosha lab status")
        now = time.monotonic()
        return dict(
            ready,
            env_file=str(self.env_file),
            hosts=self.addresses(),
            build_s=round(built - started, 1),
            load_s=loads,
            hosts_and_images_s=round(loaded - built, 1),
            stack_s=round(now - loaded, 1),
            took_s=round(now - started, 1),
        )

    def down(self) -> None:
        """Remove the hosts with their engines' volumes: everything the
        stack ran on them goes too.  The env file and keys stay."""
        if not self.env_file.is_file():
            raise StackError(f"no lab env file {self.env_file}: nothing to bring down (or another --folder)")
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout=300)

    def status(self) -> Dict[str, object]:
        """Each host: its node container's state and the stack's containers on its engine."""
        out: Dict[str, object] = {}
        for host in HOSTS:
            try:
                rows = self.engine(host, "ps", "-a", "--format", "{{.Names}} {{.Status}}", timeout=15).stdout
                out[host] = {"address": self.addresses()[host], "containers": rows.splitlines()}
            except StackError as exc:
                out[host] = {"address": self.addresses()[host], "error": str(exc)}
        return out
