"""The verdict of a workload run, a pure function of its ledger, the ids
finally held by the leader and (optionally) the per-node audit.

- ``lost = ok - final``, ``unexpected = final - attempted``,
  ``recovered = final & in-doubt``, ``failed_committed = final & failed``.
- Two primaries, proven from observations only: per server+timeline the
  window [first, last] in which it acknowledged writes (ledger) or was seen
  writable (sampler, consecutive samples); two windows of different servers
  that overlap mean interleaved acknowledgements, which a failover with a
  gap never produces.  A lone observation counts only when it lies wholly
  inside another server's window.
- ``passed`` only when ``reasons`` is empty: anything lost, unexpected or
  failed-yet-committed, two primaries, inconsistent or unaudited nodes, a
  writer that did not end cleanly, unparsable ledger lines, ids never
  recorded or no acknowledged write at all each add a reason.  An ack
  whose sync-standby wait was cancelled (``unsynced_acks``) is not counted
  as safe: its absence is reported (``unsynced_lost``), not a loss.
- The member of an operation is the one the server named
  (``chaosha.member``), else (old ledgers) the one its address mapped to.
- Recovery: the longest gap between two acknowledged operations (``rto_s``
  writes, ``read_rto_s`` reads; ``write_stall_s`` counts only writes the
  synchronous standby confirmed, so a cancelled sync wait, acknowledged
  locally only, does not shorten it), the time until the first write on another
  member (``reroute_s``) and until every replica streams again
  (``streaming_s``, from the sampler), all from the persistent writer.
- A retrying client (records with ``op``, :mod:`chaosha.integrity.retries`):
  every attempt is judged as a write; retries refused as duplicates need an
  earlier committed attempt, and an operation committed twice is a reason.
- Fresh-connection writers (records with ``fresh``) and more persistent
  ones (``writer``): their ids count like any other; a failed fresh one
  outside the failover window (``fresh_failed_outside_window``,
  :mod:`chaosha.integrity.window`) is a reason.
- ``anomalies`` (:mod:`chaosha.integrity.anomalies`): stale, invisible,
  demoted reads and cancelled sync waits are reasons (``reasons_of`` can
  tolerate some); acks without a synchronous standby are reported
  (``no_sync_exposure_s``).  ``reads_by_port``: reads per port and member.
"""

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple, Union

from chaosha.clients.postgres import unsynced
from chaosha.integrity.anomalies import MAX_READ_LAG_S, anomalies, anomaly_reasons, reads_by_port
from chaosha.integrity.ledger import FAILED, IN_DOUBT, OK, read_records
from chaosha.integrity.retries import retry_part
from chaosha.integrity.window import fresh_part
from chaosha.timing import iso

__all__ = [
    "verdict_from_ledger",
    "verdict_from_records",
    "windows",
    "proven_overlaps",
    "ledger_windows",
    "sample_windows",
    "longest_gap",
    "streaming_recovery",
    "iso",
    "reasons_of",
    "is_unsynced",
    "ended_cleanly",
    "tolerate",
]

Record = Dict[str, Any]
SHOWN = 100


def windows(observations: Iterable[Tuple[str, float, float]]) -> List[Record]:
    """Group ``(label, t0, t1)`` observations (in time order) into one
    window per label: first and last observation and their count."""
    found: Dict[str, Record] = {}
    for label, t0, t1 in observations:
        w = found.get(label)
        if w is None:
            found[label] = {"label": label, "first": (t0, t1), "last": (t0, t1), "count": 1}
        else:
            w["last"] = (t0, t1)
            w["count"] += 1
    return list(found.values())


def _overlap(a: Record, b: Record) -> Optional[Tuple[float, float]]:
    """When both were certainly active: between the end of a window's first
    observation and the start of its last one; a lone observation must fit
    wholly inside the other window."""
    if a["count"] >= 2 and b["count"] >= 2:
        lo = max(a["first"][1], b["first"][1])
        hi = min(a["last"][0], b["last"][0])
        return (lo, hi) if lo < hi else None
    if a["count"] < 2 and b["count"] < 2:
        return None
    many, one = (a, b) if a["count"] >= 2 else (b, a)
    if many["first"][1] <= one["first"][0] and one["first"][1] <= many["last"][0]:
        return one["first"]
    return None


def proven_overlaps(wins: List[Record], source: str) -> List[Record]:
    """Incidents for every pair of windows of different servers (labels
    ``"<server> tl<timeline>"``) that overlap."""
    incidents = []
    for i, a in enumerate(wins):
        for b in wins[i + 1 :]:
            if _server(a["label"]) == _server(b["label"]):
                continue
            span = _overlap(a, b)
            if span is not None:
                incidents.append(
                    {
                        "source": source,
                        "servers": sorted([a["label"], b["label"]]),
                        "from": iso(span[0]),
                        "to": iso(span[1]),
                        "seconds": round(max(span[1] - span[0], 0.0), 3),
                    }
                )
    return incidents


def ledger_windows(writes: List[Record]) -> List[Record]:
    """Acknowledgement windows per server (member or address) and timeline."""
    return windows((f"{_member(w)} tl{w.get('tl')}", w["t0"], w["t1"]) for w in writes if w.get("r") == OK)


def sample_windows(
    samples: List[Record], field: str, value: Any, start: str = "t0", end: str = "t1"
) -> List[Record]:
    """Windows (per timeline) of consecutive samples of one node where
    ``field == value``; any other sample (or no answer) closes them."""
    result: List[Record] = []
    by_node: Dict[str, List[Record]] = {}
    for s in sorted(samples, key=lambda s: s[start]):
        by_node.setdefault(s["node"], []).append(s)
    for node, seq in by_node.items():
        run: List[Tuple[str, float, float]] = []
        for s in seq + [{}]:
            label = f"{node} tl{s.get('tl')}"
            if s and s.get(field) == value:
                run.append((label, s[start], s[end]))
            elif run:
                result.extend(windows(run))
                run = []
    return result


def _server(label: str) -> str:
    return label.split(" ")[0]


def longest_gap(ops: List[Record], after: float = 0.0, end: Optional[float] = None) -> Optional[Record]:
    """The longest time between two successive ``ok`` operations (by
    completion), or from the last one to ``end`` (not recovered); only gaps
    ending after ``after``.  None without any ok."""
    oks = sorted((o for o in ops if o.get("r") == OK), key=lambda o: o["t1"])
    best: Optional[Record] = None
    pairs: List[Tuple[Record, Optional[Record]]] = list(zip(oks, oks[1:], strict=False))
    if oks and end is not None:
        pairs.append((oks[-1], None))
    for before, nxt in pairs:
        stop = nxt["t1"] if nxt is not None else end
        assert stop is not None
        if stop <= after:
            continue
        if best is None or stop - before["t1"] > best["seconds"]:
            best = {"seconds": stop - before["t1"], "before": before, "after": nxt}
    return best


def _member(op: Optional[Record]) -> Optional[str]:
    if op is None:
        return None
    return op.get("member") or op.get("node") or op.get("addr")


def _reroute(writes: List[Record], gap: Optional[Record]) -> Tuple[Optional[float], Optional[str]]:
    """Seconds from the last ack before the gap to the first ack on another
    member, and that member."""
    if gap is None:
        return None, None
    start = gap["before"]
    old = _member(start)
    for w in writes:
        if w.get("r") == OK and w["t1"] > start["t1"] and _member(w) != old:
            return round(w["t1"] - start["t1"], 3), _member(w)
    return None, None


def streaming_recovery(samples: List[Record], members: List[str], since: float) -> Optional[float]:
    """Seconds from ``since`` until every member is again either the one
    writable primary or a streaming replica, after having been otherwise;
    0 when the sampler never saw the cluster degraded, None if it never
    recovered (or not every member was sampled)."""
    latest: Dict[str, Record] = {}
    degraded = False
    seen = False
    for s in sorted(samples, key=lambda s: s["t1"]):
        latest[s["node"]] = s
        states = [latest[m] for m in members if m in latest]
        if s["t1"] < since or len(states) < len(members):
            continue
        seen = True
        healthy = sum(1 for st in states if st.get("writable") is True) == 1 and all(
            st.get("writable") is True or (st.get("writable") is False and st.get("repl") == "streaming")
            for st in states
        )
        if not healthy:
            degraded = True
        elif degraded:
            return round(s["t1"] - since, 3)
    if not seen:
        return None
    return None if degraded else 0.0


def _ids(values: Iterable[Any]) -> Set[int]:
    return {int(v) for v in values}


def _first(ids: Set[int], n: int = SHOWN) -> List[int]:
    return sorted(ids)[:n]


def verdict_from_ledger(
    path: Union[str, Path], final_ids: Iterable[int], audit: Optional[Record] = None, fault_at: float = 0.0
) -> Record:
    """The verdict of the ledger at ``path`` (see :func:`verdict_from_records`);
    unparsable lines (a torn tail included) are counted, never a pass."""
    corrupt: List[int] = []
    records = list(read_records(path, corrupt))
    result = verdict_from_records(records, final_ids, audit, fault_at, len(corrupt))
    result["corrupt_line_numbers"] = corrupt[:20]
    result["ledger"] = str(path)
    return result


def _split(records: Iterable[Record]) -> Record:
    """The ledger's records by kind, and the address map of its header,
    ``nodes`` records and (later) the audit."""
    parts: Record = {"header": {}, "end": {}, "w": [], "r": [], "s": [], "op": [], "addresses": {}, "reserved": 0}
    for rec in records:
        kind = rec.get("k")
        if kind in ("w", "r", "s", "op"):
            parts[kind].append(rec)
        elif kind == "run":
            parts["header"] = rec
            parts["addresses"].update(rec.get("nodes") or {})
        elif kind == "nodes":
            parts["addresses"].update(rec.get("map") or {})
        elif kind == "reserve":
            parts["reserved"] = max(parts["reserved"], int(rec["upto"]))
        elif kind == "end":
            parts["end"] = rec
    return parts


def _name_members(ops: List[Record], addresses: Dict[str, str]) -> None:
    """``node`` of each operation: the member the server reported
    (``chaosha.member``), else the one its address mapped to (old ledgers)."""
    for rec in ops:
        if rec.get("member"):
            rec["node"] = rec["member"]
        elif not rec.get("node") and rec.get("addr") in addresses:
            rec["node"] = addresses[rec["addr"]]


def is_unsynced(write: Record) -> bool:
    """An ``ok`` write whose COMMIT came back with the warning of a
    cancelled wait for the synchronous standby (committed locally only)."""
    if "sync" in write:
        return write["sync"] is False
    return unsynced(str(write.get("warn") or ""))


def _outcomes(writes: List[Record], end: Record, reserved: int, final: Set[int]) -> Record:
    """Id sets: ok (synchronously replicated), unsynced acks, failed,
    in-doubt (with ids reserved or counted by the writer yet never logged),
    and the lost / unexpected / failed-committed ones."""
    by_result: Dict[str, Set[int]] = {OK: set(), FAILED: set(), IN_DOUBT: set()}
    for w in writes:
        by_result.setdefault(w.get("r", IN_DOUBT), set()).add(int(w["id"]))
    unsynced_ids = {int(w["id"]) for w in writes if w.get("r") == OK and is_unsynced(w)}
    attempted = set().union(*by_result.values())
    recorded_max = max(attempted, default=0)
    # Every id up to the writer's own count (or, killed before its end
    # record, up to what it reserved) must have a record.
    upper = int(end.get("last_id") or 0) if end else reserved
    unrecorded = set(range(1, max(upper, recorded_max) + 1)) - attempted
    safe = by_result[OK] - unsynced_ids
    return {
        "ok": by_result[OK],
        "safe": safe,
        "unsynced": unsynced_ids,
        "failed": by_result[FAILED],
        "in_doubt": by_result[IN_DOUBT] | unrecorded,
        "unrecorded": unrecorded,
        "attempted": attempted | unrecorded,
        "lost": safe - final,
        "unexpected": final - attempted - unrecorded,
        "failed_committed": by_result[FAILED] & final,
    }


def ended_cleanly(end: Record) -> bool:
    """The workload wrote its end record and reported no error."""
    return bool(end) and not end.get("errors") and not str(end.get("reason", "")).startswith("error")


def verdict_from_records(
    records: Iterable[Record],
    final_ids: Iterable[int],
    audit: Optional[Record] = None,
    fault_at: float = 0.0,
    corrupt_lines: int = 0,
) -> Record:
    """The verdict (flat, JSON-native) of ledger ``records`` given the run's
    ids read from the leader after healing (``final_ids``) and the per-node
    ``audit`` (from :func:`chaosha.integrity.audit.audit_cluster`; without
    it ``nodes_consistent`` is false).  ``fault_at`` (epoch seconds, 0 =
    unknown) restricts recovery gaps to those ending after it;
    ``corrupt_lines`` counts the ledger's unparsable lines.

    ``passed`` only when ``reasons`` (every reason it did not pass) is
    empty: inconclusive is not a pass."""
    parts = _split(records)
    header, end = parts["header"], parts["end"]
    writes, reads, samples = parts["w"], parts["r"], parts["s"]
    addresses: Dict[str, str] = parts["addresses"]
    for name, node in ((audit or {}).get("nodes") or {}).items():
        if node.get("address"):
            addresses[node["address"]] = name
    _name_members(writes + reads, addresses)
    writes.sort(key=lambda w: w["t0"])
    final = _ids(final_ids)
    ids = _outcomes(writes, end, parts["reserved"], final)
    oks = [w for w in writes if w.get("r") == OK]
    result: Record = {
        "run": header.get("run") or (end.get("run")),
        "lost": len(ids["lost"]),
        "lost_ids": _first(ids["lost"]),
        "unexpected": len(ids["unexpected"]),
        "unexpected_ids": _first(ids["unexpected"]),
        "in_doubt": len(ids["in_doubt"]),
        "recovered": len(ids["in_doubt"] & final),
        "failed": len(ids["failed"]),
        "failed_committed": len(ids["failed_committed"]),
        "failed_committed_ids": _first(ids["failed_committed"]),
        "acknowledged": len(ids["ok"]),
        "attempted": len(ids["attempted"]),
        "unsynced_acks": len(ids["unsynced"]),
        "unsynced_ids": _first(ids["unsynced"]),
        "unsynced_lost": len(ids["unsynced"] - final),
        "unrecorded": len(ids["unrecorded"]),
        "final": len(final),
        "writer_ended_cleanly": ended_cleanly(end),
        "end_reason": end.get("reason"),
        "corrupt_lines": corrupt_lines,
        "acks_by_member": _count_by(oks, "node"),
        "acks_member_reported": sum(1 for w in oks if w.get("member")),
        "reads": len(reads),
        "reads_ok": sum(1 for r in reads if r.get("r") == OK),
        "samples": len(samples),
        "ack_timelines": sorted({w["tl"] for w in oks if w.get("tl") is not None}),
        "old_primary": _member(oks[0]) if oks else None,
        "reads_by_port": reads_by_port(reads),
    }
    lag = float(header.get("max_read_lag_s", MAX_READ_LAG_S))
    result["anomalies"] = anomalies(writes, reads, samples, final, ids["unsynced"], lag)
    result["no_sync_exposure_s"] = result["anomalies"]["no_sync_acks"]["exposure_s"]
    result.update(_timing(header, end, writes, reads, samples, fault_at))
    result.update(retry_part(writes, parts["op"], final, fault_at))
    result.update(_audit_part(audit, final, result["old_primary"]))
    result["reasons"] = reasons_of(result)
    result["passed"] = not result["reasons"]
    return result


def _count_by(ops: List[Record], key: str) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for op in ops:
        label = str(op.get(key) or op.get("addr") or "?")
        counts[label] = counts.get(label, 0) + 1
    return counts


def _timing(
    header: Record, end: Record, writes: List[Record], reads: List[Record], samples: List[Record], fault_at: float
) -> Record:
    """Recovery times, the member change, two-primary windows, rates,
    fresh writes against the failover windows."""
    last_t = max([end.get("t", 0.0)] + [o["t1"] for o in writes + reads + samples] + [0.0])
    start_t = header.get("t") or min([o["t0"] for o in writes + reads] + [last_t])
    fresh = [w for w in writes if w.get("fresh")]
    every = writes
    writes = [w for w in writes if not w.get("fresh") and not w.get("writer")]
    gap = longest_gap(writes, fault_at, last_t)
    stall = longest_gap([w for w in writes if not is_unsynced(w)], fault_at, last_t)
    read_gap = longest_gap([r for r in reads if r.get("via") != "rw"], fault_at, last_t)
    reroute_s, new_member = _reroute(writes, gap)
    # Two primaries = two servers *acknowledging* writes in interleaved
    # windows.  Two nodes merely answering pg_is_in_recovery() = false at
    # once (a thawed old leader before Patroni demotes it) is reported as
    # two_writable: under synchronous replication the old one cannot
    # acknowledge a commit, so nothing diverges.
    incidents = proven_overlaps(ledger_windows(every), "ledger")
    writable = proven_overlaps(sample_windows(samples, "writable", True), "sql")
    patroni = proven_overlaps(
        sample_windows([s for s in samples if "pt0" in s], "role", "primary", "pt0", "pt1"), "patroni"
    )
    members = list(header.get("members") or sorted({s["node"] for s in samples}))
    since = fault_at or (gap["before"]["t1"] if gap else start_t)
    oks = sum(1 for w in writes if w.get("r") == OK)
    return {
        "two_primaries": bool(incidents),
        "two_primary_incidents": incidents,
        "two_writable": bool(writable),
        "two_writable_incidents": writable,
        "two_writable_s": round(sum(i["seconds"] for i in writable), 3),
        "patroni_role_incidents": patroni,
        "rto_s": round(gap["seconds"], 3) if gap else None,
        "rto_from": iso(gap["before"]["t1"]) if gap else None,
        "rto_to": iso(gap["after"]["t1"]) if gap and gap["after"] else None,
        "write_recovered": bool(gap and gap["after"] is not None),
        "write_stall_s": round(stall["seconds"], 3) if stall else None,
        "read_rto_s": round(read_gap["seconds"], 3) if read_gap else None,
        "reroute_s": reroute_s,
        "primary_before": _member(gap["before"]) if gap else None,
        "primary_after": new_member,
        "streaming_s": streaming_recovery(samples, members, since) if samples else None,
        "duration_s": round(last_t - start_t, 3) if start_t else None,
        "writes_per_s": round(oks / (last_t - start_t), 1) if start_t and last_t > start_t else None,
        **fresh_part(writes, fresh, start_t, last_t),
    }


def reasons_of(v: Record, tolerate: Optional[Dict[str, int]] = None) -> List[str]:
    """Every reason the flat verdict ``v`` is not a pass (empty = passed);
    a count that is null (unknown) is a reason too; ``tolerate`` (anomaly
    name -> count) lets that many of an anomaly pass."""
    reasons: List[str] = []
    for key, text in (
        ("lost", "acknowledged write(s) lost"),
        ("unexpected", "row(s) never attempted present"),
        ("failed_committed", "write(s) reported failed yet committed"),
    ):
        if v.get(key) is None:
            reasons.append(f"{key} unknown")
        elif v[key]:
            reasons.append(f"{v[key]} {text}")
    if v.get("two_primaries"):
        reasons.append(
            f"two primaries acknowledged writes ({len(v.get('two_primary_incidents') or [])} incident(s))"
        )
    if not v.get("audited"):
        reasons.append(f"not audited: {v.get('audit_error') or 'no per-node check'}")
    elif not v.get("nodes_consistent"):
        reasons.append(f"nodes inconsistent: {v.get('audit_error')}")
    if not v.get("writer_ended_cleanly"):
        why = v.get("end_reason")
        reasons.append("the writer did not end cleanly " + (f"(ended with {why})" if why else "(no end record)"))
    if v.get("corrupt_lines"):
        reasons.append(f"ledger truncated or corrupt: {v['corrupt_lines']} unparsable line(s)")
    if v.get("unrecorded"):
        reasons.append(f"{v['unrecorded']} id(s) reserved or counted but never recorded")
    if not v.get("acknowledged"):
        reasons.append("no write was acknowledged")
    if v.get("duplicate_commits"):
        reasons.append(f"{v['duplicate_commits']} operation(s) committed more than once")
    if v.get("duplicate_unexplained"):
        reasons.append(
            f"{v['duplicate_unexplained']} retry(ies) refused as duplicates with no earlier attempt committed"
        )
    if v.get("fresh_failed_outside_window"):
        reasons.append(
            f"{v['fresh_failed_outside_window']} fresh-connection write(s) failed outside the failover window"
        )
    return reasons + anomaly_reasons(v.get("anomalies") or {}, tolerate)


def tolerate(v: Record, allowed: Dict[str, int]) -> Record:
    """``v`` judged again letting ``allowed[name]`` of each anomaly pass
    (the experiment provokes them); those are listed under ``tolerated``."""
    reasons = reasons_of(v, allowed)
    tolerated = [r for r in reasons_of(v) if r not in reasons]
    return {**v, "reasons": reasons, "passed": not reasons, "tolerated": tolerated}


def _audit_part(audit: Optional[Record], final: Set[int], old_primary: Optional[str]) -> Record:
    """Per-node comparison with the leader's set: same ids, one timeline,
    one primary, every replica caught up, the old primary a replica."""
    if not audit:
        return {
            "audited": False,
            "nodes_consistent": False,
            "timelines": {},
            "nodes": {},
            "primary": None,
            "old_primary_rejoined": None,
            "audit_error": "not audited",
        }
    nodes: Dict[str, Record] = {}
    problems: List[str] = []
    for name, node in sorted((audit.get("nodes") or {}).items()):
        detail = {k: v for k, v in node.items() if k != "ids"}
        if not node.get("reachable"):
            problems.append(f"{name} unreachable")
        else:
            held = _ids(node.get("ids") or [])
            missing, extra = final - held, held - final
            detail.update(
                rows=len(held),
                missing=len(missing),
                extra=len(extra),
                missing_ids=_first(missing, 20),
                extra_ids=_first(extra, 20),
            )
            if missing or extra:
                problems.append(f"{name} differs from the leader")
            if node.get("in_recovery") and not node.get("caught_up"):
                problems.append(f"{name} did not replay up to the primary's LSN")
        nodes[name] = detail
    timelines = {n: d.get("timeline") for n, d in nodes.items() if d.get("reachable")}
    if len(set(timelines.values())) > 1:
        problems.append("nodes on different timelines")
    primaries = [n for n, d in nodes.items() if d.get("reachable") and not d.get("in_recovery")]
    if len(primaries) != 1:
        problems.append(f"{len(primaries)} primaries")
    rejoined: Optional[bool] = None
    if old_primary and old_primary in nodes and primaries and old_primary != primaries[0]:
        old = nodes[old_primary]
        rejoined = bool(old.get("reachable") and old.get("in_recovery") and old.get("caught_up"))
        if not rejoined:
            problems.append(f"old primary {old_primary} did not rejoin as a replica")
    if audit.get("error"):
        problems.append(str(audit["error"]))
    return {
        "audited": True,
        "nodes_consistent": not problems,
        "timelines": timelines,
        "nodes": nodes,
        "primary": primaries[0] if len(primaries) == 1 else None,
        "old_primary_rejoined": rejoined,
        "audit_error": "; ".join(problems) or None,
    }
