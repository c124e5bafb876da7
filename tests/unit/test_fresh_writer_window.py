"""The fresh-connection writer in the verdict: failed fresh writes inside
and outside the failover window, on hand-made ledgers; and the shared ids."""

import re
import threading
from pathlib import Path
from typing import List

import pytest
from ledgers import Rec, T, header

from chaosha import failover_profile
from chaosha.integrity.ledger import Ledger, read_records
from chaosha.integrity.verdict import verdict_from_records
from chaosha.integrity.window import HAPROXY_LAG_S, failover_windows
from chaosha.integrity.writer import Ids

ROOT = Path(__file__).resolve().parents[2]


def w(i: int, t: float, r: str = "ok", node: str = "pg1", fresh: int = 0) -> Rec:
    rec: Rec = {"k": "w", "id": i, "t0": T + t, "t1": T + t + 0.005, "r": r}
    if r == "ok":
        rec.update(addr="10.0.0.1" if node == "pg1" else "10.0.0.2", node=node, tl=1)
    else:
        rec["err"] = "cannot execute INSERT in a read-only transaction"
    if fresh:
        rec["fresh"] = fresh
    return rec


def audit(final: List[int]) -> Rec:
    node = {"reachable": True, "timeline": 1, "caught_up": True, "ids": list(final)}
    return {
        "nodes": {
            "pg1": {**node, "in_recovery": False, "address": "10.0.0.1"},
            "pg2": {**node, "in_recovery": True, "address": "10.0.0.2"},
        }
    }


def run(records: List[Rec]) -> Rec:
    ids = [r["id"] for r in records if r.get("k") == "w"]
    final = [r["id"] for r in records if r.get("k") == "w" and r["r"] == "ok"]
    last = max(r["t1"] for r in records) + 0.01
    ledger = [header()] + records + [{"k": "end", "t": last, "last_id": max(ids), "reason": "duration"}]
    return verdict_from_records(ledger, final, audit(final))


def persistent(ids: range, start: float, step: float = 0.1) -> List[Rec]:
    return [w(i, start + (i - ids.start) * step) for i in ids]


def test_fresh_failure_without_any_outage_fails_the_verdict() -> None:
    # The persistent writer commits throughout; a new connection was sent
    # to a replica at t=5 (HAProxy listed it UP before its check).
    records = persistent(range(1, 101), 0.0) + [w(101, 2.0, fresh=1), w(102, 5.0, "failed", fresh=1)]
    records += [w(103, 8.0, fresh=1)]
    v = run(sorted(records, key=lambda r: r["t0"]))
    assert v["failover_windows"] == []
    assert (v["fresh_writes"], v["fresh_acknowledged"], v["fresh_failed"]) == (3, 2, 1)
    assert v["fresh_failed_outside_window"] == 1 and v["fresh_failed_inside_window"] == 0
    assert v["fresh_failed_outside"][0]["id"] == 102
    assert v["fresh_failed_outside"][0]["at"].startswith("2027-01-15T08:00:05.000")
    assert "1 fresh-connection write(s) failed outside the failover window" in v["reasons"]
    assert v["passed"] is False


def test_fresh_failures_during_the_failover_are_inside() -> None:
    # Persistent: ok until 1.0, failing 1.5..4.5, ok again from 5.0 (t1 5.005).
    records = persistent(range(1, 11), 0.1)
    records += [w(i, 1.5 + (i - 11) * 0.5, "in-doubt" if i == 11 else "failed") for i in range(11, 18)]
    records += persistent(range(18, 40), 5.0)
    # Fresh: one failing just before the outage (within the margin), one in
    # it, one after the persistent writer is back (within the margin).
    records += [w(40, 1.0 - HAPROXY_LAG_S + 0.5, "failed", fresh=1), w(41, 3.0, "failed", fresh=1)]
    records += [w(42, 5.005 + HAPROXY_LAG_S - 0.1, "failed", fresh=1), w(43, 6.0, fresh=1)]
    v = run(sorted(records, key=lambda r: r["t0"]))
    assert len(v["failover_windows"]) == 1
    window = v["failover_windows"][0]
    assert abs(window["seconds"] - (5.005 - 1.005 + 2 * HAPROXY_LAG_S)) < 0.002
    assert (v["fresh_failed_inside_window"], v["fresh_failed_outside_window"]) == (3, 0)
    assert v["passed"] is True, v["reasons"]
    # The recovery figures stay the persistent writer's own (the fresh ack
    # at 3.0 would shorten the gap).
    records.append(w(44, 3.2, fresh=1))
    v = run(sorted(records, key=lambda r: r["t0"]))
    assert abs(v["rto_s"] - 4.0) < 0.01 and v["fresh_acknowledged"] == 2


def test_fresh_failure_past_the_margin_is_outside() -> None:
    records = persistent(range(1, 11), 0.1) + [w(11, 1.5, "failed")] + persistent(range(12, 40), 2.0)
    late = 2.005 + HAPROXY_LAG_S + 0.5
    records += [w(40, late, "failed", fresh=1)]
    v = run(sorted(records, key=lambda r: r["t0"]))
    assert v["fresh_failed_outside_window"] == 1 and v["passed"] is False


def test_fresh_acks_count_for_loss_like_any_write() -> None:
    records = persistent(range(1, 11), 0.1) + [w(11, 0.55, fresh=1)]
    records = sorted(records, key=lambda r: r["t0"])
    ledger = [header()] + records + [{"k": "end", "t": T + 100, "last_id": 11, "reason": "duration"}]
    v = verdict_from_records(ledger, list(range(1, 11)), audit(list(range(1, 11))))
    assert v["lost"] == 1 and v["lost_ids"] == [11] and v["passed"] is False


def test_unfinished_outage_runs_to_the_end_and_windows_merge() -> None:
    records = [w(1, 0.0), w(2, 1.0, "failed"), w(3, 2.0), w(4, 3.0, "failed"), w(5, 9.0, "failed")]
    wins = failover_windows(records, T, T + 20)
    # (0.005, 2.005) and (2.005, 20) widened: one window.
    assert wins == [(T + 0.005 - HAPROXY_LAG_S, T + 20 + HAPROXY_LAG_S)]
    assert failover_windows([w(1, 0.0), w(2, 1.0)], T, T + 20) == []


@pytest.mark.parametrize("profile", ["default", "fast"])
def test_margin_covers_what_haproxy_cfg_sets(profile: str) -> None:
    # the failover profile fills haproxy.cfg's "${HAPROXY_*}" (its env_file), the image the servers' addresses
    cfg = (ROOT / "compose" / "haproxy" / "haproxy.cfg").read_text()
    image = dict(
        re.findall(r"\b(HAPROXY_PG\d_\w+)=(\S+)", (ROOT / "compose" / "haproxy" / "Dockerfile").read_text())
    )
    assert len(image) == 6, image
    for key, value in {**image, **failover_profile.values(profile)}.items():
        cfg = cfg.replace(f'"${{{key}}}"', value)

    def seconds(key: str) -> float:
        match = re.search(rf"\b{key} (\d+)(ms|s)\b", cfg)
        assert match, key
        return int(match.group(1)) / (1000 if match.group(2) == "ms" else 1)

    fall = int(re.search(r"\bfall (\d+)\b", cfg).group(1))  # type: ignore[union-attr]
    check = seconds("timeout check")
    expected = seconds("inter") + check + (fall - 1) * (seconds("fastinter") + check)
    # exact for the default profile; the fast one's checks are tighter, so the margin covers them
    assert HAPROXY_LAG_S == expected if profile == "default" else HAPROXY_LAG_S >= expected
    assert "${" not in cfg


def test_writers_share_one_id_sequence_and_reserve_ahead(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.jsonl")
    ids = Ids(ledger, 2500)
    taken: List[int] = []
    lock = threading.Lock()

    def take() -> None:
        while (i := ids.next()) is not None:
            with lock:
                taken.append(i)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ledger.close()
    assert sorted(taken) == list(range(1, 2501))
    reserves = [r["upto"] for r in read_records(tmp_path / "l.jsonl") if r["k"] == "reserve"]
    assert reserves == [1000, 2000, 2500]
