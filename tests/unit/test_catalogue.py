"""The catalogue is valid, in sync with its builder, and avoids Chaos Toolkit's tolerance traps."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments"))
import build  # noqa: E402

FILES = sorted((ROOT / "experiments").glob("*.json"))
CHAOS = str(Path(sys.executable).with_name("chaos"))


def test_files_match_the_builder():
    assert {f.stem for f in FILES} == set(build.CATALOGUE)
    for name, doc in build.CATALOGUE.items():
        assert (ROOT / "experiments" / f"{name}.json").read_text() == build.render(doc), (
            f"{name}.json is stale: run python experiments/build.py"
        )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_chaos_validate(path):
    result = subprocess.run([CHAOS, "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def walk_activities(doc):
    yield from doc["steady-state-hypothesis"]["probes"]
    yield from doc["method"]
    yield from doc["rollbacks"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_conventions_and_tolerance_traps(path):
    doc = json.loads(path.read_text())
    assert doc["runtime"] == {"rollbacks": {"strategy": "always"}}
    assert doc["title"] and doc["description"] and doc["tags"]
    assert doc["configuration"]["CHAOSHA_ENV_FILE"]["type"] == "env"
    assert any(c["provider"]["module"] == "chaosha.controls.safeguard" for c in doc["controls"])
    assert "secrets" not in doc and "password" not in path.read_text().lower()
    for activity in walk_activities(doc):
        tolerance = activity.get("tolerance")
        if isinstance(tolerance, list):
            assert not (len(tolerance) == 2 and all(isinstance(t, str) for t in tolerance))
        if isinstance(tolerance, dict) and tolerance.get("type") == "probe":
            assert "arguments" in tolerance["provider"]
    verdicts = [a for a in doc["method"] if a["name"] == "integrity-verdict"]
    assert len(verdicts) == 1


UNDOS = {
    "start_container",
    "unpause_container",
    "heal_partition",
    "reconnect_network",
    "remove_latency",
    "start_node",
}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_argument_is_a_parameter_and_undos_aim_where_the_fault_did(path):
    import importlib
    import inspect

    doc = json.loads(path.read_text())
    for activity in walk_activities(doc):
        provider = activity["provider"]
        func = getattr(importlib.import_module(provider["module"]), provider["func"])
        unknown = set(provider.get("arguments", {})) - set(inspect.signature(func).parameters)
        assert not unknown, (activity["name"], unknown)
        target = provider.get("arguments", {}).get("target", "")
        if provider["func"] in UNDOS and target.startswith("@"):
            assert target == "@faulted", (
                activity["name"],
                "an undo after a role-targeted fault must aim at @faulted, not re-resolve the role",
            )
