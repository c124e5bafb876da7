"""Reports opened in headless Chromium: the verdict is in the rendered DOM
and the screenshot shows a real page (needs Debian's ``chromium``)."""

import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

from chaosha.report.cli import build_report

DATA = Path(__file__).resolve().parents[1] / "data" / "journals"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                                "(apt-get install -y chromium)"),
]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None
    cmd: List[str] = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("journal, words", [
    ("completed.json", "No acknowledged write was lost."),
    ("deviated.json", "3 acknowledged writes were lost"),
    ("interrupted.json", "ended with status interrupted"),
])
def test_rendered_dom_has_the_verdict_and_picture(tmp_path: Path, journal: str, words: str) -> None:
    report = build_report(DATA / journal, tmp_path / "report.html")
    result = chromium(tmp_path / "profile", "--dump-dom", report.html.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert words in dom
    assert "class=\"banner" in dom and "data:image/png;base64," in dom


def test_screenshot_is_a_real_page(tmp_path: Path) -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    report = build_report(DATA / "completed.json", tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    result = chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,2000",
                      "--hide-scrollbars", report.html.as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    assert shot.stat().st_size > 20000
    pixels = plt.imread(str(shot))
    assert pixels.shape[0] >= 1900 and pixels.shape[1] >= 1100
    flat = pixels[..., :3].reshape(-1, 3)
    assert flat.std(axis=0).max() > 0.05  # not one blank colour
    # the green "passed" banner (#e6f4ea) is drawn near the top
    green = (abs(pixels[:400, :, 0] - 0xE6 / 255) < 0.02) & (abs(pixels[:400, :, 1] - 0xF4 / 255) < 0.02)
    assert green.sum() > 10000
