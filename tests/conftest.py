"""Shared fixtures.  Integration tests run against a real stack that these
fixtures start under their own Compose project name and ports:

- ``CHAOSHA_TEST_PROJECT`` (default ``chaosha-test``) and
  ``CHAOSHA_TEST_PORT_BASE`` (default 31000: twelve ports from there) let
  several test runs share one machine; the defaults sit below Linux's
  ephemeral range (32768-60999), where an outgoing connection of the tests'
  own writers could hold a port the moment ``up`` checks it;
- ``CHAOSHA_TEST_FAILOVER_PROFILE`` (default ``default``) picks the
  stack's failover profile (``fast``: the CI leg ``.ci/fast``);
- ``CHAOSHA_TEST_KEEP=1`` leaves the stack running for the next run (it is
  reused when healthy); otherwise it is torn down, volumes included.

Tests keep chaosha's state (fault registries, locks, workloads) under
``.chaosha/test-state`` of the checkout, never in the user's own state dir.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator

import pytest

from chaosha.config import Settings
from chaosha.stack import Stack, docker_available

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CHAOSHA_STATE_DIR", str(ROOT / ".chaosha" / "test-state"))
# `chaos` subprocesses import this checkout's chaosha too, not whichever the venv has installed.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


@pytest.fixture(scope="session")
def zk_credentials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of ZooKeeper TLS credentials as ``stack up`` generates them
    (server certificate valid for 127.0.0.1), made once per test session."""
    from chaosha.clients import zk_tls

    folder = tmp_path_factory.mktemp("zk") / "stack.tls"
    zk_tls.generate(folder, ["zk1", "localhost", "127.0.0.1"])
    return folder


@dataclass
class StackHandle:
    stack: Stack
    configuration: Dict[str, str]

    @property
    def settings(self) -> Settings:
        return self.stack.settings()


def _test_stack(tmp_root: Path) -> Stack:
    project = os.environ.get("CHAOSHA_TEST_PROJECT", "chaosha-test")
    base = int(os.environ.get("CHAOSHA_TEST_PORT_BASE", "31000"))
    stack = Stack.isolated(project, base, tmp_root)
    # CHAOSHA_TEST_FAILOVER_PROFILE=fast: the same tests on the fast profile (.ci/fast)
    stack.overrides["CHAOSHA_FAILOVER_PROFILE"] = os.environ.get("CHAOSHA_TEST_FAILOVER_PROFILE", "default")
    return stack


@pytest.fixture(scope="session")
def stack() -> Iterator[StackHandle]:
    if not docker_available():
        pytest.fail("integration tests need a Docker engine: run compose/bootstrap.sh first")
    state = ROOT / ".chaosha" / "test-stacks"
    state.mkdir(parents=True, exist_ok=True)
    handle_stack = _test_stack(state)
    keep = os.environ.get("CHAOSHA_TEST_KEEP") == "1"
    configuration = {"CHAOSHA_ENV_FILE": str(handle_stack.env_file)}
    handle = StackHandle(handle_stack, configuration)
    reused = False
    if keep and handle_stack.env_file and handle_stack.env_file.exists():
        try:
            handle_stack.wait_ready(timeout=5)
            reused = True
        except Exception:  # noqa: BLE001 - not healthy: start afresh
            reused = False
    if not reused:
        handle_stack.ensure_env()
        handle_stack.down(volumes=True)  # leftovers of an interrupted run
        handle_stack.up(wait=240)
    from chaosha.patroni.probes import wait_for_healthy

    wait_for_healthy(120, configuration=configuration)
    yield handle
    if not keep:
        handle_stack.down(volumes=True)


@pytest.fixture
def healthy(stack: StackHandle) -> Iterator[StackHandle]:
    """A stack that is healthy before the test and healed after it."""
    from chaosha.docker.actions import heal
    from chaosha.patroni.probes import wait_for_healthy

    wait_for_healthy(120, configuration=stack.configuration)
    try:
        yield stack
    finally:
        heal(configuration=stack.configuration)
        wait_for_healthy(180, configuration=stack.configuration)
