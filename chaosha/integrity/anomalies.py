"""Anomalies beyond the set of acknowledged ids (part of the verdict, a pure
function of the ledger and the final ids).  Each is ``{"count", "ids" or
"records"}`` (the first :data:`SHOWN`); one acknowledgement is a ``w`` record
``ok`` at ``t1``, a read an ``r`` record ``ok`` through ``via`` (``rw``, or
anything else: a replica port) that started at ``t0``.

- ``stale_reads``: reads that miss an id acknowledged before they started,
  at once through ``rw``, more than ``max_read_lag_s`` earlier through any
  other port.  Not seen: above the read's ``seen`` (its highest visible id),
  or listed in its ``gaps`` (ids of ``(floor, hi]`` not visible).
- ``invisible_commits``: ids a read saw (``seen``, or in ``(floor, hi]`` and
  not a gap) that are absent from the final set: a commit made visible,
  then lost (whatever the writer was told).
- ``demoted_reads``: reads answered on a timeline lower than one a primary
  was already proven on when the read started (an ``ok`` write on that
  timeline, or a sample writable on it, finished before ``t0``), by a
  server that still says it is a primary (any port) or through ``rw``.  A
  replica answering the replicas' port on an older timeline is only
  catching up; what it shows is judged by the other checks.
- ``cancelled_sync_acks``: acknowledgements whose COMMIT came with the
  warning of a cancelled wait for the synchronous standby (committed
  locally only), never counted as safe; ``lost``: of those, absent at the end.
- ``no_sync_acks`` (reported, not a failure): acknowledgements while the
  primary had no synchronous standby streaming.  A primary sample's state
  (``sync``: its synchronous standbys) holds until the next primary
  sample; ``exposure_s`` sums the intervals without one that saw an ack.
"""

import bisect
from itertools import islice
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from chaosha.integrity.ledger import FAILED, IN_DOUBT, OK
from chaosha.timing import iso

__all__ = [
    "MAX_READ_LAG_S",
    "FAILING",
    "anomalies",
    "stale_reads",
    "invisible_commits",
    "demoted_reads",
    "cancelled_sync_acks",
    "no_sync_acks",
    "reads_by_port",
    "anomaly_reasons",
]

Record = Dict[str, Any]
SHOWN = 20
IDS_SHOWN = 100
RW = "rw"
# A replica may lag this long behind an acknowledgement (see README).
MAX_READ_LAG_S = 5.0
FAILING = {
    "stale_reads": "stale read(s) missing an acknowledged id",
    "invisible_commits": "id(s) seen by a reader and absent at the end",
    "demoted_reads": "read(s) answered by a demoted node",
    "cancelled_sync_acks": "acknowledgement(s) after a cancelled synchronous wait",
}


def _ok(ops: Iterable[Record]) -> List[Record]:
    return [o for o in ops if o.get("r") == OK]


def _entry(count: int, key: str, values: Iterable[Any], **extra: Any) -> Record:
    """``{"count", key: the first values (ids sorted, at most IDS_SHOWN)}``."""
    shown = sorted(values)[:IDS_SHOWN] if key == "ids" else list(values)[:SHOWN]
    return {"count": count, key: shown, **extra}


def stale_reads(writes: List[Record], reads: List[Record], max_read_lag_s: float) -> Record:
    """Reads missing an id acknowledged before they started (minus the lag budget off ``rw``)."""
    acks = [(w["t1"], int(w["id"])) for w in _ok(writes)]
    times, highest = _running_max(acks)
    acked_at = {i: t for t, i in acks}
    found: List[Record] = []
    ids: Set[int] = set()
    for r in _ok(reads):
        cutoff = r["t0"] - (0.0 if r.get("via") == RW else max_read_lag_s)
        n = bisect.bisect_left(times, cutoff)
        if not n:
            continue
        seen = int(r.get("seen") or 0)
        missing = [g for g in r.get("gaps") or [] if acked_at.get(g, cutoff) < cutoff]
        if highest[n - 1] > seen:
            above = range(seen + 1, highest[n - 1] + 1)
            missing += islice((i for i in above if acked_at.get(i, cutoff) < cutoff), SHOWN)
        if missing:
            ids.update(missing)
            found.append(_read(r, missing=sorted(missing)[:5]))
    return _entry(len(found), "records", found, ids=sorted(ids)[:IDS_SHOWN])


def _visible(r: Record, candidates: List[int], among: Set[int]) -> List[int]:
    """The ``candidates`` (sorted; ``among``: the same as a set) read ``r`` saw."""
    seen = r.get("seen")
    found = [int(seen)] if seen is not None and int(seen) in among else []
    if r.get("floor") is None or r.get("hi") is None:
        return found
    gaps = set(r.get("gaps") or [])
    lo = bisect.bisect_right(candidates, int(r["floor"]))
    hi = bisect.bisect_right(candidates, int(r["hi"]))
    return sorted(set(found) | {c for c in candidates[lo:hi] if c not in gaps})


def invisible_commits(writes: List[Record], reads: List[Record], final: Set[int]) -> Record:
    """Ids of this run's writes a read saw that are absent at the end."""
    among = {int(w["id"]) for w in writes} - final
    candidates = sorted(among)
    ids: Set[int] = set()
    found: List[Record] = []
    for r in _ok(reads) if candidates else []:
        saw = _visible(r, candidates, among)
        if saw:
            if not set(saw) <= ids:
                found.append(_read(r, saw=saw[:5]))
            ids.update(saw)
    outcome = {int(w["id"]): w.get("r") for w in writes}
    told = {k: sum(1 for i in ids if outcome.get(i) == k) for k in (OK, FAILED, IN_DOUBT)}
    return _entry(len(ids), "ids", ids, records=found[:SHOWN], outcomes=told)


def _running_max(pairs: List[Tuple[float, int]]) -> Tuple[List[float], List[int]]:
    """The times of ``(time, value)`` pairs, sorted, and the highest value up to each."""
    times: List[float] = []
    highest: List[int] = []
    for t, value in sorted(pairs):
        times.append(t)
        highest.append(max(value, highest[-1]) if highest else value)
    return times, highest


def _primary_evidence(writes: List[Record], samples: List[Record]) -> Tuple[List[float], List[int]]:
    """When a primary was proven on a timeline (an ack, a writable sample
    done), sorted, and the highest timeline proven up to each time."""
    proofs = [(w["t1"], int(w["tl"])) for w in _ok(writes) if w.get("tl") is not None]
    proofs += [(s["t1"], int(s["tl"])) for s in samples if s.get("writable") is True and s.get("tl") is not None]
    return _running_max(proofs)


def demoted_reads(writes: List[Record], reads: List[Record], samples: List[Record]) -> Record:
    """Reads answered on a timeline older than a proven primary's, by a
    server acting as primary or through ``rw``."""
    times, highest = _primary_evidence(writes, samples)
    found: List[Record] = []
    for r in _ok(reads):
        if r.get("tl") is None or not (r.get("ro") is False or r.get("via") == RW):
            continue
        n = bisect.bisect_left(times, r["t0"])
        if n and int(r["tl"]) < highest[n - 1]:
            found.append(_read(r, newer_tl=highest[n - 1]))
    return _entry(len(found), "records", found)


def cancelled_sync_acks(final: Set[int], unsynced: Set[int]) -> Record:
    """The ``unsynced`` acknowledgements and which of them are gone."""
    return _entry(len(unsynced), "ids", unsynced, lost=len(unsynced - final))


def _no_sync_intervals(samples: List[Record]) -> List[Tuple[float, float]]:
    primaries = sorted((s for s in samples if s.get("role") == "primary" and "sync" in s), key=lambda s: s["pt0"])
    spans: List[Tuple[float, float]] = []
    following: List[Optional[Record]] = [*primaries[1:], None]
    for s, nxt in zip(primaries, following, strict=False):
        if s["sync"]:
            continue
        until = nxt["pt0"] if nxt is not None else s["pt1"]
        if spans and spans[-1][1] >= s["pt0"]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], until))
        else:
            spans.append((s["pt0"], until))
    return spans


def no_sync_acks(writes: List[Record], samples: List[Record]) -> Record:
    """Acknowledgements while the primary had no synchronous standby."""
    acks = sorted((w["t1"], int(w["id"])) for w in _ok(writes))
    times = [t for t, _ in acks]
    exposed: List[Record] = []
    ids: List[int] = []
    for lo, hi in _no_sync_intervals(samples):
        inside = [i for _, i in acks[bisect.bisect_left(times, lo) : bisect.bisect_left(times, hi)]]
        if inside:
            exposed.append({"from": iso(lo), "to": iso(hi), "seconds": round(hi - lo, 3), "acks": len(inside)})
            ids += inside
    seconds = round(sum(e["seconds"] for e in exposed), 3)
    return _entry(len(ids), "ids", ids, exposure_s=seconds, intervals=exposed[:SHOWN])


def _read(r: Record, **extra: Any) -> Record:
    return {"t0": r["t0"], "via": r.get("via"), "node": r.get("node"), "tl": r.get("tl"), **extra}


def reads_by_port(reads: List[Record]) -> Record:
    """Per port: reads, ok ones and the members that answered them."""
    ports: Record = {}
    for r in reads:
        port = ports.setdefault(str(r.get("via") or "ro"), {"reads": 0, "ok": 0, "members": {}})
        port["reads"] += 1
        if r.get("r") == OK:
            port["ok"] += 1
            member = str(r.get("node") or r.get("addr") or "?")
            port["members"][member] = port["members"].get(member, 0) + 1
    return ports


def anomalies(
    writes: List[Record],
    reads: List[Record],
    samples: List[Record],
    final: Set[int],
    unsynced: Set[int],
    max_read_lag_s: float = MAX_READ_LAG_S,
) -> Record:
    """Every anomaly of the run, by name."""
    return {
        "stale_reads": stale_reads(writes, reads, max_read_lag_s),
        "invisible_commits": invisible_commits(writes, reads, final),
        "demoted_reads": demoted_reads(writes, reads, samples),
        "cancelled_sync_acks": cancelled_sync_acks(final, unsynced),
        "no_sync_acks": no_sync_acks(writes, samples),
    }


def anomaly_reasons(found: Record, tolerate: Optional[Dict[str, int]] = None) -> List[str]:
    """A reason per failing anomaly whose count exceeds ``tolerate[name]`` (0)."""
    reasons = []
    for name, text in FAILING.items():
        count = (found.get(name) or {}).get("count") or 0
        if count > (tolerate or {}).get(name, 0):
            reasons.append(f"{count} {text} ({name})")
    return reasons
