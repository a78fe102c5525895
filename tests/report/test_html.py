"""report.html: its structure (parsed, always), and rendered in headless Chromium if installed."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from wsol.report.gallery import write_jpeg
from wsol.report.html import TABS, Card, Page, Table, render_page
from wsol.viz import overlay_heatmap

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
TOP = 200  # screenshot rows above the gallery: title, tabs, note and controls
NO_CHROMIUM = ("headless Chromium is not installed (Debian: apt-get install chromium); the "
               "render test of report.html is skipped")


class Elements(HTMLParser):
    """Every start tag as (tag, attributes), and the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def _thumbnail(path: Path, seed: int) -> tuple[int, int]:
    """A colourful strip (a jet overlay of a random blob) as a JPEG; returns (width, height)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:48, 0:144]
    cam = np.exp(-((x - rng.integers(20, 120)) ** 2 + (y - 24) ** 2) / 300.0)
    write_jpeg(path, overlay_heatmap(np.full((48, 144, 3), 90, np.uint8), cam, alpha=0.8))
    return 144, 48


def _page(folder: Path, count: int, distinct: int = 12) -> Path:
    """report.html in ``folder`` with ``count`` gallery cards over ``distinct`` thumbnails."""
    files = folder / "report_files"
    files.mkdir(parents=True, exist_ok=True)
    sizes = [_thumbnail(files / f"{k:05d}.jpg", k) for k in range(distinct)]
    cards = [Card(f"report_files/{k % distinct:05d}.jpg", *sizes[k % distinct], f"img<{k}>",
                  f"class{k % 3}", "best" if k % 2 else "worst", float(k % 97),
                  float(k % 13), None if k % 5 == 0 else 40.0) for k in range(count)]
    headline = Table(["metric", "%"], [["MaxBoxAcc <b>", 61.5], ["PxAP", None]], "Headline")
    page = Page("wsol report", "run <dir>", summary=[headline], cards=cards,
                per_class=Table(["class", "pairs", "AP"], [["circle", 3, 90.0],
                                                           ["square", 1, 80.5]]),
                figures=[("curves", (files / "00000.jpg").read_bytes())],
                gallery_note="note", notes={"sanity": "No sanity results."})
    path = folder / "report.html"
    path.write_text(render_page(page))
    return path


def test_the_page_is_self_contained_escaped_and_lazy(tmp_path):
    path = _page(tmp_path, count=40)
    html = path.read_text()
    doc = Elements()
    doc.feed(html)
    sections = [a["data-tab"] for a in doc.all("section")]
    assert sections == [tab for tab, _ in TABS]
    assert [a["href"] for a in doc.all("a")] == [f"#{tab}" for tab, _ in TABS]
    # nothing is fetched from elsewhere: no external script, style sheet or image
    assert not doc.all("link") and all("src" not in a for a in doc.all("script"))
    images = doc.all("img")
    assert all(not str(a["src"]).startswith(("http:", "https:", "//")) for a in images)
    cards = [a for a in images if str(a["src"]).startswith("report_files/")]
    assert len(cards) == 40
    for card in cards:  # lazy, with a size known before it loads, and present beside the page
        assert card["loading"] == "lazy" and int(card["width"]) > 0 and int(card["height"]) > 0
        assert (tmp_path / card["src"]).is_file()
    assert any(str(a["src"]).startswith("data:image/png;base64,") for a in images)
    assert "img<0>" not in html and "img&lt;0&gt;" in html  # ids and labels are escaped
    assert "MaxBoxAcc &lt;b&gt;" in html
    figures = doc.all("figure")
    assert {a.get("data-tag") for a in figures if "data-tag" in a} == {"best", "worst"}
    assert len(doc.all("th")) == 2 + 3  # headline + per-class heads
    assert "No sanity results." in "".join(doc.text)


def _chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--allow-file-access-from-files", *args],
                          capture_output=True, text=True, timeout=timeout)


def _colourful_share(png: Path, top: int) -> float:
    """Share of strongly coloured pixels below row ``top`` (text and page chrome are grey)."""
    from PIL import Image

    with Image.open(png) as image:
        hsv = np.asarray(image.convert("RGB").convert("HSV"), dtype=np.float64)[top:]
    return float(((hsv[..., 1] > 100) & (hsv[..., 2] > 60)).mean())


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_rendered_in_chromium_the_gallery_shows_images(tmp_path):
    path = _page(tmp_path, count=60)
    shot = tmp_path / "gallery.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,900",
              f"{path.as_uri()}#gallery")
    assert shot.is_file(), "chromium wrote no screenshot"
    shown = _colourful_share(shot, top=TOP)
    # control: the same page without its thumbnails (broken images) must fail the check
    shutil.rmtree(tmp_path / "report_files")
    broken = tmp_path / "broken.png"
    _chromium(f"--screenshot={broken}", "--window-size=1200,900", f"{path.as_uri()}#gallery")
    assert shown > 0.15 > 0.01 > _colourful_share(broken, top=TOP), (shown,
                                                                     _colourful_share(broken, TOP))


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_the_script_runs_over_thousands_of_cards(tmp_path):
    path = _page(tmp_path, count=3000)
    assert path.stat().st_size < 3_000_000  # thumbnails beside the page, not inside it
    dom = _chromium("--dump-dom", "--virtual-time-budget=5000", f"{path.as_uri()}#gallery").stdout
    assert "3000 of 3000 pairs" in dom  # the gallery script ran to its end
    doc = Elements()
    doc.feed(dom)
    hidden = {a["data-tab"]: "hidden" in a for a in doc.all("section")}
    assert hidden == {"summary": True, "classes": True, "curves": True, "gallery": False,
                      "sanity": True}
