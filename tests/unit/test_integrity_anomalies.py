"""Each anomaly of the checker on a hand-made ledger where it is present
(detected, with the right ids) and on a near miss where it is not."""

from typing import Any, List, Optional

from ledgers import Rec, T, audit, header

from chaosha.integrity.verdict import reasons_of, tolerate, verdict_from_records
from chaosha.integrity.writer import Ids

WARNING = "canceling wait for synchronous replication due to user request"


def w(i: int, t: float, r: str = "ok", node: str = "pg1", tl: int = 1, **extra: Any) -> Rec:
    rec: Rec = {"k": "w", "id": i, "t0": T + t, "t1": T + t + 0.005, "r": r, **extra}
    if r == "ok":
        rec.update(member=node, tl=tl)
    return rec


def read(t: float, seen: Optional[int], via: str = "rw", node: str = "pg1", ro: bool = False, **extra: Any) -> Rec:
    rec: Rec = {"k": "r", "via": via, "t0": T + t, "t1": T + t + 0.002, "r": "ok", "member": node}
    return {**rec, "ro": ro, "tl": 1, "seen": seen, **extra}


def sample(node: str, t: float, sync: Optional[List[str]] = None, tl: int = 1) -> Rec:
    """A sample of ``node``: primary with standbys ``sync``, else a replica."""
    primary = sync is not None
    rec: Rec = {"k": "s", "node": node, "t0": T + t, "t1": T + t + 0.01, "pt0": T + t + 0.01, "pt1": T + t + 0.02}
    rec.update(
        writable=primary, tl=tl, role="primary" if primary else "replica", repl=None if primary else "streaming"
    )
    return {**rec, "sync": sync} if primary else rec


def verdict(extra: List[Rec], final: Optional[List[int]] = None, n: int = 10) -> Rec:
    """Writes 1..n by pg1 every 0.1 s, ``extra`` records, every id held at the end."""
    records = [header()] + [w(i, i * 0.1) for i in range(1, n + 1)] + extra
    last = max([n] + [r["id"] for r in extra if r.get("k") == "w"])
    records.append({"k": "end", "t": T + 30, "last_id": last})
    held = list(range(1, last + 1)) if final is None else final
    return verdict_from_records(records, held, audit(held))


def anomaly(v: Rec, name: str) -> Rec:
    found: Rec = v["anomalies"][name]
    return found


def test_a_clean_ledger_has_no_anomaly() -> None:
    v = verdict([read(2.0, 10), read(2.0, 10, "ro", "pg2", True)])
    assert v["passed"] is True, v["reasons"]
    assert {name: a["count"] for name, a in v["anomalies"].items()} == dict.fromkeys(v["anomalies"], 0)
    assert v["reads_by_port"] == {
        "rw": {"reads": 1, "ok": 1, "members": {"pg1": 1}},
        "ro": {"reads": 1, "ok": 1, "members": {"pg2": 1}},
    }


def test_rw_read_missing_an_id_acknowledged_before_it_is_stale() -> None:
    # id 10 acknowledged at 1.005; a read through rw starting at 1.01 sees only up to 9
    v = verdict([read(1.01, 9)])
    stale = anomaly(v, "stale_reads")
    assert stale["count"] == 1 and stale["ids"] == [10] and stale["records"][0]["missing"] == [10]
    assert "1 stale read(s) missing an acknowledged id (stale_reads)" in v["reasons"]


def test_rw_read_started_before_the_ack_is_not_stale() -> None:
    v = verdict([read(1.0, 9)])  # started before id 10's acknowledgement (1.005)
    assert anomaly(v, "stale_reads")["count"] == 0 and v["passed"] is True


def test_rw_read_missing_an_acknowledged_id_below_its_highest_is_stale() -> None:
    # sees 10 but not 7 (a gap in its checked range): 7 was acknowledged long before
    v = verdict([read(2.0, 10, floor=5, hi=10, gaps=[7])])
    stale = anomaly(v, "stale_reads")
    assert stale["count"] == 1 and stale["ids"] == [7]


def test_a_gap_of_an_id_never_acknowledged_is_not_stale() -> None:
    # 11 in flight (acknowledged only after the read started), 12 failed
    extra = [w(11, 1.99), w(12, 1.5, "failed"), read(1.995, 13, floor=5, hi=13, gaps=[11, 12])]
    v = verdict(extra + [w(13, 1.6)], final=[i for i in range(1, 14) if i != 12])
    assert anomaly(v, "stale_reads")["count"] == 0 and v["passed"] is True, v["reasons"]


def test_ro_read_lagging_more_than_the_budget_is_stale() -> None:
    # ro reads at 7.0: id 10 acknowledged at 1.005 (6 s earlier, budget 5 s)
    v = verdict([read(7.0, 9, "ro", "pg2", True)])
    stale = anomaly(v, "stale_reads")
    assert stale["count"] == 1 and stale["ids"] == [10] and stale["records"][0]["via"] == "ro"


def test_ro_read_lagging_within_the_budget_is_not_stale() -> None:
    v = verdict([read(5.0, 9, "ro", "pg2", True)])  # 4 s behind id 10: within 5 s
    assert anomaly(v, "stale_reads")["count"] == 0 and v["passed"] is True
    # a run with a tighter budget in its header judges the same read stale
    records = [header(max_read_lag_s=1.0)] + [w(i, i * 0.1) for i in range(1, 11)]
    records += [read(5.0, 9, "ro", "pg2", True), {"k": "end", "t": T + 30, "last_id": 10}]
    tight = verdict_from_records(records, range(1, 11), audit(list(range(1, 11))))
    assert tight["anomalies"]["stale_reads"]["ids"] == [10]


def test_an_id_seen_then_absent_at_the_end_is_an_invisible_commit() -> None:
    # 11 in doubt (its COMMIT timed out) yet a read saw it; 12 seen through its checked range
    extra = [w(11, 1.2, "in-doubt"), w(12, 1.3, "failed"), w(13, 1.4)]
    extra += [read(1.25, 11), read(1.5, 13, floor=10, hi=13, gaps=[])]
    v = verdict(extra, final=[i for i in range(1, 14) if i not in (11, 12)])
    invisible = anomaly(v, "invisible_commits")
    assert invisible["count"] == 2 and invisible["ids"] == [11, 12]
    assert invisible["outcomes"] == {"ok": 0, "failed": 1, "in-doubt": 1}
    assert v["lost"] == 0 and v["failed_committed"] == 0
    assert "2 id(s) seen by a reader and absent at the end (invisible_commits)" in v["reasons"]


def test_an_id_absent_at_the_end_that_no_read_saw_is_no_invisible_commit() -> None:
    extra = [w(11, 1.2, "in-doubt"), w(12, 1.3)]
    extra += [read(1.5, 12, floor=9, hi=12, gaps=[11])]  # the read missed 11 (a gap)
    v = verdict(extra, final=[i for i in range(1, 13) if i != 11])
    assert anomaly(v, "invisible_commits")["count"] == 0 and v["passed"] is True, v["reasons"]


def failover() -> List[Rec]:
    """pg2 promoted on timeline 2: it acknowledges id 11 at 5.005."""
    return [w(11, 5.0, node="pg2", tl=2)]


def test_a_read_from_a_deposed_primary_is_a_demoted_read() -> None:
    # pg1 still says it is a primary on timeline 1 after pg2 acknowledged on timeline 2
    v = verdict(failover() + [read(5.01, 10, "rw", "pg1", False)], final=list(range(1, 12)))
    demoted = anomaly(v, "demoted_reads")
    assert demoted["count"] == 1 and demoted["records"][0]["node"] == "pg1"
    assert demoted["records"][0]["newer_tl"] == 2
    assert "1 read(s) answered by a demoted node (demoted_reads)" in v["reasons"]


def test_a_sampled_promotion_is_proof_enough() -> None:
    # no write on timeline 2 yet: the sampler saw pg2 writable on it; ro read from pg1 as primary
    extra = [sample("pg2", 4.0, [], tl=2), read(4.5, 10, "ro", "pg1", False)]
    v = verdict(extra)
    assert anomaly(v, "demoted_reads")["count"] == 1


def test_reads_before_the_promotion_or_from_a_catching_up_replica_are_not_demoted() -> None:
    extra = failover() + [read(5.0, 10, "rw", "pg1", False)]  # started before the proof (5.005)
    extra += [read(6.0, 11, "ro", "pg1", True)]  # pg1 a replica still on timeline 1: catching up
    v = verdict(extra, final=list(range(1, 12)))
    assert anomaly(v, "demoted_reads")["count"] == 0, anomaly(v, "demoted_reads")
    assert v["passed"] is True, v["reasons"]


def test_an_ack_after_a_cancelled_sync_wait_is_its_own_anomaly() -> None:
    v = verdict([w(11, 1.2, sync=False, warn=WARNING, deadline=True)], final=list(range(1, 11)))
    cancelled = anomaly(v, "cancelled_sync_acks")
    assert cancelled == {"count": 1, "ids": [11], "lost": 1}
    assert v["lost"] == 0  # not counted as lost ...
    assert "1 acknowledgement(s) after a cancelled synchronous wait (cancelled_sync_acks)" in v["reasons"]
    assert reasons_of(v, {"cancelled_sync_acks": 1}) == []  # ... and tolerated only when asked
    judged = tolerate(v, {"cancelled_sync_acks": 1})
    assert judged["passed"] is True and judged["tolerated"] == v["reasons"]
    assert tolerate(v, {"stale_reads": 5})["passed"] is False  # tolerating another one does not help


def test_a_failed_write_with_the_warning_is_no_cancelled_ack() -> None:
    v = verdict([w(11, 1.2, "failed", warn=WARNING)], final=list(range(1, 11)))
    assert anomaly(v, "cancelled_sync_acks")["count"] == 0 and v["passed"] is True


def synced_primary(*no_sync_at: float) -> List[Rec]:
    """pg1 sampled as primary every 0.25 s from 0 to 3 s; no sync standby at ``no_sync_at``."""
    times = [i * 0.25 for i in range(13)]
    return [sample("pg1", t, [] if t in no_sync_at else ["pg2"]) for t in times] + [sample("pg2", 0.1)]


def test_acks_without_a_synchronous_standby_are_exposure() -> None:
    # no sync standby from 0.51 to 1.01 (samples at 0.5 and 0.75): ids 6..10 acknowledged then
    v = verdict(synced_primary(0.5, 0.75))
    exposed = anomaly(v, "no_sync_acks")
    assert exposed["count"] == 5 and exposed["ids"] == [6, 7, 8, 9, 10]
    assert v["no_sync_exposure_s"] == exposed["exposure_s"] == 0.5
    assert exposed["intervals"][0]["acks"] == 5
    assert v["passed"] is True  # reported, not a failure


def test_no_exposure_while_a_standby_is_synchronous_or_nothing_is_acknowledged() -> None:
    # without a sync standby only at 2.5 (until 2.75): no write then
    v = verdict(synced_primary(2.5))
    assert anomaly(v, "no_sync_acks")["count"] == 0 and v["no_sync_exposure_s"] == 0


def test_ids_floor_is_the_highest_ack_a_window_ago() -> None:
    class Nowhere:
        def append(self, record: Rec, flush: bool = False) -> None:
            pass

    ids = Ids(Nowhere(), 100)  # type: ignore[arg-type]
    assert ids.floor(0) == 0 and ids.high == 0
    ids.acked(3)
    ids.acked(2)  # a slower writer's lower id
    assert ids.high == 3 and ids.floor(0) == 3 and ids.floor(60) == 0
