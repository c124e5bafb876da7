"""The stack's env file and port checks, without Docker."""

import socket

import pytest

from chaosha.stack import PORT_KEYS, SECRET_KEYS, Stack, StackError


def test_first_use_generates_secrets_and_later_use_keeps_them(tmp_path):
    stack = Stack(compose_dir=tmp_path, env_file=tmp_path / ".env")
    first = stack.ensure_env()
    assert all(len(first[k]) >= 24 for k in SECRET_KEYS)
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    assert stack.ensure_env() == first


def test_user_lines_are_kept_and_overrides_written(tmp_path):
    env = tmp_path / ".env"
    env.write_text("# mine\nCHAOSHA_RW_PORT=6432\n")
    values = Stack(compose_dir=tmp_path, env_file=env, overrides={"CHAOSHA_PROJECT": "p"}).ensure_env()
    assert values["CHAOSHA_RW_PORT"] == "6432" and values["CHAOSHA_PROJECT"] == "p"
    assert env.read_text().startswith("# mine\nCHAOSHA_RW_PORT=6432\n")


@pytest.mark.parametrize(
    "line,message",
    [
        ("CHAOSHA_RW_PORT=abc", "not a port number"),
        ("CHAOSHA_RO_PORT=70000", "not a port number"),
        ("garbage line", "expected KEY=value"),
    ],
)
def test_malformed_env_file_is_reported_with_the_fix(tmp_path, line, message):
    env = tmp_path / ".env"
    env.write_text(line + "\n")
    with pytest.raises(StackError, match=message):
        Stack(compose_dir=tmp_path, env_file=env).ensure_env()


def test_a_taken_port_is_named_with_its_setting(tmp_path, monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = Stack(compose_dir=tmp_path, env_file=tmp_path / ".env")
        monkeypatch.setattr(Stack, "_own_ports", lambda self: set())
        values = stack.ensure_env()
        for key in PORT_KEYS:  # free ports everywhere but one
            with socket.socket() as free:
                free.bind(("127.0.0.1", 0))
                values[key] = str(free.getsockname()[1])
        values["CHAOSHA_STATS_PORT"] = str(port)
        with pytest.raises(StackError, match=f"port 127.0.0.1:{port} \\(CHAOSHA_STATS_PORT\\) is already taken"):
            stack.check_ports(values)
