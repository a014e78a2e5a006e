"""Screenshots of every registered page (zh and en, desktop 1600×1000 and phone 390×844)
into this folder, and of the wall screen: each of its views at 1920×1080, in English, and at
3840×2160. Needs the demo data (`make serve` writes it) and /usr/bin/chromium.

    .venv/bin/python docs/screenshots/make.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402  (the tests' Chromium)
from safetyviz.web.pages import PAGES as REGISTERED  # noqa: E402

# The view each page is shown in (a page not named here: its default view).
QUERIES = {"overview": "?period=2020Q1&county=411002",
           "county": "?period=2020Q1&county=411002",
           "enforcement": "?period=2020-04&county=411024",
           "riskmap": "?county=411002",
           "enterprise": "?id=E41100200001"}
PAGES = {slug: QUERIES.get(slug, "?") for slug in REGISTERED if REGISTERED[slug].framed}
WALL = [(f"?views={view}&seconds=3600", lang, width, height, f"wall-{view}-{lang}-{width}")
        for view, lang, width, height in (
            ("overview", "zh", 1920, 1080), ("monitoring", "zh", 1920, 1080),
            ("enforcement", "zh", 1920, 1080), ("riskmap", "zh", 1920, 1080),
            ("overview", "en", 1920, 1080), ("monitoring", "zh", 3840, 2160))]
CARDS = ".kpi .value, .risk-legend, .wall-card .value"
DRAWN = """() => window.Bokeh && window.Bokeh.documents.some(
  (doc) => [...doc._all_models.values()].some((m) => m.type === 'GlyphRenderer'))"""
VIEWPORTS = {"desktop": {"width": 1600, "height": 1000}, "phone": {"width": 390, "height": 844}}


def main(port: int = 5099) -> None:
    server = subprocess.Popen([sys.executable, "-m", "panel", "serve",
                               *[str(ROOT / "apps" / f"{page}.py") for page in REGISTERED],
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env={**os.environ, "SAFETYVIZ_DATA_DIR": str(ROOT / "data")})
    time.sleep(6)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            for page_name, query in PAGES.items():
                for lang in ("zh", "en"):
                    for kind, viewport in VIEWPORTS.items():
                        page = browser.new_page(viewport=viewport)
                        page.goto(f"http://localhost:{port}/{page_name}{query}&lang={lang}")
                        page.locator(CARDS).first.wait_for()
                        if page_name != "home":  # (the landing page draws no plot)
                            page.wait_for_function(DRAWN, timeout=90_000)  # the plots too
                        page.wait_for_timeout(2500)  # plots and tables settle
                        page.screenshot(path=HERE / f"{page_name}-{lang}-{kind}.png",
                                        full_page=True)
                        page.close()
            for query, lang, width, height, name in WALL:
                page = browser.new_page(viewport={"width": width, "height": height})
                scale = "&scale=2" if width > 3000 else ""
                page.goto(f"http://localhost:{port}/wall{query}{scale}&lang={lang}")
                page.locator(CARDS).first.wait_for()
                page.wait_for_function(DRAWN, timeout=90_000)
                page.wait_for_timeout(3000)
                page.screenshot(path=HERE / f"{name}.png")
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
