"""Every page through Streamlit's AppTest, on demo data in a real PostgreSQL, as the app runs it.

dashboard/app.py is the script under test (sign-in gate, then layout.main). Tests sign in the way
dashboard/ui/auth.py documents for AppTest: a SignedIn in ``session_state[SESSION_KEY]``. Demo
company and venture names are replaced by hostile ones, so every page also proves that names
are shown as plain text.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

import queries
from dashboard.charts import format as fmt
from dashboard.charts import tiles
from dashboard.ui import data, layout, pages, sidebar
from dashboard.ui.auth import SESSION_KEY
from dashboard.web import sessions
from queries import Filters, config, demo, engines, schema
from queries import admin as admin_users
from queries.errors import DataUnavailable

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGES = [(p.file, p.title) for p in pages.PAGES]
HOSTILE_COMPANY = "<img src=x onerror=alert(1)>"
HOSTILE_VENTURES = ("[x](javascript:alert(1))", '=HYPERLINK("http://x","y")')
CHAIRMAN = "chairman@demo.local"
NOBODY = "nobody@demo.local"
SEED = 1
ROWS = 20_000


@dataclass(frozen=True)
class Demo:
    app_url: str
    users: dict[str, str]  # email -> id
    companies: tuple[str, ...]  # every demo company id, the chairman's first three


@pytest.fixture(scope="module")
def demo_db(new_database: Callable[[str], str]) -> Iterator[Demo]:
    owner = new_database("orchdash_pages")
    schema.migrate(owner)
    engine = create_engine(owner, poolclass=NullPool)
    summary = demo.load_demo(engine, rows=ROWS, seed=SEED)
    users = dict(summary.users)
    users[NOBODY] = admin_users.add_user(engine, NOBODY, "nobody-password")
    world = demo.demo_world(ROWS, SEED)
    companies = tuple(str(c) for c in world.company_ids)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE public.companies SET name = :name WHERE id = :id"),
            {"name": HOSTILE_COMPANY, "id": companies[0]},
        )
        ventures = conn.execute(
            text("SELECT id FROM public.ventures WHERE company_id = :id ORDER BY name LIMIT 2"),
            {"id": companies[0]},
        ).scalars()
        for venture_id, name in zip(ventures, HOSTILE_VENTURES, strict=False):
            conn.execute(
                text("UPDATE public.ventures SET name = :name WHERE id = :id"),
                {"name": name, "id": venture_id},
            )
    engine.dispose()
    app_url = engines.as_role(owner, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))
    yield Demo(app_url=app_url, users=users, companies=companies)


@pytest.fixture
def app_env(demo_db: Demo, monkeypatch: pytest.MonkeyPatch) -> Demo:
    """The app reads DATABASE_URL (the runtime role) like a deployment does."""
    monkeypatch.setenv("DATABASE_URL", demo_db.app_url)
    monkeypatch.delenv("ORCHDASH_ADMIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("ORCHDASH_TIMEZONE", "UTC")
    return demo_db


def app_for(demo_db: Demo, email: str, query: dict[str, Any] | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state[SESSION_KEY] = sessions.store().create(demo_db.users[email], email)
    at.query_params.update(query or {})
    return at


def open_page(at: AppTest, file: str) -> AppTest:
    at.run()
    if file != PAGES[0][0]:
        at.switch_page(f"app_pages/{file}").run()
    return at


def texts(at: AppTest) -> list[str]:
    """Every Markdown-rendered text of the run: where a hostile name could turn into HTML."""
    kinds = ("markdown", "caption", "warning", "info", "error", "success", "title", "subheader")
    return [str(element.value) for kind in kinds for element in at.get(kind)]


def page_tables(at: AppTest) -> list[Any]:
    """The page's own tables, not the figures of its charts (``layout.figures_table``)."""
    figures = [e for e in at.expander if e.label.startswith(layout.FIGURES)]
    inside = [d.proto for e in figures for d in e.dataframe]
    kept = []
    for frame in at.dataframe:  # a page may also show a chart's table itself: keep that one
        if frame.proto in inside:
            inside.remove(frame.proto)
        else:
            kept.append(frame)
    return kept


def plotly_specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def assert_names_inert(at: AppTest) -> None:
    for body in texts(at):
        assert "<img" not in body.replace("\\<img", ""), body
        assert "](javascript" not in body.replace("\\]\\(javascript", ""), body
    for spec in plotly_specs(at):
        assert "<img" not in json.dumps(spec)


# ---- a signed-in chairman -------------------------------------------------------------------


@pytest.mark.parametrize(("file", "title"), PAGES)
def test_each_page_renders_for_the_chairman(app_env: Demo, file: str, title: str) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), file)
    assert_clean(at)
    assert not at.warning
    assert [t.value for t in at.title] == [title]
    assert_names_inert(at)
    everything = at.get("download_button")
    downloads = [d for d in everything if d.proto.label == "Download CSV"]
    pdf = [d for d in everything if d.proto.label == "Download PDF"]
    # The board pack, on the two pages that have one.
    assert len(pdf) == (title in ("Overview", "Venture health"))
    if title == "Export":
        link = at.get("link_button")[0].proto
        assert link.label == "Download CSV"
        assert link.url.startswith("/export.csv?link=")
        assert at.metric[0].label == "Rows selected"
        assert int(at.metric[0].value.replace(",", "")) > 0
        assert len(page_tables(at)) == 1 and 0 < len(page_tables(at)[0].value) <= 100
    elif title == "Overview":
        assert [m.label for m in at.metric] == [
            "Actions",
            "Error rate",
            "Handoff efficiency",
            "Mean stage duration",
            "Chairman interventions",
            "Compute cost",
            "Data quality",
            "Confidence",
        ]
        assert len(page_tables(at)) == 2
        assert len(downloads) == 4  # tiles, trends, ventures that need attention, what changed
    elif title == "Venture health":  # the heatmap, What changed (a table), the decisions
        assert len(plotly_specs(at)) == 2 and len(page_tables(at)) == 1 and len(downloads) == 3
    else:
        charts = plotly_specs(at)
        assert charts and len(downloads) == len(charts)
        assert all(spec["data"] for spec in charts)
    assert all(d.label == "Download CSV" for d in downloads)
    # Every chart has its figures as a table, a text alternative that a screen reader reaches.
    figures = [e for e in at.expander if e.label.startswith(layout.FIGURES)]
    assert len(figures) == len(plotly_specs(at))
    # The hostile company is offered by name, as plain text.
    assert HOSTILE_COMPANY in at.multiselect(key=sidebar.KEY_COMPANIES).options
    if title in ("Error rates", "Handoff efficiency", "Chairman interventions"):
        # ... and hostile names reach the charts escaped, so Plotly draws them as text.
        spec = json.dumps(plotly_specs(at))
        escaped = [fmt.plotly_text(n) for n in (HOSTILE_COMPANY, *HOSTILE_VENTURES)]
        assert any(json.dumps(name)[1:-1] in spec for name in escaped)


def test_overview_colours_say_better_or_worse(app_env: Demo) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), "overview.py")
    red, green = MetricProto.MetricColor.RED, MetricProto.MetricColor.GREEN
    better = {kpi.label: kpi.better for kpi in tiles.KPIS}
    checked = 0
    for metric in at.metric:
        rising = metric.proto.delta.startswith("+")
        falling = metric.proto.delta.startswith("-")
        if better[metric.label] == "neither" or not (rising or falling):
            continue
        good = rising if better[metric.label] == "higher" else falling
        assert metric.proto.color == (green if good else red), metric.label
        checked += 1
    assert checked >= 5


# ---- a user without companies ---------------------------------------------------------------


@pytest.mark.parametrize(("file", "title"), PAGES)
def test_each_page_explains_no_access(app_env: Demo, file: str, title: str) -> None:
    at = open_page(app_for(app_env, NOBODY), file)
    assert_clean(at)
    assert [t.value for t in at.title] == [title]
    assert [i.value for i in at.info] == [data.NO_ACCESS]
    assert not at.get("plotly_chart")
    assert not at.get("download_button")
    assert not at.get("link_button")


# ---- links ----------------------------------------------------------------------------------

HOSTILE_QUERY = {
    "company": ["1;DROP TABLE x", "' OR 1=1--", "not-a-uuid"],
    "venture": ["'; SELECT pg_sleep(5);--"],
    "stage": ["0", "41", "-1", "1.5", "1e309"],
    "from": "2026-02-30",
    "to": "2026-01-01",
    "grain": "A" * 10_000,
}


@pytest.mark.parametrize(("file", "title"), PAGES)
def test_bad_link_values_are_dropped_with_a_notice(app_env: Demo, file: str, title: str) -> None:
    at = open_page(app_for(app_env, CHAIRMAN, HOSTILE_QUERY), file)
    assert_clean(at)
    assert len(at.warning) == 1
    notice = at.warning[0].value
    assert notice.startswith("Some values in the link were ignored")
    for param in ("company", "venture", "stage", "from", "grain"):
        assert f"- {param} " in notice
    assert len(notice) < 2_000  # the 10 kB value is truncated
    # Defaults were used, and the URL now says so.
    today = date.today()
    assert at.query_params == {
        "from": (today - timedelta(days=29)).isoformat(),
        "to": today.isoformat(),
        "grain": "day",
    }
    assert at.selectbox(key=sidebar.KEY_PERIOD).value == "Last 30 days"


def test_a_company_outside_the_scope_reads_like_an_unknown_one(app_env: Demo) -> None:
    outside = app_env.companies[3]  # the chairman's access to it is no longer active
    unknown = str(uuid.uuid4())
    notices = []
    for company in (outside, unknown):
        at = open_page(app_for(app_env, CHAIRMAN, {"company": company}), "overview.py")
        assert_clean(at)
        notices.append(at.warning[0].value.replace(fmt.markdown_text(company), "ID"))
        # The scope was not widened: the picker holds nothing, the view shows all companies.
        assert at.multiselect(key=sidebar.KEY_COMPANIES).value == []
    assert notices[0] == notices[1]


def test_a_link_reproduces_the_view(app_env: Demo) -> None:
    company = app_env.companies[1]
    query = {
        "company": company,
        "stage": ["3", "12"],
        "from": "2026-01-05",
        "to": "2026-03-01",
        "grain": "week",
    }
    at = open_page(app_for(app_env, CHAIRMAN, query), "error_rates.py")
    assert_clean(at)
    assert not at.warning
    assert at.multiselect(key=sidebar.KEY_COMPANIES).value == [company]
    assert at.multiselect(key=sidebar.KEY_STAGES).value == [3, 12]
    assert at.selectbox(key=sidebar.KEY_PERIOD).value == "Custom range"
    assert at.date_input(key=sidebar.KEY_DATES).value == (date(2026, 1, 5), date(2026, 3, 1))
    assert at.radio(key=sidebar.KEY_GRAIN).value == "week"
    assert at.query_params == {**query, "stage": ["3", "12"]}
    # Every bucket is a Monday (ISO weeks) inside the period.
    spec = plotly_specs(at)[0]
    days = {x[:10] for trace in spec["data"] for x in trace["x"]}
    assert days and all(date.fromisoformat(d).weekday() == 0 for d in days)
    assert all(date(2025, 12, 29) <= date.fromisoformat(d) <= date(2026, 3, 1) for d in days)


def test_changing_a_filter_rewrites_the_url(app_env: Demo) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), "stage_durations.py")
    before = plotly_specs(at)[0]
    at.selectbox(key=sidebar.KEY_PERIOD).set_value("Last 7 days").run()
    at.multiselect(key=sidebar.KEY_STAGES).set_value([20, 21]).run()
    assert_clean(at)
    today = date.today()
    assert at.query_params == {
        "stage": ["20", "21"],
        "from": (today - timedelta(days=6)).isoformat(),
        "to": today.isoformat(),
        "grain": "day",
    }
    after = plotly_specs(at)
    assert after == [] or after[0] != before
    if not after:  # nothing in those stages this week: the reason is given instead
        assert "filters exclude everything" in at.info[0].value


def test_custom_range_keeps_the_dates_of_the_previous_period(app_env: Demo) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), "overview.py")
    at.selectbox(key=sidebar.KEY_PERIOD).set_value("Last 90 days").run()
    at.selectbox(key=sidebar.KEY_PERIOD).set_value("Custom range").run()
    assert_clean(at)
    today = date.today()
    assert at.date_input(key=sidebar.KEY_DATES).value == (today - timedelta(days=89), today)
    at.date_input(key=sidebar.KEY_DATES).set_value((date(2026, 6, 1), date(2026, 6, 30))).run()
    assert at.query_params["from"] == "2026-06-01"
    assert at.query_params["to"] == "2026-06-30"


def test_ventures_offered_are_those_of_the_chosen_companies(app_env: Demo) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), "overview.py")
    everything = at.multiselect(key=sidebar.KEY_VENTURES).options
    at.multiselect(key=sidebar.KEY_COMPANIES).set_value([app_env.companies[2]]).run()
    narrowed = at.multiselect(key=sidebar.KEY_VENTURES).options
    assert_clean(at)
    assert 0 < len(narrowed) < len(everything)
    assert set(narrowed) <= set(everything)


# ---- failures -------------------------------------------------------------------------------


def _page_with_failing_query(database_url: str, name: str) -> None:
    from datetime import date

    import streamlit as st

    from dashboard.ui import data
    from queries import Filters, Scope, engines

    engine = engines.make_engine(database_url, pool_timeout=2)
    one = "00000000-0000-0000-0000-000000000001"
    scope = Scope(user_id=one, company_ids=(one,))  # a company, so the query must connect
    frame = data.load(engine, scope, Filters(start=date(2026, 1, 1), end=date(2026, 1, 31)), name)
    st.write(frame)


def test_an_unreachable_database_gives_a_message_and_retry(tmp_path: Path) -> None:
    nowhere = f"postgresql+psycopg://orchdash_app@/orchdash?host={tmp_path}&connect_timeout=2"
    at = AppTest.from_function(_page_with_failing_query, args=(nowhere, "kpis"), default_timeout=30)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [fmt.markdown_text(DataUnavailable.user_message)]
    assert [b.label for b in at.button] == ["Retry"]
    at.button[0].click().run()  # retrying queries again (failures are not cached): same message
    assert not at.exception
    assert len(at.error) == 1


def test_an_unexpected_failure_is_logged_not_shown(
    app_env: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    at = AppTest.from_function(
        _page_with_failing_query, args=(app_env.app_url, "no_such_query"), default_timeout=30
    )
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [data.GENERIC_ERROR]
    assert "no_such_query" not in at.error[0].value
    assert any("dashboard query failed" in r.message for r in caplog.records)


# ---- empty states ---------------------------------------------------------------------------


@pytest.mark.parametrize(("file", "title"), PAGES)
def test_a_period_without_data_is_explained(app_env: Demo, file: str, title: str) -> None:
    engine = engines.make_engine(app_env.app_url, pool_size=1)
    try:
        first, last = queries.data_range(
            engine, queries.scope_for_user(engine, app_env.users[CHAIRMAN]), tz="UTC"
        )
    finally:
        engine.dispose()
    assert first is not None and last is not None
    query = {"from": "1990-01-01", "to": "1990-01-31"}
    at = open_page(app_for(app_env, CHAIRMAN, query), file)
    assert_clean(at)
    # What is missing, when the data there is begins and ends, and what to do.
    assert [i.value for i in at.info] == [
        fmt.markdown_text(
            "No data from 1 Jan 1990 – 31 Jan 1990 in the companies you can see. They have "
            f"data from {fmt.period(first.date(), last.date())}: choose a period within it."
        )
    ]
    assert not at.get("plotly_chart")


def test_filters_that_exclude_everything_are_explained(app_env: Demo) -> None:
    engine = engines.make_engine(app_env.app_url, pool_size=1)
    try:
        scope = queries.scope_for_user(engine, app_env.users[CHAIRMAN])
        today = date.today()
        period = Filters(start=today - timedelta(days=6), end=today)
        assert queries.count_rows(engine, scope, period) > 0
        # A stage without rows this week, found through the query layer.
        empty_stage = next(
            s
            for s in range(1, 41)
            if queries.count_rows(engine, scope, replace(period, stages=(s,))) == 0
        )
    finally:
        engine.dispose()
    query = {"stage": str(empty_stage), "from": period.start.isoformat(), "to": today.isoformat()}
    at = open_page(app_for(app_env, CHAIRMAN, query), "error_rates.py")
    assert_clean(at)
    assert len(at.info) == 1
    assert at.info[0].value.startswith("The filters exclude everything")


def test_filters_the_query_layer_refuses_are_explained_without_retry(app_env: Demo) -> None:
    # The previous period of this one would begin before 1970: the KPIs cannot compare.
    query = {"from": "1971-01-01", "to": "2026-01-01"}
    at = open_page(app_for(app_env, CHAIRMAN, query), "overview.py")
    assert not at.exception
    assert len(at.error) == 1
    assert "1970" in at.error[0].value
    assert at.error[0].value.endswith("Change the filters in the sidebar.")
    assert "Retry" not in [b.label for b in at.button]
