"""The timeline picture (PNG, matplotlib Agg): the run's activities with
the fault marked and, from the ledger, writes and errors per second with
leader changes and the longest write gap."""

from typing import Any, List, Optional, Tuple

from chaosha.report.figure import png_bytes
from chaosha.report.journal import Activity, JournalView, parse_time
from chaosha.report.ledger import Series, leader_changes

__all__ = ["render_timeline", "TimelineUnavailable", "COLOURS"]

# Okabe-Ito: distinguishable with colour-vision deficiencies.
COLOURS = {
    "ok": "#0072B2", "fault": "#D55E00", "repair": "#009E73", "failed": "#CC79A7",
    "probe": "#999999", "writes": "#0072B2", "errors": "#D55E00", "reads": "#009E73",
    "leader": "#6A3D9A", "gap": "#F0E442",
}
LEGEND = "Activities (fault vermillion, repair green, failed hatched, hypothesis grey)"


class TimelineUnavailable(RuntimeError):
    """The picture cannot be drawn (matplotlib missing, nothing to draw)."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise TimelineUnavailable("matplotlib is not installed (pip install matplotlib), "
                                  "so the timeline picture was not drawn") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colour(activity: Activity) -> str:
    if activity.status != "succeeded":
        return COLOURS["failed"]
    if activity.is_fault:
        return COLOURS["fault"]
    if activity.is_repair:
        return COLOURS["repair"]
    return COLOURS["probe"] if activity.phase != "method" else COLOURS["ok"]


def _origin(view: JournalView, series: Series) -> float:
    starts = [a.start for a in view.activities if a.start is not None]
    starts += [view.start] if view.start is not None else []
    starts += [series.t0] if not series.empty else []
    if not starts:
        raise TimelineUnavailable("the journal holds no timed activity")
    return min(starts)


def _activity_bars(ax: Any, view: JournalView, zero: float, span: float) -> None:
    timed = [a for a in view.activities if a.start is not None]
    labels: List[str] = []
    for row, activity in enumerate(timed):
        assert activity.start is not None
        start = activity.start - zero
        width = max((activity.end or activity.start) - activity.start, span * 0.004)
        ax.barh(row, width, left=start, height=0.6, color=_colour(activity),
                edgecolor="black" if activity.is_fault else "none",
                hatch="//" if activity.status != "succeeded" else None)
        labels.append(f"{activity.phase}: {activity.name}"[:48])
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_ylim(len(labels) - 0.4, -0.6)
    ax.set_title(LEGEND, fontsize=9, loc="left")


def _ledger_panel(ax: Any, view: JournalView, series: Series, zero: float) -> None:
    xs = [series.t0 - zero + i + 0.5 for i in range(len(series.writes_ok))]
    ax.plot(xs, series.writes_ok, color=COLOURS["writes"], label="acknowledged writes/s", lw=1.5)
    ax.bar(xs, [w + r for w, r in zip(series.writes_err, series.reads_err, strict=True)], width=1.0,
           color=COLOURS["errors"], alpha=0.8, label="errors/s (writes + reads)")
    if any(series.reads_ok):
        ax.plot(xs, series.reads_ok, color=COLOURS["reads"], lw=1, ls="--", label="reads/s")
    verdict = view.verdict or {}
    gap_from, gap_to = parse_time(verdict.get("rto_from")), parse_time(verdict.get("rto_to"))
    if gap_from is not None:
        end = gap_to if gap_to is not None else series.t0 + len(xs)
        ax.axvspan(gap_from - zero, end - zero, color=COLOURS["gap"], alpha=0.35, zorder=0,
                   label=f"longest write gap ({verdict.get('rto_s')} s)")
    for when, old, new in leader_changes(series, view.verdict):
        if when is not None:
            ax.axvline(when - zero, color=COLOURS["leader"], lw=1.5)
            ax.annotate(f"{old} → {new}", (when - zero, ax.get_ylim()[1]), fontsize=8,
                        color=COLOURS["leader"], xytext=(3, -12), textcoords="offset points")
    ax.set_ylabel("per second", fontsize=8)
    ax.legend(fontsize=7, loc="lower left", framealpha=0.9)
    ax.set_title("Workload (from the ledger)", fontsize=9, loc="left")


def render_timeline(view: JournalView, series: Series) -> bytes:
    """The PNG bytes of the timeline; raises ``TimelineUnavailable``."""
    plt = _pyplot()
    zero = _origin(view, series)
    ends = [a.end or a.start for a in view.activities if a.start is not None]
    ends += [view.end] if view.end is not None else []
    ends += [series.t0 + len(series.writes_ok)] if not series.empty else []
    span = max(max(e for e in ends if e is not None) - zero, 1.0)
    timed = sum(1 for a in view.activities if a.start is not None)
    panels: List[Tuple[str, float]] = [("activities", max(1.2, 0.28 * timed + 0.6))]
    if not series.empty:
        panels.append(("ledger", 2.6))
    fig, axes = plt.subplots(len(panels), 1, sharex=True, squeeze=False,
                             figsize=(11, sum(h for _, h in panels) + 0.8),
                             gridspec_kw={"height_ratios": [h for _, h in panels]})
    try:
        axes = [row[0] for row in axes]
        _activity_bars(axes[0], view, zero, span)
        if len(axes) > 1:
            _ledger_panel(axes[1], view, series, zero)
        for fault in view.faults:
            if fault.start is None:
                continue
            for ax in axes:
                ax.axvline(fault.start - zero, color=COLOURS["fault"], ls="--", lw=1.2, zorder=3)
        if view.faults:
            marks = ", ".join(f"{f.name} at {f.start - zero:.1f} s" for f in view.faults
                              if f.start is not None)
            axes[0].set_title(f"{LEGEND}; fault (dashed line): {marks}", fontsize=9, loc="left")
        for ax in axes:
            ax.grid(axis="x", color="#dddddd", lw=0.6)
            ax.set_axisbelow(True)
            ax.set_xlim(-span * 0.01, span * 1.02)
        axes[-1].set_xlabel("seconds since the start of the experiment", fontsize=8)
        return png_bytes(fig)
    finally:
        plt.close(fig)


def origin_note(view: JournalView, series: Series) -> Optional[float]:
    """Epoch seconds of the picture's time zero (None when nothing is timed)."""
    try:
        return _origin(view, series)
    except TimelineUnavailable:
        return None
