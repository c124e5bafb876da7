"""Adding and removing a node: the decisions (chaosha/nodes.py), without Docker."""

import os
from pathlib import Path
from typing import Any, Dict, List

import pytest

from chaosha.config import parse_env_file
from chaosha.nodes import (
    removal_refusal,
    set_env_value,
    slot_name,
    switchover_candidate,
    with_node,
    without_node,
)


def member(name: str, role: str, state: str = "", timeline: int = 3, **extra: Any) -> Dict[str, Any]:
    default = "running" if role == "leader" else "streaming"
    return dict(name=name, role=role, state=state or default, timeline=timeline, **extra)


THREE = [member("pg1", "leader"), member("pg2", "sync_standby"), member("pg3", "replica")]
TWO = THREE[:2]


@pytest.mark.parametrize("name", ["pg1", "pg2", "pg3"])
def test_any_node_of_three_healthy_ones_may_go(name: str) -> None:
    assert removal_refusal(THREE, name, force=False) == ""


@pytest.mark.parametrize("name", ["pg1", "pg2"])
def test_one_of_two_goes_only_with_force(name: str) -> None:
    assert "no standby for synchronous replication" in removal_refusal(TWO, name, force=False)
    assert removal_refusal(TWO, name, force=True) == ""


@pytest.mark.parametrize(
    "members",
    [
        [member("pg1", "leader")],
        [member("pg1", "leader"), member("pg2", "replica", "stopped")],
        [member("pg1", "leader"), member("pg2", "replica", timeline=2)],  # an old timeline cannot take over
        [member("pg1", "leader"), member("pg2", "replica", tags={"nofailover": True})],
    ],
)
def test_the_last_node_that_could_serve_never_goes(members: list) -> None:
    assert "no node that could serve" in removal_refusal(members, "pg1", force=True)


def test_a_broken_member_does_not_count_as_one_left() -> None:
    members = [*TWO, member("pg3", "replica", "starting")]
    assert "would leave pg2 alone" in removal_refusal(members, "pg1", force=False)
    assert removal_refusal(members, "pg3", force=False) == ""  # the broken one itself may go


def test_the_synchronous_standby_takes_over_first() -> None:
    members = [member("pg1", "replica", lag=0), member("pg2", "sync_standby", lag=5), member("pg3", "leader")]
    assert switchover_candidate(members, "pg3") == "pg2"
    assert switchover_candidate([member("pg3", "leader"), member("pg1", "replica", "stopped")], "pg3") == ""


def test_node_lists_and_slot_names() -> None:
    assert with_node("pg1,pg2", "pg3") == "pg1,pg2,pg3"
    assert with_node("pg1, pg2,pg3", "pg3") == "pg1,pg2,pg3"
    assert without_node("pg1,pg2,pg3", "pg3") == "pg1,pg2" and without_node("pg1,pg2", "pg3") == "pg1,pg2"
    assert slot_name("pg3") == "pg3" and slot_name("Db-1.x") == "db_1_x" and slot_name("a b") == "au0032b"


def test_env_value_is_replaced_in_place_and_the_rest_kept(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# mine\nCHAOSHA_PG_NODES=pg1,pg2\nCHAOSHA_PG_PASSWORD=x\nCHAOSHA_PG_NODES=old\n")
    set_env_value(env, "CHAOSHA_PG_NODES", "pg1,pg2,pg3")
    assert env.read_text() == "# mine\nCHAOSHA_PG_NODES=pg1,pg2,pg3\nCHAOSHA_PG_PASSWORD=x\n"
    assert env.stat().st_mode & 0o777 == 0o600
    set_env_value(env, "CHAOSHA_NEW", "1")
    assert parse_env_file(env) == {
        "CHAOSHA_PG_NODES": "pg1,pg2,pg3",
        "CHAOSHA_PG_PASSWORD": "x",
        "CHAOSHA_NEW": "1",
    }
    assert os.listdir(tmp_path) == [".env"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("CHAOSHA_PG_NODES=pg1,pg2\n")

    def broken(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        set_env_value(env, "CHAOSHA_PG_NODES", "pg1")
    assert env.read_text() == "CHAOSHA_PG_NODES=pg1,pg2\n" and os.listdir(tmp_path) == [".env"]


def test_slot_retention_is_recorded_before_it_is_suspended_and_restored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaosha import state
    from chaosha.clients import patroni
    from chaosha.config import load

    monkeypatch.setenv("CHAOSHA_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CHAOSHA_ENV_FILE", str(tmp_path / "none.env"))
    settings = load()
    sent: List[Any] = []

    def post(settings: Any, path: str, body: Dict[str, Any], timeout: float = 0, method: str = "POST") -> Any:
        sent.append((body, [f.get("previous") for f in state.pending(settings)]))
        return 200, ""

    monkeypatch.setattr(patroni, "post", post)
    monkeypatch.setattr(patroni, "dynamic_config", lambda settings: {"member_slots_ttl": 600})
    patroni.suspend_slot_retention(settings)
    patroni.suspend_slot_retention(settings)  # a second suspension keeps the first value to restore
    assert sent == [({"member_slots_ttl": 0}, [600])]
    assert patroni.restore_slot_retention(settings) is True
    assert sent[-1] == ({"member_slots_ttl": 600}, [600]) and state.pending(settings) == []
    assert patroni.restore_slot_retention(settings) is False and len(sent) == 2
