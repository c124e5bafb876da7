"""The timeline picture (PNG, matplotlib Agg): the run's activities with
the fault and the heals marked, a nemesis run's schedule (each step from
applied to undone; refused and skipped ones crossed) and, from the ledger, writes and errors per
second with leader changes, the longest write gap and the incidents (two
nodes writable, two primaries acknowledging) of the verdict.  One key for
the whole picture sits above it, outside the plots, so it covers nothing."""

import textwrap
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from chaosha.report.figure import TimelineUnavailable, png_bytes, pyplot
from chaosha.report.journal import Activity, JournalView
from chaosha.report.series import Series, leader_changes
from chaosha.timing import epoch

__all__ = [
    "render_timeline",
    "draw_timeline",
    "incidents",
    "Incident",
    "COLOURS",
    "LABEL_WIDTH",
    "activity_label",
    "origin_note",
    "moment_word",
    "nemesis_rows",
    "step_label",
]

# Okabe-Ito (plus a red for two primaries): distinguishable with colour-vision deficiencies.
COLOURS = {
    "ok": "#0072B2",
    "fault": "#D55E00",
    "repair": "#009E73",
    "failed": "#CC79A7",
    "probe": "#999999",
    "writes": "#0072B2",
    "errors": "#D55E00",
    "reads": "#009E73",
    "leader": "#6A3D9A",
    "gap": "#F0E442",
    "writable": "#56B4E9",
    "primaries": "#B3261E",
}
#: characters per line of an activity's label (wrapped, never cut).
LABEL_WIDTH = 40
WIDTH_IN = 11.5


@dataclass
class Incident:
    """A window of the verdict: two nodes writable or two primaries."""

    kind: str
    start: float
    end: float
    seconds: float
    servers: List[str]


def incidents(verdict: Optional[Dict[str, Any]]) -> List[Incident]:
    """The verdict's two-writable and two-primary incidents that have times."""
    found: List[Incident] = []
    for kind, key in (
        ("two nodes writable", "two_writable_incidents"),
        ("two primaries acknowledging", "two_primary_incidents"),
    ):
        for item in (verdict or {}).get(key) or []:
            if not isinstance(item, dict):
                continue
            start, end = epoch(item.get("from")), epoch(item.get("to"))
            if start is None:
                continue
            seconds = float(item.get("seconds") or ((end or start) - start))
            found.append(
                Incident(
                    kind,
                    start,
                    end if end is not None else start + seconds,
                    seconds,
                    [str(s) for s in item.get("servers") or []],
                )
            )
    return found


def _colour(activity: Activity) -> Tuple[str, str]:
    """The bar's colour and its legend label."""
    if activity.status != "succeeded":
        return COLOURS["failed"], "failed or unfinished (hatched)"
    if activity.is_fault:
        return COLOURS["fault"], "fault"
    if activity.is_heal:
        return COLOURS["repair"], "heal / thaw / rollback"
    if activity.phase != "method":
        return COLOURS["probe"], "hypothesis probe"
    return COLOURS["ok"], "method action or probe"


def activity_label(activity: Activity) -> str:
    """``phase: name`` wrapped at ``LABEL_WIDTH`` characters (hyphens break)."""
    return "\n".join(textwrap.wrap(f"{activity.phase}: {activity.name}", LABEL_WIDTH))


class _Key:
    """Labels each kind of mark once, for the one legend of the figure."""

    def __init__(self) -> None:
        self.order: List[str] = []

    def __call__(self, label: str) -> str:
        if label in self.order:
            return "_nolegend_"
        self.order.append(label)
        return label

    def legend(self, fig: Any, axes: List[Any]) -> None:
        """One legend above the figure, in the order the marks were drawn."""
        pairs = {
            label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)
        }
        labels = [label for label in self.order if label in pairs]
        fig.legend(
            [pairs[label] for label in labels], labels, loc="outside upper left", ncol=4, fontsize=8, frameon=False
        )


@dataclass
class _Frame:
    view: JournalView
    series: Series
    zero: float
    span: float
    key: _Key


def _activity_bars(ax: Any, frame: _Frame) -> None:
    timed = [a for a in frame.view.activities if a.start is not None]
    for row, activity in enumerate(timed):
        assert activity.start is not None
        width = max((activity.end or activity.start) - activity.start, frame.span * 0.004)
        colour, label = _colour(activity)
        ax.barh(
            row,
            width,
            left=activity.start - frame.zero,
            height=0.6,
            color=colour,
            edgecolor="black" if activity.is_fault else "none",
            hatch="//" if activity.status != "succeeded" else None,
            label=frame.key(label),
        )
    ax.set_yticks(range(len(timed)), [activity_label(a) for a in timed], fontsize=8)
    ax.set_ylim(len(timed) - 0.4, -0.6)
    ax.set_title("Activities", fontsize=9, loc="left")


def nemesis_rows(view: JournalView) -> List[Dict[str, Any]]:
    """The nemesis steps to draw, each with its planned epoch time (``planned``)."""
    record = view.nemesis or {}
    started = record.get("started")
    events = [e for e in record.get("events") or [] if isinstance(e, dict)]
    if not isinstance(started, (int, float)):
        return []
    return [dict(e, planned=started + float(e.get("at_s") or 0)) for e in events]


def step_label(event: Dict[str, Any]) -> str:
    """``#3 pause pg1`` (the service the role resolved to, else the target)."""
    return f"#{event.get('step')} {event.get('fault')} {event.get('service') or event.get('target')}"


def _nemesis_panel(ax: Any, frame: _Frame) -> None:
    rows = nemesis_rows(frame.view)
    for row, event in enumerate(rows):
        if event.get("outcome") == "applied" and isinstance(event.get("at"), (int, float)):
            end = event.get("undone_at") or event["at"] + float(event.get("took_s") or 0)
            ax.barh(
                row,
                max(end - event["at"], frame.span * 0.004),
                left=event["at"] - frame.zero,
                height=0.6,
                color=COLOURS["fault"],
                edgecolor="black",
                label=frame.key("nemesis fault, applied to undone"),
            )
        else:
            ax.scatter(
                [event["planned"] - frame.zero],
                [row],
                marker="x",
                color=COLOURS["failed"],
                zorder=4,
                label=frame.key("nemesis step refused, skipped or failed"),
            )
    ax.set_yticks(range(len(rows)), [step_label(e) for e in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    seed = (frame.view.nemesis or {}).get("seed")
    ax.set_title(f"Nemesis schedule (seed {seed})", fontsize=9, loc="left")


def _ledger_panel(ax: Any, frame: _Frame) -> None:
    series, key, zero = frame.series, frame.key, frame.zero
    xs = [series.t0 - zero + i + 0.5 for i in range(len(series.writes_ok))]
    ax.plot(xs, series.writes_ok, color=COLOURS["writes"], label=key("acknowledged writes/s"), lw=1.5)
    ax.bar(
        xs,
        [w + r for w, r in zip(series.writes_err, series.reads_err, strict=True)],
        width=1.0,
        color=COLOURS["errors"],
        alpha=0.8,
        label=key("errors/s (writes + reads)"),
    )
    if any(series.reads_ok):
        ax.plot(xs, series.reads_ok, color=COLOURS["reads"], lw=1, ls="--", label=key("reads/s"))
    verdict = frame.view.verdict or {}
    gap_from, gap_to = epoch(verdict.get("rto_from")), epoch(verdict.get("rto_to"))
    if gap_from is not None:
        end = gap_to if gap_to is not None else series.t0 + len(xs)
        ax.axvspan(
            gap_from - zero,
            end - zero,
            color=COLOURS["gap"],
            alpha=0.35,
            zorder=0,
            label=key(f"longest write gap ({verdict.get('rto_s')} s)"),
        )
    for when, old, new in leader_changes(series, frame.view.verdict):
        if when is not None:
            ax.axvline(when - zero, color=COLOURS["leader"], lw=1.5, label=key("leader change"))
            ax.annotate(
                f"{old} → {new}",
                (when - zero, 1.0),
                xycoords=("data", "axes fraction"),
                fontsize=8,
                color=COLOURS["leader"],
                xytext=(3, -12),
                textcoords="offset points",
            )
    ax.set_ylabel("per second", fontsize=8)
    ax.set_title("Workload (from the ledger)", fontsize=9, loc="left")


def _moments(axes: List[Any], frame: _Frame) -> None:
    """Fault, heal and safeguard lines and the incidents, on every panel."""
    view, zero, key = frame.view, frame.zero, frame.key
    lines: List[Tuple[float, Dict[str, Any]]] = []
    for fault in view.faults:
        if fault.start is not None:
            lines.append(
                (
                    fault.start,
                    {"color": COLOURS["fault"], "ls": "--", "lw": 1.2, "label": f"{moment_word(fault)} (dashed)"},
                )
            )
    for heal in view.heals:
        if heal.healed_at is not None:
            lines.append(
                (
                    heal.healed_at,
                    {"color": COLOURS["repair"], "ls": ":", "lw": 1.6, "label": f"{moment_word(heal)} (dotted)"},
                )
            )
    if view.safeguard_at is not None:
        lines.append(
            (
                view.safeguard_at,
                {
                    "color": COLOURS["repair"],
                    "ls": "-.",
                    "lw": 1.4,
                    "label": "safeguard heal after the run (dash-dot)",
                },
            )
        )
    spans = [
        (i, COLOURS["writable" if i.kind.startswith("two nodes") else "primaries"])
        for i in incidents(view.verdict)
    ]
    for ax in axes:
        for when, style in lines:
            ax.axvline(when - zero, zorder=3, **{**style, "label": key(style["label"])})
        for incident, colour in spans:
            width = max(incident.end - incident.start, frame.span * 0.006)
            ax.axvspan(
                incident.start - zero,
                incident.start - zero + width,
                color=colour,
                alpha=0.55,
                zorder=2,
                hatch="xx",
                label=key(incident.kind),
            )


def moment_word(activity: Activity) -> str:
    """What a fault or heal line means: done, or only attempted."""
    done = "fault injected" if activity.is_fault else "healed / thawed"
    if activity.status == "succeeded":
        return done
    attempt = "fault" if activity.is_fault else "heal"
    return f"{attempt} attempted, {activity.status}"


def _origin(view: JournalView, series: Series) -> float:
    starts = [a.start for a in view.activities if a.start is not None]
    starts += [view.start] if view.start is not None else []
    starts += [series.t0] if not series.empty else []
    if not starts:
        raise TimelineUnavailable("the journal holds no timed activity")
    return min(starts)


def _span(view: JournalView, series: Series, zero: float) -> float:
    ends = [a.end or a.start for a in view.activities if a.start is not None]
    ends += [t for t in (view.end, view.safeguard_at) if t is not None]
    ends += [i.end for i in incidents(view.verdict)]
    ends += [series.t0 + len(series.writes_ok)] if not series.empty else []
    ends += [e.get("undone_at") or e["planned"] for e in nemesis_rows(view)]
    return max(max(e for e in ends if e is not None) - zero, 1.0)


def _heights(view: JournalView, series: Series) -> List[float]:
    lines = sum(activity_label(a).count("\n") + 1 for a in view.activities if a.start is not None)
    timed = sum(1 for a in view.activities if a.start is not None)
    heights = [max(1.2, 0.14 * lines + 0.16 * timed + 0.4)]
    steps = len(nemesis_rows(view))
    heights += [0.2 * steps + 0.5] if steps else []
    return heights + ([2.6] if not series.empty else [])


def draw_timeline(plt: Any, view: JournalView, series: Series) -> Any:
    """The timeline as a matplotlib figure (the caller closes it)."""
    zero = _origin(view, series)
    frame = _Frame(view, series, zero, _span(view, series, zero), _Key())
    heights = _heights(view, series)
    fig = plt.figure(figsize=(WIDTH_IN, sum(heights) + 1.4), layout="constrained")
    axes = list(fig.subplots(len(heights), 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0])
    _activity_bars(axes[0], frame)
    panels = ([_nemesis_panel] if nemesis_rows(view) else []) + ([_ledger_panel] if not series.empty else [])
    for ax, panel in zip(axes[1:], panels, strict=True):
        panel(ax, frame)
    _moments(axes, frame)
    for ax in axes:
        ax.grid(axis="x", color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)
        ax.set_xlim(-frame.span * 0.01, frame.span * 1.02)
    axes[-1].set_xlabel("seconds since the start of the experiment", fontsize=8)
    frame.key.legend(fig, axes)
    return fig


def render_timeline(view: JournalView, series: Series) -> bytes:
    """The PNG bytes of the timeline; raises ``TimelineUnavailable``."""
    plt = pyplot()
    fig = draw_timeline(plt, view, series)
    try:
        return png_bytes(fig)
    finally:
        plt.close(fig)


def origin_note(view: JournalView, series: Series) -> Optional[float]:
    """Epoch seconds of the picture's time zero (None when nothing is timed)."""
    try:
        return _origin(view, series)
    except TimelineUnavailable:
        return None
