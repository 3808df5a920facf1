"""The page registry (dashboard/ui/pages.py): every page script is listed once, and every load is
a query function of the public API, so the navigation, the cache and the tests agree."""

from __future__ import annotations

import queries
from dashboard.ui import pages


def test_every_page_script_is_registered_once() -> None:
    scripts = {p.name for p in pages.APP_PAGES.glob("*.py") if p.name != "__init__.py"}
    files = [p.file for p in (*pages.PAGES, *pages.ACCOUNT)]
    assert sorted(files) == sorted(scripts)
    assert all(p.script.is_file() for p in (*pages.PAGES, *pages.ACCOUNT))
    assert all(not p.loads for p in pages.ACCOUNT)


def test_titles_and_paths_are_unique() -> None:
    for field in ("file", "title", "path"):
        values = [getattr(p, field) for p in (*pages.PAGES, *pages.ACCOUNT)]
        assert len(set(values)) == len(values), field


def test_loads_are_query_functions_of_the_public_api() -> None:
    assert pages.LOADS
    for name in pages.LOADS:
        assert name in queries.__all__, name
        assert callable(getattr(queries, name)), name
    assert set(pages.EMPTY_REASON_LOADS) <= set(pages.LOADS)


def test_page_by_title() -> None:
    assert pages.page("Venture health").file == "venture_health.py"
    assert pages.PAGES[0].title == "Overview"
    assert pages.page("Subscriptions").file == "my_subscriptions.py"
