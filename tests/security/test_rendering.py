"""Case 5, rendering (and the browser half of case 1): the hostile names are text everywhere, on
every page, in option lists, tables, chart legends and tooltips, titles and file names, and no
script runs; in Chromium each user sees their own companies only, and the Export download holds
only their rows.

AppTest checks what every page sends (Markdown texts escaped, Plotly strings without markup,
raw names in widgets and tables). Chromium then draws it: the ``page`` fixture of tests/e2e
fails the test on any dialog (``alert(1)``), page error or console error.
"""

from __future__ import annotations

import html
from urllib.parse import urljoin

import pytest
from harness import AppServer, sign_in, wait_for_app, wait_signed_in
from playwright.sync_api import Page, expect
from sqlalchemy import Engine

from dashboard import layout
from security import apptest
from security import world as w
from security.elements import has_html, mentioned, plain, read_csv


def names_of(world: w.World, companies: set[str]) -> set[str]:
    """The company and venture names of these companies."""
    names = {world.company_names[c] for c in companies}
    return names | {n for v, n in world.ventures.items() if world.venture_company[v] in companies}


def chart_strings(chart: dict) -> list[str]:
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(chart)
    return found


@pytest.mark.parametrize("user", ["A", "B"])
@pytest.mark.parametrize(("file", "title"), apptest.PAGES)
def test_hostile_names_are_sent_as_text(
    app_env: str, hostile_world: w.World, owner: Engine, user: str, file: str, title: str
) -> None:
    shot = apptest.page(hostile_world, user, file)
    assert not shot.exceptions
    assert not has_html(shot)  # no tag or link in Markdown, no markup in a figure
    mine = names_of(hostile_world, w.active_scope(owner, hostile_world.users[user]))
    hostile = mine & set(w.HOSTILE)
    assert hostile
    # (Widgets draw options as text, and they hold the raw names: test_cross_tenant.py.)
    # Plotly draws some tags: every name in a figure is HTML-escaped, and titles name no one.
    for chart in shot.charts:
        assert not {plain(chart["layout"]["title"]["text"])} & mine
        for text in chart_strings(chart):
            for name in hostile:
                if name in text and html.escape(name, quote=False) != name:
                    raise AssertionError(f"{name!r} unescaped in a figure: {text!r}")
    drawn = {plain(s) for chart in shot.charts for s in chart_strings(chart)}
    if title in ("Error rates", "Handoff efficiency", "Chairman interventions"):
        assert drawn & {plain(n) for n in hostile}  # legends and tooltips do carry the names
    # Tables are drawn cell by cell as text, and no column renders links.
    columns = [m.columns for m in shot.messages if type(m).__name__ == "Dataframe"]
    assert all('"link"' not in c and "LinkColumn" not in c for c in columns)


# ---- in Chromium ---------------------------------------------------------------------------

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
    foreign = names_of(world, others) | {"Orphan <svg onload=alert(2)>", "(no company)"}
    assert not mentioned(page_texts(page), foreign)
    assert options(page, "Companies") == {world.company_names[c] for c in scope}


@pytest.mark.browser
def test_in_chromium_names_are_text_and_each_user_sees_only_their_companies(
    page: Page, world_server: AppServer, hostile_world: w.World, owner: Engine
) -> None:
    page.goto(world_server.url)
    for user in ("A", "B"):
        scope = w.active_scope(owner, hostile_world.users[user])
        mine = names_of(hostile_world, scope)
        sign_in(page, w.email(user), w.password(user))
        wait_signed_in(page)
        shown: list[str] = []
        for _, title, _ in layout.PAGES:
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
