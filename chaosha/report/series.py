"""What a report plots from a workload ledger: acknowledged writes and
errors per second, reads per second and the member that acknowledged each
write (to find leader changes)."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from chaosha.integrity.ledger import OK, read_records

__all__ = ["Series", "load_series", "leader_changes"]


@dataclass
class Series:
    """Per-second counts from ``t0`` (epoch seconds) on, and the sequence
    of ``(time, member)`` of acknowledged writes whenever the member changes."""

    t0: float = 0.0
    writes_ok: List[int] = field(default_factory=list)
    writes_err: List[int] = field(default_factory=list)
    reads_ok: List[int] = field(default_factory=list)
    reads_err: List[int] = field(default_factory=list)
    members: List[Tuple[float, str]] = field(default_factory=list)
    target: str = ""
    read_target: str = ""
    error: str = ""

    @property
    def empty(self) -> bool:
        return not any(self.writes_ok) and not any(self.writes_err) and not any(self.reads_ok)


def _bump(counts: List[int], index: int) -> None:
    if index >= len(counts):
        counts.extend([0] * (index + 1 - len(counts)))
    counts[index] += 1


def load_series(path: Optional[Union[str, Path]]) -> Series:
    """The per-second series of the ledger at ``path``; ``error`` says why
    it is empty when the file is missing or unreadable."""
    if not path:
        return Series(error="the verdict names no ledger file")
    ledger = Path(path)
    if not ledger.is_file():
        return Series(error=f"the ledger {ledger} is not on this machine")
    try:
        records = list(read_records(ledger))
    except (OSError, ValueError) as exc:
        return Series(error=f"the ledger {ledger} could not be read: {exc}")
    header = next((r for r in records if r.get("k") == "run"), {})
    ops = sorted((r for r in records if r.get("k") in ("w", "r") and "t1" in r), key=lambda r: r["t1"])
    if not ops:
        return Series(error=f"the ledger {ledger} holds no operation")
    series = Series(
        t0=float(int(ops[0]["t1"])),
        target=str(header.get("target") or ""),
        read_target=str(header.get("read_target") or ""),
    )
    last: Optional[str] = None
    for op in ops:
        second = int(op["t1"] - series.t0)
        ok = op.get("r") == OK
        if op["k"] == "w":
            _bump(series.writes_ok if ok else series.writes_err, second)
            member = _member(op)
            if ok and member and member != last:
                series.members.append((float(op["t1"]), member))
                last = member
        else:
            _bump(series.reads_ok if ok else series.reads_err, second)
    size = max(len(series.writes_ok), len(series.writes_err), len(series.reads_ok), len(series.reads_err))
    for counts in (series.writes_ok, series.writes_err, series.reads_ok, series.reads_err):
        counts.extend([0] * (size - len(counts)))
    return series


def _member(op: Dict[str, Any]) -> Optional[str]:
    value = op.get("member") or op.get("node") or op.get("addr")  # the server's own name first
    return str(value) if value else None


Change = Tuple[Optional[float], str, str]


def leader_changes(series: Series, verdict: Optional[Dict[str, Any]]) -> List[Change]:
    """``(time or None, from, to)`` for each change of the member that
    acknowledged writes; from the verdict's primary_before/primary_after
    when the ledger is not available."""
    changes: List[Change] = [(t, a, b) for (_, a), (t, b) in zip(series.members, series.members[1:], strict=False)]
    if changes or not verdict:
        return changes
    before, after = verdict.get("primary_before"), verdict.get("primary_after")
    if before and after and before != after:
        return [(None, str(before), str(after))]
    return []
