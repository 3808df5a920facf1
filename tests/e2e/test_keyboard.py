"""By keyboard alone (issue #19, deliverable 1): sign-in, the navigation, the filters and the
downloads, in Chromium, without one mouse event.

Each step reaches its control with Tab only, as a keyboard user does, and checks that the
control shows where the focus is (``:focus-visible``). Locators only name the control to reach;
they never click.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from drawn import PAGES, wait_drawn
from harness import CHAIRMAN, demo_password, wait_for_app, wait_signed_in
from playwright.sync_api import Locator, Page

# More than one lap of the longest page's tab order (a data grid takes one stop per column).
MAX_TABS = 250
FOCUSED = "el => el === document.activeElement || el.contains(document.activeElement)"
SHOWN = "() => document.activeElement && document.activeElement.matches(':focus-visible')"


def tab_to(page: Page, target: Locator) -> None:
    """Press Tab until the focus is on ``target``; fail when a whole lap never gets there."""
    target.wait_for(timeout=60_000)
    for _ in range(MAX_TABS):
        if target.evaluate(FOCUSED):
            assert page.evaluate(SHOWN), "the focused control shows no focus indicator"
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} is not reached by Tab")


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def until_url_changes(page: Page, before: str, title: str) -> None:
    page.wait_for_function("old => location.href !== old", arg=before, timeout=60_000)
    wait_drawn(page, title)


def sidebar(page: Page) -> Locator:
    return page.locator("[data-testid='stSidebar']")


def test_sign_in_navigate_filter_and_download_by_keyboard(page: Page, app_server: str) -> None:
    page.goto(app_server)
    wait_for_app(page)
    tab_to(page, page.get_by_label("Email"))
    page.keyboard.type(CHAIRMAN)
    page.keyboard.press("Tab")
    page.keyboard.type(demo_password(CHAIRMAN))
    tab_to(page, page.get_by_role("button", name="Sign in", exact=True))
    page.keyboard.press("Enter")
    wait_signed_in(page)
    wait_drawn(page, "Overview")

    # The navigation: a link of the sidebar, followed with Enter.
    tab_to(page, sidebar(page).get_by_role("link", name="Error rates", exact=True))
    page.keyboard.press("Enter")
    page.wait_for_function(
        "path => location.pathname.endsWith(path)", arg=PAGES["Error rates"][0], timeout=60_000
    )
    wait_drawn(page, "Error rates")

    # A select box: typed into, then Enter picks the option.
    before = page.url
    tab_to(page, sidebar(page).get_by_role("combobox", name="Period"))
    page.keyboard.type("Last 90 days")
    page.keyboard.press("Enter")
    until_url_changes(page, before, "Error rates")
    chosen = query(page)
    span = date.fromisoformat(chosen["to"][0]) - date.fromisoformat(chosen["from"][0])
    assert span == timedelta(days=89)

    # A multiselect: an option added with Enter, the list closed with Escape.
    before = page.url
    tab_to(page, sidebar(page).get_by_role("combobox", name="Stages"))
    page.keyboard.type("24")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    until_url_changes(page, before, "Error rates")
    assert query(page)["stage"] == ["24"]

    # A radio group: the arrow keys move the choice.
    before = page.url
    tab_to(page, sidebar(page).get_by_role("radio", name="Day", exact=True))
    page.keyboard.press("ArrowRight")
    until_url_changes(page, before, "Error rates")
    assert query(page)["grain"] == ["week"]

    # A chart's Download CSV button, pressed with Enter: the file has the chosen stage only.
    tab_to(page, page.get_by_role("button", name="Download CSV").first)
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    lines = Path(info.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(lines) > 1
    assert info.value.suggested_filename.endswith(".csv")

    # The Export page's streamed extract is a link: Enter follows it into a download.
    tab_to(page, sidebar(page).get_by_role("link", name="Export", exact=True))
    page.keyboard.press("Enter")
    page.wait_for_function(
        "path => location.pathname.endsWith(path)", arg=PAGES["Export"][0], timeout=60_000
    )
    wait_drawn(page, "Export")
    tab_to(page, page.get_by_role("link", name="Download CSV"))
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    with Path(info.value.path()).open(encoding="utf-8", newline="") as extract:
        stages = {row["stage_id"] for row in csv.DictReader(extract)}
    assert stages == {"24"}

    # Sign out, with the keyboard too.
    tab_to(page, page.get_by_role("button", name="Sign out"))
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Sign in", exact=True).wait_for(timeout=60_000)
