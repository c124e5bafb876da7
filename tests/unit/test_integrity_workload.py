"""Workload plumbing without a database: outcomes, deadlines, the
subprocess runner, the CLI entry points and discovery."""

import importlib
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, List

import pytest
from chaoslib.discovery.discover import discover_actions, discover_probes
from chaoslib.exceptions import ActivityFailed

from chaosha.cli import main
from chaosha.config import load
from chaosha.integrity import runner
from chaosha.integrity.audit import fault_time
from chaosha.integrity.session import Watchdog, outcome_of
from chaosha.integrity.workload import WorkloadOptions, run_workload_cli


def conn(closed: bool = False, broken: bool = False) -> Any:
    return SimpleNamespace(closed=closed, broken=broken)


def test_outcomes() -> None:
    server_error = SimpleNamespace(sqlstate="25006")
    lost_link = SimpleNamespace(sqlstate=None)
    assert outcome_of(Exception(), None) == "failed"  # never connected: never sent
    assert outcome_of(server_error, conn()) == "failed"  # type: ignore[arg-type]
    assert outcome_of(server_error, conn(broken=True)) == "in-doubt"  # type: ignore[arg-type]
    assert outcome_of(server_error, conn(closed=True)) == "in-doubt"  # type: ignore[arg-type]
    assert outcome_of(lost_link, conn()) == "in-doubt"  # type: ignore[arg-type]


def test_watchdog_unblocks_a_hung_read() -> None:
    ours, theirs = socket.socketpair()
    fake = SimpleNamespace(pgconn=SimpleNamespace(socket=ours.fileno()))
    dog = Watchdog(tick=0.01)
    token = dog.arm(fake, 0.2)  # type: ignore[arg-type]
    started = time.monotonic()
    assert ours.recv(10) == b""  # returns (EOF) only because the watchdog shut it down
    assert 0.15 < time.monotonic() - started < 2
    assert dog.disarm(token) is True
    token = dog.arm(fake, 5)  # type: ignore[arg-type]
    assert dog.disarm(token) is False
    ours.close()
    theirs.close()


def test_parse_time() -> None:
    assert fault_time("") == 0.0
    assert fault_time(12.5) == 12.5
    assert fault_time("1795734000") == 1795734000.0
    assert fault_time("2026-11-26T23:00:00Z") == fault_time("2026-11-26T23:00:00+00:00")
    with pytest.raises(ActivityFailed, match="ISO-8601"):
        fault_time("yesterday")


def test_options_travel_as_json_and_unknown_ones_are_refused(capsys: Any) -> None:
    options = WorkloadOptions(duration=5, reads=False, rate=0)
    flag, text = options.as_args()
    back = WorkloadOptions.from_json(text)
    assert flag == "--options" and back == options
    assert back.duration == 5 and back.reads is False and back.sampler is True and back.target == "rw"
    with pytest.raises(ValueError, match="dureation"):
        WorkloadOptions.from_json('{"dureation": 5}')
    assert run_workload_cli(["--options", '{"dureation": 5}']) == 2
    assert "unknown workload options" in capsys.readouterr().err


def settings_for(tmp_path: Path, **extra: str) -> Any:
    return load({"CHAOSHA_STATE_DIR": str(tmp_path), "CHAOSHA_ENV_FILE": str(tmp_path / "none"), **extra})


def test_stop_without_start_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ActivityFailed, match="start_workload"):
        runner.stop_process(settings_for(tmp_path))
    with pytest.raises(ActivityFailed, match="run_id"):
        runner.load_state(settings_for(tmp_path), "nope")


def test_stop_terminates_then_kills_a_process_found_by_its_state(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    folder = runner.state_dir(settings)
    # A process that ignores SIGTERM, started by someone else: found by pid + run id.
    code = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, "run-xyz"])
    try:
        time.sleep(0.3)
        (folder / "run-xyz.json").write_text(
            json.dumps({"run_id": "run-xyz", "pid": proc.pid, "ledger": str(folder / "x.jsonl")})
        )
        (folder / "current").write_text("run-xyz")
        assert runner.process_alive(proc.pid, "run-xyz")
        assert not runner.process_alive(proc.pid, "another-run")
        threading.Thread(target=proc.wait, daemon=True).start()  # reap like init would
        result = runner.stop_process(settings, "", 0.5)
        assert result["stopped"] == "killed"
        assert runner.stop_process(settings, "run-xyz", 0.5)["stopped"] == "already-exited"
    finally:
        proc.kill()
        proc.wait()


def test_start_against_nothing_fails_fast_with_the_log(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    settings = settings_for(tmp_path, CHAOSHA_RW_PORT=str(free), CHAOSHA_TIMEOUT="1")
    started = time.monotonic()
    with pytest.raises(ActivityFailed, match=r"did not start writing.*log"):
        runner.start_process(settings, WorkloadOptions(duration=2, sampler=False, reads=False).as_args(), True, 30)
    assert time.monotonic() - started < 20


def test_verdict_cli_offline(tmp_path: Path, capsys: Any) -> None:
    ledger = tmp_path / "l.jsonl"
    ledger.write_text(
        "\n".join(
            json.dumps(r)
            for r in (
                {"k": "run", "run": "r", "t": 100.0},
                {"k": "w", "id": 1, "t0": 100.1, "t1": 100.2, "r": "ok", "node": "pg1", "tl": 1},
                {"k": "w", "id": 2, "t0": 100.3, "t1": 100.4, "r": "ok", "node": "pg1", "tl": 1},
                {"k": "end", "t": 101.0},
            )
        )
        + "\n"
    )
    ids = tmp_path / "ids"
    ids.write_text("1\n")
    assert main(["verdict", str(ledger), "--final-ids", str(ids)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["lost_ids"] == [2] and out["passed"] is False
    assert main(["verdict", str(tmp_path / "missing.jsonl")]) == 2


def test_activities_are_discoverable_with_typed_arguments() -> None:
    actions = {a["name"]: a for a in discover_actions("chaosha.integrity.actions")}
    probes = {p["name"]: p for p in discover_probes("chaosha.integrity.probes")}
    assert set(actions) == {"start_workload", "stop_workload"}
    assert set(probes) == {"workload_verdict", "workload_progress", "integrity_holds"}
    for activity in list(actions.values()) + list(probes.values()):
        assert activity["doc"]
        for arg in activity["arguments"]:
            assert arg.get("type") != "object", (activity["name"], arg)


def test_start_workload_and_the_cli_hand_the_checker_options_to_the_workload(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from chaosha.integrity import actions

    cli_workload = importlib.import_module("chaosha.cli.workload")  # the module, not the group

    sent: List[List[str]] = []
    monkeypatch.setattr(
        actions,
        "start_process",
        lambda settings, args, *rest, **named: (
            sent.append(args)
            or sent.append(named)
            or dict.fromkeys(("run_id", "pid", "ledger", "log", "started"), "")
        ),
    )
    cfg = {"CHAOSHA_STATE_DIR": str(tmp_path), "CHAOSHA_ENV_FILE": str(tmp_path / "none")}
    actions.start_workload(
        writers=4, fresh_writers=4, rw_reads=True, read_window_s="20s", max_read_lag_s=2, configuration=cfg
    )
    options = WorkloadOptions.from_json(sent[0][1])
    assert sent[1] == {"duration_s": 300.0}  # kept in the state: the nemesis checks the workload outlasts it
    assert (options.writers, options.fresh_writers, options.rw_reads) == (4, 4, True)
    assert (options.read_window, options.max_read_lag) == (20.0, 2.0)
    defaults = WorkloadOptions()
    assert (defaults.writers, defaults.rw_reads, defaults.max_read_lag) == (1, False, 5.0)
    with pytest.raises(ActivityFailed, match="rate"):
        actions.start_workload(rate="fast", configuration=cfg)

    ran: List[Any] = []
    monkeypatch.setattr(cli_workload, "run_workload", lambda settings, opts: ran.append(opts) or {})
    monkeypatch.setattr(cli_workload, "load", lambda: None)
    assert main(["workload", "run", "--duration", "1", "--writers", "8", "--rw-reads", "--max-read-lag", "3"]) == 0
    assert (ran[0].writers, ran[0].rw_reads, ran[0].max_read_lag, ran[0].read_window) == (8, True, 3.0, 10.0)
