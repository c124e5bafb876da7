"""The command line, as a user meets it: -h everywhere, no load without an
explicit argument, bad numbers and unreadable files refused with one line,
documented exit codes, and the same commands inside ``chaos`` as ``chaos ha``."""

import subprocess
import sys
from pathlib import Path

import pytest

from chaosha.cli import cli, main

COMMANDS = [
    [],
    ["stack"],
    ["stack", "up"],
    ["stack", "down"],
    ["stack", "status"],
    ["stack", "logs"],
    ["heal"],
    ["workload"],
    ["workload", "run"],
    ["workload", "stop"],
    ["workload", "status"],
    ["verdict"],
    ["report"],
    ["suite"],
    ["suite", "run"],
    ["trend"],
]
CHAOS = str(Path(sys.executable).with_name("chaos"))


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: " ".join(w) or "chaosha")
def test_every_command_has_short_help(words, capsys) -> None:
    assert main([*words, "-h"]) == 0
    assert "Usage: chaosha" in capsys.readouterr().out


def test_workload_never_starts_load_without_a_duration(capsys) -> None:
    assert main(["workload", "run"]) == 2
    assert "--duration" in capsys.readouterr().err


@pytest.mark.parametrize(
    "words",
    [
        ["workload", "run", "--duration", "-5"],
        ["workload", "run", "--duration", "10", "--rate", "-1"],
        ["workload", "run", "--duration", "abc"],
        ["suite", "run", "--out", "x", "--timeout", "0"],
        ["heal", "--wait", "-1"],
    ],
)
def test_bad_numbers_are_refused_with_a_message(words, capsys) -> None:
    assert main(words) == 2
    err = capsys.readouterr().err
    assert "Invalid value" in err and "Usage:" in err


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"status": 3}', ""])
def test_an_unreadable_journal_exits_2_with_one_line(tmp_path: Path, capsys, content: str) -> None:
    journal = tmp_path / "journal.json"
    journal.write_text(content)
    assert main(["report", str(journal)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("chaosha: report: ")
    assert not (tmp_path / "journal.html").exists()


def test_a_missing_journal_or_ledger_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["report", str(tmp_path / "nope.json")]) == 2
    assert main(["verdict", str(tmp_path / "nope.jsonl")]) == 2


def test_trend_of_folders_without_journals_exits_1(tmp_path: Path, capsys) -> None:
    (tmp_path / "run" / "2026-11-27T00-00-00Z").mkdir(parents=True)
    (tmp_path / "run" / "2026-11-27T00-00-00Z" / "x.json").write_text('{"experiment": 1}')
    assert main(["trend", str(tmp_path / "run")]) == 1
    assert "no readable journal" in capsys.readouterr().err


def test_the_same_commands_are_reachable_as_chaos_ha() -> None:
    done = subprocess.run([CHAOS, "ha", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in cli.commands:
        assert name in done.stdout
    done = subprocess.run([CHAOS, "ha", "workload", "run", "-h"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--duration" in done.stdout


def test_heal_while_another_experiment_runs_exits_3(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CHAOSHA_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CHAOSHA_ENV_FILE", str(tmp_path / "none.env"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import time; from chaosha import state; from chaosha.config import load; "
                "state.hold(load(), state.EXPERIMENT_LOCK, 'chaos run other'); print('held', flush=True); "
                "time.sleep(30)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert main(["heal", "--wait", "0"]) == 3
        assert "heal refused" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait(10)
