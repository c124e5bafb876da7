import re
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.config import DEFAULTS, load, parse_env_file

ROOT = Path(__file__).resolve().parents[2]


def test_lookup_order_secrets_configuration_environment_env_file(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("CHAOSHA_RW_PORT=1\nCHAOSHA_RO_PORT=2\nCHAOSHA_STATS_PORT=3\nCHAOSHA_PG_PASSWORD=4\n")
    monkeypatch.setenv("CHAOSHA_RO_PORT", "20")
    monkeypatch.setenv("CHAOSHA_STATS_PORT", "30")
    settings = load(
        {"CHAOSHA_ENV_FILE": str(env_file), "chaosha_stats_port": "300"},
        {"chaosha": {"CHAOSHA_PG_PASSWORD": "secret"}},
    )
    assert settings.get("CHAOSHA_RW_PORT") == "1"
    assert settings.get("CHAOSHA_RO_PORT") == "20"
    assert settings.get("CHAOSHA_STATS_PORT") == "300"
    assert settings.get("CHAOSHA_PG_PASSWORD") == "secret"
    assert settings.get("CHAOSHA_PROJECT") == "chaosha"


def test_nodes_and_unknown_node(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load({"CHAOSHA_PG_NODES": "pg1,pg2,pg3"})
    assert [(n.name, n.port, n.api_port) for n in settings.pg_nodes] == [
        ("pg1", 15432, 18008),
        ("pg2", 25432, 28008),
        ("pg3", 35432, 38008),
    ]
    assert settings.pg_node("pg2").api_url == "http://127.0.0.1:28008"
    with pytest.raises(ActivityFailed, match="unknown PostgreSQL node 'pg9'.*pg1, pg2, pg3"):
        settings.pg_node("pg9")
    with pytest.raises(ActivityFailed, match="unknown ZooKeeper node"):
        settings.zk_node("zk7")


def test_malformed_values_are_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ActivityFailed, match="CHAOSHA_PG1_PORT='x' is not a whole number"):
        _ = load({"CHAOSHA_PG1_PORT": "x"}).pg_nodes
    with pytest.raises(ActivityFailed, match="positive number of seconds"):
        _ = load({"CHAOSHA_TIMEOUT": "-1"}).timeout


def test_env_file_parsing_and_errors(tmp_path):
    path = tmp_path / ".env"
    path.write_text("# comment\n\nA=1\nB = 'two words'\nC=\"x=y\"\n")
    assert parse_env_file(path) == {"A": "1", "B": "two words", "C": "x=y"}
    path.write_text("A=1\nthis is not a setting\n")
    with pytest.raises(ValueError, match=r"\.env:2: expected KEY=value"):
        parse_env_file(path)


def test_defaults_match_the_compose_file():
    compose = (ROOT / "compose" / "docker-compose.yml").read_text()
    for key, default in re.findall(r"\$\{(CHAOSHA_\w+_PORT):-(\d+)\}", compose):
        assert DEFAULTS[key] == default, key
