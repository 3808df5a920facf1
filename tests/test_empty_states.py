"""The first day in production: every page on an empty table, on one row (with its figures, or
with none but where and when), on rows in a few stages only, on a company of the user without
rows (while another has some) and on a period before the first row.

Each state is its own small database, built as the owner: a user with access to two companies,
X (never any rows) and Y (the rows of the state, if any). Every page of the registry is drawn
through AppTest as the app runs it, and must explain itself: no exception or error, no "None",
"NaN" or "NaT" in any text or cell, no chart drawn without data, and where there is nothing to
show, a message that says what is missing.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from metrics_world import INSERT_METRIC
from security.apptest import APP, PAGES, open_page, record_downloads, shot
from security.elements import Snapshot
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from streamlit.proto.Dataframe_pb2 import Dataframe
from streamlit.testing.v1 import AppTest

from dashboard.charts import format as fmt
from dashboard.ui import data, sidebar
from dashboard.ui.auth import SESSION_KEY
from dashboard.web import sessions
from queries import admin as admin_users
from queries import config, engines, schema

EMAIL = "first-day@orchdash.test"
X = "00000000-0000-4000-8000-0000000000a1"  # the user's company without rows
Y = "00000000-0000-4000-8000-0000000000b2"  # the user's company with the rows, if any
VENTURES = {
    "00000000-0000-4000-8000-0000000000c1": (X, "Xylo launch"),
    "00000000-0000-4000-8000-0000000000c2": (Y, "Yonder app"),
    "00000000-0000-4000-8000-0000000000c3": (Y, "Yonder ads"),
}
NOW = datetime.now(UTC).replace(microsecond=0)
# "None", "NaN", "nan", "NaT" (and "<NA>") as words a reader would see.
MISSING = re.compile(r"\b(None|NaN|nan|NaT)\b|<NA>")


@dataclass(frozen=True)
class Database:
    app_url: str
    user_id: str


def _row(venture: str, stage: int, at: datetime, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "metric_id": str(uuid.uuid4()),
        "session_id": None,
        "company_id": Y,
        "venture_id": venture,
        "stage_id": stage,
        "stage_duration": timedelta(minutes=42),
        "handoff_efficiency": Decimal("81.5"),
        "error_rate": Decimal("0.05"),
        "action_count": 20,
        "success_count": 18,
        "failure_count": 2,
        "agent_response_time": timedelta(seconds=3),
        "agent_utilization": Decimal("55"),
        "agents_involved": ["planner"],
        "chairman_interventions": 1,
        "chairman_approvals": 1,
        "chairman_rejections": 0,
        "compute_cost": Decimal("12.5"),
        "api_calls_made": 30,
        "data_quality_score": Decimal("90"),
        "confidence_score": Decimal("85"),
        "recorded_at": at,
        "metric_period_start": at - timedelta(hours=1),
        "metric_period_end": at,
        "metadata": "{}",
    }
    return row | values


ONE_ROW = [_row("00000000-0000-4000-8000-0000000000c2", 1, NOW - timedelta(hours=2))]
MEASURES = (
    "stage_duration",
    "handoff_efficiency",
    "error_rate",
    "action_count",
    "success_count",
    "failure_count",
    "agent_response_time",
    "agent_utilization",
    "agents_involved",
    "chairman_interventions",
    "chairman_approvals",
    "chairman_rejections",
    "compute_cost",
    "api_calls_made",
    "data_quality_score",
    "confidence_score",
    "metric_period_start",
    "metric_period_end",
    "metadata",
)
# The first row may carry nothing but where and when.
BARE_ROW = [_row("00000000-0000-4000-8000-0000000000c2", 1, NOW, **dict.fromkeys(MEASURES))]
# Y only, in three of the 40 stages, over the last ten days: no previous period to compare with.
SOME_ROWS = [
    _row(venture, stage, NOW - timedelta(days=day, hours=stage))
    for day in range(10)
    for venture in ("00000000-0000-4000-8000-0000000000c2", "00000000-0000-4000-8000-0000000000c3")
    for stage in (1, 2, 5)
]


def _build(new_database: Callable[[str], str], rows: list[dict[str, Any]]) -> Database:
    owner = new_database("orchdash_first_day")
    schema.migrate(owner)
    engine = create_engine(owner, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO companies (id, name) VALUES (:id, :name)"),
            [{"id": X, "name": "Xylo"}, {"id": Y, "name": "Yonder"}],
        )
        conn.execute(
            text("INSERT INTO ventures (id, company_id, name) VALUES (:id, :company, :name)"),
            [{"id": v, "company": c, "name": n} for v, (c, n) in VENTURES.items()],
        )
        if rows:
            conn.execute(text(INSERT_METRIC), rows)
    user_id = admin_users.add_user(engine, EMAIL, "first-day-password")
    for company in (X, Y):
        admin_users.set_access(engine, EMAIL, company, active=True)
    engine.dispose()
    app_url = engines.as_role(owner, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))
    return Database(app_url=app_url, user_id=user_id)


@pytest.fixture(scope="module")
def databases(new_database: Callable[[str], str]) -> Iterator[dict[str, Database]]:
    yield {
        "empty": _build(new_database, []),
        "one row": _build(new_database, ONE_ROW),
        "some rows": _build(new_database, SOME_ROWS),
        "bare row": _build(new_database, BARE_ROW),
    }


@dataclass(frozen=True)
class State:
    database: str
    query: dict[str, Any]
    says: str | None  # the explanation every page gives instead of data; None: pages draw data
    only: tuple[str, ...] = ()  # if given, the pages that give it (the others draw data)


TODAY = NOW.date()
LAST_30_DAYS = fmt.period(TODAY - timedelta(days=29), TODAY)
BEFORE = TODAY - timedelta(days=400)
HELD = fmt.period(
    min(r["recorded_at"] for r in SOME_ROWS).date(), max(r["recorded_at"] for r in SOME_ROWS).date()
)
STATES = {
    "an empty table": State("empty", {}, data.NO_DATA_YET),
    "one row": State("one row", {}, None),
    "one row without figures": State(
        "bare row",
        {},
        f"The rows from {LAST_30_DAYS} (1) do not yet record what this page shows. It fills in "
        "once they do.",
        only=("Overview", "Agents"),  # no actions, no agents; the others draw the row's stage
    ),
    "rows only in some stages": State("some rows", {}, None),
    "a company without rows": State(
        "some rows",
        {"company": X},
        "The filters exclude everything: no rows for the chosen companies, ventures, stages and "
        f"agents from {LAST_30_DAYS}. Clear some of them to see data: the companies you can "
        f"see have data from {HELD}.",
    ),
    "a period before the first row": State(
        "some rows",
        {"from": BEFORE.isoformat(), "to": (BEFORE + timedelta(days=30)).isoformat()},
        f"No data from {fmt.period(BEFORE, BEFORE + timedelta(days=30))} in the companies you can "
        f"see. They have data from {HELD}: choose a period within it.",
    ),
}


def app_for(database: Database, query: dict[str, Any]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state[SESSION_KEY] = sessions.store().create(database.user_id, EMAIL)
    at.query_params.update(query)
    return at


def missing_words(page: Snapshot) -> list[str]:
    """Every text or cell that shows a missing value as Python or pandas print it."""
    found = [s for s in page.strings() if MISSING.search(s)]
    # A table draws an empty cell as "None" unless it is given a placeholder.
    for table, frame in zip(page.of(Dataframe), page.frames, strict=True):
        if not table.placeholder:
            for column in frame.columns:
                found += [f"{column}: {v!r}" for v in frame[column] if fmt.is_missing(v)]
    return found


def empty_charts(page: Snapshot) -> list[str]:
    """The titles of charts drawn without any trace that holds data."""

    def drawn(trace: dict[str, Any]) -> bool:
        return any(trace.get(axis) not in (None, [], {}) for axis in ("x", "y", "z", "values"))

    return [
        json.dumps(chart.get("layout", {}).get("title", ""))
        for chart in page.charts
        if not any(drawn(t) for t in chart.get("data", []))
    ]


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHDASH_ADMIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("ORCHDASH_TIMEZONE", "UTC")
    record_downloads(monkeypatch)


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize(("file", "title"), PAGES)
def test_each_page_explains_itself(
    databases: dict[str, Database],
    app_env: None,
    monkeypatch: pytest.MonkeyPatch,
    file: str,
    title: str,
    state: str,
) -> None:
    chosen = STATES[state]
    database = databases[chosen.database]
    monkeypatch.setenv("DATABASE_URL", database.app_url)
    at = open_page(app_for(database, chosen.query), file)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert not at.warning, [w.value for w in at.warning]
    assert [t.value for t in at.title] == [title]
    if "company" in chosen.query:
        assert at.multiselect(key=sidebar.KEY_COMPANIES).value == [X]
    page = shot(at)
    assert missing_words(page) == []
    assert empty_charts(page) == []
    if chosen.says is not None and title in (
        chosen.only or (title,)
    ):  # what is missing, since when data exists, what to do
        assert [i.value for i in at.info] == [fmt.markdown_text(chosen.says)]
        assert not page.charts
    else:
        assert page.charts or page.frames


@pytest.mark.parametrize("file", ["overview.py", "venture_health.py"])
def test_what_changed_shows_a_dash_for_ventures_it_does_not_score(
    databases: dict[str, Database], app_env: None, monkeypatch: pytest.MonkeyPatch, file: str
) -> None:
    database = databases["some rows"]  # ten days of rows, none in the previous period
    monkeypatch.setenv("DATABASE_URL", database.app_url)
    page = shot(open_page(app_for(database, {}), file))
    ranking = [
        (table, frame)
        for table, frame in zip(page.of(Dataframe), page.frames, strict=True)
        if "Score (z)" in frame.columns
    ]
    assert len(ranking) == 1
    table, frame = ranking[0]
    assert sorted(frame["Venture"]) == ["Yonder ads", "Yonder app"]
    assert frame["Score (z)"].isna().all()
    assert table.placeholder == fmt.NO_VALUE == "–"
    assert all(r.startswith("fewer than") for r in frame["Reason"])
