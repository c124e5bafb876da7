"""The pure parts of bench/failover/soak.py: counting false failovers from
a leader/timeline series, HAProxy's rw samples, ZooKeeper session changes,
and the packet-loss rules every Patroni node gets."""

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "bench" / "failover" / "soak.py"
_spec = importlib.util.spec_from_file_location("soak_bench", PATH)
assert _spec and _spec.loader
soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak)


def series(*points):
    return [{"t": float(i), "leader": leader, "timeline": tl} for i, (leader, tl) in enumerate(points)]


def test_a_steady_leader_is_no_failover():
    samples = series(("pg1", 3), ("pg1", 3), ("pg1", 3))
    assert soak.false_failovers(samples) == 0
    assert soak.leader_changes(samples) == [] and soak.timeline_increments(samples) == []


def test_a_failover_counts_once_though_leader_and_timeline_both_move():
    samples = series(("pg1", 3), ("", None), ("pg2", 3), ("pg2", 4), ("pg2", 4))
    assert soak.leader_changes(samples) == [{"t": 2.0, "from": "pg1", "to": "pg2"}]
    assert soak.timeline_increments(samples) == [{"t": 3.0, "from": 3, "to": 4, "count": 1}]
    assert soak.false_failovers(samples) == 1


def test_a_leader_demoted_and_promoted_again_counts_by_its_timeline():
    samples = series(("pg1", 3), ("", None), ("", None), ("pg1", 4))
    assert soak.leader_changes(samples) == []
    assert soak.false_failovers(samples) == 1
    assert soak.leaderless_s(samples) == 2.0


def test_a_change_there_and_back_between_samples_counts_twice():
    samples = series(("pg1", 3), ("pg1", 5))
    assert soak.false_failovers(samples) == 2


def test_leader_changes_without_a_timeline_still_count():
    samples = series(("pg1", None), ("pg2", None), ("pg1", None))
    assert soak.false_failovers(samples) == 2


def test_a_stale_lower_timeline_is_no_rise():
    samples = series(("pg1", 4), ("pg1", 3), ("pg1", 4))
    assert soak.timeline_increments(samples) == []


def test_rw_anomalies():
    samples = [
        {"t": 0, "leader": "pg1", "rw_up": ["pg1"]},
        {"t": 1, "leader": "pg1", "rw_up": []},
        {"t": 2, "leader": "pg1", "rw_up": ["pg1", "pg2"]},
        {"t": 3, "leader": "pg1", "rw_up": ["pg2"]},
        {"t": 4, "leader": "pg1", "rw_up": None},
    ]
    assert soak.rw_anomalies(samples) == {"none_up": 1, "several_up": 1, "not_leader": 1, "changes": 3}


CONS = """ /172.20.0.6:41234[1](queued=0,recved=10,sent=10,sid=0x10000a1b2c30001,lop=PING,to=8000)
 /172.20.0.1:50000[0](queued=0,recved=1,sent=0)
 /172.20.0.7:39876[1](queued=0,recved=9,sent=9,sid=0x20000a1b2c30002,lop=PING,to=8000)
"""


def test_parse_cons_leaves_out_the_host():
    assert soak.parse_cons(CONS) == {"172.20.0.6": "0x10000a1b2c30001", "172.20.0.7": "0x20000a1b2c30002"}


def test_a_new_session_id_for_a_client_is_a_session_change():
    snaps = [
        {"t": 0, "sessions": {"a": "0x1", "b": "0x2"}},
        {"t": 10, "sessions": {"a": "0x1"}},  # b's server did not answer: no change
        {"t": 20, "sessions": {"a": "0x1", "b": "0x3"}},
    ]
    assert soak.new_sessions(snaps) == [{"t": 20, "client": "b", "from": "0x2", "to": "0x3"}]


def test_loss_rules_drop_a_tenth_of_the_zookeeper_client_port_both_ways():
    rules = soak.loss_rules(0.10)
    drop = "-m statistic --mode random --probability 0.1000 -j DROP"
    for i in (1, 2, 3):
        assert f"iptables -A CHAOSHA -s ZK{i}_ADDR -p tcp --sport 2281 {drop}" in rules
        assert f"iptables -A CHAOSHA -d ZK{i}_ADDR -p tcp --dport 2281 {drop}" in rules
    assert rules.count("-j DROP") == 6
    assert "-j DROP" not in rules.replace(drop, "")  # nothing dropped wholesale


@pytest.mark.parametrize("loss", [0.0, 1.5])
def test_loss_rules_refuse_nonsense(loss):
    with pytest.raises(Exception, match="loss_percent"):
        soak.loss_rules(loss)


LISTING = """Chain CHAOSHA (2 references)
    pkts      bytes target     prot opt in     out     source               destination
      12      900 DROP       tcp  --  *      *       172.19.0.2           0.0.0.0/0            tcp spt:2281
       3      200 DROP       tcp  --  *      *       0.0.0.0/0            172.19.0.2           tcp dpt:2281
"""


def test_dropped_packets_sums_the_drop_rules_counters():
    assert soak.dropped_packets(LISTING) == 15
    assert soak.dropped_packets("Chain CHAOSHA (0 references)") == 0


def test_log_events_count_zookeeper_trouble_per_node():
    lines = {
        "pg1": [
            "kazoo.handlers.threading.KazooTimeoutError",
            "2026-12-01 20:22:45,931 INFO: Zookeeper connection lost",
            "2026-12-01 20:22:45,986 INFO: Zookeeper connection established, state: CONNECTED",
        ],
        "pg2": ["INFO: Lock owner: pg2; I am pg2"],
    }
    found = soak.log_events(lines)
    assert found["pg1"] == {
        "kazoo_timeouts": 1,
        "connection_lost": 1,
        "session_expired": 0,
        "demoted": 0,
        "promoted": 0,
    }
    assert set(found["pg2"].values()) == {0}


def test_cpu_seconds_of_a_proc_stat_line():
    stat = "4242 (python -c x) R 1 2 3 4 5 6 7 8 9 10 1500 250 0 0 20 0 1 0 100"
    assert soak.cpu_seconds(stat, 100) == 17.5


@pytest.mark.parametrize(
    "ttl,failsafe,name,dcs",
    [
        (0, "", "fast", None),
        (7, "", "fast-ttl7", {"ttl": 7}),
        (0, "on", "fast-failsafe", {"failsafe_mode": True}),
        (7, "on", "fast-ttl7-failsafe", {"ttl": 7, "failsafe_mode": True}),
        (0, "off", "fast-nofailsafe", {"failsafe_mode": False}),
    ],
)
def test_a_variant_is_named_after_what_it_patches(ttl, failsafe, name, dcs):
    assert soak.variant("fast", ttl, failsafe) == (name, dcs)


def test_failsafe_is_refused_on_a_profile_without_the_patch():
    with pytest.raises(SystemExit, match="--failsafe on needs a profile with SHORT_TTL_PATCH=on: default"):
        soak.variant("default", 0, "on")
    assert soak.variant("default", 0, "off") == ("default-nofailsafe", {"failsafe_mode": False})
