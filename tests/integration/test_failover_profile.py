"""The failover profile the test stack runs (CHAOSHA_TEST_FAILOVER_PROFILE:
"default" in `make test`, "fast" in .ci/fast) is what every part really
runs with, and the fast profile's patched Patroni 4.1.5, in the real image:
it accepts the fast profile's 7 s ttl where stock Patroni forces 20, and a container whose
Patroni is another version refuses to start, saying why."""

import subprocess
from typing import List

import pytest

from chaosha import failover_profile
from chaosha.clients import patroni
from chaosha.timing import wait_until

pytestmark = pytest.mark.integration

ROOT_ENV = ["-e", "PATRONI_SUPERUSER_PASSWORD=x"]


def profile_of(stack) -> str:
    return stack.settings.get(failover_profile.PROFILE_KEY)


def test_every_zookeeper_session_is_the_ttl_patroni_knows(stack):
    name, settings = profile_of(stack), stack.settings
    ttl = failover_profile.dcs(name)["ttl"]
    want = [ttl * 1000] * len(settings.pg_nodes)
    # negotiated by ZooKeeper (4lw cons) = requested by kazoo = Patroni's own dcs.ttl: no clamp
    sessions, _ = wait_until(
        lambda: failover_profile.session_timeouts_ms(settings) == want, 30, 1, f"sessions of {ttl} s"
    )
    assert failover_profile.session_timeouts_ms(settings) == want


def test_zookeeper_runs_the_profiles_tick_and_limits(stack):
    found = failover_profile.values(profile_of(stack))
    keys = {
        "tickTime": "ZK_TICK_MS",
        "initLimit": "ZK_INIT_LIMIT",
        "syncLimit": "ZK_SYNC_LIMIT",
        "minSessionTimeout": "ZK_MIN_SESSION_MS",
        "maxSessionTimeout": "ZK_MAX_SESSION_MS",
    }
    for node in stack.settings.zk_nodes:
        zoo_cfg = ("exec", "-T", node.name, "cat", "/var/lib/zookeeper/zoo.cfg")
        text = stack.stack.compose(*zoo_cfg, capture=True).stdout
        cfg = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        assert {k: cfg[k] for k in keys} == {k: found[v] for k, v in keys.items()}, node.name


def test_patroni_config_is_the_profiles_and_no_value_was_raised(stack):
    name = profile_of(stack)
    wanted = failover_profile.dcs(name)
    current = patroni.dynamic_config(stack.settings)
    assert failover_profile.differences(wanted, current) == {}, current
    for node in stack.settings.pg_nodes:
        logs = stack.stack.compose("logs", "--no-color", node.name, capture=True).stdout
        # stock Patroni says "ttl=7 can't be smaller than 20, adjusting..." and runs with 20 (the
        # previous profile's values may be raised once, in a stack switched before convergence)
        assert f"ttl={wanted['ttl']} can't be smaller than" not in logs, node.name
        assert f"where ttl={wanted['ttl']}" not in logs, node.name  # "Violated the rule ..."
        assert ("chaosha: Patroni 4.1.5 patched" in logs) == (name == "fast"), node.name


def run_image(stack, script: str, extra=()) -> subprocess.CompletedProcess:
    """``script`` (sh) in a throw-away container of the stack's Patroni image."""
    image = f"chaosha/patroni:{stack.settings.image_tag}"
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", *extra, "--entrypoint", "sh", image, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )


FAST_TTL = failover_profile.dcs("fast")["ttl"]
VALIDATE = (
    f"from patroni.config import Config; import patroni.ha, inspect; c = {{'ttl': {FAST_TTL}, 'loop_wait': 1, "
    "'retry_timeout': 3}; Config._validate_and_adjust_timeouts(object.__new__(Config), c); "
    "race = 'timeout=Timeout(connect=0.25, read=1), retries=0' in "
    "inspect.getsource(patroni.ha.Ha.fetch_node_status) and patroni.ha.Timeout is __import__('urllib3').Timeout; "
    "grace = [inspect.getsource(f).count('time.sleep(0.2)') for f in (patroni.ha.Ha.demote, "
    "patroni.ha.Ha.shutdown)]; import patroni.postgresql as pg; "
    "print(c, race, grace, pg.STOP_POLLING_INTERVAL)"
)


def stock_and_patched(stack, python: str) -> List[str]:
    """What ``python`` prints under the image's stock Patroni, then under
    the copy the short-ttl patch makes (one line each)."""
    script = (
        f'/opt/patroni/bin/python3 -c "{python}" && '
        "/opt/patroni/bin/python3 /usr/local/lib/chaosha/short_ttl_patch.py /tmp/p && "
        f'PYTHONPATH=/tmp/p /opt/patroni/bin/python3 -c "{python}"'
    )
    result = run_image(stack, script)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()


def test_the_patched_install_accepts_the_fast_ttl_where_stock_forces_20(stack):
    stock, patched = stock_and_patched(stack, VALIDATE)
    assert stock == "{'ttl': 20, 'loop_wait': 1, 'retry_timeout': 3} False [0, 0] 1"
    assert patched == f"{{'ttl': {FAST_TTL}, 'loop_wait': 1, 'retry_timeout': 3}} True [1, 1] 0.1"


# Patroni's own Ha.update_failsafe (the answer to an old leader's POST
# /failsafe) asked by stand-ins for a member: holding the key as a replica,
# promoting, a plain replica, a running primary.  A str is a refusal.
FAILSAFE_ASK = (
    "import types; from patroni.postgresql.misc import PostgresqlRole as R, PostgresqlState as S; "
    "import patroni.ha as h; ask = lambda leader, role: h.Ha.update_failsafe(types.SimpleNamespace("
    "is_leader=lambda: leader, state_handler=types.SimpleNamespace(state=S.RUNNING, role=role), "
    "_failsafe=types.SimpleNamespace(update=lambda d: None), _last_wal_lsn=5), {'name': 'old'}); "
    "print([ask(True, R.REPLICA), ask(False, R.PROMOTED), ask(False, R.REPLICA), ask(False, R.PRIMARY)])"
)


def test_the_patched_install_refuses_an_old_leaders_failsafe_call_while_holding_the_key_or_promoting(stack):
    stock, patched = stock_and_patched(stack, FAILSAFE_ASK)
    assert stock == "[5, 5, 5, 'Running as a leader']"  # the race master-partition hit on fast
    assert patched == "['Running as a leader', 'Running as a leader', 5, 'Running as a leader']"


# A Patroni install that says 4.1.4: the real package with its version.py and
# distribution metadata changed, first on the image's path (PYTHONPATH).
FAKE_414 = (
    "set -e; site=$(/opt/patroni/bin/python3 -c "
    "'import patroni, os; print(os.path.dirname(patroni.__path__[0]))'); "
    "mkdir -p /tmp/old && cp -r $site/patroni /tmp/old/ && cp -r $site/patroni-4.1.5.dist-info "
    "/tmp/old/patroni-4.1.4.dist-info && sed -i \"s/'4.1.5'/'4.1.4'/\" /tmp/old/patroni/version.py && "
    "sed -i 's/^Version: 4.1.5$/Version: 4.1.4/' /tmp/old/patroni-4.1.4.dist-info/METADATA; "
)


def test_a_container_with_another_patroni_version_refuses_to_start_saying_why(stack):
    fast = [a for k, v in failover_profile.values("fast").items() for a in ("-e", f"{k}={v}")]
    env = [*ROOT_ENV, *fast, "-e", "PYTHONPATH=/tmp/old", "-e", "PATRONI_NAME=pgx"]
    result = run_image(stack, FAKE_414 + "exec /usr/local/bin/patroni-entrypoint", env)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "refusing to start Patroni with the fast failover profile" in result.stderr
    assert "for Patroni 4.1.5 exactly, but installed distribution says 4.1.4, patroni/version.py says 4.1.4" in (
        result.stderr
    )
    assert "Connecting to" not in result.stderr + result.stdout  # Patroni itself never ran


def test_the_default_profile_runs_that_same_install_unpatched(stack):
    default = [a for k, v in failover_profile.values("default").items() for a in ("-e", f"{k}={v}")]
    env = [*ROOT_ENV, *default, "-e", "PYTHONPATH=/tmp/old", "-e", "PATRONI_NAME=pgx"]
    # no ZooKeeper on --network none: Patroni starts (and would wait for the DCS); 8 s are enough to see it
    result = run_image(stack, FAKE_414 + "set +e; timeout 8 /usr/local/bin/patroni-entrypoint; echo rc=$?", env)
    assert "rc=124" in result.stdout, (result.stdout, result.stderr)
    assert "refusing to start Patroni" not in result.stderr and "Connecting to" not in result.stderr
    assert "Cannot resolve zk1" in result.stderr  # Patroni ran and looked for its DCS


def test_failsafe_without_the_patch_is_refused_before_patroni_runs(stack):
    default = {**failover_profile.values("default"), "DCS_FAILSAFE_MODE": "true"}
    env = [*ROOT_ENV, *(a for k, v in default.items() for a in ("-e", f"{k}={v}")), "-e", "PATRONI_NAME=pgx"]
    result = run_image(stack, "exec /usr/local/bin/patroni-entrypoint", env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "DCS_FAILSAFE_MODE=true needs SHORT_TTL_PATCH=on" in result.stderr
    assert "Connecting to" not in result.stderr + result.stdout and "Cannot resolve" not in result.stderr
