"""Pure logic of the docker subsystem: rules, signals, netem arguments."""

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.clients.lifecycle import parse_signal
from chaosha.clients.network import block_rules, netem_args


@pytest.mark.parametrize(
    "raw,name", [("kill", "SIGKILL"), ("SIGTERM", "SIGTERM"), ("9", "SIGKILL"), ("stop", "SIGSTOP")]
)
def test_parse_signal(raw, name):
    assert parse_signal(raw) == name


def test_parse_signal_rejects_unknown():
    with pytest.raises(ActivityFailed, match="unknown signal"):
        parse_signal("SIGBANANA")


def test_block_rules_both_directions_for_each_peer():
    script = block_rules({"zk1": "10.0.0.2", "zk2": "10.0.0.3"}, "both")
    assert "iptables -A CHAOSHA -s 10.0.0.2 -j DROP" in script
    assert "iptables -A CHAOSHA -d 10.0.0.3 -j DROP" in script
    assert script.count("-j DROP") == 4
    assert "iptables -I INPUT 1 -j CHAOSHA" in script and "iptables -I OUTPUT 1 -j CHAOSHA" in script


def test_block_rules_one_way_ports_and_loss():
    script = block_rules({"pg1": "10.0.0.5"}, "out", [5432], loss_percent=25)
    assert "-d 10.0.0.5 -p tcp --dport 5432 -m statistic --mode random --probability 0.2500 -j DROP" in script
    assert "-s 10.0.0.5" not in script


def test_block_rules_without_peers_spares_loopback():
    script = block_rules({}, "both")
    assert "! -i lo" in script and "! -o lo" in script


@pytest.mark.parametrize("direction,loss", [("sideways", 100), ("both", 0), ("both", 101)])
def test_block_rules_rejects(direction, loss):
    with pytest.raises(ActivityFailed):
        block_rules({}, direction, loss_percent=loss)


def test_netem_args():
    assert netem_args(200, 20, 0) == "netem delay 200ms 20ms"
    assert netem_args(0, 0, 5) == "netem loss 5%"
    with pytest.raises(ActivityFailed):
        netem_args(0, 0, 0)


# -- what counts as a node of the project ---------------------------------

COMPOSE = {
    "com.docker.compose.project": "proj",
    "com.docker.compose.service": "pg1",
    "com.docker.compose.config-hash": "abc",
    "com.docker.compose.container-number": "1",
    "com.docker.compose.oneoff": "False",
}


def test_a_compose_service_container_counts():
    from chaosha.clients.docker import is_service_container

    assert is_service_container(COMPOSE, "proj", "/proj-pg1-1")
    assert is_service_container(COMPOSE, "proj")


@pytest.mark.parametrize(
    "labels,name",
    [
        # `docker run` of our image: only the image's build labels
        (
            {
                "com.docker.compose.project": "proj",
                "com.docker.compose.service": "pg1",
                "com.docker.compose.version": "2.26.1",
            },
            "/eager_turing",
        ),
        (dict(COMPOSE, **{"chaosha.sidecar": "proj"}), "/proj-pg1-1"),  # a sidecar
        (dict(COMPOSE, **{"com.docker.compose.oneoff": "True"}), "/proj-pg1-run-1"),  # compose run
        (COMPOSE, "/decoy"),  # every label forged, but not Compose's name
        (dict(COMPOSE, **{"com.docker.compose.project": "other"}), "/other-pg1-1"),
    ],
)
def test_look_alikes_do_not_count(labels, name):
    from chaosha.clients.docker import is_service_container

    assert not is_service_container(labels, "proj", name)


def test_sidecar_labels_blank_the_inherited_compose_labels(tmp_path):
    from chaosha.clients.docker import is_service_container
    from chaosha.clients.network import sidecar_labels
    from chaosha.config import load

    settings = load(
        {"CHAOSHA_PROJECT": "proj", "CHAOSHA_ENV_FILE": str(tmp_path / "none"), "CHAOSHA_STATE_DIR": str(tmp_path)}
    )
    labels = dict(COMPOSE, **sidecar_labels(settings))  # container labels override the image's
    assert labels["chaosha.sidecar"] == "proj" and labels["com.docker.compose.project"] == ""
    assert not is_service_container(labels, "proj", "/proj-pg1-1")
