"""Every page at a phone's and a tablet's size, in Chromium (issue #19, deliverable 2): the page
itself never scrolls sideways (a wide table scrolls inside its frame), the tiles wrap, the charts
fit, and the sidebar opens and closes. Each page is photographed at each size for the README
(`make screenshots`; otherwise into a temporary folder, as tests/e2e/test_pages.py does).
"""

from __future__ import annotations

import pytest
from drawn import PAGES, SCREENSHOTS, wait_drawn
from harness import CHAIRMAN, demo_password, sign_in, wait_signed_in
from playwright.sync_api import FloatRect, Locator, Page

# name -> (width, height) in CSS pixels: an iPhone 14's and an iPad Air's portrait viewports.
SCREENS = {"phone": (390, 844), "tablet": (820, 1180)}
# The page's own width against the window's; anything wider would scroll the page sideways.
WIDTHS = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# The sidebar collapsed (true) or open (false), and done sliding: off the screen, or on it.
SIDEBAR_DONE = """collapsed => {
    const bar = document.querySelector("[data-testid='stSidebar']");
    const box = bar.getBoundingClientRect();
    return bar.dataset.collapsed === String(collapsed)
        && (collapsed ? box.right <= 0 : box.left >= 0);
}"""
DRAWN_PARTS = (
    "[data-testid='stMetric'], [data-testid='stPlotlyChart'], "
    "[data-testid='stDataFrame'], [data-testid='stDownloadButton'], [data-testid='stButton'], "
    "[data-testid='stLinkButton'], [data-testid='stMarkdownContainer']"
)


def box(element: Locator) -> FloatRect:
    found = element.bounding_box()
    assert found is not None, element
    return found


def sidebar_expanded(page: Page) -> bool:
    return page.locator("[data-testid='stSidebar']").get_attribute("data-collapsed") == "false"


def close_sidebar(page: Page) -> None:
    # With a mouse, Streamlit shows the button while the pointer is over the sidebar.
    page.locator("[data-testid='stSidebar']").hover()
    page.get_by_test_id("stSidebarCollapseButton").get_by_role("button").click()
    page.wait_for_function(SIDEBAR_DONE, arg=True)


def assert_fits(page: Page, title: str, width: int) -> None:
    content, window = page.evaluate(WIDTHS)
    assert content <= window, f"{title}: the page is {content} px wide in a {window} px window"
    parts = page.locator(f"[data-testid='stMain'] :is({DRAWN_PARTS})")
    # Hidden parts (a help text not opened) have no box.
    shown = [found for i in range(parts.count()) if (found := parts.nth(i).bounding_box())]
    assert shown, title
    for found in shown:
        assert found["x"] >= 0 and found["x"] + found["width"] <= width + 1, (title, found)


@pytest.mark.parametrize("screen", list(SCREENS))
def test_every_page_fits_the_screen_and_the_sidebar_opens_and_closes(
    page: Page, app_server: str, screen: str
) -> None:
    width, height = SCREENS[screen]
    page.set_viewport_size({"width": width, "height": height})
    page.goto(app_server)
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for title, (path, _, _) in PAGES.items():
        if title != "Overview":
            page.goto(f"{app_server}/{path}")
        wait_drawn(page, title)
        if sidebar_expanded(page):  # a tablet may show it; a reader closes it to read
            close_sidebar(page)
        if title == "Overview":
            tiles = page.locator("[data-testid='stMetric']")
            tops = {round(box(tiles.nth(i))["y"]) for i in range(tiles.count())}
            # Eight tiles: four rows or more on a phone, two or more on a tablet (wrapped).
            assert len(tops) >= (4 if screen == "phone" else 2), tops
        assert_fits(page, title, width)
        page.screenshot(path=str(SCREENSHOTS / f"{screen}-{path or 'overview'}.png"))
    # The sidebar, closed, opens by its button, shows the filters and the pages, and closes.
    assert not sidebar_expanded(page)
    page.get_by_test_id("stExpandSidebarButton").click()
    page.wait_for_function(SIDEBAR_DONE, arg=False)
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_text("Period").first.wait_for()
    opened = box(sidebar)
    assert opened["x"] >= 0 and opened["x"] + opened["width"] <= width
    sidebar.locator("[data-testid='stSidebarNav']").get_by_role(
        "link", name="Overview", exact=True
    ).wait_for()
    content, window = page.evaluate(WIDTHS)
    assert content <= window  # the open sidebar lies over the page, not beside it
    close_sidebar(page)
