"""Rendering the report as one self-contained HTML page (inline CSS, the
timeline as a data: URI)."""

import base64
import json
from datetime import UTC, datetime
from html import escape
from typing import Any, Dict, Iterable, List, Optional, Sequence

from chaosha.report.journal import Activity, JournalView
from chaosha.report.ledger import Series, leader_changes
from chaosha.report.words import headline, run_sentences, seconds, verdict_sentences

__all__ = ["render_html", "CSS"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
margin:0;color:#1b1b1b;background:#fafafa;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:0 0 4px}h2{font-size:1.15rem;margin:28px 0 8px;
border-bottom:1px solid #ccc;padding-bottom:4px}
.sub{color:#555;margin:0 0 16px}
.banner{border-left:8px solid;padding:14px 18px;border-radius:4px;margin:12px 0}
.banner p{margin:4px 0}.banner .head{font-size:1.2rem;font-weight:700}
.pass{background:#e6f4ea;border-color:#1e7b34;color:#0b3d17}
.fail{background:#fdecea;border-color:#b3261e;color:#5c0f0a}
.unknown{background:#eeeeee;border-color:#555;color:#222}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{border:1px solid #d0d0d0;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b3261e;font-weight:700}.good{color:#1e7b34;font-weight:700}
figure{margin:0;background:#fff;border:1px solid #d0d0d0;padding:8px}
figure img{max-width:100%;height:auto}figcaption{font-size:.85rem;color:#444}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f4f4f4;padding:10px;overflow:auto;max-height:420px}
.note{background:#fff8e1;border:1px solid #e0c060;padding:8px 12px}
footer{color:#666;font-size:.8rem;margin-top:32px}
"""


def _when(epoch: Optional[float]) -> str:
    if epoch is None:
        return "unknown"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + " …"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table; cells are already escaped HTML."""
    head = "".join(f"<th scope='col'>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td class='num'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _flag(good: Optional[bool], text: str) -> str:
    if good is None:
        return escape(text)
    return f"<span class='{'good' if good else 'bad'}'>{escape(text)}</span>"


def _figures(verdict: Optional[Dict[str, Any]], series: Series) -> str:
    if verdict is None:
        return "<p class='note'>No integrity verdict in this journal.</p>"
    v = verdict

    def count(key: str) -> str:
        value = v.get(key)
        return _flag(None, "unknown") if value is None else _flag(value == 0, str(value))

    def secs(key: str) -> str:
        return escape(seconds(v[key])) if v.get(key) is not None else "not measured"

    rows = [
        ("Acknowledged writes lost", count("lost")),
        ("Unexpected rows (never attempted)", count("unexpected")),
        ("Writes reported failed yet committed", count("failed_committed")),
        ("In-doubt writes (committed afterwards)",
         f"{escape(str(v.get('in_doubt')))} ({escape(str(v.get('recovered')))})"),
        ("Acknowledged / attempted writes",
         f"{escape(str(v.get('acknowledged')))} / {escape(str(v.get('attempted')))}"),
        ("Two primaries acknowledging writes at once", _flag(not v.get("two_primaries"),
                                                             "yes" if v.get("two_primaries") else "no")),
        ("Two nodes writable at once (not acknowledging)", secs("two_writable_s")),
        (f"Write RTO, read-write port {series.target}".strip(), secs("rto_s")),
        (f"Read RTO, read-only port {series.read_target}".strip(), secs("read_rto_s")),
        ("Reroute to the new primary", secs("reroute_s")),
        ("Replicas streaming again", secs("streaming_s")),
        ("Primary before → after",
         escape(f"{v.get('primary_before') or '?'} → {v.get('primary_after') or '(unchanged)'}")),
        ("Nodes consistent", _flag(bool(v.get("nodes_consistent")),
                                   "yes" if v.get("nodes_consistent") else
                                   f"no: {v.get('audit_error') or 'not audited'}")),
        ("Timelines", escape(json.dumps(v.get("timelines") or {}))),
        ("Verdict", _flag(bool(v.get("passed")), "passed" if v.get("passed") else "failed")),
    ]
    return _table(["Measure", "Value"], [(escape(k), val) for k, val in rows])


def _activity_row(a: Activity, zero: Optional[float]) -> List[str]:
    start = f"{a.start - zero:.1f}" if a.start is not None and zero is not None else "?"
    took = f"{a.duration:.2f}" if a.duration is not None else "?"
    what = f"{a.kind}{' (fault)' if a.is_fault else ''}{' (background)' if a.background else ''}"
    status = _flag(a.status == "succeeded", a.status)
    detail = escape(a.error) if a.error else escape(_short(a.output, 120))
    return [escape(a.phase), escape(a.name), escape(what),
            f"<code>{escape(a.module)}.{escape(a.func)}</code>" if a.module else escape(a.func),
            start, took, status, detail]


def _hypothesis(view: JournalView) -> str:
    rows = []
    for phase in ("before", "during", "after"):
        for a in view.phase(phase):
            met = a.tolerance_met
            rows.append([escape(phase), escape(a.name), _flag(a.status == "succeeded", a.status),
                         _flag(met, "yes" if met else ("no" if met is False else "?")),
                         escape(a.error or _short(a.output))])
    summary = ", ".join(f"{p}: {'met' if m else 'NOT met' if m is False else 'not checked'}"
                        for p, m in view.steady.items())
    title = escape(view.hypothesis_title or "(no steady-state hypothesis)")
    if not rows:
        return f"<p>{title}. No probe of the hypothesis ran.</p>"
    return (f"<p><strong>{title}</strong> — {escape(summary)}.</p>"
            + _table(["When", "Probe", "Status", "Tolerance met", "Output"], rows))


def _leaders(view: JournalView, series: Series, zero: Optional[float]) -> str:
    changes = leader_changes(series, view.verdict)
    if not changes:
        detail = f" ({escape(series.error)})" if series.error else ""
        return f"<p>No leader change was observed{detail}.</p>"
    rows = [[f"{when - zero:.1f}" if when is not None and zero is not None else "?",
             escape(old), escape(new)] for when, old, new in changes]
    return _table(["At (s)", "From", "To"], rows, numeric=[0])


def render_html(view: JournalView, series: Series, png: Optional[bytes], png_note: str,
                zero: Optional[float], png_name: str = "") -> str:
    """The whole page.  ``png`` is the timeline (None: ``png_note`` says why)."""
    verdict = view.verdict
    state = "unknown" if view.error else ("pass" if not view.problems else "fail")
    words = verdict_sentences(verdict, series) if not view.error else []
    banner = (f"<section class='banner {state}' role='status' aria-label='verdict'>"
              f"<p class='head'>{escape(headline(view))}</p>"
              + "".join(f"<p>{escape(s)}</p>" for s in words) + "</section>")
    if png:
        data = base64.b64encode(png).decode("ascii")
        saved = f" Also saved as {escape(png_name)}." if png_name else ""
        picture = (f"<figure><img src='data:image/png;base64,{data}' alt='Timeline of the "
                   f"experiment: activities, the fault, writes and errors per second, leader "
                   f"changes'><figcaption>Time zero is {escape(_when(zero))}.{saved}</figcaption></figure>")
    else:
        picture = f"<p class='note'>No timeline picture: {escape(png_note)}.</p>"
    if series.error and verdict is not None:
        picture += f"<p class='note'>No writes/s chart: {escape(series.error)}.</p>"
    duration = f"{view.end - view.start:.1f} s" if view.start and view.end else "unknown"
    facts = _table(["Fact", "Value"], [
        ("Status", escape(view.status or "none")),
        ("Deviated", _flag(not view.deviated, "yes" if view.deviated else "no")),
        ("Started", escape(_when(view.start))), ("Ended", escape(_when(view.end))),
        ("Duration", escape(duration)), ("Ran on", escape(view.node or "?")),
        ("chaostoolkit-lib", escape(view.chaoslib_version or "?")),
        ("Journal", f"<code>{escape(str(view.path))}</code>")])
    activities = _table(["Phase", "Activity", "Type", "Provider", "Start (s)", "Took (s)",
                         "Status", "Output or error"],
                        [_activity_row(a, zero) for a in view.activities], numeric=[4, 5])
    verdict_json = (f"<details><summary>Verdict as JSON</summary><pre>"
                    f"{escape(json.dumps(verdict, indent=2, default=str))}</pre></details>"
                    if verdict is not None else "")
    title = escape(view.title or view.path.name)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{title} — chaosha report</title><style>{CSS}</style></head><body><main>",
        f"<h1>{title}</h1><p class='sub'>{escape(view.description)}</p>", banner,
        "<h2>Timeline</h2>", picture,
        "<h2>Integrity verdict</h2>", _figures(verdict, series), verdict_json,
        "<h2>The run</h2>", "<ul>" + "".join(f"<li>{escape(s)}</li>" for s in run_sentences(view))
        + "</ul>", facts,
        "<h2>Steady-state hypothesis</h2>", _hypothesis(view),
        "<h2>Leader changes</h2>", _leaders(view, series, zero),
        "<h2>Activities</h2>", activities if view.activities else "<p>No activity ran.</p>",
        f"<footer>Generated by chaosha on {escape(_when(datetime.now(UTC).timestamp()))}.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts)
