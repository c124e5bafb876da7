"""The report's layout: outputs as tables (nothing cut), the timeline's
marks (faults, heals, the safeguard, incidents) and its key outside the
plots, the banner naming failed actions and the verdict's reasons."""

from pathlib import Path

import pytest

from chaosha.report.build import build_report, find_ledger
from chaosha.report.html import moments, value_html
from chaosha.report.journal import load_journal
from chaosha.report.series import load_series
from chaosha.report.timeline import origin_note
from chaosha.report.words import banner_state, headline

DATA = Path(__file__).resolve().parents[1] / "data" / "journals"


def test_a_dict_is_a_key_value_table_with_nested_dicts_flattened() -> None:
    page = value_html({"service": "pg1", "healed": {"pg1": ["start", "unpause"], "zk": {}}})
    assert "<table class='kv'>" in page and ">service</th><td>pg1<" in page
    assert ">healed.<wbr>pg1</th><td>start, unpause<" in page and "healed.<wbr>zk" in page


def test_lists_of_dicts_and_dicts_of_dicts_are_small_tables() -> None:
    page = value_html([{"node": "pg2", "lag": 0}, {"node": "zk1", "up": False}])
    assert page.startswith("<table class='rec'>")
    assert [h in page for h in (">node<", ">lag<", ">up<")] == [True] * 3 and ">no<" in page
    nodes = value_html({"pg1": {"role": "replica"}, "pg2": {"role": "primary"}})
    assert nodes.startswith("<table class='rec'>") and ">pg2<" in nodes and ">primary<" in nodes


def test_long_values_are_never_cut_and_deep_ones_become_json() -> None:
    long = "x" * 500
    assert long in value_html({"container": long}) and "…" not in value_html({"container": long})
    deep = value_html({"a": {"b": [{"c": [{"d": {"e": [1, 2]}}]}]}})
    assert "<pre>[\n 1,\n 2\n]</pre>" in deep  # the deepest level as JSON, in full
    assert "none" in value_html(None) and "none" in value_html({}) and value_html(True) == "yes"
    assert "<pre>" in value_html("Traceback\n  line")


def test_failed_method_action_is_named_in_the_banner(tmp_path: Path) -> None:
    view = load_journal(DATA / "action-failed.json")
    assert view.problems == [] and [a.name for a in view.failed_actions] == ["kill-the-primary"]
    assert headline(view) == (
        "Integrity held, but 1 method action failed: kill-the-primary (docker "
        "refused to kill chaosha-demo-pg1-1: container is paused (resume it "
        "first))."
    )
    assert banner_state(view) == "warn"
    page = build_report(DATA / "action-failed.json", tmp_path / "r.html").html.read_text()
    assert "banner warn" in page and "Integrity held, but 1 method action failed" in page
    assert "fault attempted, failed" in page


def test_verdict_reasons_in_the_banner_and_in_the_problems(tmp_path: Path) -> None:
    view = load_journal(DATA / "incidents.json")
    assert (
        "the integrity verdict failed (two primaries acknowledged writes (1 incident(s)); the "
        "writer did not end cleanly (ended with signal))"
    ) in view.problems
    assert headline(view) == "Failed: the integrity verdict failed."  # the reasons follow
    page = build_report(DATA / "incidents.json", tmp_path / "r.html").html.read_text()
    banner = page[page.index("class='banner") : page.index("</section>")]
    assert "Why the integrity verdict did not pass:" in banner
    assert "<li>The writer did not end cleanly (ended with signal).</li>" in banner
    old = build_report(DATA / "deviated.json", tmp_path / "d.html").html.read_text()  # no reasons
    assert "Why the integrity verdict did not pass" not in old and "banner fail" in old


def test_moments_list_faults_heals_safeguard_and_incidents() -> None:
    view = load_journal(DATA / "incidents.json")
    marks = moments(view, load_series(find_ledger(view)))
    whats = [m[2] for m in marks]
    assert whats.count("healed / thawed") == 3 and "fault injected" in whats
    assert "safeguard heal after the run" in whats and "leader change" in whats
    writable = next(m for m in marks if m[2] == "two nodes writable")
    assert writable[3] == "pg1 tl1 and pg2 tl2 for 260 ms" and writable[1] is not None
    assert "two primaries acknowledging" in whats
    assert [m[0] for m in marks] == sorted(m[0] for m in marks)


def test_safeguard_without_a_record_heals_at_the_run_end() -> None:
    view = load_journal(DATA / "real-master-kill.json")
    assert view.safeguard and view.safeguard_at == view.end and view.safeguard_record == {}
    assert [a.name for a in view.heals] == ["heal-every-fault", "heal-every-fault"]
    assert load_journal(DATA / "completed.json").safeguard_at is None


@pytest.fixture()
def plt():
    return pytest.importorskip("matplotlib.pyplot")


def _figure(plt, name: str):
    from chaosha.report.timeline import draw_timeline

    view = load_journal(DATA / name)
    fig = draw_timeline(plt, view, load_series(find_ledger(view)))
    fig.canvas.draw()
    return view, fig


@pytest.mark.parametrize("name", ["incidents.json", "real-master-kill.json", "completed.json"])
def test_timeline_key_covers_no_plot_and_names_are_whole(plt, name: str) -> None:
    view, fig = _figure(plt, name)
    try:
        renderer = fig.canvas.get_renderer()
        key = fig.legends[0].get_window_extent(renderer)
        for ax in fig.axes:
            assert not key.overlaps(ax.get_window_extent(renderer)), "the key covers a plot"
            assert ax.get_legend() is None
        labels = [t.get_text().replace("\n", " ") for t in fig.axes[0].get_yticklabels()]
        names = [f"{a.phase}: {a.name}" for a in view.activities if a.start is not None]
        assert [label.replace("- ", "-") for label in labels] == names
    finally:
        plt.close(fig)


def test_timeline_draws_heals_safeguard_and_incidents(plt) -> None:
    view, fig = _figure(plt, "incidents.json")
    try:
        labels = fig.legends[0].get_texts()
        shown = {t.get_text() for t in labels}
        assert {
            "fault injected (dashed)",
            "healed / thawed (dotted)",
            "safeguard heal after the run (dash-dot)",
            "two nodes writable",
            "two primaries acknowledging",
        } <= shown
        zero = origin_note(view, load_series(find_ledger(view)))
        assert zero is not None and view.safeguard_at is not None
        xs = {round(line.get_xdata()[0], 1) for line in fig.axes[1].lines if line.get_linestyle() in (":", "-.")}
        assert {round((h.healed_at or 0) - zero, 1) for h in view.heals} | {
            round(view.safeguard_at - zero, 1)
        } <= xs
    finally:
        plt.close(fig)


def test_png_is_cropped_to_what_is_drawn(plt, tmp_path: Path) -> None:
    report = build_report(DATA / "incidents.json", tmp_path / "r.html")
    assert report.png is not None
    pixels = plt.imread(str(report.png))
    assert 1050 <= pixels.shape[1] <= 1250  # shown 1:1 in a 1280 px window
