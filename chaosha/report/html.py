"""Rendering the report as one self-contained HTML page (inline CSS, the
timeline as a data: URI).  Activity outputs are tables, never cut; long
values wrap, so the page fits a 1280 px window."""

import base64
import json
from datetime import UTC, datetime
from html import escape
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from chaosha.report.journal import Activity, JournalView
from chaosha.report.series import Series, leader_changes
from chaosha.report.timeline import incidents, moment_word, nemesis_rows, step_label
from chaosha.report.words import (
    banner_state,
    error_text,
    headline,
    reason_sentences,
    run_sentences,
    seconds,
    verdict_sentences,
)
from chaosha.timing import epoch

__all__ = ["render_html", "value_html", "moments", "CSS"]

CSS = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
margin:0;color:#1b1b1b;background:#fafafa;line-height:1.45;overflow-wrap:anywhere}
main{max-width:1240px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:0 0 4px}h2{font-size:1.15rem;margin:28px 0 8px;
border-bottom:1px solid #ccc;padding-bottom:4px}
.sub{color:#555;margin:0 0 16px}
.banner{border-left:8px solid;padding:14px 18px;border-radius:4px;margin:12px 0}
.banner p{margin:4px 0}.banner .head{font-size:1.2rem;font-weight:700}
.banner ul{margin:2px 0 8px;padding-left:22px}
.pass{background:#e6f4ea;border-color:#1e7b34;color:#0b3d17}
.warn{background:#fff4e0;border-color:#a35a00;color:#4a2800}
.fail{background:#fdecea;border-color:#b3261e;color:#5c0f0a}
.unknown{background:#eeeeee;border-color:#555;color:#222}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{border:1px solid #d0d0d0;padding:5px 8px;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums;
overflow-wrap:normal;white-space:nowrap}
table.kv,table.rec{width:auto;max-width:100%;font-size:.8rem;margin:0}
table.kv th,table.kv td,table.rec th,table.rec td{padding:2px 6px}
table.kv th{font-weight:600;background:#f6f6f6;color:#333;overflow-wrap:break-word}
table.fixed{table-layout:fixed}
td.out{width:48%}.meta{color:#555;font-size:.8rem}
.bad{color:#b3261e;font-weight:700}.good{color:#1e7b34;font-weight:700}.muted{color:#777}
.err{color:#5c0f0a;background:#fdecea;padding:4px 6px;margin:0 0 4px;white-space:pre-wrap}
figure{margin:0;background:#fff;border:1px solid #d0d0d0;padding:8px}
figure img{display:block;max-width:100%;height:auto}figcaption{font-size:.85rem;color:#444}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
code{overflow-wrap:anywhere}
pre{background:#f4f4f4;padding:10px;margin:0;white-space:pre-wrap;overflow-wrap:anywhere;
max-height:420px;overflow-y:auto}
.note{background:#fff8e1;border:1px solid #e0c060;padding:8px 12px}
details{margin:8px 0}summary{cursor:pointer}
footer{color:#666;font-size:.8rem;margin-top:32px}
"""

#: below this depth a value is shown as indented JSON (in full).
MAX_DEPTH = 4
NONE = "<span class='muted'>none</span>"


def _when(epoch: Optional[float]) -> str:
    if epoch is None:
        return "unknown"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(index: int, cell: str, numeric: Sequence[int], wide: Sequence[int]) -> str:
    css = "num" if index in numeric else "out" if index in wide else ""
    return f"<td class='{css}'>{cell}</td>" if css else f"<td>{cell}</td>"


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Sequence[int] = (),
    css: str = "",
    wide: Sequence[int] = (),
    widths: Sequence[int] = (),
) -> str:
    """A table; cells are already escaped HTML (``wide``: output columns;
    ``widths``: fixed column widths in percent, whatever the content)."""
    head = "".join(f"<th scope='col'>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(_cell(i, c, numeric, wide) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    cols = "<colgroup>" + "".join(f"<col style='width:{w}%'>" for w in widths) + "</colgroup>"
    css = f"{css} fixed".strip() if widths else css
    cls = f" class='{css}'" if css else ""
    return f"<table{cls}>{cols if widths else ''}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _breakable(text: str) -> str:
    """Escaped, with line-break chances after dots, underscores and slashes."""
    out = escape(text)
    for mark in "._/":
        out = out.replace(mark, mark + "<wbr>")
    return out


def _flag(good: Optional[bool], text: str) -> str:
    if good is None:
        return escape(text)
    return f"<span class='{'good' if good else 'bad'}'>{escape(text)}</span>"


def _scalar(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if "\n" in text.strip():
        return f"<pre>{escape(text.strip())}</pre>"
    return escape(text) if text else "<span class='muted'>(empty)</span>"


def _keyed(value: Dict[str, Any]) -> bool:
    """A dict of dicts (e.g. per node): shown as one table, a row each."""
    return bool(value) and all(isinstance(v, dict) and v for v in value.values())


def _flatten(value: Dict[str, Any], prefix: str = "") -> List[Tuple[str, Any]]:
    """``(dotted key, value)`` rows; dicts of dicts stay whole (tables)."""
    rows: List[Tuple[str, Any]] = []
    for key, item in value.items():
        if isinstance(item, dict) and item and not _keyed(item):
            rows += _flatten(item, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", item))
    return rows


def _records(records: List[Dict[str, Any]], depth: int) -> str:
    columns: List[str] = []
    for record in records:
        columns += [str(k) for k in record if str(k) not in columns]
    rows = [
        [value_html(r[c], depth + 1) if c in r else "" for c in columns]
        for r in ({str(k): v for k, v in rec.items()} for rec in records)
    ]
    return _table(columns, rows, css="rec")


def value_html(value: Any, depth: int = 0) -> str:
    """A JSON value as HTML: a key/value table for a dict (nested dicts
    flattened to dotted keys), a small table for a list of dicts or a dict
    of dicts, a comma list for a list of scalars; nothing is cut."""
    if not isinstance(value, (dict, list)):
        return _scalar(value)
    if not value:
        return NONE
    if depth >= MAX_DEPTH:
        return f"<pre>{escape(json.dumps(value, indent=1, default=str))}</pre>"
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            return _records(value, depth)
        if not any(isinstance(v, (dict, list)) for v in value):
            return ", ".join(_scalar(v) for v in value)
        return "<ol>" + "".join(f"<li>{value_html(v, depth + 1)}</li>" for v in value) + "</ol>"
    if _keyed(value):
        return _records([{"": k, **v} for k, v in value.items()], depth)
    rows = "".join(
        f"<tr><th scope='row'>{_breakable(k)}</th><td>{value_html(v, depth + 1)}</td></tr>"
        for k, v in _flatten(value)
    )
    return f"<table class='kv'><tbody>{rows}</tbody></table>"


def _incident_words(verdict: Dict[str, Any], key: str) -> str:
    items = [i for i in verdict.get(key) or [] if isinstance(i, dict)]
    if not items:
        return "no"
    total = sum(float(i.get("seconds") or 0) for i in items)
    return f"yes: {len(items)} incident(s), {seconds(total)} in all"


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
        (
            "In-doubt writes (committed afterwards)",
            f"{escape(str(v.get('in_doubt')))} ({escape(str(v.get('recovered')))})",
        ),
        (
            "Acknowledged / attempted writes",
            f"{escape(str(v.get('acknowledged')))} / {escape(str(v.get('attempted')))}",
        ),
        (
            "Two primaries acknowledging writes at once",
            _flag(not v.get("two_primaries"), _incident_words(v, "two_primary_incidents")),
        ),
        ("Two nodes writable at once (not acknowledging)", escape(_incident_words(v, "two_writable_incidents"))),
        (f"Write RTO, read-write port {series.target}".strip(), secs("rto_s")),
        (f"Read RTO, read-only port {series.read_target}".strip(), secs("read_rto_s")),
        ("Reroute to the new primary", secs("reroute_s")),
        ("Replicas streaming again", secs("streaming_s")),
        (
            "Primary before → after",
            escape(f"{v.get('primary_before') or '?'} → {v.get('primary_after') or '(unchanged)'}"),
        ),
        (
            "Nodes consistent",
            _flag(
                bool(v.get("nodes_consistent")),
                "yes" if v.get("nodes_consistent") else f"no: {v.get('audit_error') or 'not audited'}",
            ),
        ),
        ("Timelines", value_html(v.get("timelines"))),
        ("Verdict", _flag(bool(v.get("passed")), "passed" if v.get("passed") else "failed")),
    ]
    if "reasons" in v:
        rows.append(("Why it did not pass", value_html(v.get("reasons")) if v.get("reasons") else "—"))
    return _table(["Measure", "Value"], [(escape(k), val) for k, val in rows])


def _nemesis(view: JournalView) -> str:
    """The nemesis steps (what each did, its outage) and RTO per fault kind."""
    if not view.nemesis:
        return ""
    record, recovery = view.nemesis, view.recovery or {}
    rto = {r.get("step"): r.get("rto_s") for r in recovery.get("steps") or [] if isinstance(r, dict)}
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted((record.get("outcomes") or {}).items()))
    intro = (
        f"<p>Seed {escape(str(record.get('seed')))}, {len(nemesis_rows(view))} steps ({escape(outcomes)}). "
        f"Rerun exactly this schedule: <code>chaosha nemesis --replay {escape(str(view.path))}</code>.</p>"
    )
    rows = []
    for e in nemesis_rows(view):
        held = (e.get("undone_at") or 0) - (e.get("at") or 0) if e.get("undone_at") else None
        rows.append(
            (
                escape(str(e.get("step"))),
                escape(f"t+{float(e.get('at_s') or 0):.1f} s"),
                escape(step_label(e).split(" ", 1)[1]),
                _flag(e.get("outcome") == "applied", str(e.get("outcome"))),
                escape(seconds(held)) if held is not None else "—",
                escape(seconds(rto[e.get("step")])) if e.get("step") in rto else "—",
                escape(str(e.get("reason") or e.get("undo_error") or "")),
            )
        )
    steps = _table(["#", "Planned", "Fault", "Outcome", "Held", "Write outage", "Note"], rows, numeric=(0, 4, 5))
    kinds = recovery.get("kinds") or {}
    by_kind = _table(
        ["Fault kind", "Applied", "Overlapped", "RTO p50", "RTO p95", "RTO max"],
        [
            (escape(kind), escape(str(k.get("count"))), escape(str(k.get("overlapped", 0))))
            + tuple(escape(seconds(k.get(f))) for f in ("rto_p50_s", "rto_p95_s", "rto_max_s"))
            for kind, k in kinds.items()
            if isinstance(k, dict)
        ],
        numeric=(1, 2, 3, 4, 5),
    )
    missing = "" if kinds else "<p class='note'>No recovery per fault in this journal.</p>"
    return (
        "<h2 id='nemesis'>Nemesis schedule</h2>"
        + intro
        + steps
        + "<h3>Recovery per fault kind</h3><p class='note'>Over the steps whose outage did not begin"
        " while another step was in effect (over all of them when each did).</p>" + (by_kind if kinds else missing)
    )


def _output(a: Activity, verdict: Optional[Dict[str, Any]]) -> str:
    """An activity's error and output (the verdict: a link to its section)."""
    error = f"<p class='err'>{escape(error_text(a.error))}</p>" if a.error else ""
    if verdict is not None and a.output is verdict:
        word = "passed" if verdict.get("passed") else "failed"
        return error + f"<a href='#verdict'>The integrity verdict ({word})</a>, shown below in full."
    return error + (value_html(a.output) if a.output is not None or not error else "")


def _activity_row(a: Activity, zero: Optional[float], verdict: Optional[Dict[str, Any]]) -> List[str]:
    start = f"{a.start - zero:.1f}" if a.start is not None and zero is not None else "?"
    took = f"{a.duration:.2f}" if a.duration is not None else "?"
    tags = (" (fault)" if a.is_fault else " (heal)" if a.is_heal else "") + (
        " (background)" if a.background else ""
    )
    provider = f"{a.module}.{a.func}" if a.module else a.func
    what = (
        f"<strong>{escape(a.name)}</strong><br><span class='meta'>{escape(a.kind + tags)}<br>"
        f"<code>{_breakable(provider)}</code></span>"
    )
    return [start, took, escape(a.phase), what, _flag(a.status == "succeeded", a.status), _output(a, verdict)]


def _activities(view: JournalView, zero: Optional[float]) -> str:
    if not view.activities:
        return "<p>No activity ran.</p>"
    rows = [_activity_row(a, zero, view.verdict) for a in view.activities]
    return _table(
        ["Start (s)", "Took (s)", "Phase", "Activity", "Status", "Output or error"],
        rows,
        numeric=[0, 1],
        wide=[5],
        widths=[6, 6, 8, 25, 9, 46],
    )


def _hypothesis(view: JournalView) -> str:
    rows = []
    for phase in ("before", "during", "after"):
        for a in view.phase(phase):
            met = a.tolerance_met
            rows.append(
                [
                    escape(phase),
                    escape(a.name),
                    _flag(a.status == "succeeded", a.status),
                    _flag(met, "yes" if met else ("no" if met is False else "?")),
                    _output(a, view.verdict),
                ]
            )
    summary = ", ".join(
        f"{p}: {'met' if m else 'NOT met' if m is False else 'not checked'}" for p, m in view.steady.items()
    )
    title = escape(view.hypothesis_title or "(no steady-state hypothesis)")
    if not rows:
        return f"<p>{title}. No probe of the hypothesis ran.</p>"
    return f"<p><strong>{title}</strong> — {escape(summary)}.</p>" + _table(
        ["When", "Probe", "Status", "Tolerance met", "Output"], rows, wide=[4], widths=[8, 24, 9, 9, 50]
    )


def _leaders(view: JournalView, series: Series, zero: Optional[float]) -> str:
    changes = leader_changes(series, view.verdict)
    if not changes:
        detail = f" ({escape(series.error)})" if series.error else ""
        return f"<p>No leader change was observed{detail}.</p>"
    rows = [
        [f"{when - zero:.1f}" if when is not None and zero is not None else "?", escape(old), escape(new)]
        for when, old, new in changes
    ]
    return _table(["At (s)", "From", "To"], rows, numeric=[0])


Moment = Tuple[float, Optional[float], str, str]


def _safeguard_moment(view: JournalView) -> List[Moment]:
    if view.safeguard_at is None:
        return []
    record = view.safeguard_record
    detail = (
        f"healed: {json.dumps(record.get('heal'), default=str)}"
        if record
        else "at the run's end (the journal holds no record of what it healed)"
    )
    return [(view.safeguard_at, None, "safeguard heal after the run", detail)]


def moments(view: JournalView, series: Series) -> List[Moment]:
    """``(at, until or None, what, detail)`` of every mark of the picture,
    in time order (epoch seconds)."""
    found: List[Moment] = [(f.start, None, moment_word(f), f.name) for f in view.faults if f.start is not None]
    found += [(h.healed_at, None, moment_word(h), h.name) for h in view.heals if h.healed_at is not None]
    found += _safeguard_moment(view)
    found += [
        (when, None, "leader change", f"{old} → {new}")
        for when, old, new in leader_changes(series, view.verdict)
        if when is not None
    ]
    verdict = view.verdict or {}
    gap_from = epoch(verdict.get("rto_from"))
    if gap_from is not None:
        found.append(
            (gap_from, epoch(verdict.get("rto_to")), "longest write gap", seconds(verdict.get("rto_s") or 0))
        )
    found += [
        (i.start, i.end, i.kind, f"{' and '.join(i.servers) or '?'} for {seconds(i.seconds)}")
        for i in incidents(view.verdict)
    ]
    return sorted(found, key=lambda m: m[0])


def _moments_table(view: JournalView, series: Series, zero: Optional[float]) -> str:
    marks = moments(view, series)
    if not marks or zero is None:
        return ""
    rows = [
        [f"{at - zero:.1f}", f"{until - zero:.1f}" if until is not None else "", escape(what), escape(detail)]
        for at, until, what, detail in marks
    ]
    return "<h3>Marked moments</h3>" + _table(["At (s)", "Until (s)", "What", "Detail"], rows, numeric=[0, 1])


def _banner(view: JournalView, series: Series) -> str:
    words = verdict_sentences(view.verdict, series) if not view.error else []
    reasons = reason_sentences(view.verdict) if not view.error else []
    why = (
        (
            "<p>Why the integrity verdict did not pass:</p><ul>"
            + "".join(f"<li>{escape(r)}</li>" for r in reasons)
            + "</ul>"
        )
        if reasons
        else ""
    )
    return (
        f"<section class='banner {banner_state(view)}' role='status' aria-label='verdict'>"
        f"<p class='head'>{escape(headline(view))}</p>{why}"
        + "".join(f"<p>{escape(s)}</p>" for s in words)
        + "</section>"
    )


def _picture(
    view: JournalView, series: Series, png: Optional[bytes], png_note: str, zero: Optional[float], png_name: str
) -> str:
    if png:
        data = base64.b64encode(png).decode("ascii")
        saved = f" Also saved as {escape(png_name)}." if png_name else ""
        picture = (
            f"<figure><img src='data:image/png;base64,{data}' alt='Timeline of the "
            f"experiment: activities, the fault and the heals, writes and errors per second, "
            f"leader changes and incidents'><figcaption>Time zero is {escape(_when(zero))}."
            f"{saved}</figcaption></figure>"
        )
    else:
        picture = f"<p class='note'>No timeline picture: {escape(png_note)}.</p>"
    if series.error and view.verdict is not None:
        picture += f"<p class='note'>No writes/s chart: {escape(series.error)}.</p>"
    return picture + _moments_table(view, series, zero)


def _facts(view: JournalView) -> str:
    duration = f"{view.end - view.start:.1f} s" if view.start and view.end else "unknown"
    return _table(
        ["Fact", "Value"],
        [
            ("Status", escape(view.status or "none")),
            ("Deviated", _flag(not view.deviated, "yes" if view.deviated else "no")),
            ("Started", escape(_when(view.start))),
            ("Ended", escape(_when(view.end))),
            ("Duration", escape(duration)),
            ("Ran on", escape(view.node or "?")),
            ("chaostoolkit-lib", escape(view.chaoslib_version or "?")),
            ("Journal", f"<code>{escape(str(view.path))}</code>"),
        ],
    )


def _verdict_in_full(verdict: Optional[Dict[str, Any]]) -> str:
    if verdict is None:
        return ""
    return (
        f"<details><summary>Every field of the verdict</summary>{value_html(verdict)}</details>"
        f"<details><summary>Verdict as JSON</summary><pre>"
        f"{escape(json.dumps(verdict, indent=2, default=str))}</pre></details>"
    )


def render_html(
    view: JournalView,
    series: Series,
    png: Optional[bytes],
    png_note: str,
    zero: Optional[float],
    png_name: str = "",
) -> str:
    """The whole page.  ``png`` is the timeline (None: ``png_note`` says why)."""
    title = escape(view.title or view.path.name)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{title} — chaosha report</title><style>{CSS}</style></head><body><main>",
        f"<h1>{title}</h1><p class='sub'>{escape(view.description)}</p>",
        _banner(view, series),
        "<h2>Timeline</h2>",
        _picture(view, series, png, png_note, zero, png_name),
        "<h2 id='verdict'>Integrity verdict</h2>",
        _figures(view.verdict, series),
        _verdict_in_full(view.verdict),
        _nemesis(view),
        "<h2>The run</h2>",
        "<ul>" + "".join(f"<li>{escape(s)}</li>" for s in run_sentences(view)) + "</ul>",
        _facts(view),
        "<h2>Steady-state hypothesis</h2>",
        _hypothesis(view),
        "<h2>Leader changes</h2>",
        _leaders(view, series, zero),
        "<h2>Activities</h2>",
        _activities(view, zero),
        f"<footer>Generated by chaosha on {escape(_when(datetime.now(UTC).timestamp()))}.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts)
