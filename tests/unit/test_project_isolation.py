"""One project, one truth: the env file found by one rule from any
directory, a port base, the settings Compose gets equal to the ones chaosha
checks, state per project, and the suite's lock per project."""

import socket
from pathlib import Path

import pytest

from chaosha import state
from chaosha.config import CHECKOUT, PORT_KEYS, find_env_file, load
from chaosha.stack import Stack, StackError
from chaosha.suite.runner import SuiteLocked, suite_lock


def test_env_file_is_found_from_any_directory(tmp_path: Path, monkeypatch) -> None:
    env = tmp_path / "stack.env"
    env.write_text("CHAOSHA_PROJECT=elsewhere\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAOSHA_ENV_FILE", "stack.env")
    assert find_env_file() == env.resolve()
    monkeypatch.chdir("/")
    monkeypatch.setenv("CHAOSHA_ENV_FILE", str(env))
    assert load().project == "elsewhere" and load().env_file == str(env.resolve())


def test_the_catalogue_default_falls_back_to_the_checkout(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHAOSHA_ENV_FILE", raising=False)
    expected = (CHECKOUT / "compose" / ".env").resolve()
    found = find_env_file("compose/.env")
    assert found == (expected if expected.is_file() else None)


def test_no_env_file_means_defaults_and_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHAOSHA_ENV_FILE", str(tmp_path / "missing.env"))
    settings = load()
    assert settings.env_file == "" and settings.project == "chaosha"


def test_port_base_numbers_every_port_not_set_otherwise(tmp_path: Path, monkeypatch) -> None:
    env = tmp_path / "stack.env"
    env.write_text("CHAOSHA_PORT_BASE=44000\nCHAOSHA_STATS_PORT=7777\n")
    monkeypatch.setenv("CHAOSHA_ENV_FILE", str(env))
    settings = load()
    assert settings.integer("CHAOSHA_RW_PORT") == 44000
    assert settings.integer("CHAOSHA_STATS_PORT") == 7777  # set explicitly: kept
    assert [n.port for n in settings.pg_nodes] == [44003, 44005]
    assert settings.integer(PORT_KEYS[-1]) == 44000 + len(PORT_KEYS) - 1


@pytest.mark.parametrize("base", ["abc", "0", "65530"])
def test_a_bad_port_base_is_refused(tmp_path: Path, monkeypatch, base: str) -> None:
    monkeypatch.setenv("CHAOSHA_PORT_BASE", base)
    monkeypatch.setenv("CHAOSHA_ENV_FILE", str(tmp_path / "none.env"))
    with pytest.raises(Exception, match="CHAOSHA_PORT_BASE"):
        load()


def test_images_are_tagged_per_project(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHAOSHA_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("CHAOSHA_PROJECT", "two")
    assert load().image_tag == "two" and load().tools_image == "chaosha/patroni:two"
    monkeypatch.setenv("CHAOSHA_IMAGE_TAG", "pinned")
    assert load().tools_image == "chaosha/patroni:pinned"


def test_compose_gets_the_settings_chaosha_checks(tmp_path: Path, monkeypatch) -> None:
    stack = Stack(compose_dir=tmp_path, env_file=tmp_path / ".env", overrides={"CHAOSHA_PROJECT": "p2"})
    stack.ensure_env()
    monkeypatch.setenv("CHAOSHA_STATS_PORT", "7123")  # given in the environment only
    env = stack.environment()
    assert env["CHAOSHA_STATS_PORT"] == "7123" == stack.settings().get("CHAOSHA_STATS_PORT")
    assert env["CHAOSHA_PROJECT"] == "p2" and env["CHAOSHA_IMAGE_TAG"] == "p2"


def test_port_check_sees_a_port_given_in_the_environment(tmp_path: Path, monkeypatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        stack = Stack(compose_dir=tmp_path, env_file=tmp_path / ".env")
        monkeypatch.setattr(Stack, "_own_ports", lambda self: set())
        for key in PORT_KEYS:
            with socket.socket() as free:
                free.bind(("127.0.0.1", 0))
                monkeypatch.setenv(key, str(free.getsockname()[1]))
        monkeypatch.setenv("CHAOSHA_STATS_PORT", str(taken))
        stack.ensure_env()
        with pytest.raises(StackError, match=f"{taken} \\(CHAOSHA_STATS_PORT\\) is already taken"):
            stack.check_ports(dict(stack.settings().values))


def test_settings_given_at_first_up_are_written_down(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHAOSHA_PROJECT", "second")
    monkeypatch.setenv("CHAOSHA_PORT_BASE", "46000")
    Stack(compose_dir=tmp_path, env_file=tmp_path / ".env").ensure_env()
    text = (tmp_path / ".env").read_text()
    assert "CHAOSHA_PROJECT=second\n" in text and "CHAOSHA_PORT_BASE=46000\n" in text
    monkeypatch.delenv("CHAOSHA_PROJECT")
    monkeypatch.delenv("CHAOSHA_PORT_BASE")
    later = load({"CHAOSHA_ENV_FILE": str(tmp_path / ".env")})  # a later command, no environment
    assert later.project == "second" and later.integer("CHAOSHA_RW_PORT") == 46000


def test_state_lives_in_one_folder_per_project(tmp_path: Path) -> None:
    one = load({"CHAOSHA_STATE_DIR": str(tmp_path), "CHAOSHA_PROJECT": "one", "CHAOSHA_ENV_FILE": "x"})
    two = load({"CHAOSHA_STATE_DIR": str(tmp_path), "CHAOSHA_PROJECT": "two", "CHAOSHA_ENV_FILE": "x"})
    state.record(one, "pause", "pg1")
    state.remember_target(one, "pg1")
    assert [f["service"] for f in state.pending(one)] == ["pg1"] and state.pending(two) == []
    assert state.last_target(two) == "" and state.last_target(one) == "pg1"
    assert state.project_dir(one) == (tmp_path / "one").resolve()
    assert state.workload_dir(two).parent == (tmp_path / "two").resolve()


def test_the_suite_lock_is_per_project_not_per_output_folder(tmp_path: Path) -> None:
    one = load({"CHAOSHA_STATE_DIR": str(tmp_path), "CHAOSHA_PROJECT": "one", "CHAOSHA_ENV_FILE": "x"})
    two = load({"CHAOSHA_STATE_DIR": str(tmp_path), "CHAOSHA_PROJECT": "two", "CHAOSHA_ENV_FILE": "x"})
    with suite_lock(one, tmp_path / "out-a"):
        with pytest.raises(SuiteLocked, match="chaosha suite run --out"):
            with suite_lock(one, tmp_path / "out-b"):
                pass
        with suite_lock(two, tmp_path / "out-a"):  # another project: free
            pass
    with suite_lock(one, tmp_path / "out-b"):  # released
        pass
