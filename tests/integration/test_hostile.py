"""Bad input and hostile conditions, tried as a new user would: a clear
message naming the fix, and nothing started or lost."""

import os
import pwd
import socket
import subprocess
from pathlib import Path

import pytest

from chaosha.stack import PORT_KEYS, Stack, StackError

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "compose" / "bootstrap.sh"


def project_containers(project: str) -> str:
    return subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()


def hostile_stack(tmp_path: Path, **extra: str) -> Stack:
    overrides = {"CHAOSHA_PROJECT": "chaosha-hostile"}
    for key in PORT_KEYS:  # free ports, whatever else runs on this machine
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            overrides[key] = str(free.getsockname()[1])
    overrides.update(extra)
    return Stack(compose_dir=ROOT / "compose", env_file=tmp_path / "hostile.env", overrides=overrides)


def test_bootstrap_says_when_the_disk_is_too_small():
    result = subprocess.run(
        ["bash", str(BOOTSTRAP)],
        env=dict(os.environ, CHAOSHA_MIN_FREE_GB="999999"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "free some disk" in result.stderr and "999999G" in result.stderr


def test_bootstrap_as_a_user_without_docker_access_names_the_fix():
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user on this machine to try it with")
    result = subprocess.run(
        ["su", "nobody", "-s", "/bin/bash", "-c", f"bash {BOOTSTRAP}"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "add yourself to the docker group" in result.stderr or "needs root" in result.stderr


def test_up_refuses_a_taken_port_before_starting_anything(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = hostile_stack(tmp_path, CHAOSHA_STATS_PORT=str(port))
        with pytest.raises(StackError, match=rf"127.0.0.1:{port} \(CHAOSHA_STATS_PORT\) is already taken"):
            stack.up(wait=10)
    assert project_containers("chaosha-hostile") == ""


def test_up_refuses_a_malformed_env_file_and_keeps_it(tmp_path):
    env = tmp_path / "hostile.env"
    env.write_text("CHAOSHA_PG_PASSWORD=keep-me\nCHAOSHA_RW_PORT=five\n")
    stack = Stack(compose_dir=ROOT / "compose", env_file=env)
    with pytest.raises(StackError, match="CHAOSHA_RW_PORT='five' is not a port number"):
        stack.up(wait=10)
    assert env.read_text() == "CHAOSHA_PG_PASSWORD=keep-me\nCHAOSHA_RW_PORT=five\n"


def test_compose_refuses_to_start_without_passwords(tmp_path):
    env = tmp_path / "empty.env"
    env.write_text("CHAOSHA_PROJECT=chaosha-hostile\n")
    result = subprocess.run(
        [
            "docker",
            "compose",
            "-f",
            str(ROOT / "compose" / "docker-compose.yml"),
            "--env-file",
            str(env),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "run 'chaosha stack up'" in result.stderr
