"""Verdict logic on hand-built ledgers with known outcomes."""

import json
from typing import Any, List

from ledgers import Rec, T, audit, header

from chaosha.integrity.ledger import Ledger, read_records
from chaosha.integrity.verdict import (
    longest_gap,
    proven_overlaps,
    sample_windows,
    streaming_recovery,
    verdict_from_ledger,
    verdict_from_records,
)


def w(i: int, t: float, r: str = "ok", node: str = "pg1", tl: int = 1) -> Rec:
    rec: Rec = {"k": "w", "id": i, "t0": T + t, "t1": T + t + 0.005, "r": r}
    if r == "ok":
        rec.update(addr="10.0.0.1" if node == "pg1" else "10.0.0.2", node=node, tl=tl)
    return rec


def end(last: int, t: float = 100.0) -> Rec:
    return {"k": "end", "t": T + t, "last_id": last}


def steady(n: int = 10) -> List[Rec]:
    return [header()] + [w(i, i * 0.01) for i in range(1, n + 1)] + [end(n)]


def test_clean_run_passes() -> None:
    final = list(range(1, 11))
    v = verdict_from_records(steady(), final, audit(final))
    assert v["passed"] is True
    assert (v["lost"], v["unexpected"], v["in_doubt"], v["acknowledged"], v["attempted"]) == (0, 0, 0, 10, 10)
    assert v["nodes_consistent"] is True and v["two_primaries"] is False
    assert v["timelines"] == {"pg1": 1, "pg2": 1}


def test_acknowledged_write_missing_is_lost() -> None:
    final = [i for i in range(1, 11) if i != 7]
    v = verdict_from_records(steady(), final, audit(final))
    assert v["lost"] == 1 and v["lost_ids"] == [7]
    assert v["unexpected"] == 0
    assert v["passed"] is False


def test_row_never_attempted_is_unexpected() -> None:
    final = list(range(1, 11)) + [42]
    v = verdict_from_records(steady(), final, audit(final))
    assert v["unexpected"] == 1 and v["unexpected_ids"] == [42]
    assert v["lost"] == 0
    assert v["passed"] is False


def test_in_doubt_present_is_recovered_and_absent_is_fine() -> None:
    records = [header(), w(1, 0), w(2, 0.01, "in-doubt"), w(3, 0.02, "in-doubt"), w(4, 0.5), end(4)]
    final = [1, 2, 4]
    v = verdict_from_records(records, final, audit(final))
    assert (v["in_doubt"], v["recovered"], v["lost"], v["unexpected"]) == (2, 1, 0, 0)
    assert v["passed"] is True


def test_failed_write_that_committed_fails_the_verdict() -> None:
    records = [header(), w(1, 0), w(2, 0.01, "failed"), w(3, 0.02), end(3)]
    final = [1, 2, 3]
    v = verdict_from_records(records, final, audit(final))
    assert v["failed"] == 1 and v["failed_committed"] == 1
    assert v["failed_committed_ids"] == [2]
    assert v["unexpected"] == 0 and v["passed"] is False


def test_killed_writer_tail_is_in_doubt_not_unexpected() -> None:
    records = [header(), {"k": "reserve", "upto": 1000}, w(1, 0), w(2, 0.01)]
    final = [1, 2, 3, 5000]
    v = verdict_from_records(records, final, audit(final))
    assert v["writer_ended_cleanly"] is False
    assert v["unrecorded"] == 998
    assert v["recovered"] == 1  # id 3: sent, never logged, committed
    assert v["unexpected_ids"] == [5000]


def test_normal_failover_with_gap_is_not_two_primaries() -> None:
    records = [header()] + [w(i, i * 0.01) for i in range(1, 6)]
    records += [w(6, 1.0, "in-doubt")] + [w(i, 0.5 + i * 0.5, "failed") for i in range(7, 20)]
    records += [w(i, 20 + i * 0.01, node="pg2", tl=2) for i in range(20, 30)] + [end(29, 30)]
    final = list(range(1, 6)) + list(range(20, 30))
    nodes = audit(final, pg1={"in_recovery": True, "timeline": 2}, pg2={"in_recovery": False, "timeline": 2})
    v = verdict_from_records(records, final, nodes)
    assert v["two_primaries"] is False and v["two_primary_incidents"] == []
    assert abs(v["rto_s"] - (20.2 - 0.05)) < 0.01
    assert abs(v["reroute_s"] - (20.2 - 0.05)) < 0.01
    assert v["primary_before"] == "pg1" and v["primary_after"] == "pg2"
    assert v["ack_timelines"] == [1, 2]
    assert v["old_primary"] == "pg1" and v["old_primary_rejoined"] is True
    assert v["passed"] is True


def test_interleaved_acknowledgements_are_two_primaries() -> None:
    records = [
        header(),
        w(1, 0.0),
        w(2, 0.1),
        w(3, 0.2, node="pg2", tl=2),
        w(4, 0.3, node="pg2", tl=2),
        w(5, 0.4),
        w(6, 0.5),
        end(6),
    ]
    final = [1, 2, 3, 4, 5, 6]
    v = verdict_from_records(records, final, audit(final))
    assert v["two_primaries"] is True and v["passed"] is False
    incident = v["two_primary_incidents"][0]
    assert incident["source"] == "ledger"
    assert incident["servers"] == ["pg1 tl1", "pg2 tl2"]
    assert incident["from"].startswith("2027-01-15T08:00:00.2")


def test_single_ack_inside_another_window_counts_but_not_outside() -> None:
    inside = [header(), w(1, 0.0), w(2, 0.2, node="pg2", tl=2), w(3, 0.4), end(3)]
    assert verdict_from_records(inside, [1, 2, 3])["two_primaries"] is True
    after = [header(), w(1, 0.0), w(2, 0.2), w(3, 5.0, node="pg2", tl=2), end(3)]
    assert verdict_from_records(after, [1, 2, 3])["two_primaries"] is False


def test_same_node_on_a_later_timeline_is_not_two_primaries() -> None:
    records = [
        header(),
        w(1, 0.0),
        w(2, 0.1),
        w(3, 5.0, node="pg2", tl=2),
        w(4, 5.1, node="pg2", tl=2),
        w(5, 9.0, tl=3),
        w(6, 9.1, tl=3),
        end(6),
    ]
    assert verdict_from_records(records, range(1, 7))["two_primaries"] is False


def s(node: str, t: float, writable: Any, tl: int = 1, repl: Any = None, role: Any = None) -> Rec:
    return {
        "k": "s",
        "node": node,
        "t0": T + t,
        "t1": T + t + 0.01,
        "writable": writable,
        "tl": tl,
        "repl": repl,
        "role": role,
        "pt0": T + t + 0.01,
        "pt1": T + t + 0.02,
    }


def test_sampler_two_writable_nodes_at_once_is_reported_apart_from_acknowledgements() -> None:
    samples = [s("pg1", t / 4, True) for t in range(8)]
    samples += [s("pg2", 0.5 + t / 4, True, tl=2) for t in range(4)]
    v = verdict_from_records([header()] + samples, [])
    sql = v["two_writable_incidents"]
    assert v["two_writable"] is True and sql and v["two_writable_s"] > 0
    assert sql[0]["servers"] == ["pg1 tl1", "pg2 tl2"] and sql[0]["source"] == "sql"
    assert v["two_primaries"] is False and v["two_primary_incidents"] == []


def test_sampler_switchover_is_not_two_primaries() -> None:
    samples = [s("pg1", t / 4, True) for t in range(4)] + [s("pg1", 1 + t / 4, False, 2) for t in range(4)]
    samples += [s("pg2", t / 4, False) for t in range(4)] + [s("pg2", 1.05 + t / 4, True, 2) for t in range(4)]
    v = verdict_from_records([header()] + samples, [])
    assert v["two_primaries"] is False


def test_sampler_unanswered_sample_breaks_a_window() -> None:
    # pg1 answers writable, freezes (no answer) while pg2 is primary, then
    # is seen read-only: never proven writable at the same time as pg2.
    samples = [
        s("pg1", 0, True),
        s("pg1", 0.25, True),
        s("pg1", 0.5, None),
        s("pg1", 3.0, None),
        s("pg1", 3.25, False, 2),
    ]
    samples += [s("pg2", 1.0 + t / 4, True, 2) for t in range(8)]
    wins = sample_windows(samples, "writable", True)
    assert proven_overlaps(wins, "sql") == []
    assert verdict_from_records([header()] + samples, [])["two_writable"] is False


def test_patroni_roles_are_reported_separately() -> None:
    samples = [s("pg1", t / 4, False, role="primary") for t in range(4)]
    samples += [s("pg2", t / 4, False, role="primary") for t in range(4)]
    v = verdict_from_records([header()] + samples, [])
    assert v["patroni_role_incidents"] and v["two_primaries"] is False


def test_longest_gap_without_recovery_runs_to_the_end() -> None:
    ops = [w(1, 0), w(2, 0.1), w(3, 1.0, "failed")]
    gap = longest_gap(ops, 0.0, T + 10)
    assert gap is not None and gap["after"] is None
    assert abs(gap["seconds"] - (10 - 0.105)) < 1e-6
    v = verdict_from_records([header()] + ops + [end(3, 10)], [1, 2])
    assert v["write_recovered"] is False


def test_gaps_before_the_fault_are_ignored() -> None:
    ops = [w(1, 0), w(2, 5.0), w(3, 5.1), w(4, 7.0), w(5, 7.1)]
    assert abs(longest_gap(ops)["seconds"] - 5.0) < 1e-6  # type: ignore[index]
    assert abs(longest_gap(ops, T + 6.0)["seconds"] - 1.9) < 1e-6  # type: ignore[index]


def test_read_rto_from_read_records() -> None:
    reads = [
        {"k": "r", "t0": T + t, "t1": T + t + 0.01, "r": r}
        for t, r in ((0, "ok"), (0.1, "ok"), (0.2, "failed"), (3.1, "ok"))
    ]
    v = verdict_from_records([header()] + reads + [end(0, 4)], [])
    assert abs(v["read_rto_s"] - 3.0) < 1e-6 and v["reads_ok"] == 3


def test_streaming_recovery() -> None:
    healthy = [s("pg1", 0, True), s("pg2", 0, False, repl="streaming")]
    broken = [s("pg1", 1, None), s("pg2", 1, True, 2)]
    back = [s("pg1", 4, False, 2, repl="streaming"), s("pg2", 4, True, 2)]
    samples = healthy + broken + back
    assert abs(streaming_recovery(samples, ["pg1", "pg2"], T + 0.5) - 3.51) < 1e-6  # type: ignore[operator]
    assert streaming_recovery(healthy + broken, ["pg1", "pg2"], T + 0.5) is None
    assert streaming_recovery(healthy, ["pg1", "pg2"], T - 1) == 0.0


def test_node_differences_break_consistency() -> None:
    final = list(range(1, 11))
    v = verdict_from_records(steady(), final, audit(final, pg2={"ids": final[:-1] + [99]}))
    assert v["nodes_consistent"] is False and v["passed"] is False
    assert v["nodes"]["pg2"]["missing_ids"] == [10] and v["nodes"]["pg2"]["extra_ids"] == [99]
    assert v["lost"] == 0


def test_extra_row_on_a_replica_breaks_consistency() -> None:
    final = list(range(1, 11))
    v = verdict_from_records(steady(), final, audit(final, pg2={"ids": final + [11]}))
    assert v["nodes"]["pg2"]["extra"] == 1 and v["nodes"]["pg2"]["missing"] == 0
    assert v["nodes_consistent"] is False and v["passed"] is False


def test_timelines_replay_and_reachability_break_consistency() -> None:
    final = list(range(1, 11))
    for change in ({"timeline": 2}, {"caught_up": False}, {"reachable": False}, {"in_recovery": False}):
        v = verdict_from_records(steady(), final, audit(final, pg2=change))
        assert v["nodes_consistent"] is False, change
        assert v["passed"] is False


def test_old_primary_must_rejoin_as_replica() -> None:
    final = list(range(1, 11))
    # pg1 took the writes, pg2 is primary now, pg1 is unreachable.
    v = verdict_from_records(
        steady(), final, audit(final, pg1={"in_recovery": True, "caught_up": False}, pg2={"in_recovery": False})
    )
    assert v["old_primary"] == "pg1" and v["old_primary_rejoined"] is False
    assert v["nodes_consistent"] is False


def test_without_audit_never_passes() -> None:
    final = list(range(1, 11))
    v = verdict_from_records(steady(), final)
    assert v["audited"] is False and v["nodes_consistent"] is False and v["passed"] is False


def test_node_names_resolved_from_later_address_maps() -> None:
    records = [header(nodes={}), w(1, 0.0), w(2, 0.1)]
    for rec in records[1:]:
        rec.pop("node")
    records += [{"k": "nodes", "t": T + 1, "map": {"10.0.0.1": "pg1"}}, end(2)]
    v = verdict_from_records(records, [1, 2], audit([1, 2]))
    assert v["old_primary"] == "pg1"


def test_verdict_is_json_native_and_flat(tmp_path: Any) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    for rec in steady():
        ledger.append(rec)
    ledger.close()
    final = list(range(1, 11))
    v = verdict_from_ledger(path, final, audit(final))
    assert json.loads(json.dumps(v)) == v
    assert "status" not in v
    for key in (
        "lost",
        "lost_ids",
        "unexpected",
        "in_doubt",
        "recovered",
        "acknowledged",
        "attempted",
        "two_primaries",
        "two_primary_incidents",
        "rto_s",
        "read_rto_s",
        "reroute_s",
        "nodes_consistent",
        "timelines",
        "passed",
        "nodes",
    ):
        assert key in v, key


def test_torn_last_line_is_skipped(tmp_path: Any) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text('{"k":"run","run":"x"}\n{"k":"w","id":1,"t0":1,"t1":2,"r":"ok"}\n{"k":"w","i')
    assert [r["k"] for r in read_records(path)] == ["run", "w"]
    path.write_text('{"k":"run"}\nnot json\n{"k":"end"}\n')
    try:
        list(read_records(path))
    except ValueError as exc:
        assert ":2:" in str(exc)
    else:
        raise AssertionError("a malformed line inside the ledger must be an error")


def test_ledger_flushes_in_batches(tmp_path: Any) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path, interval=3600, batch=3)
    ledger.append({"n": 1})
    ledger.append({"n": 2})
    assert path.read_text() == ""
    ledger.append({"n": 3})
    assert len(path.read_text().splitlines()) == 3
    ledger.append({"n": 4}, flush=True)
    ledger.close()
    assert [r["n"] for r in read_records(path)] == [1, 2, 3, 4]


def test_a_cancelled_sync_wait_does_not_hide_the_write_stall() -> None:
    # A frozen sync standby: each COMMIT waits until the writer's 3 s deadline
    # cancels the wait (acknowledged locally only), until Patroni drops the
    # standby and commits are confirmed again at 7.0 s.
    records = [header()] + [w(i, i * 0.01) for i in range(1, 6)]
    for i, t in ((6, 3.05), (7, 6.1)):
        records.append(dict(w(i, t), sync=False, warn="canceling wait for synchronous replication"))
    records += [w(i, 7 + i * 0.01) for i in range(8, 12)] + [end(11, 10)]
    final = list(range(1, 12))
    v = verdict_from_records(records, final, audit(final))
    assert v["unsynced_acks"] == 2 and v["lost"] == 0
    assert v["reasons"] == ["2 acknowledgement(s) after a cancelled synchronous wait (cancelled_sync_acks)"]
    assert abs(v["rto_s"] - 3.05) < 0.06  # every gap between acks is short ...
    assert abs(v["write_stall_s"] - (7.08 - 0.05)) < 0.01  # ... but confirmed commits stalled for 7 s
