"""Headless Debian chromium through playwright: screenshots of reports, offline."""
from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = os.environ.get("RELEASEGATE_CHROMIUM", "/usr/bin/chromium")
# No network side channels: the report must render from the file alone.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def screenshot(html_path: str | Path, png_path: str | Path, *, width: int = 1280,
               max_height: int = 4400) -> Path:
    """A PNG of the top of the page (the verdict, the checks, the first figures)."""
    from playwright.sync_api import sync_playwright

    html_path, png_path = Path(html_path).resolve(), Path(png_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900}, device_scale_factor=1)
            page.goto(html_path.as_uri(), wait_until="load")
            height = min(page.evaluate("document.documentElement.scrollHeight"), max_height)
            page.screenshot(path=str(png_path), clip={"x": 0, "y": 0, "width": width,
                                                       "height": height}, full_page=True)
        finally:
            browser.close()
    return png_path
