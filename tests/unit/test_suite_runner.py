"""The suite runner with tiny real experiments (stdlib probes only) run by
``chaos run``: order, continue after failure, heal, lock, outputs, exit codes."""

import json
import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from chaosha.cli import main
from chaosha.cli.reports import LOCKED_EXIT
from chaosha.config import load
from chaosha.suite.runner import suite_lock


def probe(name: str, path: str, tolerance: Any = True) -> Dict[str, Any]:
    return {
        "type": "probe",
        "name": name,
        "tolerance": tolerance,
        "provider": {"type": "python", "module": "os.path", "func": "exists", "arguments": {"path": path}},
    }


def experiment(
    folder: Path, name: str, exists: str = "/", verdict: Optional[Dict[str, Any]] = None, sleep: float = 0.0
) -> Path:
    """A steady state on ``os.path.exists(exists)``; optionally a verdict-like
    probe (``json.loads``) and a ``sleep`` process action."""
    method: List[Dict[str, Any]] = [probe("tmp-exists", "/tmp")]
    if sleep:
        method.insert(
            0,
            {
                "type": "action",
                "name": "sleep",
                "provider": {"type": "process", "path": "sleep", "arguments": str(sleep)},
            },
        )
    if verdict is not None:
        method.append(
            {
                "type": "probe",
                "name": "workload-verdict",
                "provider": {
                    "type": "python",
                    "module": "json",
                    "func": "loads",
                    "arguments": {"s": json.dumps(verdict)},
                },
            }
        )
    path = folder / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "version": "1.0.0",
                "title": f"Fake {name}",
                "description": "stdlib probes only",
                "steady-state-hypothesis": {"title": "path exists", "probes": [probe("exists", exists)]},
                "method": method,
                "rollbacks": [],
            }
        )
    )
    return path


PASSED = {
    "passed": True,
    "lost": 0,
    "unexpected": 0,
    "two_primaries": False,
    "rto_s": 1.5,
    "nodes_consistent": True,
}
LOST = dict(PASSED, passed=False, lost=2, lost_ids=[4, 5])


def suite(out: Path, heal_log: Path, *experiments: Path, extra: Sequence[str] = ()) -> int:
    heal = f"{shlex.quote(sys.executable)} -c \"open({str(heal_log)!r}, 'a').write('healed\\n')\""
    return main(["suite", "run", *map(str, experiments), "--out", str(out), "--heal-cmd", heal, *extra])


def run_folder(out: Path) -> Path:
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1
    return folders[0]


def test_all_passed_exit_0(tmp_path: Path) -> None:
    one = experiment(tmp_path, "one", verdict=PASSED)
    two = experiment(tmp_path, "two")
    assert suite(tmp_path / "out", tmp_path / "heal.log", one, two) == 0
    folder = run_folder(tmp_path / "out")
    assert (tmp_path / "heal.log").read_text() == "healed\nhealed\n"
    for name in ("01-one", "02-two"):
        journal = json.loads((folder / f"{name}.json").read_text())
        assert journal["status"] == "completed"
        assert (folder / f"{name}.log").is_file() and (folder / f"{name}.html").is_file()
        assert (folder / f"{name}.png").is_file()
    summary = (folder / "summary.md").read_text()
    assert summary.startswith("# chaosha suite: 2 of 2 passed")
    assert "No acknowledged write was lost." in summary
    root = ET.parse(folder / "junit.xml").getroot()  # noqa: S314 - our own file
    assert root.get("tests") == "2" and root.get("failures") == "0"
    assert len(root.findall(".//testcase")) == 2 and not root.findall(".//failure")


def test_continues_after_failures_in_order_and_exits_1(tmp_path: Path) -> None:
    experiments = [
        experiment(tmp_path, "a-lost", verdict=LOST),
        experiment(tmp_path, "b-not-met", exists="/nonexistent"),
        tmp_path / "c-missing.json",
        experiment(tmp_path, "d-good", verdict=PASSED),
    ]
    assert suite(tmp_path / "out", tmp_path / "heal.log", *experiments) == 1
    folder = run_folder(tmp_path / "out")
    log = (folder / "suite.log").read_text()
    order = [log.index(f"[0{i}-") for i in range(1, 5)]
    assert order == sorted(order)
    assert (tmp_path / "heal.log").read_text().count("healed") == 3  # not after the missing one
    root = ET.parse(folder / "junit.xml").getroot()  # noqa: S314 - our own file
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["Fake a-lost", "Fake b-not-met", "03-c-missing", "Fake d-good"]
    assert root.get("failures") == "3"
    failures = {c.get("name"): c.find("failure") for c in cases}
    lost = failures["Fake a-lost"]
    assert lost is not None and "the integrity verdict failed" in lost.get("message", "")
    assert "2 acknowledged writes were lost (ids 4, 5)." in (lost.text or "")
    assert '"lost": 2' in (lost.text or "")  # and as JSON
    assert failures["Fake d-good"] is None
    summary = (folder / "summary.md").read_text()
    assert summary.startswith("# chaosha suite: 1 of 4 passed")
    assert "no experiment file" in summary and "not met before the method" in summary


def test_lock_refuses_a_second_run_with_code_3(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    one = experiment(tmp_path, "one")
    with suite_lock(load(), out):
        assert suite(tmp_path / "elsewhere", tmp_path / "heal.log", one) == LOCKED_EXIT
    assert "another suite run is using this stack" in capsys.readouterr().err
    assert not [p for p in out.iterdir() if p.is_dir()]
    assert suite(out, tmp_path / "heal.log", one) == 0  # released


def test_deadline_interrupts_the_run(tmp_path: Path) -> None:
    slow = experiment(tmp_path, "slow", sleep=30)
    assert suite(tmp_path / "out", tmp_path / "heal.log", slow, extra=["--timeout", "2"]) == 1
    folder = run_folder(tmp_path / "out")
    summary = (folder / "summary.md").read_text()
    assert "exceeded its 2 s deadline" in summary
    failure = ET.parse(folder / "junit.xml").getroot().find(".//failure")  # noqa: S314 - our own file
    assert failure is not None and failure.get("type") == "timeout"


def test_dry_run_lists_and_runs_nothing(tmp_path: Path, capsys) -> None:
    one = experiment(tmp_path, "one")
    out = tmp_path / "out"
    assert (
        main(
            [
                "suite",
                "run",
                str(one),
                str(tmp_path / "nope.json"),
                "--out",
                str(out),
                "--dry-run",
                "--heal-cmd",
                "true",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "--journal-path" in text and "01-one.json" in text and "02-nope" in text
    assert "MISSING" in text and "then heal: true" in text
    assert not out.exists()


def test_default_catalogue_and_heal(capsys, monkeypatch) -> None:
    monkeypatch.delenv("CHAOSHA_SUITE_HEAL_CMD", raising=False)
    assert main(["suite", "run", "--out", "/nonexistent/out", "--dry-run"]) == 0
    text = capsys.readouterr().out
    for name in ("master-kill", "switchover-under-load", "replica-kill"):
        assert f"experiments/{name}.json" in text
    assert "-m chaosha.cli heal --wait 180" in text


def test_heal_command_from_the_environment(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CHAOSHA_SUITE_HEAL_CMD", "echo from-env")
    assert main(["suite", "run", "--out", str(tmp_path), "--dry-run", "x.json"]) == 0
    assert "then heal: echo from-env" in capsys.readouterr().out


def test_usage_error_is_2() -> None:
    assert main(["suite", "run"]) == 2  # --out is required
