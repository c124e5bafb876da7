"""Shrink a failing schedule to a smaller one that still fails (pure
logic; each try is a real run, so it is bounded by a time budget).

Delta debugging over the steps (Zeller's ddmin, complements only): split
the schedule into ``n`` chunks and try it without each chunk; a try that
still fails becomes the schedule (``n`` shrinks by one), else ``n``
doubles, until single steps have been tried.  Then every remaining
lasting fault is tried with its hold halved.  A kept candidate is moved
so its first step starts at the warm-up, with the gaps between steps kept
(overlaps are what made it fail).
"""

import time
from typing import Any, Callable, Dict, List

from chaosha.nemesis.schedule import WARMUP_S, Step

__all__ = ["shrink", "rebase"]

Fails = Callable[[List[Step]], bool]


def rebase(steps: List[Step]) -> List[Step]:
    """``steps`` moved so the first starts at the warm-up."""
    if not steps:
        return []
    shift = min(s["at_s"] for s in steps) - WARMUP_S
    return [{**s, "at_s": round(s["at_s"] - shift, 1)} for s in steps]


def shrink(
    schedule: List[Step], fails: Fails, budget_s: float, clock: Callable[[], float] = time.monotonic
) -> Dict[str, Any]:
    """The smallest failing schedule found within ``budget_s`` seconds:
    ``{schedule, tries, kept, exhausted}`` (``exhausted``: the budget ran
    out before the search ended)."""
    deadline = clock() + budget_s
    current = list(schedule)
    tries: List[Dict[str, Any]] = []

    def attempt(candidate: List[Step], what: str) -> bool:
        candidate = rebase(candidate)
        failed = fails(candidate)
        tries.append({"what": what, "steps": [s["step"] for s in candidate], "failed": failed})
        return failed

    n = 2
    while len(current) >= 2 and clock() < deadline:
        size = -(-len(current) // n)
        chunks = [current[i : i + size] for i in range(0, len(current), size)]
        for chunk in chunks:
            if clock() >= deadline:
                break
            rest = [s for s in current if s not in chunk]
            if attempt(rest, f"without steps {[s['step'] for s in chunk]}"):
                current = rebase(rest)
                n = max(n - 1, 2)
                break
        else:
            if n >= len(current):
                break
            n = min(2 * n, len(current))
    for i in range(len(current)):
        hold = float(current[i].get("hold_s") or 0)
        if hold < 2 or clock() >= deadline:
            continue
        shorter = [dict(s, hold_s=round(hold / 2, 1)) if j == i else s for j, s in enumerate(current)]
        if attempt(shorter, f"step {current[i]['step']} held {round(hold / 2, 1)}s"):
            current = rebase(shorter)
    return {"schedule": rebase(current), "tries": tries, "kept": len(current), "exhausted": clock() >= deadline}
