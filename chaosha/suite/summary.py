"""The suite's ``summary.md``: one table row per experiment, then each
one's verdict in plain words."""

from pathlib import Path
from typing import Any, List, Optional

from chaosha.report.series import Series
from chaosha.report.words import seconds, verdict_sentences

__all__ = ["write_summary", "result_words", "figure"]


def figure(verdict: Optional[dict], key: str) -> str:
    """A verdict figure for a table cell: ``22.4 s``, a count, or ``–``."""
    if not verdict or verdict.get(key) is None:
        return "–"
    value: Any = verdict[key]
    return seconds(value) if key.endswith("_s") else str(value)


def result_words(result: Any) -> List[str]:
    """Why an experiment failed, then its verdict in plain words."""
    words = list(result.problems)
    if result.view is not None and not result.view.error:
        series = Series()
        words += verdict_sentences(result.view.verdict, series)
    return words


def write_summary(path: Path, results: List[Any], planned: int) -> None:
    """Write ``summary.md`` for the experiments run so far (of ``planned``)."""
    passed = sum(r.passed for r in results)
    lines = [f"# chaosha suite: {passed} of {planned} passed", ""]
    if len(results) < planned:
        lines += [f"The suite stopped after {len(results)} of {planned} experiments.", ""]
    lines += [
        "| # | Experiment | Result | Status | Lost | Write RTO | Read RTO | Two primaries | Report |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results, 1):
        view = r.view
        verdict = view.verdict if view else None
        status = (view.status or "?") + (", deviated" if view and view.deviated else "") if view else "no journal"
        two = "–" if not verdict else ("YES" if verdict.get("two_primaries") else "no")
        report = f"[{r.html.name}]({r.html.name})" if r.html else "–"
        lines.append(
            f"| {i} | {r.title} | {'passed' if r.passed else '**FAILED**'} | {status} | "
            f"{figure(verdict, 'lost')} | {figure(verdict, 'rto_s')} | "
            f"{figure(verdict, 'read_rto_s')} | {two} | {report} |"
        )
    for i, r in enumerate(results, 1):
        lines += [
            "",
            f"## {i}. {r.title} — {'passed' if r.passed else 'FAILED'}",
            "",
            f"Experiment `{r.experiment}`, {r.seconds} s, chaos exit code {r.exit_code}; "
            f"journal `{r.journal.name}`, log `{r.log.name}`.",
            "",
        ]
        lines += [f"- {w}" for w in result_words(r)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
