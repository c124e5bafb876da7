"""Pieces of hand-made workload ledgers for the verdict's unit tests."""

from typing import Any, Dict

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
