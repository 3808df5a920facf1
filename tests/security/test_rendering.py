"""Case 5, rendering: what every page sends keeps the hostile names as text (Markdown texts
escaped, Plotly strings HTML-escaped and without markup, tables without link columns).

Chromium then draws it, and each user sees only their companies (the browser half of case 1):
tests/e2e/test_security_browser.py, in the e2e folder so that it shares that folder's one
Playwright and Chromium (a second sync Playwright cannot start beside it).
"""

from __future__ import annotations

import html

import pytest
from sqlalchemy import Engine

from security import apptest
from security import world as w
from security.elements import has_html, plain, texts_in


@pytest.mark.parametrize("user", ["A", "B"])
@pytest.mark.parametrize(("file", "title"), apptest.PAGES)
def test_hostile_names_are_sent_as_text(
    app_env: str, hostile_world: w.World, owner: Engine, user: str, file: str, title: str
) -> None:
    shot = apptest.page(hostile_world, user, file)
    assert not shot.exceptions
    assert not has_html(shot)  # no tag or link in Markdown, no markup in a figure
    mine = hostile_world.names_of(w.active_scope(owner, hostile_world.users[user]))
    hostile = mine & set(w.HOSTILE)
    assert hostile
    # (Widgets draw options as text, and they hold the raw names: test_cross_tenant.py.)
    # Plotly draws some tags: every name in a figure is HTML-escaped, and titles name no one.
    for chart in shot.charts:
        assert not {plain(chart["layout"]["title"]["text"])} & mine
        for text in texts_in(chart):
            for name in hostile:
                if name in text and html.escape(name, quote=False) != name:
                    raise AssertionError(f"{name!r} unescaped in a figure: {text!r}")
    drawn = {plain(s) for chart in shot.charts for s in texts_in(chart)}
    if title in ("Error rates", "Handoff efficiency", "Chairman interventions"):
        assert drawn & {plain(n) for n in hostile}  # legends and tooltips do carry the names
    # Tables are drawn cell by cell as text, and no column renders links.
    columns = [m.columns for m in shot.messages if type(m).__name__ == "Dataframe"]
    assert all('"link"' not in c and "LinkColumn" not in c for c in columns)
