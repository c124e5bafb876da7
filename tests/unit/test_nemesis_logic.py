"""The nemesis's pure parts: schedules from seeds, the fault table, the
runner's bookkeeping (with fake faults), recovery per fault, shrinking."""

import itertools
import json
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.nemesis import faults, runner
from chaosha.nemesis.recovery import attribute, by_kind, outages, percentile
from chaosha.nemesis.schedule import (
    KINDS,
    SETTLE_S,
    Topology,
    check,
    describe,
    draw,
    parse_faults,
    resource,
    span_s,
)
from chaosha.nemesis.shrink import rebase, shrink
from chaosha.suite.nemesis import experiment_for, schedule_from_journal

TWO = Topology(("pg1", "pg2"), ("zk1", "zk2", "zk3"))
THREE = Topology(("pg1", "pg2", "pg3"), ("zk1", "zk2", "zk3"))
ROOT = Path(__file__).resolve().parents[2]


def test_same_seed_same_schedule_other_seed_other_schedule():
    a = draw(42, 300, list(KINDS), TWO)
    assert a == draw(42, 300, list(KINDS), TWO)
    assert a != draw(43, 300, list(KINDS), TWO)
    assert json.loads(json.dumps(a)) == a  # JSON-native


def test_schedule_uses_every_kind_over_a_long_run_and_ends_in_time():
    steps = draw(7, 3600, list(KINDS), TWO)
    assert {s["fault"] for s in steps} == set(KINDS)
    assert all(0 < s["at_s"] and s["at_s"] + s["hold_s"] + SETTLE_S <= 3600 for s in steps)
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    assert {s["target"] for s in steps if s["fault"] == "zk-loss"} <= {"zk1", "zk2", "zk3"}


def _max_overlap(steps, claim):
    edges = []
    for s in steps:
        if resource(s) == claim:
            edges += [(round(s["at_s"], 1), 1), (round(s["at_s"] + s["hold_s"] + SETTLE_S, 1), -1)]
    level = peak = 0
    for _, d in sorted(edges, key=lambda e: (e[0], e[1])):
        level += d
        peak = max(peak, level)
    return peak


@pytest.mark.parametrize("seed", range(20))
def test_capacities_are_what_the_guards_allow(seed):
    steps = draw(seed, 900, list(KINDS), TWO)
    assert _max_overlap(steps, "pg") == 1  # two nodes: one may be down
    assert _max_overlap(steps, "zk") == 1  # three members: a majority stays
    three = draw(seed, 900, list(KINDS), THREE)
    assert _max_overlap(three, "pg") <= 2
    kinds = {resource(s) for s in steps}
    assert len(kinds) > 1 and any(
        a["at_s"] < b["at_s"] < a["at_s"] + a["hold_s"] for a, b in itertools.combinations(steps, 2)
    ), "faults on different resources overlap"


def test_unsafe_lifts_the_capacity():
    peaks = [_max_overlap(draw(seed, 600, ["kill", "pause"], TWO, unsafe=True), "pg") for seed in range(10)]
    assert max(peaks) > 1


def test_one_zookeeper_member_is_never_a_target():
    steps = draw(3, 600, ["zk-loss", "kill"], Topology(("pg1", "pg2"), ("zk1",)))
    assert steps and all(s["fault"] == "kill" for s in steps)


@pytest.mark.parametrize(
    "bad,words",
    [("kill,nuke", "unknown nemesis fault(s) nuke"), (["kill", "x"], "unknown nemesis fault(s) x")],
)
def test_unknown_faults_are_named(bad, words):
    with pytest.raises(ActivityFailed, match=r"unknown nemesis fault\(s\)"):
        parse_faults(bad)
    assert parse_faults("") == list(KINDS) == parse_faults("all")


def test_too_short_a_duration_is_refused():
    with pytest.raises(ActivityFailed, match="too short"):
        draw(1, 10, ["kill"], TWO)


@pytest.mark.parametrize(
    "schedule,words",
    [
        ({"fault": "kill"}, "is a list of steps"),
        (["kill"], "is not an object"),
        ([{"fault": "smash", "target": "@leader", "at_s": 1}], "unknown fault 'smash'"),
        ([{"fault": "kill", "target": "@leader", "at_s": "soon"}], "must be numbers"),
        ([{"fault": "kill", "at_s": 3}], "give a target"),
        ([{"fault": "kill", "target": "@leader", "at_s": -1}], "at_s >= 0"),
    ],
)
def test_bad_schedules_get_a_clear_error(schedule, words):
    with pytest.raises(ActivityFailed, match=words):
        check(schedule)


def test_describe_lists_every_step():
    steps = draw(5, 120, list(KINDS), TWO)
    text = describe(steps, "header")
    assert text.splitlines()[0] == "header" and len(text.splitlines()) == len(steps) + 1
    assert all(s["fault"] in line for s, line in zip(steps, text.splitlines()[1:], strict=True))


def test_every_kind_has_an_apply_and_lasting_ones_an_undo():
    assert set(faults.APPLY) == set(KINDS)
    assert set(faults.UNDO) == {k for k, v in KINDS.items() if v.hold[1] > 0}


# -- the runner, with fake faults -------------------------------------------


class FakeFaults:
    def __init__(self, refuse=()):
        self.calls = []
        self.refuse = set(refuse)

    def apply(self, fault, service, step, force, c, s):
        self.calls.append(("apply", fault, service))
        if fault in self.refuse:
            raise ActivityFailed(f"guard: {service} is the last node that could serve")
        return {"service": service}

    def undo(self, fault, service, c, s):
        self.calls.append(("undo", fault, service))
        return {}


@pytest.fixture
def fake(monkeypatch):
    fake = FakeFaults(refuse={"stop"})
    monkeypatch.setattr(runner.faults, "apply", fake.apply)
    monkeypatch.setattr(runner.faults, "undo", fake.undo)
    monkeypatch.setattr(runner, "resolve", lambda settings, target: {"@leader": "pg1", "@replica": "pg2"}[target])
    monkeypatch.setattr(runner, "load", lambda c, s: None)
    return fake


def test_runner_applies_undoes_skips_busy_and_records_refusals(fake):
    schedule = check(
        [
            {"step": 1, "fault": "pause", "target": "@leader", "at_s": 0.0, "hold_s": 0.4},
            {"step": 2, "fault": "kill", "target": "@leader", "at_s": 0.1, "hold_s": 0.2},  # pg1 busy
            {"step": 3, "fault": "stop", "target": "@replica", "at_s": 0.1, "hold_s": 0.2},  # refused
            {"step": 4, "fault": "haproxy-restart", "target": "haproxy", "at_s": 0.2, "hold_s": 0},
            {
                "step": 5,
                "fault": "kill",
                "target": "@leader",
                "at_s": 2.0,
                "hold_s": 0.1,
            },  # pg1 free again (1.6 s slack)
        ]
    )
    out = runner.run_schedule(schedule)
    by_step = {e["step"]: e for e in out["events"]}
    assert [by_step[i]["outcome"] for i in range(1, 6)] == ["applied", "skipped", "refused", "applied", "applied"]
    assert "already carries a fault" in by_step[2]["reason"] and "last node" in by_step[3]["reason"]
    assert by_step[1]["undone_at"] >= by_step[1]["at"] + 0.4 - 0.002  # times kept to the ms
    assert ("undo", "pause", "pg1") in fake.calls and ("undo", "stop", "pg2") not in fake.calls
    assert ("undo", "haproxy-restart", "haproxy") not in fake.calls
    assert runner.outcome_counts(out["events"]) == {"applied": 3, "skipped": 1, "refused": 1}
    assert out["stuck"] == []


def test_runner_records_an_error_and_goes_on(fake, monkeypatch):
    def boom(fault, service, step, force, c, s):
        raise RuntimeError("docker went away")

    monkeypatch.setattr(runner.faults, "apply", boom)
    out = runner.run_schedule(check([{"fault": "kill", "target": "@leader", "at_s": 0, "hold_s": 1}]))
    assert out["events"][0]["outcome"] == "error" and "docker went away" in out["events"][0]["reason"]


# -- recovery per fault ------------------------------------------------------


def _writes(ok_times, fresh_times=()):
    ws = [{"k": "w", "r": "ok", "t0": t - 0.01, "t1": t} for t in ok_times]
    return ws + [{"k": "w", "r": "ok", "fresh": True, "t0": t, "t1": t} for t in fresh_times]


def test_outages_are_gaps_between_persistent_acks():
    writes = _writes([1, 1.1, 1.2, 5.2, 5.3, 5.9, 9.0], fresh_times=[2, 3, 4])
    assert outages(writes) == [(1.2, 5.2), (5.9, 9.0)]


def test_each_outage_belongs_to_the_latest_fault_before_it():
    events = [
        {"step": 1, "fault": "kill", "outcome": "applied", "at": 1.0, "undone_at": 20.0},
        {"step": 2, "fault": "zk-loss", "outcome": "applied", "at": 3.0, "undone_at": 4.0},
        {"step": 3, "fault": "pause", "outcome": "refused", "at": 5.5},
        {"step": 4, "fault": "switchover", "outcome": "applied", "at": 30.0},
        {"step": 5, "fault": "haproxy-restart", "outcome": "applied", "at": 200.0},
    ]
    dense = [32.0 + 0.5 * i for i in range(237)]  # to 150.0, then a gap nobody caused, then to 210
    writes = _writes(
        [0.5, 1.2] + [22.0 + 0.5 * i for i in range(16)] + [29.9] + dense + [160.0 + 0.5 * i for i in range(101)]
    )
    steps = {s["step"]: s for s in attribute(events, writes)}
    assert steps[1]["rto_s"] == pytest.approx(20.8) and steps[4]["rto_s"] == pytest.approx(2.1)
    assert steps[2]["rto_s"] == 0 and 3 not in steps
    assert steps[5]["rto_s"] == 0  # the 10 s gap at 150 s is long after step 4 ended and before step 5
    kinds = by_kind(list(steps.values()))
    assert kinds["kill"]["count"] == 1 and kinds["kill"]["rto_max_s"] == pytest.approx(20.8)


def test_percentile_is_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 0.5) == 10.0 and percentile(values, 0.95) == 19.0


# -- shrinking --------------------------------------------------------------


def _steps(n):
    return [
        {"step": i, "fault": "kill", "target": "@leader", "at_s": 5.0 + 20 * i, "hold_s": 8.0}
        for i in range(1, n + 1)
    ]


def test_shrink_finds_the_two_steps_that_fail_together():
    tried = []

    def fails(candidate):
        tried.append(candidate)
        return {3, 7} <= {s["step"] for s in candidate}

    out = shrink(_steps(10), fails, budget_s=1e9)
    assert [s["step"] for s in out["schedule"]] == [3, 7]
    assert out["schedule"][0]["at_s"] == 5.0 and out["schedule"][1]["at_s"] - out["schedule"][0]["at_s"] == 80
    assert out["schedule"][0]["hold_s"] == 4.0  # halved: still failing
    assert not out["exhausted"] and len(tried) == len(out["tries"]) < 30


def test_shrink_keeps_a_schedule_nothing_smaller_reproduces():
    out = shrink(_steps(4), lambda c: len(c) == 4 and c[0]["hold_s"] == 8.0, budget_s=1e9)
    assert [s["step"] for s in out["schedule"]] == [1, 2, 3, 4]


def test_shrink_stops_at_its_budget():
    now = [0.0]

    def clock():
        return now[0]

    def fails(candidate):
        now[0] += 100
        return True

    out = shrink(_steps(16), fails, budget_s=250, clock=clock)
    assert len(out["tries"]) == 3 and out["exhausted"]


def test_rebase_moves_the_first_step_to_the_warmup_and_keeps_gaps():
    moved = rebase(_steps(3)[1:])
    assert [s["at_s"] for s in moved] == [5.0, 25.0]


# -- the experiment and journals --------------------------------------------


def test_the_nemesis_experiment_runs_a_given_schedule_and_a_journal_gives_it_back(tmp_path):
    template = json.loads((ROOT / "experiments" / "nemesis.json").read_text())
    schedule = draw(9, 120, list(KINDS), TWO)
    doc = experiment_for(template, 9, schedule, False, "t")
    assert doc["configuration"]["nemesis_schedule"] == schedule
    assert template["configuration"]["nemesis_schedule"] == []  # the template is untouched
    assert float(doc["configuration"]["nemesis_duration_s"]) == span_s(schedule)
    journal = tmp_path / "j.json"
    run = {"activity": {"provider": {"func": "run_nemesis"}}, "output": {"seed": 9, "schedule": schedule}}
    journal.write_text(json.dumps({"experiment": doc, "run": [run]}))
    assert schedule_from_journal(journal) == (9, schedule)
    journal.write_text(json.dumps({"experiment": doc, "run": []}))  # interrupted before the action ended
    assert schedule_from_journal(journal) == (9, schedule)
    journal.write_text(json.dumps({"experiment": template, "run": []}))
    with pytest.raises(ActivityFailed, match="not the journal of a nemesis run"):
        schedule_from_journal(journal)


# -- the report -------------------------------------------------------------


def _journal(tmp_path, events, kinds):
    def run(func, output, start, end):
        return {
            "activity": {"type": "action", "name": func, "provider": {"type": "python", "func": func}},
            "status": "succeeded",
            "start": start,
            "end": end,
            "output": output,
        }

    record = {"seed": 42, "started": 1796140000.0, "events": events, "outcomes": {"applied": 1, "refused": 1}}
    recovery = {"steps": [{"step": 1, "fault": "kill", "rto_s": 21.5}], "kinds": kinds}
    journal = {
        "experiment": {"title": "nemesis", "method": []},
        "status": "completed",
        "start": "2026-12-01T10:26:30",
        "end": "2026-12-01T10:28:30",
        "run": [
            run("run_nemesis", record, "2026-12-01T10:26:40", "2026-12-01T10:28:00"),
            run("recovery_by_fault", recovery, "2026-12-01T10:28:10", "2026-12-01T10:28:11"),
        ],
    }
    path = tmp_path / "nemesis.json"
    path.write_text(json.dumps(journal))
    return path


def test_the_report_draws_the_schedule_and_the_rto_per_kind(tmp_path):
    from chaosha.report.build import build_report
    from chaosha.report.figure import pyplot
    from chaosha.report.journal import load_journal
    from chaosha.report.series import load_series
    from chaosha.report.timeline import draw_timeline

    events = [
        {
            "step": 1,
            "fault": "kill",
            "target": "@leader",
            "service": "pg1",
            "at_s": 5.0,
            "hold_s": 10.0,
            "outcome": "applied",
            "at": 1796140005.1,
            "undone_at": 1796140015.2,
        },
        {
            "step": 2,
            "fault": "stop",
            "target": "@replica",
            "service": "pg2",
            "at_s": 7.0,
            "hold_s": 5.0,
            "outcome": "refused",
            "reason": "pg2 is the last node that could serve",
            "at": 1796140007.0,
        },
    ]
    kinds = {"kill": {"count": 1, "rto_p50_s": 21.5, "rto_p95_s": 21.5, "rto_max_s": 21.5}}
    path = _journal(tmp_path, events, kinds)
    view = load_journal(path)
    assert view.nemesis["seed"] == 42 and view.recovery["kinds"] == kinds
    html = build_report(path, tmp_path / "r.html").html.read_text()
    assert "Nemesis schedule" in html and "Recovery per fault kind" in html
    assert "kill pg1" in html and "last node that could serve" in html and "--replay" in html
    plt = pyplot()
    fig = draw_timeline(plt, view, load_series(None))
    try:
        nemesis_ax = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("Nemesis schedule"))
        labels = [t.get_text() for t in nemesis_ax.get_yticklabels()]
        assert labels == ["#1 kill pg1", "#2 stop pg2"]
        assert len(nemesis_ax.patches) == 1 and len(nemesis_ax.collections) == 1  # a bar, a cross
    finally:
        plt.close(fig)


# -- a manual failover never promotes a member that may lack acknowledged commits ----------


def test_failover_to_a_member_that_is_not_the_sync_standby_is_refused(monkeypatch):
    """Found by CI's nemesis run: a failover made the leader pg1 with no
    synchronous standby yet, pg1 acknowledged a write alone and was killed,
    and a manual failover to pg2 (a replica, not in /sync) lost that write."""
    from chaosha.patroni import actions as patroni

    members = [{"name": "pg1", "role": "leader", "state": "stopped"}, {"name": "pg2", "role": "replica"}]
    monkeypatch.setattr(patroni.client, "dynamic_config", lambda settings: {"synchronous_mode": True})
    monkeypatch.setattr(patroni.client, "members", lambda settings: members)
    planned = []
    monkeypatch.setattr(patroni, "_planned", lambda *a: planned.append(a) or {"leader": "pg2"})
    with pytest.raises(ActivityFailed, match="refusing to fail over to pg2: it is not the synchronous standby"):
        patroni.failover("pg2")
    assert planned == []
    assert patroni.failover("pg2", force=True) == {"leader": "pg2"}  # forced: the operator accepts the loss
    members[1]["role"] = "sync_standby"
    assert patroni.failover("pg2") == {"leader": "pg2"}
    monkeypatch.setattr(patroni.client, "dynamic_config", lambda settings: {"synchronous_mode": False})
    members[1]["role"] = "replica"
    assert patroni.failover("pg2") == {"leader": "pg2"}  # asynchronous: nothing to protect


def test_a_try_that_met_a_settling_cluster_runs_once_more_and_only_then_counts(tmp_path, monkeypatch):
    """CI: HAProxy was still counting its checks after a heal, so each shrink
    try failed its steady state before the method and was taken for a pass."""
    from types import SimpleNamespace

    from chaosha.suite import nemesis as driver

    before = iter([False, True, True])
    waits, names = [], []

    def run_one(suite, result, say):
        names.append(result.name)
        result.view = SimpleNamespace(before_met=next(before))
        result.problems = ["the system deviated"]

    monkeypatch.setattr(driver, "run_one", run_one)
    monkeypatch.setattr(driver, "heal", lambda suite, result, say: None)
    monkeypatch.setattr(driver, "wait_ready", lambda timeout, configuration=None: waits.append(timeout))
    options = driver.NemesisOptions(out=tmp_path, template=ROOT / "experiments" / "nemesis.json")
    run = driver.NemesisRun(tmp_path, 7, [])
    tries = driver._Tries(options, run, lambda line: None)
    step = {"step": 1, "fault": "stop", "target": "@leader", "at_s": 5.0, "hold_s": 1.5}
    first = tries([step])
    assert names == ["nemesis", "nemesis-again"] and len(waits) == 2
    assert driver._failed(first) and run.tries == [first]
    second = tries([step])
    assert names[-1] == "nemesis-try1" and driver._failed(second) and len(run.tries) == 2


def test_an_outage_under_two_faults_marks_its_step_overlapped_and_leaves_the_kind_figures():
    events = [
        {"step": 1, "fault": "kill", "outcome": "applied", "at": 10.0, "undone_at": 40.0},
        {"step": 2, "fault": "stop", "outcome": "applied", "at": 20.0, "undone_at": 22.0},  # kill still in effect
        {"step": 3, "fault": "stop", "outcome": "applied", "at": 60.0, "undone_at": 62.0},  # alone
    ]
    acks = [9.0 + 0.5 * i for i in range(3)] + [19.5, 30.0] + [30.5 + 0.5 * i for i in range(60)] + [63.5]
    steps = {s["step"]: s for s in attribute(events, _writes(sorted(acks)))}
    assert steps[1]["overlapped"] is False and steps[1]["rto_s"] == pytest.approx(9.5)
    assert steps[2]["overlapped"] is True and steps[2]["rto_s"] == pytest.approx(10.5)
    assert steps[3]["overlapped"] is False and steps[3]["rto_s"] == pytest.approx(3.5)
    stop = by_kind(list(steps.values()))["stop"]
    assert (stop["count"], stop["overlapped"], stop["rto_max_s"]) == (2, 1, pytest.approx(3.5))
    only = by_kind([steps[2]])["stop"]  # every one overlapped: figures over all of them
    assert (only["overlapped"], only["rto_max_s"]) == (1, pytest.approx(10.5))


def test_the_nemesis_reads_how_long_the_workload_has_left_from_its_state(tmp_path):
    """A regression: it parsed ``--duration`` from the command line, which the
    workload no longer has, and refused every run ("ends in -1s")."""
    import subprocess
    import sys
    import time

    from chaosha.config import load
    from chaosha.integrity.runner import process_alive, state_dir
    from chaosha.nemesis import actions

    settings = load({"CHAOSHA_STATE_DIR": str(tmp_path), "CHAOSHA_ENV_FILE": str(tmp_path / "none")})
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "run-left"])
    try:
        deadline = time.monotonic() + 10  # its command line names the run only once exec is done
        while not process_alive(proc.pid, "run-left") and time.monotonic() < deadline:
            time.sleep(0.05)
        folder = state_dir(settings)
        state = {"run_id": "run-left", "pid": proc.pid, "started": time.time(), "duration_s": 600.0}
        (folder / "run-left.json").write_text(json.dumps(state))
        (folder / "current").write_text("run-left")
        assert 590 < actions._workload_left(settings) <= 600
    finally:
        proc.kill()
        proc.wait()
    assert actions._workload_left(settings) is None  # no workload runs
