"""compose/patroni/short_ttl_patch.py (the "fast" profile's Patroni 4.1.5
patch), on package trees built here: it refuses any other version, a file
that is not the reviewed one, and an edit that does not match exactly once,
before writing anything.  The real install is patched and exercised in
tests/integration/test_failover_profile.py."""

import hashlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "compose" / "patroni" / "short_ttl_patch.py"
_spec = importlib.util.spec_from_file_location("short_ttl_patch", SCRIPT)
assert _spec and _spec.loader
patch_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(patch_mod)

CONFIG = "x = 1\n        ttl = self. __get_and_maybe_adjust_int_value(config, 'ttl', 20)\ny = 2\n"
SLEEP = "time.sleep(1)  # give replicas some more time to catch up\n"
FAILSAFE = (
    "        if self.state_handler.state == PostgresqlState.RUNNING"
    " and self.state_handler.role == PostgresqlRole.PRIMARY:\n"
)
HA = (
    "import json\nimport uuid\n\n"
    "            response = self.patroni.request(member, timeout=2, retries=0)\n"
    f"    def update_failsafe(self, data):\n{FAILSAFE}"
    f"    def demote(self):\n            {SLEEP}    def shutdown(self):\n                    {SLEEP}"
)


POSTGRESQL = "STOP_POLLING_INTERVAL = 1\n"


def tree(tmp_path: Path, version: str = "4.1.5", config: str = CONFIG, ha: str = HA) -> Path:
    package = tmp_path / "site" / "patroni"
    package.mkdir(parents=True)
    (package / "version.py").write_text(f'"""doc"""\n__version__ = \'{version}\'\n')
    (package / "config.py").write_text(config)
    (package / "ha.py").write_text(ha)
    (package / "postgresql").mkdir()
    (package / "postgresql" / "__init__.py").write_text(POSTGRESQL)
    (package / "other.py").write_text("untouched = True\n")
    return package


def pinned_to(package: Path):
    """The script's own edits, pinned to the fake files' hashes."""
    return tuple(
        e._replace(sha256=hashlib.sha256((package / e.path).read_bytes()).hexdigest()) for e in patch_mod.EDITS
    )


def test_patches_a_copy_and_leaves_the_install_alone(tmp_path):
    package = tree(tmp_path)
    dest = tmp_path / "dest"
    edited = patch_mod.patch(package, dest, "4.1.5", edits=pinned_to(package))
    assert edited == ["config.py", "ha.py", "postgresql/__init__.py"]
    config = (dest / "patroni" / "config.py").read_text()
    assert "(config, 'ttl', 7)  # chaosha short-ttl patch" in config and "'ttl', 20)" not in config
    ha = (dest / "patroni" / "ha.py").read_text()
    assert ha.startswith("import json\nimport uuid\nfrom urllib3 import Timeout  # chaosha short-ttl patch\n\n")
    race = "request(member, timeout=Timeout(connect=0.25, read=1), retries=0)  # chaosha short-ttl patch"
    assert race in ha  # every edit of ha.py is kept
    assert ha.count("time.sleep(0.2)  # give replicas some more time to catch up  # chaosha") == 2
    assert "time.sleep(1)" not in ha
    polling = (dest / "patroni" / "postgresql" / "__init__.py").read_text()
    assert polling == "STOP_POLLING_INTERVAL = 0.1  # chaosha short-ttl patch\n"
    assert (dest / "patroni" / "other.py").read_text() == "untouched = True\n"
    assert (package / "config.py").read_text() == CONFIG and (package / "ha.py").read_text() == HA
    # idempotent: a second start redoes the copy from the pristine install
    assert patch_mod.patch(package, dest, "4.1.5", edits=pinned_to(package)) == edited
    assert (dest / "patroni" / "config.py").read_text() == config


@pytest.mark.parametrize(
    "installed,source,said",
    [
        ("4.1.4", "4.1.5", "installed distribution says 4.1.4"),
        ("4.1.5", "4.1.6", "patroni/version.py says 4.1.6"),
        ("4.2.0", "4.2.0", "installed distribution says 4.2.0, patroni/version.py says 4.2.0"),
    ],
)
def test_another_version_is_refused_before_anything_is_written(tmp_path, installed, source, said):
    package = tree(tmp_path, version=source)
    with pytest.raises(patch_mod.Refused, match=f"for Patroni 4.1.5 exactly, but {said}") as caught:
        patch_mod.patch(package, tmp_path / "dest", installed, edits=pinned_to(package))
    assert "CHAOSHA_FAILOVER_PROFILE=default" in str(caught.value)
    assert not (tmp_path / "dest").exists()


def test_the_real_pins_refuse_a_file_that_is_not_the_reviewed_one(tmp_path):
    package = tree(tmp_path)  # right version, but not 4.1.5's real config.py
    with pytest.raises(patch_mod.Refused, match=r"patroni/config.py of Patroni 4.1.5 is not the file .* \(sha256"):
        patch_mod.patch(package, tmp_path / "dest", "4.1.5")
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("config", ["nothing to patch\n", CONFIG + CONFIG])
def test_an_edit_must_match_exactly_once(tmp_path, config):
    package = tree(tmp_path, config=config)
    with pytest.raises(patch_mod.Refused, match=r"patroni/config.py: .* found [02] times, expected once"):
        patch_mod.patch(package, tmp_path / "dest", "4.1.5", edits=pinned_to(package))
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("ha", [HA.replace(SLEEP, "time.sleep(2)\n", 1), HA + SLEEP])
def test_the_release_sleep_must_be_in_both_demote_and_shutdown(tmp_path, ha):
    package = tree(tmp_path, ha=ha)
    with pytest.raises(
        patch_mod.Refused, match=r"patroni/ha.py: 'time.sleep\(1\).*' found [13] times, expected 2"
    ):
        patch_mod.patch(package, tmp_path / "dest", "4.1.5", edits=pinned_to(package))
    assert not (tmp_path / "dest").exists()


def number_free(line: str) -> str:
    return re.sub(r"\d+(\.\d+)?", "N", line)


def test_the_edits_stay_minimal_and_keep_patronis_own_rule():
    assert [(e.path, e.times) for e in patch_mod.EDITS] == [
        ("config.py", 1),
        ("ha.py", 1),
        ("ha.py", 1),
        ("ha.py", 1),
        ("ha.py", 2),
        ("postgresql/__init__.py", 1),
    ]
    imports, race, failsafe = patch_mod.EDITS[1:4]
    # one added line: the import the race's two-part timeout needs, below an existing import
    assert imports.new == imports.old + f"from urllib3 import Timeout{patch_mod.MARK}\n"
    # the race: the one number becomes a connect and a read timeout, nothing else on the line
    assert race.new.replace(patch_mod.MARK, "") == race.old.replace(
        "timeout=2", f"timeout=Timeout(connect={patch_mod.RACE_CONNECT_S}, read={patch_mod.RACE_READ_S})"
    )
    # the failsafe answer: the stock refusal stays, widened by "holds the key" and "is promoting"
    stock = failsafe.old[len("if ") : -len(":\n")]
    widened = stock.replace(
        "role == PostgresqlRole.PRIMARY", "role in (PostgresqlRole.PRIMARY, PostgresqlRole.PROMOTED)"
    )
    assert failsafe.new.replace(patch_mod.MARK, "") == f"if self.is_leader() or ({widened}):\n"
    for edit in patch_mod.EDITS[:1] + patch_mod.EDITS[4:]:  # one line each, nothing but a number changes
        assert edit.old.count("\n") == 1 and edit.new.count("\n") == 1
        new = edit.new.replace(patch_mod.MARK, "")
        assert new != edit.old and number_free(new) == number_free(edit.old)
    # the floor is the arithmetic floor of loop_wait + 2 * retry_timeout <= ttl at Patroni's minima
    assert patch_mod.TTL_FLOOR == 1 + 2 * 3
    assert 0 < patch_mod.RACE_CONNECT_S < patch_mod.RACE_READ_S < 2
    assert 0 < patch_mod.RELEASE_GRACE_S < 1 and 0 < patch_mod.STOP_POLL_S < 1


def test_the_script_exits_3_with_the_reason_when_patroni_is_missing(tmp_path):
    # this Python has no patroni: the loud refusal the container prints before exiting
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 3
    assert "refusing to start Patroni with the fast failover profile" in result.stderr
