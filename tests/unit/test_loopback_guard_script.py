"""compose/loopback-guard.sh against fake iptables/ip6tables (what it adds,
only once, and what `check` reports), and when `stack up` warns."""

import os
import subprocess
from pathlib import Path

import pytest

from chaosha.stack import Stack, loopback_bind

GUARD = Path(__file__).resolve().parents[2] / "compose" / "loopback-guard.sh"
# A fake iptables: -S works, -C succeeds when the rule was inserted, -I records it.
FAKE = """#!/bin/sh
tool=$(basename "$0")
echo "$tool $*" >> "$LOG"
[ -f "$STATE.$tool.broken" ] && exit 3
args=$(echo "$*" | sed -e 's/ -[CI] PREROUTING\\( 1\\)\\?/ PREROUTING/')
case " $* " in
  *" -S "*) exit 0 ;;
  *" -C "*) grep -qxF -- "$args" "$STATE.$tool" 2>/dev/null ;;
  *" -I "*) echo "$args" >> "$STATE.$tool" ;;
esac
"""


@pytest.fixture
def fake(tmp_path: Path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("iptables", "ip6tables"):
        (bin_dir / tool).write_text(FAKE)
        (bin_dir / tool).chmod(0o755)
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "LOG": str(tmp_path / "log"),
        "STATE": str(tmp_path / "state"),
    }


def run(env: dict, mode: str = "ensure") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(GUARD), mode], env=dict(os.environ, **env), capture_output=True, text=True, timeout=30
    )


def inserts(env: dict) -> list:
    log = Path(env["LOG"])
    return [line for line in log.read_text().splitlines() if " -I " in line] if log.exists() else []


def test_ensure_inserts_both_rules_first_in_raw_prerouting_once(fake: dict) -> None:
    assert run(fake).returncode == 0
    assert inserts(fake) == [
        "iptables -w 5 -t raw -I PREROUTING 1 -d 127.0.0.0/8 ! -i lo -m comment "
        "--comment chaosha-loopback-guard -j DROP",
        "ip6tables -w 5 -t raw -I PREROUTING 1 -d ::1/128 ! -i lo -m comment "
        "--comment chaosha-loopback-guard -j DROP",
    ]
    assert run(fake).returncode == 0 and run(fake, "check").returncode == 0
    assert len(inserts(fake)) == 2  # checked with -C first: never a second copy


def test_check_reports_a_missing_rule_and_adds_nothing(fake: dict) -> None:
    assert run(fake, "check").returncode == 1
    assert inserts(fake) == []


def test_no_ipv6_netfilter_is_no_failure(fake: dict) -> None:
    Path(fake["STATE"] + ".ip6tables.broken").touch()
    assert run(fake).returncode == 0
    assert [line.split()[0] for line in inserts(fake)] == ["iptables"]


def test_unusable_iptables_warns_and_fails(fake: dict) -> None:
    Path(fake["STATE"] + ".iptables.broken").touch()
    result = run(fake)
    assert result.returncode == 1 and "not guarded" in result.stderr


@pytest.mark.parametrize(
    "bind,loopback",
    [("", True), ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("0.0.0.0", False), ("10.1.2.3", False)],  # noqa: S104,
)
def test_the_guard_matters_only_for_a_loopback_bind(bind: str, loopback: bool) -> None:
    assert loopback_bind(bind) is loopback


def test_stack_up_warns_when_the_guard_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "loopback-guard.sh").write_text("exit 1\n")
    env = tmp_path / ".env"
    env.write_text("CHAOSHA_PROJECT=p\n")
    assert Stack(compose_dir=tmp_path, env_file=env).check_loopback_guard() is False
    assert "loopback guard is missing" in capsys.readouterr().err
    env.write_text("CHAOSHA_BIND=0.0.0.0\n")  # noqa: S104  # published on every interface on purpose: nothing to guard
    assert Stack(compose_dir=tmp_path, env_file=env).check_loopback_guard() is True
