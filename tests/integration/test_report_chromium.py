"""Reports opened in headless Chromium: the verdict is in the rendered DOM,
the page fits a 1280 px window with nothing cut off, and the screenshot
shows a real page (needs Debian's ``chromium``; no stack)."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest

from chaosha.report.build import build_report

DATA = Path(__file__).resolve().parents[1] / "data" / "journals"
WIDTH = 1280
# Added to a copy of the report only (the report itself has no script):
# what sticks out of the window and what is wider than its own box.
MEASURE = """<script>window.addEventListener("load", () => {
  const d = document.documentElement, cw = d.clientWidth, all = [...document.querySelectorAll("body *")];
  const name = e => e.tagName + "." + e.className + " " + (e.textContent || "").slice(0, 50);
  const over = all.filter(e => { const r = e.getBoundingClientRect();
    return r.width > 0 && (r.right > cw + 0.5 || r.left < -0.5); }).map(name);
  const clipped = all.filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1
    && getComputedStyle(e).display !== "inline").map(name);
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.width]; };
  const img = document.querySelector("figure img");
  const out = document.createElement("pre");
  out.id = "chaosha-measure";
  out.textContent = JSON.stringify({scrollWidth: d.scrollWidth, clientWidth: cw, over, clipped,
    img: img ? box(img).concat([img.naturalWidth]) : null,
    titles: [...document.querySelectorAll("h1, h2, .banner")].map(box)});
  document.body.appendChild(out);
});</script>"""
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"),
]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None
    cmd: List[str] = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "journal, words",
    [
        ("completed.json", "No acknowledged write was lost."),
        ("deviated.json", "3 acknowledged writes were lost"),
        ("interrupted.json", "ended with status interrupted"),
    ],
)
def test_rendered_dom_has_the_verdict_and_picture(tmp_path: Path, journal: str, words: str) -> None:
    report = build_report(DATA / journal, tmp_path / "report.html")
    result = chromium(tmp_path / "profile", "--dump-dom", report.html.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert words in dom
    assert 'class="banner' in dom and "data:image/png;base64," in dom


def measure(tmp_path: Path, journal: str) -> Dict[str, Any]:
    report = build_report(DATA / journal, tmp_path / "report.html")
    page = tmp_path / "measured.html"
    page.write_text(report.html.read_text().replace("</body>", MEASURE + "</body>"))
    result = chromium(tmp_path / "profile", f"--window-size={WIDTH},900", "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="chaosha-measure">([^<]*)</pre>', result.stdout)
    assert found, result.stdout[-2000:]
    return json.loads(found.group(1).replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&"))


@pytest.mark.parametrize(
    "journal",
    [
        "incidents.json",
        "action-failed.json",
        "real-master-kill.json",
        "completed.json",
        "interrupted.json",
        "truncated.json",
    ],
)
def test_the_page_fits_1280_px_with_nothing_cut_off(tmp_path: Path, journal: str) -> None:
    m = measure(tmp_path, journal)
    assert m["scrollWidth"] <= m["clientWidth"] <= WIDTH  # no horizontal scrollbar
    assert m["over"] == [] and m["clipped"] == []
    for left, right, _ in m["titles"]:
        assert 0 <= left and right <= m["clientWidth"]
    if journal != "truncated.json":
        left, right, shown, natural = m["img"]
        assert 0 <= left and right <= m["clientWidth"]
        assert shown >= 0.95 * natural  # the chart is shown at its size, not shrunk illegible


def test_screenshot_is_a_real_page(tmp_path: Path) -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    report = build_report(DATA / "completed.json", tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    result = chromium(
        tmp_path / "profile",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},2000",
        "--hide-scrollbars",
        report.html.as_uri(),
    )
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    assert shot.stat().st_size > 20000
    pixels = plt.imread(str(shot))
    assert pixels.shape[0] >= 1900 and pixels.shape[1] >= 1100
    flat = pixels[..., :3].reshape(-1, 3)
    assert flat.std(axis=0).max() > 0.05  # not one blank colour
    # the green "passed" banner (#e6f4ea) is drawn near the top
    green = (abs(pixels[:400, :, 0] - 0xE6 / 255) < 0.02) & (abs(pixels[:400, :, 1] - 0xF4 / 255) < 0.02)
    assert green.sum() > 10000
