"""Failed writes of the fresh-connection writers, inside or outside the
failover window (part of the verdict, a pure function of the ledger).

The failover window is where the persistent writer could not commit,
widened by how long HAProxy may still route by a stale view:

- an *outage* is a maximal run of the persistent writer's consecutive
  attempts (by start) that did not end ``ok``; it lasts from the
  completion (``t1``) of the ``ok`` before it (the run's start if none) to
  the completion of the ``ok`` after it (the run's end if none);
- each outage is widened by :data:`HAPROXY_LAG_S` on both sides and
  overlapping ones are merged.  Before: a fault reaches new connections
  before an established session notices (a node shutting down refuses
  new connections while the open one still commits).  After: the
  persistent writer may reconnect to the new primary while HAProxy still
  lists a server that stopped passing its check;
- no outage, no window: then every failed fresh write is outside.

A fresh write is inside when its attempt ``[t0, t1]`` meets a window.
Outside means the cluster was fine for a connected client yet a new
connection could not write: HAProxy routed it to the wrong node.
"""

from typing import Any, Dict, List, Tuple

from chaosha.integrity.ledger import OK
from chaosha.timing import iso

__all__ = ["HAPROXY_LAG_S", "failover_windows", "fresh_part"]

Record = Dict[str, Any]

# The longest HAProxy (compose/haproxy/haproxy.cfg) keeps a server that
# stopped passing its check: the next check within `inter` (1 s), failing
# within `timeout check` (1 s), then `fall` - 1 more at `fastinter`
# (250 ms), each failing within `timeout check`: 1 + 1 + 0.25 + 1.
HAPROXY_LAG_S = 3.25
SHOWN = 20


def failover_windows(
    persistent: List[Record], start: float, end: float, margin: float = HAPROXY_LAG_S
) -> List[Tuple[float, float]]:
    """The merged failover windows ``(from, to)`` of the persistent
    writer's attempts (epoch seconds; see the module docstring)."""
    outages: List[Tuple[float, float]] = []
    last_ok = start
    down = False
    for w in sorted(persistent, key=lambda w: w["t0"]):
        if w.get("r") == OK:
            if down:
                outages.append((last_ok, w["t1"]))
                down = False
            last_ok = w["t1"]
        else:
            down = True
    if down:
        outages.append((last_ok, max(end, last_ok)))
    merged: List[Tuple[float, float]] = []
    for lo, hi in outages:
        lo, hi = lo - margin, hi + margin
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _inside(write: Record, wins: List[Tuple[float, float]]) -> bool:
    return any(write["t0"] <= hi and write["t1"] >= lo for lo, hi in wins)


def fresh_part(persistent: List[Record], fresh: List[Record], start: float, end: float) -> Record:
    """The verdict's fresh-writer fields (times as ISO-8601 UTC)."""
    wins = failover_windows(persistent, start, end)
    failed = [w for w in fresh if w.get("r") != OK]
    outside = [w for w in failed if not _inside(w, wins)]
    return {
        "fresh_writes": len(fresh),
        "fresh_acknowledged": len(fresh) - len(failed),
        "fresh_failed": len(failed),
        "fresh_failed_inside_window": len(failed) - len(outside),
        "fresh_failed_outside_window": len(outside),
        "fresh_failed_outside": [
            {"id": w.get("id"), "at": iso(w["t0"]), "r": w.get("r"), "err": w.get("err")} for w in outside[:SHOWN]
        ],
        "failover_windows": [{"from": iso(lo), "to": iso(hi), "seconds": round(hi - lo, 3)} for lo, hi in wins],
        "failover_window_margin_s": HAPROXY_LAG_S,
    }
