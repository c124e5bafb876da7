"""The verdict and the run's outcome in plain words."""

from typing import Any, Dict, List, Optional

from chaosha.report.journal import Activity, JournalView, verdict_reasons
from chaosha.report.series import Series, leader_changes

__all__ = [
    "headline",
    "banner_state",
    "reason_sentences",
    "verdict_sentences",
    "run_sentences",
    "seconds",
    "plural",
    "error_text",
    "failed_actions_words",
]

_ERROR_PREFIXES = ("chaoslib.exceptions.ActivityFailed: ", "ActivityFailed: ")


def seconds(value: Any) -> str:
    """``22.4 s`` (one decimal; milliseconds below one second)."""
    number = float(value)
    return f"{number * 1000:.0f} ms" if 0 < number < 1 else f"{number:.1f} s"


def plural(count: Any, word: str, many: Optional[str] = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


def error_text(error: str) -> str:
    """An activity's error without Chaos Toolkit's exception class."""
    text = error.strip()
    for prefix in _ERROR_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix) :].strip()
    return text


def _named(activity: Activity) -> str:
    return f"{activity.name} ({error_text(activity.error)})" if activity.error else activity.name


def failed_actions_words(view: JournalView) -> str:
    """``1 method action failed: kill-the-leader (why)``; empty when none did."""
    failed = view.failed_actions
    if not failed:
        return ""
    return f"{plural(len(failed), 'method action')} failed: " + "; ".join(_named(a) for a in failed)


def headline(view: JournalView) -> str:
    """One sentence: passed or failed, the main reason, and any method
    action that failed (a run can complete, integrity intact, without its
    fault ever being injected)."""
    if view.error:
        return f"No result: {view.error}."
    problems = view.issues(reasons=False)  # the banner lists the verdict's reasons below
    actions = failed_actions_words(view)
    if not problems and actions:
        held = "Integrity held" if view.verdict is not None else "The steady state held"
        return f"{held}, but {actions}."
    if not problems:
        return "Passed: the experiment completed, the steady state held and no data was lost."
    text = "; ".join(problems + ([actions] if actions else []))
    return f"Failed: {text[0].lower() + text[1:]}."


def banner_state(view: JournalView) -> str:
    """``pass``, ``warn`` (passed, but a method action failed), ``fail``
    or ``unknown`` (the journal cannot be read)."""
    if view.error:
        return "unknown"
    if view.problems:
        return "fail"
    return "warn" if view.failed_actions else "pass"


def reason_sentences(verdict: Optional[Dict[str, Any]]) -> List[str]:
    """The verdict's own reasons for not passing, as sentences."""
    return [r[0].upper() + r[1:] + ("" if r.endswith(".") else ".") for r in verdict_reasons(verdict)]


def _ids(values: Any) -> str:
    shown = list(values or [])[:10]
    return ", ".join(str(v) for v in shown) + (" …" if len(values or []) > 10 else "")


def _port(target: str, label: str) -> str:
    return f"{label} ({target})" if target else label


def verdict_sentences(verdict: Optional[Dict[str, Any]], series: Series) -> List[str]:
    """The integrity verdict sentence by sentence, most important first."""
    if verdict is None:
        return [
            "No integrity verdict is in the journal: the workload_verdict probe did not run "
            "or did not succeed, so nothing can be said about lost writes."
        ]
    return _loss_sentences(verdict, series) + _anomaly_sentences(verdict)


def _loss_sentences(v: Dict[str, Any], series: Series) -> List[str]:
    """Lost writes, unavailability, leader changes, replicas back."""
    out: List[str] = []
    lost = v.get("lost")
    if lost is None:
        out.append(
            "Whether acknowledged writes were lost is unknown: the cluster could not be "
            f"audited ({v.get('audit_error') or 'no audit'})."
        )
    elif lost == 0:
        out.append("No acknowledged write was lost.")
    else:
        out.append(
            f"{plural(lost, 'acknowledged write was', 'acknowledged writes were')} lost "
            f"(ids {_ids(v.get('lost_ids'))})."
        )
    rw = _port(series.target, "the read-write port")
    if v.get("rto_s") is not None:
        if v.get("write_recovered") is False:
            out.append(
                f"Writes through {rw} had not come back by the end of the run "
                f"({seconds(v['rto_s'])} without an acknowledged write)."
            )
        else:
            out.append(
                f"Writes were unavailable for {seconds(v['rto_s'])} on {rw} "
                "(the longest gap between two acknowledged writes)."
            )
    if v.get("read_rto_s") is not None:
        ro = _port(series.read_target, "the read-only port")
        out.append(f"Reads were unavailable for {seconds(v['read_rto_s'])} on {ro}.")
    for _, old, new in leader_changes(series, v)[:5]:
        gap = ""
        if v.get("reroute_s") is not None and (old, new) == (v.get("primary_before"), v.get("primary_after")):
            gap = f" (its first acknowledged write came {seconds(v['reroute_s'])} after the last on {old})"
        out.append(f"Writes moved from {old} to {new}{gap}.")
    if v.get("streaming_s") is not None:
        out.append(f"Every replica was streaming again {seconds(v['streaming_s'])} after the fault.")
    return out


def _anomaly_sentences(v: Dict[str, Any]) -> List[str]:
    """Two primaries, unexpected rows, doubtful writes, node consistency."""
    out: List[str] = []
    if v.get("two_primaries"):
        incidents = v.get("two_primary_incidents") or []
        first = incidents[0] if incidents else {}
        where = " and ".join(first.get("servers") or [])
        out.append(
            f"Two primaries accepted writes at the same time "
            f"({plural(len(incidents), 'incident')}; first: {where} for "
            f"{seconds(first.get('seconds') or 0)})."
        )
    else:
        out.append("There was never more than one primary acknowledging writes.")
    if v.get("two_writable"):
        out.append(_two_writable(v))
    unexpected = v.get("unexpected")
    if unexpected:
        out.append(
            f"{plural(unexpected, 'row')} appeared that the workload never attempted "
            f"(ids {_ids(v.get('unexpected_ids'))})."
        )
    if v.get("failed_committed"):
        out.append(f"{plural(v['failed_committed'], 'write')} reported as failed were committed anyway.")
    if v.get("in_doubt"):
        recovered = v.get("recovered")
        known = "" if recovered is None else f"; {recovered} of them were committed"
        out.append(f"{plural(v['in_doubt'], 'write was', 'writes were')} in doubt (the answer never came){known}.")
    if v.get("acknowledged") is not None:
        out.append(f"{v.get('acknowledged')} of {v.get('attempted')} attempted writes were acknowledged.")
    if v.get("nodes_consistent"):
        out.append("Every node holds the same rows on one timeline.")
    else:
        out.append(f"The nodes were not shown consistent: {v.get('audit_error') or 'no audit'}.")
    return out


def _two_writable(v: Dict[str, Any]) -> str:
    incidents = v.get("two_writable_incidents") or []
    servers = sorted({s for i in incidents for s in i.get("servers") or []})
    who = f"{' and '.join(servers)}; " if servers else ""
    text = (
        f"Two nodes answered as writable at once for {seconds(v.get('two_writable_s') or 0)} "
        f"({who}{plural(len(incidents), 'incident')}): an old primary before Patroni demoted it"
    )
    return text + ("." if v.get("two_primaries") else "; none of its writes was acknowledged.")


def run_sentences(view: JournalView) -> List[str]:
    """How the run itself went: status, hypotheses, activities not run."""
    if view.error:
        return [f"This report has no run data: {view.error}."]
    out = [
        {
            "completed": "The experiment ran to its end.",
            "failed": "The experiment failed: an activity or a steady-state probe raised an error.",
            "aborted": "The experiment was aborted (a control or the runner stopped it).",
            "interrupted": "The experiment was interrupted (a signal, e.g. Ctrl-C, or a safeguard).",
        }.get(
            view.status,
            f"The run has no final status ({view.status or 'none'}): the journal was "
            "written by a run that did not finish.",
        )
    ]
    for phase, label in (
        ("before", "before the method"),
        ("during", "during the method"),
        ("after", "after the method"),
    ):
        met = view.steady.get(phase)
        if met is True:
            out.append(f"The steady state was met {label}.")
        elif met is False:
            out.append(f"The steady state was NOT met {label}.")
        elif phase != "during":
            out.append(f"The steady state was not checked {label}.")
    if view.not_run:
        out.append(f"Not run: {', '.join(view.not_run)}.")
    failed = [a for a in view.activities if a.status not in ("succeeded",)]
    for activity in failed[:5]:
        why = f": {activity.error}" if activity.error else ""
        state = (
            "was still running when the journal was written" if activity.status == "running" else activity.status
        )
        out.append(f"The {activity.phase} activity {activity.name} {state}{why}.")
    return out
