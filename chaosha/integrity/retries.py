"""The application's view of a retrying client (the JVM client: records
``w`` with ``op``/``try`` per attempt, ``op`` per operation).

Every attempt has its own ledger id, so lost / in-doubt / failed-committed
apply per attempt as for the writer.  On top of them:

- ``duplicates``: retries refused by the unique node name (``dup``)
  because an earlier attempt of the same operation had committed (its
  COMMIT's answer was lost): Alfresco's 409 after a retried commit.
- ``duplicate_unexplained`` (a reason): such a refusal with no earlier
  attempt of that operation in the database: the row that clashed is gone.
- ``duplicate_commits`` (a reason): operations committed more than once.
- ``stale_connections``: attempts whose first statement failed with a
  connection error: the pool handed out a dead connection.
- ``app_rto_s``: from the first failed attempt (after ``fault_at``) to the
  first commit of an attempt begun after it (a commit already in flight
  when the failure came proves nothing); ``longest_op_s``: the longest
  operation, retries included (what one request waits).
"""

from typing import Any, Dict, List, Optional, Set

from chaosha.integrity.ledger import OK

__all__ = ["retry_part"]

Record = Dict[str, Any]


def retry_part(writes: List[Record], ops: List[Record], final: Set[int], fault_at: float = 0.0) -> Record:
    """The figures above ({} when no record carries ``op``)."""
    attempts = [w for w in writes if "op" in w]
    if not attempts:
        return {}
    by_op: Dict[int, List[Record]] = {}
    for w in attempts:
        by_op.setdefault(int(w["op"]), []).append(w)
    refused = [w for w in attempts if w.get("dup")]
    explained = [
        w
        for w in refused
        if any(int(x["id"]) in final and int(x.get("try", 0)) < int(w.get("try", 0)) for x in by_op[int(w["op"])])
    ]
    twice = sorted(op for op, ws in by_op.items() if sum(1 for w in ws if int(w["id"]) in final) > 1)
    outcome: Dict[str, int] = {}
    for rec in ops:
        outcome[str(rec.get("r"))] = outcome.get(str(rec.get("r")), 0) + 1
    return {
        "ops": len(by_op),
        "ops_by_outcome": outcome,
        "app_failures": sum(n for r, n in outcome.items() if r in ("failed", "duplicate")),
        "attempts": len(attempts),
        "retries": len(attempts) - len(by_op),
        "failed_attempts": sum(1 for w in attempts if w.get("r") != OK),
        "duplicates": len(explained),
        "duplicate_unexplained": len(refused) - len(explained),
        "duplicate_unexplained_ops": sorted({int(w["op"]) for w in refused if w not in explained})[:20],
        "duplicate_commits": len(twice),
        "duplicate_commit_ops": twice[:20],
        "stale_connections": sum(1 for w in attempts if w.get("stale")),
        "app_rto_s": _first_failure_to_success(attempts, fault_at),
        "longest_op_s": round(max((o["t1"] - o["t0"] for o in ops if "t1" in o), default=0.0), 3),
    }


def _first_failure_to_success(attempts: List[Record], fault_at: float) -> Optional[float]:
    failures = [w["t1"] for w in attempts if w.get("r") != OK and w["t1"] >= fault_at]
    if not failures:
        return None
    first = min(failures)
    after = [w["t1"] for w in attempts if w.get("r") == OK and w["t0"] >= first]
    return round(min(after) - first, 3) if after else None
