"""A nemesis schedule: faults at planned times, drawn from a seed (pure logic).

A schedule is a JSON-native list of steps, in order of start::

    {"step": 3, "at_s": 41.7, "fault": "pause", "target": "@leader", "hold_s": 12.4}

``at_s`` counts from the start of the run; the fault is undone ``hold_s``
seconds later (0 for instant faults such as a switchover).  Some faults
carry a parameter (``loss_percent``).  Steps overlap where they claim
different *resources*: a PostgreSQL node, a ZooKeeper member, HAProxy,
the cluster's leadership.  Each resource has a capacity, what the guards
allow at once: PostgreSQL nodes minus one, ZooKeeper members minus a
majority, one HAProxy, one leadership change.  ``unsafe`` lifts every
capacity (the actions are then forced).  The same seed, duration, fault
list and topology always give the same schedule.
"""

import random
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from chaoslib.exceptions import ActivityFailed

__all__ = ["FaultKind", "KINDS", "Topology", "draw", "parse_faults", "check", "span_s", "describe", "Step"]

Step = Dict[str, Any]


@dataclass(frozen=True)
class FaultKind:
    """One kind of fault the nemesis draws: its targets and how long it holds."""

    name: str
    targets: Tuple[str, ...]  # "@leader", "@replica", "zk" (a ZooKeeper member), "haproxy", "cluster"
    hold: Tuple[float, float]  # seconds the fault lasts before its undo; (0, 0): instant
    summary: str


PG = ("@leader", "@replica")
KINDS: Dict[str, FaultKind] = {
    k.name: k
    for k in (
        FaultKind("kill", PG, (8, 25), "SIGKILL the node's container, start it again"),
        FaultKind("stop", PG, (5, 20), "stop the node's container gracefully, start it again"),
        FaultKind("pause", PG, (5, 30), "freeze the node (docker pause), thaw it"),
        FaultKind("partition", PG, (5, 30), "drop traffic both ways with the other nodes and ZooKeeper"),
        FaultKind("partition-in", PG, (5, 30), "one-way: drop what the other nodes and ZooKeeper send it"),
        FaultKind("blackhole", PG, (5, 30), "drop everything but loopback (HAProxy's checks too)"),
        FaultKind("disconnect", PG, (5, 30), "take the container off the Compose network"),
        FaultKind("zk-cut", PG, (5, 30), "drop the node's traffic with ZooKeeper only"),
        FaultKind("packet-loss", PG + ("zk",), (10, 40), "drop a random share of the packets"),
        FaultKind("zk-loss", ("zk",), (5, 25), "stop one ZooKeeper member, start it again"),
        FaultKind("zk-session-expiry", PG, (0, 0), "expire the member's ZooKeeper session"),
        FaultKind("switchover", ("cluster",), (0, 0), "planned switchover to any healthy replica"),
        FaultKind("failover", ("cluster",), (0, 0), "manual failover to a replica"),
        FaultKind("haproxy-restart", ("haproxy",), (0, 0), "restart the HAProxy container"),
    )
}
# A resource stays claimed this long after a fault ends (an instant one
# such as a switchover ends at once): the cluster settles, a new leader is
# routed, a node rejoins, before the same resource is hit again.
SETTLE_S = 8.0
WARMUP_S = 5.0  # baseline before the first fault
GAP_S = (2.0, 12.0)  # between two draws


@dataclass(frozen=True)
class Topology:
    """What the schedule may aim at: member names, as in CHAOSHA_PG_NODES / CHAOSHA_ZK_NODES."""

    pg: Tuple[str, ...]
    zk: Tuple[str, ...]

    def capacity(self, resource: str, unsafe: bool) -> int:
        if unsafe:
            return 1_000
        if resource == "pg":
            return max(len(self.pg) - 1, 1)
        if resource == "zk":
            return max((len(self.zk) - 1) // 2, 0)
        return 1


def resource(step: Step) -> str:
    """The resource a step claims: pg, zk, haproxy or cluster."""
    target = str(step.get("target", ""))
    if target.startswith("@"):
        return "cluster" if step.get("fault") == "zk-session-expiry" else "pg"
    if target in ("haproxy", "cluster"):
        return target
    return "zk"


def parse_faults(faults: Any) -> List[str]:
    """Fault kinds from a comma-separated string or a list ("" or "all": every kind)."""
    names = faults if isinstance(faults, (list, tuple)) else str(faults or "").split(",")
    names = [str(n).strip() for n in names if str(n).strip()]
    if not names or names == ["all"]:
        return list(KINDS)
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise ActivityFailed(f"unknown nemesis fault(s) {', '.join(unknown)}: choose from {', '.join(KINDS)}")
    return list(dict.fromkeys(names))


def _busy_until(placed: List[Step], at: float, claim: str) -> List[float]:
    """End times of the steps claiming ``claim`` that are still on at ``at``."""
    on = [_end(s) for s in placed if resource(s) == claim and s["at_s"] <= at]
    return sorted(end for end in on if end > at + 1e-6)  # times are tenths: no float dust


def _end(step: Step) -> float:
    return float(step["at_s"]) + float(step.get("hold_s") or 0) + SETTLE_S


def _place(placed: List[Step], at: float, claim: str, capacity: int) -> Optional[float]:
    """The earliest time from ``at`` when ``claim`` has a free slot (None: never)."""
    while capacity > 0:
        busy = _busy_until(placed, at, claim)
        if len(busy) < capacity:
            return at
        at = busy[0]
    return None


def _target(rng: random.Random, kind: FaultKind, topology: Topology) -> str:
    choices = [t for t in kind.targets if t != "zk" or topology.zk]
    target = rng.choice(choices)
    return rng.choice(topology.zk) if target == "zk" else target


def draw(
    seed: int, duration_s: float, faults: Sequence[str], topology: Topology, unsafe: bool = False
) -> List[Step]:
    """The schedule of ``seed``: faults from ``faults`` drawn one after the
    other, each placed at the first free slot of its resource, all ended
    (undone and settled) before ``duration_s``."""
    if duration_s <= WARMUP_S + SETTLE_S:
        raise ActivityFailed(
            f"nemesis duration {duration_s:g}s is too short: give more than {WARMUP_S + SETTLE_S:g}s"
        )
    kinds = [KINDS[name] for name in parse_faults(list(faults))]
    if not topology.pg:
        raise ActivityFailed("the nemesis needs PostgreSQL nodes: CHAOSHA_PG_NODES is empty")
    rng = random.Random(int(seed))
    placed: List[Step] = []
    at = WARMUP_S
    misses = 0
    while at < duration_s and misses < 20:
        kind = rng.choice(kinds)
        step: Step = {"fault": kind.name, "target": _target(rng, kind, topology)}
        step["hold_s"] = round(rng.uniform(*kind.hold), 1)
        if kind.name == "packet-loss":
            step["loss_percent"] = rng.choice((10, 20, 30, 50))
        gap = round(rng.uniform(*GAP_S), 1)
        start = _place(placed, at, resource(step), topology.capacity(resource(step), unsafe))
        step["at_s"] = round(start if start is not None else duration_s, 1)
        if start is None or _end(step) > duration_s:
            misses += 1
            at += gap
            continue
        placed.append(step)
        at = max(at, step["at_s"]) + gap
    ordered = sorted(placed, key=lambda s: s["at_s"])
    return [{"step": i + 1, **{k: s[k] for k in sorted(s)}} for i, s in enumerate(ordered)]


def check(schedule: Any) -> List[Step]:
    """A schedule given by hand or read from a journal, validated: a list of
    steps with a known fault, a target, ``at_s`` >= 0 and ``hold_s`` >= 0."""
    if not isinstance(schedule, list):
        raise ActivityFailed(f"a nemesis schedule is a list of steps, not {type(schedule).__name__}")
    steps: List[Step] = []
    for i, raw in enumerate(schedule, 1):
        if not isinstance(raw, dict):
            raise ActivityFailed(f"nemesis step {i} is not an object: {raw!r}")
        fault = raw.get("fault")
        if fault not in KINDS:
            raise ActivityFailed(f"nemesis step {i}: unknown fault {fault!r}: choose from {', '.join(KINDS)}")
        try:
            at, hold = float(raw.get("at_s", -1)), float(raw.get("hold_s", 0))
        except (TypeError, ValueError):
            raise ActivityFailed(f"nemesis step {i}: at_s and hold_s must be numbers") from None
        if at < 0 or hold < 0 or not raw.get("target"):
            raise ActivityFailed(f"nemesis step {i} ({fault}): give a target, at_s >= 0 and hold_s >= 0")
        steps.append({**raw, "step": int(raw.get("step") or i), "at_s": at, "hold_s": hold})
    return sorted(steps, key=lambda s: s["at_s"])


def span_s(schedule: List[Step]) -> float:
    """Seconds from the run's start until the last step is undone and settled."""
    return max((_end(s) for s in schedule), default=0.0)


def describe(schedule: List[Step], header: Optional[str] = None) -> str:
    """The schedule as text, one line per step (printed before a run)."""
    lines = [header] if header else []
    for s in schedule:
        extra = f" loss {s['loss_percent']}%" if "loss_percent" in s else ""
        hold = f" for {s['hold_s']:g}s" if s.get("hold_s") else ""
        lines.append(f"  #{s['step']:<3} t+{s['at_s']:>6.1f}s  {s['fault']:<18} {s['target']}{hold}{extra}")
    return "\n".join(lines)
