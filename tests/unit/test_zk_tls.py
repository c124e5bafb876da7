"""ZooKeeper's TLS credentials: generated once, whole or not at all, kept,
regenerated when a file is missing, recorded in the env file."""

import subprocess
from pathlib import Path
from typing import Any, List

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.clients import zk_tls
from chaosha.config import Settings
from chaosha.stack import Stack, StackError


def _openssl_text(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30, check=True).stdout


def _snapshot(folder: Path) -> dict:
    return {name: (folder / name).read_bytes() for name in zk_tls.FILES}


def test_generated_files_modes_and_identities(zk_credentials: Path) -> None:
    assert zk_credentials.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in zk_credentials.iterdir()) == sorted(zk_tls.FILES)
    for name, mode in zk_tls.FILES.items():
        assert (zk_credentials / name).stat().st_mode & 0o777 == mode, name
    assert zk_tls.FILES["ca.key"] == 0o600 and zk_tls.FILES["chaosha.key"] == 0o600
    assert zk_tls.FILES["arbiter.key"] == 0o600
    ca = str(zk_credentials / "ca.pem")
    for name, cn, usage in (
        ("server", "zookeeper", "TLS Web Server Authentication"),
        ("patroni", "patroni", "TLS Web Client Authentication"),
        ("chaosha", "chaosha", "TLS Web Client Authentication"),
    ):
        cert = str(zk_credentials / f"{name}.pem")
        assert _openssl_text("verify", "-CAfile", ca, cert).strip() == f"{cert}: OK"
        text = _openssl_text("x509", "-in", cert, "-noout", "-subject", "-ext", "extendedKeyUsage")
        # OpenSSL 3.0 prints "subject=CN = x", 3.5 "subject=CN=x"
        assert f"subject=CN={cn}" in text.replace(" = ", "=") and usage in text
        assert "CA:TRUE" not in _openssl_text("x509", "-in", cert, "-noout", "-ext", "basicConstraints")
    names = _openssl_text("x509", "-in", str(zk_credentials / "server.pem"), "-noout", "-ext", "subjectAltName")
    assert "DNS:zk1" in names and "DNS:localhost" in names and "IP Address:127.0.0.1" in names
    # ZooKeeper's PEM key store: the private key and the certificate in one file
    server = (zk_credentials / "server.pem").read_text()
    assert "BEGIN PRIVATE KEY" in server and "BEGIN CERTIFICATE" in server


def test_ensure_keeps_complete_credentials_and_regenerates_missing_ones(tmp_path: Path) -> None:
    folder = tmp_path / "s.tls"
    assert zk_tls.ensure(folder, ["zk1"]) is True
    first = _snapshot(folder)
    assert zk_tls.ensure(folder, ["zk1"]) is False
    assert _snapshot(folder) == first
    (folder / "patroni.key").unlink()
    assert zk_tls.ensure(folder, ["zk1"]) is True
    again = _snapshot(folder)
    # all of it anew (a lone new key would not match the old certificate): a new CA
    assert again["ca.pem"] != first["ca.pem"] and again["patroni.pem"] != first["patroni.pem"]
    (folder / "server.pem").write_text("")
    assert zk_tls.ensure(folder, ["zk1"]) is True
    assert [p.name for p in tmp_path.iterdir()] == ["s.tls"]  # no temporary folder left


def test_a_failure_leaves_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: List[Any] = []
    real = zk_tls._openssl

    def fail_on_the_third(folder: Path, *args: str) -> None:
        calls.append(args)
        if len(calls) == 3:
            raise ActivityFailed("`openssl req` failed: boom")
        real(folder, *args)

    monkeypatch.setattr(zk_tls, "_openssl", fail_on_the_third)
    with pytest.raises(ActivityFailed, match="boom"):
        zk_tls.ensure(tmp_path / "s.tls", ["zk1"])
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(zk_tls, "_openssl", real)
    zk_tls.ensure(tmp_path / "s.tls", ["zk1"])
    kept = _snapshot(tmp_path / "s.tls")
    (tmp_path / "s.tls" / "ca.key").unlink()  # incomplete, and regeneration fails: the old files stay
    calls.clear()
    monkeypatch.setattr(zk_tls, "_openssl", fail_on_the_third)
    with pytest.raises(ActivityFailed):
        zk_tls.ensure(tmp_path / "s.tls", ["zk1"])
    assert (tmp_path / "s.tls" / "ca.pem").read_bytes() == kept["ca.pem"]
    assert [p.name for p in tmp_path.iterdir()] == ["s.tls"]


def test_openssl_missing_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ActivityFailed, match="openssl command is needed"):
        zk_tls.generate(tmp_path / "s.tls", ["zk1"])
    assert not (tmp_path / "s.tls").exists()


def test_folder_beside_the_env_file() -> None:
    assert zk_tls.folder_for(Path("/x/compose/.env")) == Path("/x/compose/.env.tls")
    assert zk_tls.folder_for(Path("/x/t/chaosha-t.env")) == Path("/x/t/chaosha-t.tls")


def test_stack_records_and_generates_once(tmp_path: Path) -> None:
    stack = Stack.isolated("chaosha-tls-unit", 47000, tmp_path)
    values = stack.ensure_env()
    folder = tmp_path / "chaosha-tls-unit.tls"
    assert values[zk_tls.TLS_DIR_KEY] == str(folder.resolve())
    assert f"{zk_tls.TLS_DIR_KEY}={folder.resolve()}\n" in (tmp_path / "chaosha-tls-unit.env").read_text()
    assert zk_tls.complete(folder) and stack.credentials_renewed is True
    first = _snapshot(folder)
    later = Stack.isolated("chaosha-tls-unit", 47000, tmp_path)
    assert later.ensure_env() == values
    assert later.credentials_renewed is False and _snapshot(folder) == first


def test_stack_error_when_generation_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(folder: Path, server_names: Any) -> bool:
        raise ActivityFailed("`openssl req` failed: no entropy")

    monkeypatch.setattr(zk_tls, "ensure", broken)
    with pytest.raises(StackError, match="cannot generate ZooKeeper's TLS credentials in .*no entropy"):
        Stack(compose_dir=tmp_path, env_file=tmp_path / ".env").ensure_env()


def test_client_files_say_what_to_do(tmp_path: Path, zk_credentials: Path) -> None:
    with pytest.raises(ActivityFailed, match="CHAOSHA_ZK_TLS_DIR is not set.*chaosha stack up"):
        zk_tls.client_files(Settings({}))
    with pytest.raises(ActivityFailed, match="credentials missing: .*ca.pem.*chaosha stack up"):
        zk_tls.client_files(Settings({zk_tls.TLS_DIR_KEY: str(tmp_path)}))
    ca, cert, key = zk_tls.client_files(Settings({zk_tls.TLS_DIR_KEY: str(zk_credentials)}))
    assert (Path(ca).name, Path(cert).name, Path(key).name) == ("ca.pem", "chaosha.pem", "chaosha.key")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("ca.pem", "chaosha.pem", "chaosha.key"):
        (broken / name).write_text("not a PEM\n")
    with pytest.raises(ActivityFailed, match="unusable.*chaosha stack up"):
        zk_tls.client_context(Settings({zk_tls.TLS_DIR_KEY: str(broken)}))
