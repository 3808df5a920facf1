"""Case 4, URL tampering: each hostile value in every filter parameter of a link gives a visible
notice, the default view instead, no traceback, and exactly the queries of the default view:
the value never reaches PostgreSQL, so no query can be slower than usual.

Every page with all these values at once is in tests/test_pages.py
(test_bad_link_values_are_dropped_with_a_notice); the parsing of each value in
tests/test_url_filters.py; Filters refusing them before any SQL in tests/test_filters.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from queries import engines
from security import apptest
from security import world as w
from security.elements import Snapshot
from security.sql_log import statements

VALUES = {
    "impossible date": "2026-02-30",
    "10 kB": "A" * 10_240,
    "overflowing float": "1e309",
    "stage 0": "0",
    "stage 41": "41",
    "negative": "-1",
    "fraction": "1.5",
    "statement": "1;DROP TABLE x",
    "not a uuid": "not-a-uuid",
    "tautology": "' OR 1=1--",
    "sleep": "'; SELECT pg_sleep(5);--",
}
PARAMS = ("company", "venture", "stage", "from", "to", "grain")
# Too distinctive to appear in a bound parameter by chance.
MARKERS = ("DROP", "pg_sleep", "OR 1=1", "A" * 64, "not-a-uuid", "1e309", "2026-02-30")


def drawn(world: w.World, query: dict[str, object]) -> tuple[AppTest, Snapshot, list[Any]]:
    """A's Overview from a link, with an empty cache, and every statement it sent."""
    st.cache_data.clear()
    with statements(engines.get_engine()) as log:
        at = apptest.open_page(apptest.app_for(world, "A", query), "overview.py")
    return at, apptest.shot(at), sorted(log)


def assert_default_view(at_query: dict[str, str]) -> None:
    today = date.today()
    assert at_query == {
        "from": (today - timedelta(days=29)).isoformat(),
        "to": today.isoformat(),
        "grain": "day",
    }


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
def test_a_hostile_value_gives_a_notice_the_default_view_and_the_default_queries(
    app_env: str, hostile_world: w.World, value: str
) -> None:
    *_, default_queries = drawn(hostile_world, {})
    at, shot, log = drawn(hostile_world, {param: [value] for param in PARAMS})

    assert not shot.exceptions and not shot.alerts("error")
    [notice] = shot.alerts("warning")
    assert notice.startswith("Some values in the link were ignored")
    assert len(notice) < 2_000  # a 10 kB value is cut short
    assert_default_view(dict(at.query_params))
    assert shot.metrics  # the default view is drawn, not an empty page
    assert log == default_queries
    assert not [p for _, p in log for marker in MARKERS if marker in p]


def test_from_after_to_gives_a_notice_and_the_default_period(
    app_env: str, hostile_world: w.World
) -> None:
    *_, default_queries = drawn(hostile_world, {})
    at, shot, log = drawn(hostile_world, {"from": "2026-03-01", "to": "2026-02-01"})
    assert not shot.exceptions and not shot.alerts("error")
    assert "it is after to" in shot.alerts("warning")[0]
    assert_default_view(dict(at.query_params))
    assert log == default_queries
