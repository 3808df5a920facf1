"""The Agents page and the Agents and Time zone filters through AppTest, on the pages' demo data
(fixtures of tests/test_pages.py: a real PostgreSQL, the app's runtime role)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import test_pages as pages_tests
from sqlalchemy import Engine
from test_pages import CHAIRMAN, Demo, app_for, assert_clean, open_page, plotly_specs

import queries
from dashboard.charts import agent_charts
from dashboard.charts import format as fmt
from dashboard.ui import filter_state, sidebar
from dashboard.ui.auth import SESSION_KEY
from dashboard.web import tokens
from queries import Filters, engines

demo_db = pages_tests.demo_db
app_env = pages_tests.app_env
KOLKATA = "Asia/Kolkata"


@pytest.fixture(scope="module")
def engine(demo_db: Demo) -> Iterator[Engine]:
    engine = engines.make_engine(demo_db.app_url, pool_size=1)
    yield engine
    engine.dispose()


def test_the_agents_page_shows_exactly_the_query(app_env: Demo, engine: Engine) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), "agent_activity.py")
    assert_clean(at)
    assert [t.value for t in at.title] == ["Agents"]
    [spec] = plotly_specs(at)
    assert len(spec["data"]) == 2 and all(trace["x"] for trace in spec["data"])
    assert [d.label for d in at.get("download_button")] == ["Download CSV"]

    scope = queries.scope_for_user(engine, app_env.users[CHAIRMAN])
    today = date.today()
    f = Filters(start=today - timedelta(days=29), end=today, tz="UTC")
    expected = agent_charts.activity_table(queries.agent_activity(engine, scope, f))
    shown = pages_tests.page_tables(at)[0].value
    assert list(shown[agent_charts.AGENT]) == list(expected[agent_charts.AGENT])
    assert list(shown[agent_charts.ROWS]) == list(expected[agent_charts.ROWS])
    assert at.multiselect(key=sidebar.KEY_AGENTS).options == queries.agents(engine, scope)
    assert at.radio(key=sidebar.KEY_AGENTS_MATCH).value == "any"
    assert at.selectbox(key=sidebar.KEY_TZ).value == "UTC"


def test_a_link_with_agents_and_a_zone_reproduces_the_view(app_env: Demo, engine: Engine) -> None:
    query = {
        "agent": ["planner", "builder"],
        "agents_match": "all",
        "from": "2026-01-05",
        "to": "2026-03-01",
        "grain": "week",
        "tz": KOLKATA,
    }
    at = open_page(app_for(app_env, CHAIRMAN, query), "export.py")
    assert_clean(at)
    assert not at.warning
    assert at.multiselect(key=sidebar.KEY_AGENTS).value == ["builder", "planner"]
    assert at.radio(key=sidebar.KEY_AGENTS_MATCH).value == "all"
    assert at.selectbox(key=sidebar.KEY_TZ).value == KOLKATA
    assert at.query_params == {**query, "agent": ["builder", "planner"]}
    captions = [c.value for c in at.caption]
    assert any(f"time zone {fmt.markdown_text(KOLKATA)}" in c for c in captions)
    scope = queries.scope_for_user(engine, app_env.users[CHAIRMAN])
    if queries.rollup_zone(engine, scope) != KOLKATA:
        assert filter_state.RAW_ZONE_NOTE in captions
    assert filter_state.RAW_AGENTS_NOTE in captions

    # The extract the page links to is that of these filters, zone and agents included: the
    # link opens, with this session, to exactly them.
    link = urlparse(at.get("link_button")[0].proto.url)
    assert link.path == tokens.ROUTE
    session_id = at.session_state[SESSION_KEY].session_id
    grant = tokens.open_export_link(engine, parse_qs(link.query)[tokens.PARAM][0], session_id)
    assert grant is not None and grant.user_id == app_env.users[CHAIRMAN]
    f = grant.filters
    assert (f.tz, f.agents, f.agents_match) == (KOLKATA, ("builder", "planner"), "all")
    assert (f.start, f.end, f.grain) == (date(2026, 1, 5), date(2026, 3, 1), "week")
    rows = int(at.metric[0].value.replace(",", ""))
    assert rows == queries.count_rows(engine, scope, f) > 0
    assert rows < queries.count_rows(engine, scope, filter_state.unfiltered(f))


def test_bad_zone_agent_and_match_are_dropped_with_a_notice(app_env: Demo) -> None:
    query = {"tz": "Mars/Olympus", "agent": ["no-such-agent"], "agents_match": "some"}
    at = open_page(app_for(app_env, CHAIRMAN, query), "agent_activity.py")
    assert_clean(at)
    assert len(at.warning) == 1
    notice = at.warning[0].value
    for param in ("tz", "agent", "agents\\_match"):
        assert f"- {param} " in notice, notice
    assert at.selectbox(key=sidebar.KEY_TZ).value == "UTC"
    assert at.multiselect(key=sidebar.KEY_AGENTS).value == []
    assert set(at.query_params) == {"from", "to", "grain"}


def test_changing_zone_and_agents_rewrites_the_url(app_env: Demo) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), "agent_activity.py")
    before = pages_tests.page_tables(at)[0].value
    at.selectbox(key=sidebar.KEY_TZ).set_value(KOLKATA).run()
    assert_clean(at)
    assert at.query_params["tz"] == KOLKATA
    at.multiselect(key=sidebar.KEY_AGENTS).set_value(["reviewer"]).run()
    at.radio(key=sidebar.KEY_AGENTS_MATCH).set_value("all").run()
    assert_clean(at)
    assert at.query_params["agent"] == "reviewer"
    assert at.query_params["agents_match"] == "all"
    after = pages_tests.page_tables(at)[0].value
    # Every row shown now involves the reviewer: its row count is the total of rows selected.
    reviewer = after[after[agent_charts.AGENT] == "reviewer"][agent_charts.ROWS].iloc[0]
    assert reviewer == after[agent_charts.ROWS].max()
    assert not before.equals(after)
    at.selectbox(key=sidebar.KEY_TZ).set_value("UTC").run()
    assert "tz" not in at.query_params
