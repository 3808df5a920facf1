"""Security, in Chromium (cases 1 and 5 of the hardening issue): on the hostile world of
tests/security/world.py, A and then B sign in and open every page. The hostile names are text
in legends, tooltips and lists, and no script runs (the ``page`` fixture fails the test on any
dialog such as ``alert(1)``, page error or console error). Each user sees only their companies:
in the page's text, in the Companies list and in the rows of the Export download.

It lives here, not in tests/security, to share this folder's one Playwright and Chromium. The
world and its server (``hostile_world``, ``hostile_server``) come from tests/security/fixtures.py.
"""

from __future__ import annotations

from urllib.parse import urljoin

from harness import AppServer, sign_in, wait_for_app, wait_signed_in
from playwright.sync_api import Page, expect
from security import world as w
from security.elements import mentioned, read_csv
from sqlalchemy import Engine

from dashboard.ui import pages

NAV = "[data-testid='stSidebarNav']"
INERT = ("img[src='x']", "svg[onload]", "a[href^='javascript']", "[onerror]")


def open_page(page: Page, title: str) -> None:
    page.locator(NAV).get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=60_000)
    wait_for_app(page)


def options(page: Page, label: str) -> set[str]:
    """The options a sidebar multiselect lists, as the browser shows them."""
    box = page.locator("[data-testid='stSidebar']").get_by_role("combobox", name=label)
    box.click()
    listed = page.get_by_role("option").all_text_contents()
    page.keyboard.press("Escape")
    return set(listed)


TEXT_NODES = """() => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const texts = [];
    while (walker.nextNode()) texts.push(walker.currentNode.textContent);
    return texts;
}"""


def page_texts(page: Page) -> list[str]:
    """Every text node of the document, SVG (chart legends, axes, tooltips) included."""
    return list(page.evaluate(TEXT_NODES))


def hover_texts(page: Page) -> list[str]:
    """The tooltips of the bars of the per-venture chart, hovered one after another."""
    bars = page.locator("[data-testid='stPlotlyChart']").nth(1).locator(".barlayer .point path")
    texts = []
    for index in range(min(bars.count(), 8)):
        bars.nth(index).hover(force=True)
        label = page.locator(".hoverlayer .hovertext").first
        label.wait_for(timeout=10_000)
        texts.append(label.text_content() or "")
        assert page.locator(".hoverlayer img, .hoverlayer a").count() == 0
    return texts


def export_companies(page: Page) -> set[str]:
    open_page(page, "Export")
    href = page.get_by_role("link", name="Download CSV").get_attribute("href") or ""
    response = page.request.get(urljoin(page.url, href))
    assert response.ok
    header, *rows = read_csv(response.body())
    assert rows
    return {row[header.index("company_id")] for row in rows}


def assert_sees_only(page: Page, world: w.World, user: str, scope: set[str]) -> None:
    others = set(world.companies.values()) - scope
    foreign = world.names_of(others) | {"Orphan <svg onload=alert(2)>", "(no company)"}
    assert not mentioned(page_texts(page), foreign)
    assert options(page, "Companies") == {world.company_names[c] for c in scope}


def test_in_chromium_names_are_text_and_each_user_sees_only_their_companies(
    page: Page, hostile_server: AppServer, hostile_world: w.World, hostile_owner: Engine
) -> None:
    page.goto(hostile_server.url)
    for user in ("A", "B"):
        scope = w.active_scope(hostile_owner, hostile_world.users[user])
        mine = hostile_world.names_of(scope)
        sign_in(page, w.email(user), w.password(user))
        wait_signed_in(page)
        shown: list[str] = []
        for title in (p.title for p in pages.PAGES):
            if title != "Overview":
                open_page(page, title)
            for selector in INERT:
                assert page.locator(selector).count() == 0, (title, selector)
            assert_sees_only(page, hostile_world, user, scope)
            shown += page_texts(page)
            if title == "Chairman interventions":
                tips = hover_texts(page)
                assert mentioned(tips, mine & set(w.HOSTILE)), tips
        # Legends show every hostile venture name as it is, not as markup.
        hostile_ventures = mine & set(hostile_world.ventures.values()) & set(w.HOSTILE)
        assert mentioned(shown, hostile_ventures) == hostile_ventures
        assert export_companies(page) == scope
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible(timeout=60_000)
