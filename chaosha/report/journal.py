"""Reading a Chaos Toolkit journal into what a report shows: the run's
activities in time order (hypothesis probes, method, rollbacks), the fault,
the outcome and the integrity verdict.  Tolerates journals of failed,
aborted or interrupted runs and files that are not journals at all."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from chaosha.timing import epoch

__all__ = [
    "Activity",
    "JournalView",
    "load_journal",
    "FAULT_FUNCS",
    "REPAIR_FUNCS",
    "SAFEGUARD_MODULE",
    "verdict_reasons",
]

#: chaosha actions that inject a fault and those that undo one.
FAULT_FUNCS = frozenset(
    {
        "kill_container",
        "stop_container",
        "restart_container",
        "pause_container",
        "partition_container",
        "disconnect_network",
        "add_latency",
        "switchover",
        "failover",
        "stop_node",
        "kill_node",
        "expire_session",
    }
)
REPAIR_FUNCS = frozenset(
    {
        "start_container",
        "unpause_container",
        "heal_partition",
        "reconnect_network",
        "remove_latency",
        "heal",
        "resume_failover",
        "start_node",
    }
)
#: actions that start or stop the workload: neither a fault nor a heal.
WORKLOAD_FUNCS = frozenset({"start_workload", "stop_workload"})
VERDICT_FUNC = "workload_verdict"
NEMESIS_FUNCS = {"run_nemesis": "nemesis", "recovery_by_fault": "recovery"}
SAFEGUARD_MODULE = "chaosha.controls.safeguard"


@dataclass
class Activity:
    """One executed activity of the journal."""

    phase: str
    name: str
    kind: str
    func: str
    module: str
    status: str
    start: Optional[float]
    end: Optional[float]
    output: Any
    error: str = ""
    tolerance_met: Optional[bool] = None
    background: bool = False

    @property
    def is_fault(self) -> bool:
        return self.phase == "method" and self.kind == "action" and self.func in FAULT_FUNCS

    @property
    def is_repair(self) -> bool:
        return self.kind == "action" and self.func in REPAIR_FUNCS

    @property
    def is_heal(self) -> bool:
        """A repair (start, unpause, reconnect, heal…) or any rollback
        action other than the workload's own."""
        if self.kind != "action" or self.func in WORKLOAD_FUNCS:
            return False
        return self.is_repair or self.phase == "rollbacks"

    @property
    def healed_at(self) -> Optional[float]:
        """When the heal took effect: its end (its start while running)."""
        return self.end if self.end is not None else self.start

    @property
    def duration(self) -> Optional[float]:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start


@dataclass
class JournalView:
    """Everything a report needs from one journal."""

    path: Path
    error: str = ""
    title: str = ""
    description: str = ""
    status: str = ""
    deviated: bool = False
    start: Optional[float] = None
    end: Optional[float] = None
    node: str = ""
    chaoslib_version: str = ""
    hypothesis_title: str = ""
    steady: Dict[str, Optional[bool]] = field(default_factory=dict)
    activities: List[Activity] = field(default_factory=list)
    declared: List[str] = field(default_factory=list)
    verdict: Optional[Dict[str, Any]] = None
    verdict_declared: bool = False
    safeguard: bool = False
    safeguard_at: Optional[float] = None
    safeguard_record: Dict[str, Any] = field(default_factory=dict)
    nemesis: Optional[Dict[str, Any]] = None  # the run_nemesis output: schedule and events
    recovery: Optional[Dict[str, Any]] = None  # the recovery_by_fault output: RTO per step and kind

    @property
    def heals(self) -> List[Activity]:
        return [a for a in self.activities if a.is_heal]

    @property
    def failed_actions(self) -> List[Activity]:
        """Method actions that failed (Chaos Toolkit still calls such a run
        completed)."""
        return [a for a in self.phase("method") if a.kind == "action" and a.status == "failed"]

    def phase(self, name: str) -> List[Activity]:
        return [a for a in self.activities if a.phase == name]

    @property
    def faults(self) -> List[Activity]:
        return [a for a in self.activities if a.is_fault]

    @property
    def before_met(self) -> Optional[bool]:
        return self.steady.get("before")

    @property
    def not_run(self) -> List[str]:
        """Method activities declared but absent from the run."""
        ran = [a.name for a in self.phase("method")]
        missing = list(self.declared)
        for name in ran:
            if name in missing:
                missing.remove(name)
        return missing

    @property
    def outcome(self) -> str:
        """``passed``, ``failed`` or the journal's own trouble in one word."""
        return "passed" if not self.problems else "failed"

    @property
    def problems(self) -> List[str]:
        """Why this run does not pass, in plain words (empty: it passed),
        with the verdict's own reasons."""
        return self.issues()

    def issues(self, reasons: bool = True) -> List[str]:
        """Why this run does not pass (``reasons``: with the verdict's).
        Passing needs status completed, no deviation, the steady state met
        before the method and, when the experiment asks for an integrity
        verdict, a passing verdict."""
        found: List[str] = []
        if self.error:
            return [self.error]
        if self.status != "completed":
            found.append(f"the run ended with status {self.status or 'unknown (no status)'}")
        if self.before_met is False:
            found.append("the steady state was not met before the method, so no fault was injected")
        if self.deviated:
            found.append("the system deviated: the steady state was not met after the method")
        if self.verdict is not None and not self.verdict.get("passed"):
            why = verdict_reasons(self.verdict) if reasons else []
            found.append("the integrity verdict failed" + (f" ({'; '.join(why)})" if why else ""))
        elif self.verdict is None and self.verdict_declared:
            found.append("no integrity verdict was produced")
        return found


def verdict_reasons(verdict: Optional[Dict[str, Any]]) -> List[str]:
    """The verdict's ``reasons`` (why it did not pass); empty for older
    verdicts that have none."""
    reasons = (verdict or {}).get("reasons")
    return [str(r) for r in reasons if r] if isinstance(reasons, list) else []


def _safeguard(data: Dict[str, Any], experiment: Dict[str, Any]) -> Tuple[bool, Optional[float]]:
    """Whether the safeguard control ran and when it healed: its own
    record's ``at`` when the journal has one, else the run's end (it heals
    right after the journal's end is set)."""
    record = data.get("safeguard")
    at = record.get("at") if isinstance(record, dict) else None
    when = float(at) if isinstance(at, (int, float)) else epoch(at)
    controls = [c for c in _list(experiment.get("controls")) if isinstance(c, dict)]
    declared = any(_provider(c).get("module") == SAFEGUARD_MODULE for c in controls)
    if when is None and (declared or isinstance(record, dict)):
        when = epoch(data.get("end"))
    return declared or isinstance(record, dict), when


def _provider(activity: Dict[str, Any]) -> Dict[str, Any]:
    provider = activity.get("provider")
    return provider if isinstance(provider, dict) else {}


def _is_verdict(act: Dict[str, Any], output: Any) -> bool:
    if _provider(act).get("func") == VERDICT_FUNC:
        return True
    return isinstance(output, dict) and "passed" in output and "lost" in output


def _activity(phase: str, run: Dict[str, Any]) -> Activity:
    act = run.get("activity") if isinstance(run.get("activity"), dict) else {}
    assert isinstance(act, dict)
    provider = _provider(act)
    exception = run.get("exception")
    error = ""
    if isinstance(exception, list) and exception:
        error = str(exception[-1]).strip()
    elif exception:
        error = str(exception).strip()
    return Activity(
        phase=phase,
        name=str(act.get("name") or provider.get("func") or "?"),
        kind=str(act.get("type") or "?"),
        func=str(provider.get("func") or provider.get("path") or ""),
        module=str(provider.get("module") or provider.get("type") or ""),
        status=str(run.get("status") or ("interrupted" if run.get("end") else "running")),
        start=epoch(run.get("start")),
        end=epoch(run.get("end")),
        output=run.get("output"),
        error=error,
        tolerance_met=run.get("tolerance_met"),
        background=bool(act.get("background")),
    )


def _declares_verdict(experiment: Dict[str, Any]) -> bool:
    hypo = _dict(experiment.get("steady-state-hypothesis"))
    declared = _list(experiment.get("method")) + _list(hypo.get("probes"))
    return any(isinstance(a, dict) and _provider(a).get("func") == VERDICT_FUNC for a in declared)


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else []


def _runs(data: Dict[str, Any], view: JournalView) -> List[Tuple[str, Any]]:
    """Every executed activity with its phase (the method first, where the
    verdict is looked for first); fills ``view.steady`` on the way."""
    states = _dict(data.get("steady_states"))
    runs: List[Tuple[str, Any]] = [("method", r) for r in _list(data.get("run"))]
    view.steady = {"before": None, "after": None}
    for phase in ("after", "before"):
        state = states.get(phase)
        view.steady[phase] = state.get("steady_state_met") if isinstance(state, dict) else None
        runs += [(phase, r) for r in _list(_dict(state).get("probes"))]
    during = [s for s in _list(states.get("during")) if isinstance(s, dict)]
    if during:
        view.steady["during"] = all(s.get("steady_state_met") is not False for s in during)
        runs += [("during", r) for s in during for r in _list(s.get("probes"))]
    return runs + [("rollbacks", r) for r in _list(data.get("rollbacks"))]


def _read(view: JournalView) -> Optional[Dict[str, Any]]:
    """The journal's JSON object, or None with ``view.error`` set."""
    try:
        data = json.loads(view.path.read_text(encoding="utf-8"))
    except OSError as exc:
        view.error = f"the journal could not be read: {exc.strerror or exc}"
        return None
    except ValueError as exc:
        view.error = (
            f"the journal is not valid JSON ({exc}); the run was probably killed "
            "while writing it or an activity returned a value JSON cannot hold"
        )
        return None
    if not isinstance(data, dict) or not isinstance(data.get("experiment"), dict):
        view.error = "the file is not a Chaos Toolkit journal (no experiment in it)"
        return None
    return data


def load_journal(path: Union[str, Path]) -> JournalView:
    """The view of the journal at ``path``; never raises on bad content
    (``error`` says what is wrong) so a report can always be written."""
    view = JournalView(path=Path(path))
    data = _read(view)
    if data is None:
        return view
    experiment = data["experiment"]
    view.title = str(experiment.get("title") or "(untitled experiment)")
    view.description = str(experiment.get("description") or "")
    view.status = str(data.get("status") or "")
    view.deviated = bool(data.get("deviated"))
    view.start, view.end = epoch(data.get("start")), epoch(data.get("end"))
    view.node = str(data.get("node") or "")
    view.chaoslib_version = str(data.get("chaoslib-version") or "")
    view.hypothesis_title = str(_dict(experiment.get("steady-state-hypothesis")).get("title") or "")
    view.declared = [
        str(a.get("name") or "?")
        for a in _list(experiment.get("method"))
        if isinstance(a, dict) and a.get("type") in ("action", "probe")
    ]
    view.verdict_declared = _declares_verdict(experiment)
    view.safeguard, view.safeguard_at = _safeguard(data, experiment)
    view.safeguard_record = _dict(data.get("safeguard"))
    for phase, run in _runs(data, view):
        if not isinstance(run, dict):
            continue
        activity = _activity(phase, run)
        view.activities.append(activity)
        if (
            view.verdict is None
            and activity.status == "succeeded"
            and _is_verdict(_dict(run.get("activity")), activity.output)
        ):
            view.verdict = activity.output
        field_name = NEMESIS_FUNCS.get(activity.func)
        if field_name and activity.status == "succeeded" and isinstance(activity.output, dict):
            setattr(view, field_name, activity.output)
    view.activities.sort(key=lambda a: (a.start is None, a.start or 0.0))
    return view
