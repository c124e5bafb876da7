"""``chaosha trend`` across dated suite folders, and the JUnit writer."""

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from chaosha.cli import main
from chaosha.report.journal import load_journal
from chaosha.suite.junit import junit_tree
from chaosha.suite.runner import ExperimentResult
from chaosha.suite.trend import collect, run_folders, table

DATA = Path(__file__).resolve().parents[1] / "data" / "journals"


def suite_out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    for stamp, journals in (
        ("2026-11-24T02-30-00Z", ["completed", "deviated"]),
        ("2026-11-25T02-30-00Z", ["completed", "truncated"]),
        ("2026-11-26T02-30-00Z", ["failed"]),
    ):
        folder = out / stamp
        folder.mkdir(parents=True)
        for i, name in enumerate(journals, 1):
            shutil.copy(DATA / f"{name}.json", folder / f"0{i}-{name}.json")
    (out / "not-a-run").mkdir()
    (out / ".lock").write_text("")
    return out


def test_collect_rows_oldest_first(tmp_path: Path) -> None:
    out = suite_out(tmp_path)
    assert [p.name[:10] for p in run_folders([out])] == ["2026-11-24", "2026-11-25", "2026-11-26"]
    rows = collect([out])
    assert len(rows) == 4  # the truncated journal is skipped
    first = rows[0]
    assert first.passed and first.lost == 0 and first.rto_s is not None and first.rto_s > 22
    assert rows[1].lost == 3 and not rows[1].passed and "deviated" in rows[1].status
    assert rows[-1].lost is None and rows[-1].status == "failed"
    text = table(rows)
    assert text.splitlines()[0].startswith("| Run | Experiment")
    assert "| 2026-11-26T02-30-00Z | Kill the primary and its replica | FAILED | failed | – |" in text
    assert collect([out / "2026-11-24T02-30-00Z"]) == rows[:2]  # a run folder works too


def test_trend_cli_table_and_png(tmp_path: Path, capsys) -> None:
    out = suite_out(tmp_path)
    png = tmp_path / "trend.png"
    assert main(["trend", str(out), "-o", str(png)]) == 0
    assert "Kill the primary under load" in capsys.readouterr().out
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10000
    assert main(["trend", str(tmp_path / "empty")]) == 1


def test_junit_counts(tmp_path: Path) -> None:
    results = []
    for name in ("completed", "deviated", "aborted"):
        view = load_journal(DATA / f"{name}.json")
        results.append(
            ExperimentResult(
                name=name,
                experiment=Path(f"{name}.json"),
                journal=DATA / f"{name}.json",
                log=tmp_path / "x.log",
                view=view,
                problems=list(view.problems),
                seconds=1.0,
            )
        )
    root = ET.fromstring(ET.tostring(junit_tree(results).getroot()))  # noqa: S314 - our own XML
    assert root.get("tests") == "3" and root.get("failures") == "2"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "2"
    assert len(root.findall(".//testcase")) == 3 and len(root.findall(".//failure")) == 2
