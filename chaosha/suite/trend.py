"""``chaosha trend``: RTO and lost writes of each experiment across past
suite runs, from the journals in their dated folders."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from chaosha.report.figure import png_bytes, pyplot
from chaosha.report.journal import load_journal

__all__ = ["TrendRow", "collect", "table", "render_png", "run_folders"]

DATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z")


@dataclass
class TrendRow:
    """One experiment of one suite run."""

    run: str
    experiment: str
    passed: bool
    status: str
    lost: Optional[int]
    rto_s: Optional[float]
    read_rto_s: Optional[float]
    reroute_s: Optional[float]


def run_folders(roots: Iterable[Path]) -> List[Path]:
    """Dated run folders: each root is a suite --out folder or a run folder."""
    found = set()
    for root in roots:
        if DATED.match(root.name) and root.is_dir():
            found.add(root)
        elif root.is_dir():
            found.update(p for p in root.iterdir() if p.is_dir() and DATED.match(p.name))
    return sorted(found, key=lambda p: p.name)


def collect(roots: Iterable[Path]) -> List[TrendRow]:
    """A row per journal found in the run folders, oldest run first."""
    rows = []
    for folder in run_folders(roots):
        for path in sorted(folder.glob("*.json")):
            view = load_journal(path)
            if view.error:
                continue
            v = view.verdict or {}
            rows.append(
                TrendRow(
                    run=folder.name,
                    experiment=view.title,
                    passed=not view.problems,
                    status=view.status + (", deviated" if view.deviated else ""),
                    lost=v.get("lost"),
                    rto_s=v.get("rto_s"),
                    read_rto_s=v.get("read_rto_s"),
                    reroute_s=v.get("reroute_s"),
                )
            )
    return rows


def _cell(value: Optional[float]) -> str:
    return "–" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))


def table(rows: List[TrendRow]) -> str:
    """A Markdown table (readable as plain text)."""
    lines = [
        "| Run | Experiment | Result | Status | Lost | Write RTO (s) | Read RTO (s) | Reroute (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.run} | {r.experiment} | {'passed' if r.passed else 'FAILED'} | {r.status} | "
        f"{_cell(r.lost)} | {_cell(r.rto_s)} | {_cell(r.read_rto_s)} | {_cell(r.reroute_s)} |"
        for r in rows
    ]
    return "\n".join(lines)


def render_png(rows: List[TrendRow]) -> bytes:
    """Write RTO (top) and lost writes (bottom) per experiment over the runs."""
    plt = pyplot()
    runs = sorted({r.run for r in rows})
    index = {run: i for i, run in enumerate(runs)}
    by_experiment: Dict[str, List[TrendRow]] = {}
    for row in rows:
        by_experiment.setdefault(row.experiment, []).append(row)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(11, 6.5), gridspec_kw={"height_ratios": [3, 2]})
    try:
        markers = "osD^vP*X"
        for n, (name, items) in enumerate(sorted(by_experiment.items())):
            xs = [index[r.run] for r in items if r.rto_s is not None]
            ys = [r.rto_s for r in items if r.rto_s is not None]
            top.plot(xs, ys, marker=markers[n % len(markers)], label=name[:60])
            lx = [index[r.run] for r in items if r.lost is not None]
            bottom.plot(
                lx,
                [r.lost for r in items if r.lost is not None],
                marker=markers[n % len(markers)],
                ls=":",
                label=name[:60],
            )
            failed = [index[r.run] for r in items if not r.passed]
            bottom.scatter(failed, [0] * len(failed), marker="x", color="#D55E00", zorder=3)
        top.set_ylabel("write RTO (s)")
        top.set_title("Write unavailability per experiment across suite runs", loc="left", fontsize=10)
        top.legend(fontsize=7)
        bottom.set_ylabel("lost writes")
        bottom.set_title("Acknowledged writes lost (x: run failed)", loc="left", fontsize=10)
        bottom.set_xticks(range(len(runs)), runs, rotation=30, ha="right", fontsize=7)
        for ax in (top, bottom):
            ax.grid(color="#dddddd", lw=0.6)
        return png_bytes(fig)
    finally:
        plt.close(fig)
