"""axe-core in Chromium (issue #19, deliverable 1): the sign-in page and every page, in the light
and the dark theme, have no violation of impact "serious" or "critical", but for what Streamlit
draws and we cannot change (``STREAMLITS``, each listed in the README with why).
"""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from drawn import PAGES, wait_drawn
from harness import CHAIRMAN, demo_password, sign_in, wait_for_app, wait_signed_in
from playwright.sync_api import Page

from dashboard.ui import pages

SEVERE = ("serious", "critical")
# rule -> what a node's CSS selector contains when Streamlit draws it. st.metric's sparkline is
# a Vega SVG with role="img" and no name, which Streamlit gives no way to set; the tile's value,
# delta and help text say the same, and the trend table's `Download CSV` holds its points.
STREAMLITS = {"svg-img-alt": "metric_chart_"}


def severe_violations(page: Page) -> list[dict[str, Any]]:
    found = []
    for violation in Axe().run(page).response["violations"]:
        if violation["impact"] not in SEVERE:
            continue
        allowed = STREAMLITS.get(violation["id"])
        nodes = [
            node
            for node in violation["nodes"]
            if allowed is None or not any(allowed in str(t) for t in node["target"])
        ]
        found += [
            {"rule": violation["id"], "node": n["target"], "why": n["failureSummary"]}
            for n in nodes
        ]
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_or_critical_violation_on_any_page(
    page: Page, app_server: str, scheme: str
) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto(app_server)
    page.get_by_role("button", name="Sign in").first.wait_for()
    problems = {"sign-in": severe_violations(page)}
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_signed_in(page)
    for title, (path, _, _) in PAGES.items():
        if title != "Overview":
            page.goto(f"{app_server}/{path}")
        wait_drawn(page, title)
        problems[title] = severe_violations(page)
    # The user's own pages (Subscriptions, Alerts): their forms and empty states.
    for account in pages.ACCOUNT:
        page.goto(f"{app_server}/{account.path}")
        page.get_by_role("heading", name=account.title, exact=True).wait_for(timeout=60_000)
        wait_for_app(page)
        problems[account.title] = severe_violations(page)
    assert {where: found for where, found in problems.items() if found} == {}
