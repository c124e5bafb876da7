"""Build the report of a journal: the HTML page, with its timeline also
written as a PNG beside it (``chaosha report`` calls :func:`build_report`)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from chaosha.report.figure import TimelineUnavailable
from chaosha.report.html import render_html
from chaosha.report.journal import JournalView, load_journal
from chaosha.report.series import Series, load_series
from chaosha.report.timeline import origin_note, render_timeline

__all__ = ["build_report", "Report", "find_ledger"]


@dataclass
class Report:
    """What ``build_report`` wrote and what it read."""

    html: Path
    png: Optional[Path]
    view: JournalView
    series: Series
    note: str = ""


def find_ledger(view: JournalView, explicit: Optional[Union[str, Path]] = None) -> Optional[Path]:
    """The ledger named by the verdict, else a file of that name beside the
    journal (a suite run copies it there), else None."""
    if explicit:
        return Path(explicit)
    named = (view.verdict or {}).get("ledger")
    if not named:
        return None
    path = Path(str(named))
    beside = view.path.parent / path.name
    return path if path.is_file() or not beside.is_file() else beside


def build_report(
    journal: Union[str, Path], html: Optional[Union[str, Path]] = None, ledger: Optional[Union[str, Path]] = None
) -> Report:
    """Write the report of ``journal`` to ``html`` (default: the journal's
    name with ``.html``) and the timeline to the same name with ``.png``."""
    view = load_journal(journal)
    out = Path(html) if html else view.path.with_suffix(".html")
    ledger_path = find_ledger(view, ledger)
    series = (
        load_series(ledger_path)
        if (ledger_path or view.verdict)
        else Series(error="no integrity verdict names a ledger")
    )
    png_path: Optional[Path] = out.with_suffix(".png")
    note = ""
    png: Optional[bytes] = None
    try:
        if view.error:
            raise TimelineUnavailable("the journal could not be read")
        png = render_timeline(view, series)
    except TimelineUnavailable as exc:
        note = str(exc)
    out.parent.mkdir(parents=True, exist_ok=True)
    if png is not None and png_path is not None:
        png_path.write_bytes(png)
    else:
        png_path = None
    page = render_html(view, series, png, note, origin_note(view, series), png_path.name if png_path else "")
    out.write_text(page, encoding="utf-8")
    return Report(html=out, png=png_path, view=view, series=series, note=note)
