"""Recovery per fault: which write outage each applied step caused, and
the distribution per fault kind (pure functions of the run's events and
its ledger's writes).

An *outage* is a gap longer than ``GAP_S`` between two successive
acknowledged writes of the persistent writers (by completion), as the
verdict's ``rto_s`` measures it.  It belongs to the latest applied step
that started before it began (within ``LEAD_S``: the last write may be
acknowledged just after the fault was sent) and had not ended more than
``AFTER_S`` earlier.  A step's ``rto_s`` is its longest outage, 0 when it
caused none.  An outage that began while another applied step was still
in effect (applied, not yet undone) cannot be told apart: its step is
``overlapped``, and the per-kind figures use the steps that were not
(all of them when every one was).
"""

import math
from typing import Any, Dict, List, Optional, Tuple

from chaosha.integrity.ledger import OK

__all__ = ["outages", "attribute", "by_kind", "percentile", "GAP_S"]

Record = Dict[str, Any]
GAP_S = 1.0  # at 200 writes/s two acknowledgements are ~5 ms apart
LEAD_S = 0.5
AFTER_S = 30.0


def outages(writes: List[Record], gap_s: float = GAP_S) -> List[Tuple[float, float]]:
    """``(from, to)`` of every gap between acknowledged persistent writes longer than ``gap_s``."""
    done = sorted(w["t1"] for w in writes if w.get("r") == OK and not w.get("fresh") and "t1" in w)
    return [(a, b) for a, b in zip(done, done[1:], strict=False) if b - a > gap_s]


def _owner(events: List[Record], start: float) -> Optional[Record]:
    best: Optional[Record] = None
    for e in events:
        if e.get("outcome") != "applied" or e.get("at") is None:
            continue
        ended = e.get("undone_at") or e["at"]
        if e["at"] <= start + LEAD_S and start <= ended + AFTER_S:
            if best is None or e["at"] > best["at"]:
                best = e
    return best


def _in_effect(events: List[Record], start: float, owner: Record) -> bool:
    """Whether another applied step was in effect when an outage began."""
    return any(
        e is not owner
        and e.get("outcome") == "applied"
        and e.get("at") is not None
        and e["at"] <= start + LEAD_S
        and start <= (e.get("undone_at") or e["at"]) + LEAD_S
        for e in events
    )


def attribute(events: List[Record], writes: List[Record]) -> List[Record]:
    """Each applied event with ``rto_s`` (its longest outage), ``outages``
    (their count) and ``overlapped`` (one began under another step too)."""
    found: Dict[int, List[float]] = {}
    shared = set()
    for start, end in outages(writes):
        owner = _owner(events, start)
        if owner is not None:
            found.setdefault(owner["step"], []).append(end - start)
            if _in_effect(events, start, owner):
                shared.add(owner["step"])
    applied = [e for e in events if e.get("outcome") == "applied"]
    return [
        {
            "step": e["step"],
            "fault": e["fault"],
            "service": e.get("service"),
            "at": e["at"],
            "rto_s": round(max(found.get(e["step"], [0.0])), 3),
            "outages": len(found.get(e["step"], [])),
            "overlapped": e["step"] in shared,
        }
        for e in applied
    ]


def percentile(values: List[float], share: float) -> Optional[float]:
    """Nearest-rank percentile (``share`` in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


def by_kind(recoveries: List[Record]) -> Dict[str, Record]:
    """Per fault kind: ``count``, ``overlapped`` (of those), ``rto_p50_s``,
    ``rto_p95_s`` and ``rto_max_s`` over the steps not overlapped (all when
    each was), and those values (``rto_s``)."""
    kinds: Dict[str, List[Record]] = {}
    for r in recoveries:
        kinds.setdefault(r["fault"], []).append(r)
    table: Dict[str, Record] = {}
    for kind, steps in sorted(kinds.items()):
        clean = [s for s in steps if not s.get("overlapped")] or steps
        values = [float(s["rto_s"]) for s in clean]
        table[kind] = {
            "count": len(steps),
            "overlapped": len(steps) - len([s for s in steps if not s.get("overlapped")]),
            "rto_p50_s": percentile(values, 0.5),
            "rto_p95_s": percentile(values, 0.95),
            "rto_max_s": max(values),
            "rto_s": values,
        }
    return table
