"""A verdict cannot pass a broken run: every reason it did not pass is
named, the member behind a write is the one the server reported, and an
acknowledgement whose synchronous wait was cancelled is not counted safe."""

import json
from pathlib import Path
from typing import Any, List

from ledgers import Rec, T, header

from chaosha.integrity.ledger import read_records
from chaosha.integrity.verdict import reasons_of, verdict_from_ledger, verdict_from_records
from chaosha.report.series import leader_changes, load_series

DATA = Path(__file__).resolve().parents[1] / "data" / "journals"
SYNC_WARNING = "canceling wait for synchronous replication due to user request"


def w(i: int, t: float, member: str = "pg1", addr: str = "10.0.0.1", **extra: Any) -> Rec:
    return {
        "k": "w",
        "id": i,
        "t0": T + t,
        "t1": T + t + 0.005,
        "r": "ok",
        "addr": addr,
        "tl": 1,
        "member": member,
        "node": member,
        **extra,
    }


def end(last: int, t: float = 100.0) -> Rec:
    return {"k": "end", "t": T + t, "last_id": last, "reason": "duration", "errors": []}


def audit(final: List[int]) -> Rec:
    node = {"reachable": True, "timeline": 1, "caught_up": True, "ids": list(final)}
    return {
        "primary": "pg1",
        "final_ids": list(final),
        "nodes": {
            "pg1": {**node, "in_recovery": False, "address": "10.0.0.1"},
            "pg2": {**node, "in_recovery": True, "address": "10.0.0.2"},
        },
    }


def run(n: int = 10) -> List[Rec]:
    return [header(), {"k": "reserve", "upto": 1000}] + [w(i, i * 0.01) for i in range(1, n + 1)]


def verdict(records: List[Rec], final: List[int], audited: bool = True) -> Rec:
    return verdict_from_records(records, final, audit(final) if audited else None)


def test_clean_run_passes_with_no_reason() -> None:
    v = verdict(run() + [end(10)], list(range(1, 11)))
    assert v["passed"] is True and v["reasons"] == []


def test_no_end_record_is_not_a_pass() -> None:
    v = verdict(run(), list(range(1, 11)))
    assert v["writer_ended_cleanly"] is False and v["passed"] is False
    assert any("did not end cleanly (no end record)" in r for r in v["reasons"])
    assert any("990 id(s) reserved or counted but never recorded" in r for r in v["reasons"])


def test_end_with_errors_is_not_clean() -> None:
    bad = {**end(10), "reason": "error", "errors": ["Writer: boom"]}
    v = verdict(run() + [bad], list(range(1, 11)))
    assert v["writer_ended_cleanly"] is False and v["passed"] is False
    assert any("ended with error" in r for r in v["reasons"])


def test_unrecorded_ids_inside_a_cleanly_ended_run_fail() -> None:
    records = [r for r in run() if r.get("id") not in (4, 5)] + [end(12)]
    v = verdict(records, [1, 2, 3, 6, 7, 8, 9, 10])
    assert v["unrecorded"] == 4  # 4, 5 (lines missing) and 11, 12 (counted, never logged)
    assert v["lost"] == 0 and v["passed"] is False
    assert "4 id(s) reserved or counted but never recorded" in v["reasons"]


def write_ledger(path: Path, records: List[Rec], tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


def test_truncated_last_line_is_counted_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    write_ledger(path, run() + [end(10)], '{"k":"w","id":11,"t0":')
    v = verdict_from_ledger(path, list(range(1, 11)), audit(list(range(1, 11))))
    assert v["corrupt_lines"] == 1 and v["corrupt_line_numbers"] == [14]
    assert v["passed"] is False
    assert "ledger truncated or corrupt: 1 unparsable line(s)" in v["reasons"]


def test_corrupt_line_inside_is_counted_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    records = run()
    lines = (
        [json.dumps(r) for r in records[:5]] + ["\x00garbage{"] + [json.dumps(r) for r in records[5:] + [end(10)]]
    )
    path.write_text("\n".join(lines) + "\n")
    found: List[int] = []
    assert len(list(read_records(path, found))) == len(records) + 1 and found == [6]
    v = verdict_from_ledger(path, list(range(1, 11)), audit(list(range(1, 11))))
    assert v["corrupt_lines"] == 1 and v["passed"] is False


def test_every_classic_reason_is_named() -> None:
    records = run() + [w(11, 0.2, "pg1", r="failed"), end(11)]
    records[-2].pop("member")
    final = [i for i in range(1, 12) if i != 3] + [77]
    checked = audit(final)
    checked["nodes"]["pg2"]["ids"] = final[1:]
    v = verdict_from_records(records, final, checked)
    assert v["passed"] is False
    assert "1 acknowledged write(s) lost" in v["reasons"]
    assert "1 row(s) never attempted present" in v["reasons"]
    assert "1 write(s) reported failed yet committed" in v["reasons"]
    assert any(r.startswith("nodes inconsistent") for r in v["reasons"])


def test_two_primaries_and_not_audited_are_reasons() -> None:
    records = [header()] + [
        w(i, i * 0.1, "pg1" if i % 2 else "pg2", "10.0.0.1" if i % 2 else "10.0.0.2") for i in range(1, 11)
    ]
    v = verdict(records + [end(10)], list(range(1, 11)), audited=False)
    assert v["two_primaries"] is True
    assert any(r.startswith("two primaries") for r in v["reasons"])
    assert any(r.startswith("not audited") for r in v["reasons"])


def test_no_acknowledged_write_is_inconclusive() -> None:
    v = verdict([header(), end(0)], [])
    assert v["passed"] is False and "no write was acknowledged" in v["reasons"]


def test_unknown_counts_are_reasons() -> None:
    v = verdict(run() + [end(10)], list(range(1, 11)))
    v.update(lost=None, audited=False, audit_error="no single primary")
    assert "lost unknown" in reasons_of(v)
    assert "not audited: no single primary" in reasons_of(v)


def test_server_reported_member_wins_over_a_stale_address_map() -> None:
    """Both nodes restarted in the other order: Docker swapped their IPs,
    so the header's map (10.0.0.1 = pg1) is wrong after the restart."""
    records = [header()] + [w(i, i * 0.01) for i in range(1, 6)]
    records += [w(i, 10 + i * 0.01, member="pg2", addr="10.0.0.1", tl=2) for i in range(6, 11)]
    for rec in records[6:]:
        rec.pop("node")  # what a writer without a member would have lacked
    records.append(end(10, 10.2))
    v = verdict(records, list(range(1, 11)))
    assert v["primary_before"] == "pg1" and v["primary_after"] == "pg2"
    assert v["reroute_s"] is not None and v["reroute_s"] > 9
    assert v["acks_by_member"] == {"pg1": 5, "pg2": 5} and v["acks_member_reported"] == 10


def test_report_sees_the_leader_change_from_members(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    write_ledger(path, [header(), w(1, 0.0), w(2, 5.0, member="pg2", addr="10.0.0.1"), end(2)])
    changes = leader_changes(load_series(path), None)
    assert [(a, b) for _, a, b in changes] == [("pg1", "pg2")]


def test_unsynced_ack_is_not_safe_and_counted() -> None:
    records = run(5) + [
        w(6, 0.1, sync=False, warn=SYNC_WARNING, deadline=True),
        w(7, 0.2, warn=SYNC_WARNING),
        end(7),
    ]
    v = verdict(records, [1, 2, 3, 4, 5])  # 6 and 7 never reached the standby
    assert v["unsynced_acks"] == 2 and v["unsynced_ids"] == [6, 7]
    assert v["unsynced_lost"] == 2 and v["lost"] == 0 and v["acknowledged"] == 7
    # Committed locally only, as PostgreSQL said: not a loss, but not safe either.
    assert v["anomalies"]["cancelled_sync_acks"] == {"count": 2, "ids": [6, 7], "lost": 2}
    assert v["passed"] is False
    assert v["reasons"] == ["2 acknowledgement(s) after a cancelled synchronous wait (cancelled_sync_acks)"]
    assert reasons_of(v, {"cancelled_sync_acks": 2}) == []


def test_old_ledgers_without_member_still_work() -> None:
    path = DATA / "20261127T000047Z-c10f04.jsonl"
    records = list(read_records(path))
    assert not any("member" in r for r in records)
    final = [int(r["id"]) for r in records if r.get("k") == "w" and r.get("r") == "ok"]
    v = verdict_from_ledger(path, final)
    assert v["acknowledged"] > 0 and v["lost"] == 0 and v["corrupt_lines"] == 0
    assert v["old_primary"] in ("pg1", "pg2") and v["acks_member_reported"] == 0
    killed = verdict_from_ledger(DATA / "master-kill-ledger.jsonl", final)
    assert killed["writer_ended_cleanly"] is True and killed["passed"] is False
    assert any(r.startswith("not audited") for r in killed["reasons"])
