"""Action: run a nemesis — a schedule of overlapping faults drawn from a
seed (or given), each applied and undone at its time by chaosha's own
actions, with the integrity workload running throughout."""

import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.config import Settings, load
from chaosha.integrity.runner import load_state, process_alive
from chaosha.nemesis.runner import outcome_counts, run_schedule
from chaosha.nemesis.schedule import Step, Topology, check, describe, draw, parse_faults, span_s
from chaosha.state import project_dir
from chaosha.timing import parse_duration

__all__ = ["run_nemesis"]

logger = logging.getLogger("chaostoolkit")


def topology(settings: Settings) -> Topology:
    """The member names a schedule may aim at."""
    return Topology(tuple(n.name for n in settings.pg_nodes), tuple(z.name for z in settings.zk_nodes))


def record_path(settings: Settings) -> Path:
    """Where the latest nemesis run keeps its schedule and events."""
    folder = project_dir(settings) / "nemesis"
    folder.mkdir(exist_ok=True)
    return folder / "latest.json"


def _workload_left(settings: Settings) -> Optional[float]:
    """Seconds the running workload has left (None: none runs)."""
    try:
        state = load_state(settings)
    except ActivityFailed:
        return None
    if not process_alive(int(state["pid"]), state["run_id"]):
        return None
    return float(state["started"]) + float(state.get("duration_s") or 0.0) - time.time()


def run_nemesis(
    seed: int = 1,
    duration_s: float = 150,
    faults: str = "all",
    schedule: List[Dict[str, Any]] = [],  # noqa: B006 - read, never changed
    unsafe: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Draw the schedule of ``seed`` (faults from ``faults``, comma-separated
    or "all", within ``duration_s`` seconds) or take ``schedule`` as given
    (a replay), log it, then run it: each fault at its time on its target
    (``@leader``, ``@replica``, a ZooKeeper member), undone after its hold,
    overlapping where the guards allow.  ``unsafe`` forces the actions (may
    break quorum or take down the last node).  Returns ``seed``,
    ``schedule``, per-step ``events`` (outcome, service, times) and
    ``outcomes``; refused steps are recorded, not raised.  Needs the
    integrity workload running for longer than the schedule."""
    settings = load(configuration, secrets)
    seconds = parse_duration(duration_s, "run_nemesis duration_s")
    kinds = parse_faults(faults)
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise ActivityFailed(f"run_nemesis seed {seed!r}: give a whole number") from None
    unsafe = unsafe if isinstance(unsafe, bool) else str(unsafe).strip().lower() in ("1", "true", "yes")
    plan: List[Step] = check(schedule) if schedule else draw(seed, seconds, kinds, topology(settings), unsafe)
    if not plan:
        raise ActivityFailed(
            f"the nemesis schedule of seed {seed} is empty: give a longer duration_s or more faults"
        )
    left = _workload_left(settings)
    if left is not None and left < span_s(plan) + 30:
        raise ActivityFailed(
            f"the integrity workload ends in {left:.0f}s, before the nemesis schedule ({span_s(plan):.0f}s): "
            "start it with a longer duration_s"
        )
    header = f"nemesis seed {seed}, {len(plan)} steps over {span_s(plan):.0f}s" + (" (replay)" if schedule else "")
    logger.info("%s", describe(plan, header))
    record: Dict[str, Any] = {"seed": seed, "duration_s": seconds, "faults": kinds, "unsafe": bool(unsafe)}
    record.update(replay=bool(schedule), schedule=plan, workload=left is not None)
    path = record_path(settings)
    path.write_text(json.dumps(record, indent=2))  # the plan is on disk before the first fault
    record.update(run_schedule(plan, bool(unsafe), configuration, secrets))
    record["outcomes"] = outcome_counts(record["events"])
    path.write_text(json.dumps(record, indent=2))
    logger.info("nemesis seed %s done: %s", seed, record["outcomes"])
    return record
