"""The pure parts of bench/failover/run.py: when the leader key was
released and taken again, as an independent client's watch saw it, and
the summary built from them."""

import importlib.util
from pathlib import Path

PATH = Path(__file__).resolve().parents[2] / "bench" / "failover" / "run.py"
_spec = importlib.util.spec_from_file_location("failover_bench", PATH)
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_a_crash_releases_the_key_then_another_member_takes_it():
    events = [(90.0, "pg1"), (108.6, None), (108.62, "pg2"), (120.0, "pg1")]
    assert bench.key_times(events, 100.0, "pg1") == {"key_released_s": 8.6, "key_taken_s": 8.62}


def test_a_missed_delete_counts_the_new_holder_as_release_too():
    # the one-shot watch fired for the delete, the re-read found the new key already
    assert bench.key_times([(90.0, "pg1"), (109.0, "pg2")], 100.0, "pg1") == {
        "key_released_s": 9.0,
        "key_taken_s": 9.0,
    }


def test_the_old_leader_taking_its_key_back_is_no_takeover():
    events = [(101.0, None), (101.5, "pg1")]
    assert bench.key_times(events, 100.0, "pg1") == {"key_released_s": 1.0, "key_taken_s": None}


def test_changes_before_the_fault_are_not_counted():
    events = [(95.0, None), (96.0, "pg2"), (99.0, "pg1")]
    assert bench.key_times(events, 100.0, "pg1") == {"key_released_s": None, "key_taken_s": None}


def test_the_summary_splits_the_rto_at_the_new_key():
    rows = [
        {"config": "fast", "fault": "kill", "rto_s": 8.4, "key_released_s": 7.9, "key_taken_s": 8.0, "lost": 0},
        {"config": "fast", "fault": "kill", "rto_s": 9.0, "key_released_s": 8.5, "key_taken_s": 8.6, "lost": 0},
        {"config": "fast", "fault": "kill", "rto_s": 7.6, "lost": 0},  # no watch: left out of the split
    ]
    summary = bench.summarize(rows, ["fast"], ["kill"])
    fast = summary["kill"]["fast"]
    assert (fast["rto_median"], fast["key_released_median"], fast["key_taken_median"]) == (8.4, 8.2, 8.3)
    assert fast["write_after_key_median"] == 0.4
    assert "8.2 / 8.3 / 0.4" in bench.markdown(summary, ["fast"])
