"""`chaos discover` sees every activity with its right kind and real types."""

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import chaosha

CHAOS = str(Path(sys.executable).with_name("chaos"))


def discovered():
    return chaosha.discover()["activities"]


def test_every_exported_function_is_discovered_with_its_module_kind():
    activities = discovered()
    for subsystem in chaosha.SUBSYSTEMS:
        for kind, label in (("actions", "action"), ("probes", "probe")):
            try:
                module = importlib.import_module(f"chaosha.{subsystem}.{kind}")
            except ModuleNotFoundError:
                continue
            names = {a["name"] for a in activities if a["mod"] == module.__name__}
            assert names == set(module.__all__), module.__name__
            assert {a["type"] for a in activities if a["mod"] == module.__name__} == {label}


def test_signatures_follow_the_conventions():
    for activity in discovered():
        if activity["type"] == "control":
            continue
        args = [a["name"] for a in activity["arguments"]]
        assert args[-2:] == ["configuration", "secrets"], activity["name"]
        assert activity["doc"], activity["name"]
        for arg in activity["arguments"][:-2]:
            assert arg.get("type") not in (None, "object"), (activity["mod"], activity["name"], arg)
        func = getattr(importlib.import_module(activity["mod"]), activity["name"])
        assert all(p.kind is not p.KEYWORD_ONLY for p in inspect.signature(func).parameters.values())


def test_chaos_discover_lists_the_extension(tmp_path):
    out = tmp_path / "discovery.json"
    subprocess.run(
        [
            CHAOS,
            "discover",
            "--no-system-info",
            "--no-install",
            "chaostoolkit-chaosha",
            "--discovery-path",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = json.loads(out.read_text())
    kinds = {(a["mod"], a["type"]) for a in data["activities"]}
    assert ("chaosha.docker.actions", "action") in kinds
    assert ("chaosha.patroni.probes", "probe") in kinds
    assert ("chaosha.controls.safeguard", "control") in kinds
    kill = next(a for a in data["activities"] if a["name"] == "kill_container")
    assert {a["name"]: a.get("type") for a in kill["arguments"]}["force"] == "boolean"
