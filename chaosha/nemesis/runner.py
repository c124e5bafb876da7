"""Run a nemesis schedule against the stack: every step at its time, its
undo ``hold_s`` later, faults overlapping as planned.

One thread per step.  Resolving a role (``@leader``) and applying a fault
happen under one lock, so each guard sees the faults applied before it;
waits (a switchover's new leader, a ZooKeeper member serving again) happen
outside it.  A service carries one fault at a time: a step whose target
already has one is skipped.  A step the guards or Patroni refuse is
recorded as refused, never raised: the run goes on and its record says
what happened, step by step (planned and actual times, service, outcome).
The run is bounded: a step starts no later than its plan allows, and the
whole run ends within the schedule's span plus ``GRACE_S``.
"""

import logging
import threading
import time
from typing import Any, Dict, List, Set

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.config import load
from chaosha.nemesis import faults
from chaosha.nemesis.schedule import Step, span_s
from chaosha.targets import resolve

__all__ = ["run_schedule", "outcome_counts", "GRACE_S"]

logger = logging.getLogger("chaostoolkit")
GRACE_S = 120.0  # beyond the schedule's span: the slowest apply/undo (guards, waits) must have ended
LATE_S = 15.0  # a step that cannot start within this of its plan is skipped (the cluster is stuck)


class _Run:
    def __init__(self, force: bool, configuration: Configuration, secrets: Secrets) -> None:
        self.force = force
        self.configuration = configuration
        self.secrets = secrets
        self.settings = load(configuration, secrets)
        self.lock = threading.Lock()
        self.busy: Set[str] = set()
        self.events: List[Dict[str, Any]] = []
        self.stop = threading.Event()
        self.t0 = time.time()

    def _wait_until(self, offset_s: float) -> bool:
        """Sleep until ``t0 + offset_s``; False when the run was stopped."""
        return not self.stop.wait(max(0.0, self.t0 + offset_s - time.time()))

    def _service(self, step: Step) -> str:
        target = str(step["target"])
        if step["fault"] == "failover":
            return resolve(self.settings, "@sync" if not self.force else "@replica")  # the candidate
        if step["fault"] == "switchover":
            return ""
        return resolve(self.settings, target) if target.startswith("@") else target

    def step(self, step: Step) -> None:
        event: Dict[str, Any] = {k: step[k] for k in ("step", "fault", "target", "at_s", "hold_s")}
        self.events.append(event)
        if not self._wait_until(step["at_s"]):
            event["outcome"] = "not-run"
            return
        lasting = faults.has_undo(step["fault"])
        with self.lock:
            event["at"] = round(time.time(), 3)
            if event["at"] - self.t0 - step["at_s"] > LATE_S:
                event.update(outcome="skipped", reason=f"started more than {LATE_S:g}s late")
                return
            try:
                service = self._service(step)
            except ActivityFailed as exc:
                event.update(outcome="skipped", reason=f"no target: {exc}")
                return
            event["service"] = service
            if service and service in self.busy:
                event.update(outcome="skipped", reason=f"{service} already carries a fault")
                return
            if lasting:
                if not self._apply(event, step, service):
                    return
                self.busy.add(service)
        if not lasting:
            self._apply(event, step, service)
            return
        try:
            if self._wait_until(event["at"] - self.t0 + step["hold_s"]):
                self._undo(event, step, service)
        finally:
            with self.lock:
                self.busy.discard(service)

    def _apply(self, event: Dict[str, Any], step: Step, service: str) -> bool:
        try:
            result = faults.apply(step["fault"], service, step, self.force, self.configuration, self.secrets)
        except ActivityFailed as exc:
            event.update(outcome="refused", reason=str(exc), took_s=round(time.time() - event["at"], 3))
            logger.info("nemesis #%s %s on %s refused: %s", step["step"], step["fault"], service, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - a step's error is recorded, the run goes on
            event.update(outcome="error", reason=f"{type(exc).__name__}: {exc}")
            logger.warning("nemesis #%s %s on %s failed: %s", step["step"], step["fault"], service, exc)
            return False
        event.update(outcome="applied", took_s=round(time.time() - event["at"], 3))
        for key in ("leader", "previous_leader", "failover", "signal", "method"):
            if isinstance(result, dict) and key in result:
                event[key] = result[key]
        logger.info("nemesis #%s %s on %s applied", step["step"], step["fault"], service or "the cluster")
        return True

    def _undo(self, event: Dict[str, Any], step: Step, service: str) -> None:
        started = time.time()
        try:
            faults.undo(step["fault"], service, self.configuration, self.secrets)
            event.update(undone_at=round(started, 3), undo_took_s=round(time.time() - started, 3))
        except Exception as exc:  # noqa: BLE001 - heal after the run undoes what is left
            event.update(undone_at=None, undo_error=f"{type(exc).__name__}: {exc}")
            logger.warning(
                "nemesis #%s: undo of %s on %s failed (heal will): %s", step["step"], step["fault"], service, exc
            )


def run_schedule(
    schedule: List[Step], force: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Run ``schedule`` (see :mod:`chaosha.nemesis.schedule`) and return
    ``{started, ended, events}``: per step its outcome (applied, refused,
    skipped, error, not-run), service, actual time ``at`` and ``undone_at``.
    ``force`` lets the actions break quorum or take down the last node."""
    run = _Run(force, configuration, secrets)
    threads = [
        threading.Thread(target=run.step, args=(s,), name=f"nemesis-{s['step']}", daemon=True) for s in schedule
    ]
    for t in threads:
        t.start()
    deadline = run.t0 + span_s(schedule) + GRACE_S
    try:
        for t in threads:
            t.join(max(0.0, deadline - time.time()))
    finally:
        run.stop.set()  # an interrupted run stops waiting; what is applied stays recorded for heal
    stuck = [t.name for t in threads if t.is_alive()]
    events = sorted(run.events, key=lambda e: e["step"])
    return {"started": round(run.t0, 3), "ended": round(time.time(), 3), "events": events, "stuck": stuck}


def outcome_counts(events: List[Dict[str, Any]]) -> Dict[str, int]:
    """How many steps ended how (applied, refused, ...)."""
    counts: Dict[str, int] = {}
    for e in events:
        key = str(e.get("outcome", "pending"))
        counts[key] = counts.get(key, 0) + 1
    return counts
