"""The chaosha safeguard control: no run leaves the cluster broken.

Declare it in an experiment's ``controls``.  It

- takes the project's experiment lock for the run: a second experiment
  against the same stack is interrupted before it touches anything (and its
  rollbacks' heal refuses to undo the first run's faults); the lock goes
  with the process, so a killed run never leaves it taken;
- marks when the experiment started (so integrity probes judge only this
  experiment's workload);
- turns a SIGTERM that chaostoolkit-lib 1.44 swallowed inside a Python
  activity (it becomes an ordinary activity failure) back into an
  interruption, so the run stops and its rollbacks play;
- after the run, in any state (completed, failed, aborted, interrupted),
  stops the workload and heals every fault chaosha injected.

A run killed outright (SIGKILL) runs no control: use ``chaosha heal``.
"""

import logging
import time
from datetime import UTC, datetime
from typing import Any, Dict, List

from chaoslib.exceptions import InterruptExecution
from chaoslib.types import Activity, Configuration, Experiment, Journal, Run, Secrets

from chaosha import state as project
from chaosha.config import load
from chaosha.docker.actions import heal
from chaosha.integrity.actions import stop_workload
from chaosha.integrity.probes import EXPERIMENT_MARK

__all__ = ["before_experiment_control", "after_activity_control", "after_experiment_control"]

logger = logging.getLogger("chaostoolkit")


def before_experiment_control(
    context: Experiment, configuration: Configuration = None, secrets: Secrets = None, **kwargs: Any
) -> None:
    """Take the project's experiment lock and mark the start for the
    integrity probes; interrupt the run when another experiment holds it."""
    settings = load(configuration, secrets)
    try:
        project.hold(settings, project.EXPERIMENT_LOCK, f"chaos run '{context.get('title', '?')}'")
    except project.Locked as exc:
        raise InterruptExecution(f"chaosha safeguard: {exc}") from None
    project.forget_target(settings)  # @faulted means a fault of this experiment
    (project.workload_dir(settings) / EXPERIMENT_MARK).write_text(str(time.time()))


def swallowed_interrupt(state: Run) -> bool:
    """True when an activity failed because a SIGTERM interrupted it."""
    if not isinstance(state, dict) or state.get("status") != "failed":
        return False
    trace: List[str] = state.get("exception") or []
    return any("InterruptExecution" in line for line in trace)


def after_activity_control(
    context: Activity, state: Run, configuration: Configuration = None, secrets: Secrets = None, **kwargs: Any
) -> None:
    """Re-raise a SIGTERM that the Python provider turned into a failure."""
    if swallowed_interrupt(state):
        logger.warning(
            "chaosha: activity '%s' was interrupted by SIGTERM: interrupting the run", context.get("name")
        )
        raise InterruptExecution("SIGTERM signal received (chaosha safeguard)")


def after_experiment_control(
    context: Experiment,
    state: Journal,
    configuration: Configuration = None,
    secrets: Secrets = None,
    **kwargs: Any,
) -> None:
    """Stop the workload, heal every fault and give the lock back, whatever
    the run's status.  A run whose steady state failed *before* the method
    injected nothing: chaostoolkit-lib 1.44 calls it completed; it is marked
    failed.  A run refused at the start (another experiment held the lock)
    touches nothing."""
    settings = load(configuration, secrets)
    if not project.holds(settings, project.EXPERIMENT_LOCK):
        logger.error("chaosha safeguard: another experiment holds this stack; nothing stopped or healed")
        return
    try:
        report = _stop_and_heal(configuration, secrets)
    finally:
        project.let_go(settings, project.EXPERIMENT_LOCK)
    state["safeguard"] = {"at": datetime.now(UTC).isoformat(), **report}  # the journal keeps it
    logger.info("chaosha safeguard after the run (%s): %s", state.get("status"), report)
    if before_hypothesis_failed(state):
        logger.error(
            "chaosha: the steady state was not met before the method, so no fault was "
            "injected: marking the run failed (is the cluster healthy? chaosha stack status)"
        )
        state["status"] = "failed"


def _stop_and_heal(configuration: Configuration, secrets: Secrets) -> Dict[str, Any]:
    report: Dict[str, Any] = {}
    try:
        report["workload"] = stop_workload(configuration=configuration, secrets=secrets).get("stopped")
    except Exception as exc:  # noqa: BLE001 - no workload is fine
        report["workload"] = f"none ({exc})"
    try:
        report["heal"] = heal(configuration=configuration, secrets=secrets)["healed"]
    except Exception as exc:  # noqa: BLE001 - say so; `chaosha heal` is the fallback
        logger.error("chaosha: healing after the run failed: %s; run `chaosha heal`", exc)
        report["heal"] = f"failed: {exc}"
    return report


def before_hypothesis_failed(journal: Journal) -> bool:
    """True when a "completed" run never got past its first hypothesis."""
    before = (journal.get("steady_states") or {}).get("before") or {}
    return journal.get("status") == "completed" and before.get("steady_state_met") is False
