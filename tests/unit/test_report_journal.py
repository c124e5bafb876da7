"""Reading journals of every status, the ledger series and the plain words."""

import json
from pathlib import Path

import pytest

from chaosha.report.build import find_ledger
from chaosha.report.journal import load_journal
from chaosha.report.series import leader_changes, load_series
from chaosha.report.words import headline, run_sentences, verdict_sentences

DATA = Path(__file__).resolve().parents[1] / "data" / "journals"


def view(name: str):
    return load_journal(DATA / name)


def test_completed_journal_passes_with_its_verdict_from_the_method() -> None:
    v = view("completed.json")
    assert v.error == "" and v.status == "completed" and not v.deviated
    assert v.problems == [] and v.outcome == "passed"
    assert v.verdict is not None and v.verdict["passed"] is True and v.verdict["lost"] == 0
    assert [f.name for f in v.faults] == ["kill-the-primary"]
    assert [a.phase for a in v.activities][0] == "before"
    assert v.activities[-1].phase == "rollbacks"
    assert v.steady == {"before": True, "after": True}
    assert headline(v).startswith("Passed")


def test_verdict_in_the_after_hypothesis_is_found_and_deviation_fails() -> None:
    v = view("deviated.json")
    assert v.deviated and v.verdict is not None and v.verdict["lost"] == 3
    assert any("deviated" in p for p in v.problems)
    assert "the integrity verdict failed" in v.problems


@pytest.mark.parametrize(
    "name, words",
    [
        ("failed.json", "ended with status failed"),
        ("aborted.json", "ended with status aborted"),
        ("interrupted.json", "ended with status interrupted"),
        ("before-not-met.json", "not met before the method"),
    ],
)
def test_unfinished_runs_fail_in_plain_words(name: str, words: str) -> None:
    v = view(name)
    assert v.error == ""
    assert any(words in p for p in v.problems), v.problems
    assert headline(v).startswith("Failed")


def test_aborted_run_names_what_did_not_run_and_the_missing_verdict() -> None:
    v = view("aborted.json")
    assert v.not_run == ["workload-verdict"]
    assert "no integrity verdict was produced" in v.problems
    assert any("Not run: workload-verdict" in s for s in run_sentences(v))


def test_interrupted_activity_without_status() -> None:
    v = view("interrupted.json")
    last = [a for a in v.activities if a.name == "workload-verdict"][0]
    assert last.status == "running" and last.end is None and last.duration is None
    assert v.end is None


def test_before_not_met_is_a_failure_although_chaos_says_completed() -> None:
    v = view("before-not-met.json")
    assert v.status == "completed" and not v.deviated and v.before_met is False
    assert v.outcome == "failed"


@pytest.mark.parametrize(
    "content, words",
    [
        (None, "could not be read"),
        ('{"experiment": {', "not valid JSON"),
        ("[1, 2]", "not a Chaos Toolkit journal"),
        ('{"experiment": 1}', "not a Chaos Toolkit journal"),
    ],
)
def test_unreadable_files_give_an_error_not_an_exception(tmp_path: Path, content, words) -> None:
    path = tmp_path / "j.json"
    if content is not None:
        path.write_text(content)
    v = load_journal(path)
    assert words in v.error and v.problems == [v.error]
    assert headline(v).startswith("No result")


def test_truncated_journal() -> None:
    assert "not valid JSON" in view("truncated.json").error


def test_ledger_series_and_leader_change_beside_the_journal() -> None:
    v = view("completed.json")
    ledger = find_ledger(v)
    assert ledger == DATA / "master-kill-ledger.jsonl"  # the verdict's path is elsewhere
    series = load_series(ledger)
    assert series.error == "" and not series.empty
    assert max(series.writes_ok) == 20 and sum(series.writes_err) > 0
    assert series.target == "127.0.0.1:5432"
    changes = leader_changes(series, v.verdict)
    assert [(a, b) for _, a, b in changes] == [("pg1", "pg2")] and changes[0][0] is not None


def test_missing_ledger_degrades_to_the_verdict_primaries() -> None:
    v = view("failed.json")
    series = load_series(find_ledger(v))
    assert series.empty and "not on this machine" in series.error
    assert leader_changes(series, v.verdict) == [(None, "pg1", "pg2")]
    assert load_series(None).error


def test_verdict_sentences() -> None:
    good = view("completed.json")
    words = verdict_sentences(good.verdict, load_series(find_ledger(good)))
    assert words[0] == "No acknowledged write was lost."
    assert any(w.startswith("Writes were unavailable for 22.") and "127.0.0.1:5432" in w for w in words)
    assert "There was never more than one primary acknowledging writes." in words
    assert any("Writes moved from pg1 to pg2" in w for w in words)
    bad = view("deviated.json")
    assert verdict_sentences(bad.verdict, load_series(None))[0].startswith("3 acknowledged writes were lost (ids ")
    unaudited = verdict_sentences(view("failed.json").verdict, load_series(None))
    assert unaudited[0].startswith("Whether acknowledged writes were lost is unknown")
    assert "No integrity verdict" in verdict_sentences(None, load_series(None))[0]


def test_two_primaries_and_unrecovered_writes_in_words() -> None:
    verdict = {
        "lost": 0,
        "two_primaries": True,
        "rto_s": 40.0,
        "write_recovered": False,
        "two_primary_incidents": [{"servers": ["pg1 tl1", "pg2 tl2"], "seconds": 1.5}],
        "unexpected": 2,
        "unexpected_ids": [7, 8],
        "failed_committed": 1,
        "in_doubt": 4,
        "recovered": 1,
        "nodes_consistent": False,
        "audit_error": "pg1 unreachable",
    }
    text = " ".join(verdict_sentences(verdict, load_series(None)))
    assert (
        "Two primaries accepted writes at the same time (1 incident; first: pg1 tl1 and pg2 tl2 for 1.5 s)" in text
    )
    assert "had not come back" in text and "2 rows appeared" in text
    assert "1 write reported as failed" in text and "4 writes were in doubt" in text
    assert "pg1 unreachable" in text


def test_hand_made_journals_use_chaostoolkit_keys() -> None:
    keys = {
        "chaoslib-version",
        "platform",
        "node",
        "experiment",
        "start",
        "status",
        "deviated",
        "steady_states",
        "run",
        "rollbacks",
    }
    for path in DATA.glob("*.json"):
        if path.name == "truncated.json":
            continue
        data = json.loads(path.read_text())
        assert keys <= set(data), path.name
        for run in data["run"]:
            assert {"activity", "output", "start"} <= set(run)


def test_odd_shapes_inside_a_journal_do_not_raise(tmp_path: Path) -> None:
    path = tmp_path / "j.json"
    path.write_text(
        json.dumps(
            {
                "experiment": {"method": 3, "controls": "x"},
                "run": {"a": 1},
                "steady_states": [],
                "rollbacks": None,
                "safeguard": "y",
            }
        )
    )
    v = load_journal(path)
    assert v.error == "" and v.activities == [] and v.safeguard_at is None


def test_heals_and_failed_actions() -> None:
    v = view("completed.json")
    assert [a.name for a in v.heals] == ["restart-old-primary"] and v.failed_actions == []
    assert not [a for a in v.activities if a.func == "start_workload"][0].is_heal
    failed = view("action-failed.json").failed_actions
    assert [a.name for a in failed] == ["kill-the-primary"] and "paused" in failed[0].error
