"""Nemesis runs for real: a fixed seed through `chaos run experiments/nemesis.json`
(the CI run, under 3 minutes), and `chaosha nemesis --replay` of a failing
schedule, shrunk to the step that fails."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest
from chaos_runs import JOURNALS, chaos_run

from chaosha.docker.probes import pending_faults, project_containers
from chaosha.nemesis.actions import topology
from chaosha.nemesis.schedule import KINDS, draw, span_s
from chaosha.patroni.probes import wait_for_healthy
from chaosha.suite.nemesis import schedule_from_journal

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SEED, DURATION = 6, 120  # kill and stop of the leader, failovers, a ZooKeeper member lost, cuts, loss


def _started_at(stack, service: str) -> float:
    """When Docker last started the service's container (an independent look, not chaosha's)."""
    client = docker.from_env(timeout=30)
    found = client.containers.list(
        all=True,
        filters={
            "label": [
                f"com.docker.compose.project={stack.settings.project}",
                f"com.docker.compose.service={service}",
            ]
        },
    )
    assert len(found) == 1, (service, found)
    stamp = found[0].attrs["State"]["StartedAt"]  # UTC, nanoseconds: 2026-12-01T16:40:12.123456789Z
    return datetime.fromisoformat(stamp[:26]).replace(tzinfo=UTC).timestamp()


def _healed(stack) -> None:
    wait_for_healthy(180, configuration=stack.configuration)
    states = project_containers(configuration=stack.configuration)
    assert all(c["state"] == "running" and not c["paused"] for c in states), states
    assert pending_faults(configuration=stack.configuration) == []


def test_a_fixed_seed_runs_its_schedule_and_loses_nothing(stack, monkeypatch):
    wait_for_healthy(180, configuration=stack.configuration)
    monkeypatch.setenv("CHAOSHA_NEMESIS_SEED", str(SEED))
    monkeypatch.setenv("CHAOSHA_NEMESIS_DURATION_S", str(DURATION))
    proc = chaos_run(stack.configuration["CHAOSHA_ENV_FILE"], "nemesis", JOURNALS)
    output, _ = proc.communicate(timeout=span_s(draw(SEED, DURATION, list(KINDS), topology(stack.settings))) + 600)
    journal_path = JOURNALS / "nemesis.json"
    journal = json.loads(journal_path.read_text())
    assert journal["status"] == "completed" and journal["deviated"] is False, output[-4000:]
    outputs = {r["activity"]["name"]: r.get("output") for r in journal["run"]}
    record = outputs["run-the-nemesis-schedule"]
    # Reproducible: the journal holds the schedule the seed draws, drawn again here.
    expected = draw(SEED, DURATION, list(KINDS), topology(stack.settings))
    assert record["schedule"] == expected and schedule_from_journal(journal_path) == (SEED, expected)
    assert "nemesis seed 6, " in output and "#1 " in output  # printed before it ran
    events = record["events"]
    applied = [e for e in events if e["outcome"] == "applied"]
    assert len(applied) >= len(events) // 2, events
    assert all(e.get("undone_at") for e in applied if e["hold_s"] > 0), applied
    # Docker itself saw every applied kill, stop and member loss: the container started again after it.
    for e in applied:
        if e["fault"] in ("kill", "stop", "zk-loss"):
            assert _started_at(stack, e["service"]) > e["at"], e
    verdict = outputs["integrity-verdict"]
    assert verdict["passed"] and verdict["lost"] == 0 and verdict["two_primaries"] is False, verdict
    recovery = outputs["recovery-per-fault"]
    assert {r["step"] for r in recovery["steps"]} == {e["step"] for e in applied}
    assert set(recovery["kinds"]) == {e["fault"] for e in applied}
    _healed(stack)


def test_replay_of_a_failing_schedule_is_shrunk_to_the_step_that_fails(stack, tmp_path):
    """A graceful stop of the leader stops writes ~2 s (the key is handed
    over): with a 1 s RTO budget that fails; a session expiry (the healthy
    leader takes its key back, writes go on) does not.  The
    shrunk schedule must be the kill alone, saved as an experiment that
    validates."""
    wait_for_healthy(180, configuration=stack.configuration)
    schedule = [
        {"step": 1, "fault": "stop", "target": "@leader", "at_s": 5.0, "hold_s": 1.5},
        {"step": 2, "fault": "zk-session-expiry", "target": "@leader", "at_s": 40.0, "hold_s": 0.0},
    ]
    journal = tmp_path / "failed.json"
    journal.write_text(
        json.dumps({"experiment": {"configuration": {"nemesis_seed": "77", "nemesis_schedule": schedule}}})
    )
    env = dict(os.environ, CHAOSHA_ENV_FILE=stack.configuration["CHAOSHA_ENV_FILE"], CHAOSHA_RTO_BUDGET_S="1")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaosha.cli",
            "nemesis",
            "--replay",
            str(journal),
            "--shrink-budget",
            "600",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    folder = next(out.iterdir())
    shrunk = folder / "nemesis-seed77-shrunk.json"
    assert shrunk.is_file(), proc.stdout[-3000:]
    doc = json.loads(shrunk.read_text())
    kept = doc["configuration"]["nemesis_schedule"]
    assert [(s["step"], s["fault"]) for s in kept] == [(1, "stop")], proc.stdout[-3000:]
    # The tries: the replay failed; without the stop (the expiry alone, moved to the
    # warm-up) it passed, so the stop stayed; without the expiry it failed (a hold under
    # 2 s is not halved).
    configs = [
        json.loads((folder / f"{n}.experiment.json").read_text())["configuration"]
        for n in ("nemesis-try1", "nemesis-try2")
    ]
    steps = [[(s["step"], s["at_s"]) for s in c["nemesis_schedule"]] for c in configs]
    assert steps == [[(2, 5.0)], [(1, 5.0)]]
    assert not (folder / "nemesis-try3.experiment.json").exists()
    check = subprocess.run(
        [str(Path(sys.executable).with_name("chaos")), "validate", str(shrunk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    _healed(stack)
