"""What each page draws, and waiting until it is drawn: shared by the browser tests of the pages
(test_pages.py) and of the screen sizes (test_screens.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from harness import CSV_BUTTONS_JS, wait_for_app
from playwright.sync_api import Page

from dashboard.ui import pages

# The README's pictures are rewritten only when asked (`make screenshots` sets the folder): the
# demo data is relative to today, so every run would otherwise leave the tree modified.
SCREENSHOTS = Path(
    os.environ.get("ORCHDASH_SCREENSHOTS") or Path(tempfile.gettempdir()) / "orchdash-screenshots"
)
# title -> (Plotly charts, in-page Download CSV buttons) of each page of the registry
DRAWS = {
    "Overview": (0, 4),
    "Venture health": (2, 3),
    "Agents": (1, 1),
    "Stage durations": (1, 1),
    "Error rates": (2, 2),
    "Handoff efficiency": (2, 2),
    "Chairman interventions": (3, 3),
    "Export": (0, 0),
}
# title -> (url path, Plotly charts, in-page Download CSV buttons); the default page is at "/"
PAGES = {p.title: ("" if i == 0 else p.path, *DRAWS[p.title]) for i, p in enumerate(pages.PAGES)}
DRAWN_ALL = f"""([charts, downloads]) =>
    document.querySelectorAll("[data-testid='stPlotlyChart'] .main-svg").length >= charts
    && {CSV_BUTTONS_JS}.length >= downloads"""


def wait_drawn(page: Page, title: str) -> None:
    """Until the page's title and all its charts are drawn and the run has finished."""
    path, plotly, downloads = PAGES[title]
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=60_000)
    page.wait_for_function(DRAWN_ALL, arg=[plotly, downloads], timeout=60_000)
    wait_for_app(page)
    assert urlsplit(page.url).path.strip("/") == path
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
