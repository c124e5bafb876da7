"""Pieces of hand-made workload ledgers for the verdict's unit tests."""

from typing import Any, Dict, List

T = 1_800_000_000.0  # the ledgers' clock origin, epoch seconds
Rec = Dict[str, Any]


def header(**extra: Any) -> Rec:
    """A run header: run r1 at T, members pg1 and pg2 at 10.0.0.1 and .2."""
    return {
        "k": "run",
        "run": "r1",
        "t": T,
        "members": ["pg1", "pg2"],
        "nodes": {"10.0.0.1": "pg1", "10.0.0.2": "pg2"},
        **extra,
    }


def audit(final: List[int], **nodes: Rec) -> Rec:
    """A consistent audit: pg1 primary, pg2 replica, both holding ``final``; ``nodes`` change a node."""
    base = {
        "pg1": {
            "reachable": True,
            "in_recovery": False,
            "timeline": 1,
            "caught_up": True,
            "address": "10.0.0.1",
            "ids": list(final),
        },
        "pg2": {
            "reachable": True,
            "in_recovery": True,
            "timeline": 1,
            "caught_up": True,
            "address": "10.0.0.2",
            "ids": list(final),
        },
    }
    for name, change in nodes.items():
        base[name] = {**base[name], **change}
    return {"primary": "pg1", "final_ids": list(final), "nodes": base}
