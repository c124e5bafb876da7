"""The scheduling files: systemd units, the cron line and the workflow."""

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHED = ROOT / "scheduling"
PLACEHOLDER = "/opt/chaosha"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((SCHED / name).read_text())
    return parser


def calls_suite(command: str) -> bool:
    words = shlex.split(command)
    return any(Path(w).name == "chaosha" and words[i + 1 : i + 3] == ["suite", "run"] for i, w in enumerate(words))


def test_service_unit() -> None:
    service = unit("chaosha-suite.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["WorkingDirectory"] == PLACEHOLDER
    assert calls_suite(service["ExecStart"]) and "--out" in service["ExecStart"]
    assert "3" in service["SuccessExitStatus"].split()  # locked: not a unit failure


def test_timer_unit_nightly() -> None:
    timer = unit("chaosha-suite.timer")
    assert timer["Timer"]["Unit"] == "chaosha-suite.service"
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d:\d\d", timer["Timer"]["OnCalendar"])
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    venv_chaosha = ROOT / ".venv" / "bin" / "chaosha"
    if not venv_chaosha.exists():
        pytest.skip(f"{venv_chaosha} missing: the unit's ExecStart could not be checked")
    for name in ("chaosha-suite.service", "chaosha-suite.timer"):
        text = (SCHED / name).read_text().replace(PLACEHOLDER, str(ROOT))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            str(tmp_path / "chaosha-suite.service"),
            str(tmp_path / "chaosha-suite.timer"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [line for line in result.stderr.splitlines() if "chaosha-suite" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_crontab_line() -> None:
    lines = [
        line for line in (SCHED / "crontab").read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert len(fields) == 6
    minute, hour, day, month, weekday, command = fields
    assert minute.isdigit() and 0 <= int(minute) < 60 and hour.isdigit() and 0 <= int(hour) < 24
    assert (day, month, weekday) == ("*", "*", "*")
    assert re.search(r"chaosha suite run --out \S+", command)


def test_github_workflow() -> None:
    workflow = yaml.safe_load((SCHED / "github-workflow.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    crons = [entry["cron"] for entry in triggers["schedule"]]
    assert crons and all(len(c.split()) == 5 for c in crons)
    job = next(iter(workflow["jobs"].values()))
    assert "self-hosted" in job["runs-on"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert any(calls_suite(line) for text in runs for line in text.splitlines())


def test_readme_explains_every_file() -> None:
    text = (SCHED / "README.md").read_text()
    for name in (
        "chaosha-suite.service",
        "chaosha-suite.timer",
        "crontab",
        "github-workflow.yml",
        "WorkingDirectory",
    ):
        assert name in text
