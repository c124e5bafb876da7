"""Failover profiles (compose/profiles/*.env, chaosha/failover_profile.py):
the timing rules every profile must keep, the default staying what the suite
proved, and the PATCH /config body `stack up` converges with."""

from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha import failover_profile
from chaosha.config import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]


def ints(name: str) -> dict:
    return {k: int(v) for k, v in failover_profile.values(name).items() if v.isdigit()}


def test_the_profiles_and_one_setting_picks_them():
    assert failover_profile.names() == ["default", "fast"]
    assert DEFAULTS[failover_profile.PROFILE_KEY] == "default"
    compose = (ROOT / "compose" / "docker-compose.yml").read_text()
    # ZooKeeper, Patroni and HAProxy all take their env_file from the one setting
    assert compose.count('env_file: ["profiles/${CHAOSHA_FAILOVER_PROFILE:-default}.env"]') == 3
    assert set(failover_profile.values("fast")) == set(failover_profile.values("default"))


def test_default_is_the_configuration_the_suite_proved():
    assert failover_profile.values("default") == {
        "ZK_TICK_MS": "2000",
        "ZK_INIT_LIMIT": "10",
        "ZK_SYNC_LIMIT": "5",
        "ZK_MIN_SESSION_MS": "4000",
        "ZK_MAX_SESSION_MS": "40000",
        "DCS_TTL": "20",
        "DCS_LOOP_WAIT": "2",
        "DCS_RETRY_TIMEOUT": "4",
        "DCS_MAXIMUM_LAG_ON_FAILOVER": "1073741824",
        "PG_WAL_SENDER_TIMEOUT": "5s",
        "DCS_FAILSAFE_MODE": "false",
        "SHORT_TTL_PATCH": "off",
        "HAPROXY_INTER": "1s",
        "HAPROXY_FASTINTER": "250ms",
        "HAPROXY_DOWNINTER": "500ms",
    }


@pytest.mark.parametrize("name", ["default", "fast"])
def test_every_profile_keeps_the_timing_rules(name):
    v, raw = ints(name), failover_profile.values(name)
    ttl_ms, tick = v["DCS_TTL"] * 1000, v["ZK_TICK_MS"]
    # Patroni's own rule, at or above its minima
    assert v["DCS_LOOP_WAIT"] >= 1 and v["DCS_RETRY_TIMEOUT"] >= 3
    assert v["DCS_LOOP_WAIT"] + 2 * v["DCS_RETRY_TIMEOUT"] <= v["DCS_TTL"]
    # ZooKeeper grants the ttl Patroni asks for (no silent clamp) ...
    assert v["ZK_MIN_SESSION_MS"] <= ttl_ms <= v["ZK_MAX_SESSION_MS"]
    # ... with its limits scaled to the tick: the same number of ticks in every profile
    assert (v["ZK_MIN_SESSION_MS"], v["ZK_MAX_SESSION_MS"]) == (2 * tick, 20 * tick)
    assert (v["ZK_INIT_LIMIT"], v["ZK_SYNC_LIMIT"]) == (10, 5)
    # a follower cut from the ZooKeeper leader drops out before its clients' sessions can expire
    assert v["ZK_SYNC_LIMIT"] * tick < ttl_ms
    # ttl < 20 only with the patched Patroni (stock 4.1.5 raises it to 20)
    assert v["DCS_TTL"] >= 20 or raw["SHORT_TTL_PATCH"] == "on"
    assert raw["SHORT_TTL_PATCH"] in ("on", "off")
    # failsafe only with the patch's fix (the entrypoint refuses stock 4.1.5's race)
    assert raw["DCS_FAILSAFE_MODE"] == "false" or raw["SHORT_TTL_PATCH"] == "on"


def test_fast_is_a_7_to_8_s_session_on_a_1_s_tick_with_tighter_checks():
    v, raw = ints("fast"), failover_profile.values("fast")
    assert 7 <= v["DCS_TTL"] <= 8 and v["ZK_TICK_MS"] == 1000
    assert (v["DCS_LOOP_WAIT"], v["DCS_RETRY_TIMEOUT"]) == (1, 3)
    assert raw["SHORT_TTL_PATCH"] == "on" and raw["PG_WAL_SENDER_TIMEOUT"] == "3s"

    def ms(value: str) -> int:
        return int(value[:-2]) if value.endswith("ms") else int(value[:-1]) * 1000

    default = failover_profile.values("default")
    for key in ("HAPROXY_INTER", "HAPROXY_FASTINTER", "HAPROXY_DOWNINTER"):
        assert ms(raw[key]) < ms(default[key]), key


def test_dcs_is_the_patch_config_body_and_differences_only_what_is_off():
    wanted = failover_profile.dcs("fast")
    assert wanted == {
        "ttl": 7,
        "loop_wait": 1,
        "retry_timeout": 3,
        "maximum_lag_on_failover": 1073741824,
        "failsafe_mode": True,
        "postgresql": {"parameters": {"wal_sender_timeout": "3s"}},
    }
    current = dict(failover_profile.dcs("default"), synchronous_mode=True)
    current["postgresql"] = {"parameters": {"wal_sender_timeout": "5s", "max_connections": 400}}
    assert failover_profile.differences(wanted, current) == {
        "ttl": 7,
        "loop_wait": 1,
        "retry_timeout": 3,
        "failsafe_mode": True,
        "postgresql": {"parameters": {"wal_sender_timeout": "3s"}},
    }
    assert failover_profile.differences(wanted, dict(wanted, synchronous_mode=True)) == {}


@pytest.mark.parametrize("name", ["quick", "../default", ""])
def test_an_unknown_profile_names_the_known_ones(name):
    with pytest.raises(ActivityFailed, match="unknown failover profile .*choose one of default, fast"):
        failover_profile.values(name)
