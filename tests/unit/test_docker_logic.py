"""Pure logic of the docker subsystem: rules, signals, netem arguments."""

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.docker.lifecycle import parse_signal
from chaosha.docker.network import block_rules, netem_args


@pytest.mark.parametrize("raw,name", [("kill", "SIGKILL"), ("SIGTERM", "SIGTERM"), ("9", "SIGKILL"),
                                      ("stop", "SIGSTOP")])
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
