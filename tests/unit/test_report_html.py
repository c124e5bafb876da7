"""The HTML report of every journal in tests/data/journals (hand-made and
any real-*.json added later): self-contained, verdict first, PNG beside."""

import re
from html import escape
from pathlib import Path

import pytest

from chaosha.cli import main
from chaosha.report.build import build_report
from chaosha.report.words import headline

DATA = Path(__file__).resolve().parents[1] / "data" / "journals"
JOURNALS = sorted(DATA.glob("*.json"))


def test_every_status_has_a_journal() -> None:
    names = {p.name for p in JOURNALS}
    assert {
        "completed.json",
        "deviated.json",
        "failed.json",
        "aborted.json",
        "interrupted.json",
        "truncated.json",
    } <= names


@pytest.mark.parametrize("journal", JOURNALS, ids=lambda p: p.name)
def test_report_of_every_journal(journal: Path, tmp_path: Path) -> None:
    report = build_report(journal, tmp_path / "report.html")
    page = report.html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # self-contained: no external stylesheet, script, image or font
    assert not re.search(r"""(src|href)\s*=\s*['"](?!data:|#)""", page)
    assert "<link" not in page and "<script" not in page and "@import" not in page
    banner = page.index("class='banner")
    assert banner < page.index("<h2>")  # the verdict comes first
    assert escape(headline(report.view)) in page
    if report.view.error:
        assert report.png is None and "No timeline picture" in page
    else:
        assert report.png == tmp_path / "report.png" and report.png.stat().st_size > 5000
        assert report.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "src='data:image/png;base64," in page


def test_passed_report_says_so_in_plain_words(tmp_path: Path) -> None:
    page = build_report(DATA / "completed.json", tmp_path / "r.html").html.read_text()
    assert "banner pass" in page and "No acknowledged write was lost." in page
    assert "Writes were unavailable for 22." in page and "pg1 → pg2" in page
    assert "Kill the primary under load" in page and "kill-the-primary" in page


def test_failed_reports_are_red_and_say_what_is_missing(tmp_path: Path) -> None:
    page = build_report(DATA / "deviated.json", tmp_path / "d.html").html.read_text()
    assert "banner fail" in page and "3 acknowledged writes were lost" in page
    page = build_report(DATA / "failed.json", tmp_path / "f.html").html.read_text()
    assert "banner fail" in page and "not on this machine" in page
    page = build_report(DATA / "aborted.json", tmp_path / "a.html").html.read_text()
    assert "Not run: workload-verdict" in page and "No integrity verdict" in page
    page = build_report(DATA / "truncated.json", tmp_path / "t.html").html.read_text()
    assert "banner unknown" in page and "not valid JSON" in page


def test_report_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "x" / "report.html"
    assert main(["report", str(DATA / "completed.json"), "-o", str(out)]) == 0
    assert out.is_file() and out.with_suffix(".png").is_file()
    assert "passed" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nope.json")]) == 2


def test_report_default_name_and_explicit_ledger(tmp_path: Path) -> None:
    journal = tmp_path / "j.json"
    journal.write_text((DATA / "failed.json").read_text())
    report = build_report(journal, ledger=DATA / "master-kill-ledger.jsonl")
    assert report.html == tmp_path / "j.html" and not report.series.empty


def test_without_matplotlib_the_report_still_comes(tmp_path: Path, monkeypatch) -> None:
    import builtins

    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    report = build_report(DATA / "completed.json", tmp_path / "r.html")
    assert report.png is None and "pip install matplotlib" in report.html.read_text()


def test_outputs_are_tables_not_cut_json(tmp_path: Path) -> None:
    page = build_report(DATA / "real-master-kill.json", tmp_path / "r.html").html.read_text()
    assert " …" not in page and "<table class='kv'>" in page
    assert ">sync_<wbr>standby</th><td>pg2<" in page  # a list of scalars, comma-separated
    assert "<a href='#verdict'>The integrity verdict (passed)</a>" in page
    assert "<h3>Marked moments</h3>" in page and "safeguard heal after the run" in page
