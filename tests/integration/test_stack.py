"""The real stack, as the README promises it."""

import json
import subprocess
import uuid

import pytest

from chaosha.clients.postgres import connect
from chaosha.haproxy.probes import backend_states
from chaosha.patroni.probes import leader
from chaosha.timing import wait_until

pytestmark = pytest.mark.integration


def test_patronictl_lists_one_leader_and_a_streaming_replica(stack):
    out = stack.stack.compose(
        "exec", "-T", "pg1", "patronictl", "-c", "/etc/patroni/patroni.yml", "list", "-f", "json", capture=True
    ).stdout
    members = json.loads(out)
    roles = sorted(m["Role"] for m in members)
    assert roles in (["Leader", "Sync Standby"], ["Leader", "Replica"])
    replica = next(m for m in members if m["Role"] != "Leader")
    assert replica["State"] == "streaming"


def test_haproxy_primary_backend_has_exactly_the_leader_up(stack):
    states = backend_states("primary", configuration=stack.configuration)
    assert states["up"] == [leader(configuration=stack.configuration)]


def test_row_written_through_rw_port_is_read_through_ro_port(stack):
    token = uuid.uuid4().hex
    settings = stack.settings
    with connect(settings, "rw") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS stack_test (token text PRIMARY KEY)")
        conn.execute("INSERT INTO stack_test VALUES (%s)", (token,))

    def replicated():
        with connect(settings, "ro") as conn:
            row = conn.execute(
                "SELECT token, pg_is_in_recovery() FROM stack_test WHERE token = %s", (token,)
            ).fetchone()
        return row

    row, _ = wait_until(replicated, 10, 0.2, "the row on a replica")
    assert row == (token, True)


def test_alfresco_profile_config_is_valid(stack):
    result = stack.stack.compose("--profile", "alfresco", "config", "--format", "json", capture=True)
    services = json.loads(result.stdout)["services"]
    assert {"alfresco", "share", "activemq"} <= set(services)
    opts = services["alfresco"]["environment"]["JAVA_OPTS"]
    assert "jdbc:postgresql://haproxy:5432/alfresco" in opts
    assert "-Dindex.subsystem.name=noindex" in opts
    assert "-Dlocal.transform.service.enabled=false" in opts


def test_every_published_port_binds_to_loopback(stack):
    out = subprocess.run(
        [
            "docker",
            "ps",
            "--filter",
            f"label=com.docker.compose.project={stack.settings.project}",
            "--format",
            "{{.Ports}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    published = [p for line in out.splitlines() for p in line.split(", ") if "->" in p]
    assert published and all(p.startswith("127.0.0.1:") for p in published)


def test_alfresco_role_and_database_exist(stack):
    with connect(stack.settings, "rw") as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'alfresco'").fetchone()
        assert conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'alfresco'").fetchone() == (True,)


def test_up_again_while_running_sees_its_own_ports(stack):
    stack.stack.ensure_env()
    values = dict(stack.settings.values)  # resolved: the port base numbers them
    own = stack.stack._own_ports()
    assert int(values["CHAOSHA_RW_PORT"]) in own and int(values["CHAOSHA_RO_PORT"]) in own
    stack.stack.check_ports(values)  # no "already taken" for our own ports
