"""A small deterministic world of orchestration metrics, and the figures expected from it.

``build(new_database)`` creates one database per test session (cached), migrates it and inserts
the world as the owner. The expected figures are computed here in pandas straight from the rows
as generated in Python, never from the database and never with the code under test.

The world: six companies (one named like a formula, one like an injection, one nobody may see),
ventures with hostile names, users with active, inactive, mixed, revocable and no access, and
~3,000 metric rows between 2025-12-20 and 2026-03-20 with NULLs in every nullable column, NULL
companies, negative numbers, and recorded_at clustered around local midnight in UTC,
America/New_York (both sides of its DST change) and Asia/Kolkata.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from queries import Filters, config, engines, schema
from queries.criteria import GRAINS

SEED = 20260101
FIRST_DAY = date(2025, 12, 20)
LAST_DAY = date(2026, 3, 20)
TIMEZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")

COMPANY_NAMES = {
    "acme": "Acme Holdings",
    "formula": '=HYPERLINK("http://evil.example","click")',
    "globex": "Globex",
    "hostile": "Robert'); DROP TABLE companies; SELECT pg_sleep(10); --",
    "initech": "Initech",
    "umbrella": "Umbrella (nobody's)",
}
VENTURE_NAMES = {
    "acme": ["Rocket", "-42", "+SUM(A1:A9)"],
    "formula": ["@cmd", "\tTabbed", "Plain"],
    "globex": ["\rCarriage", "＝全角", 'Quote "q", comma\nand newline'],
    "hostile": ["＋Plus", "'; SELECT pg_sleep(10); --"],
    "initech": ["－Minus", "＠At"],
    "umbrella": ["Hidden"],
}
# label: {company label: is_active}
ACCESS = {
    "multi": {"acme": True, "formula": True, "globex": True, "initech": False},
    "single": {"globex": True},
    "hostile": {"hostile": True, "acme": True},
    "inactive": {"initech": False},
    "revocable": {"initech": True},
    "none": {},
}


@dataclass
class World:
    url: str
    companies: dict[str, str]  # label -> id
    company_names: dict[str, str]  # id -> name
    ventures: pd.DataFrame  # venture_id, venture, company_id
    users: dict[str, str]  # label -> id
    access: list[dict[str, Any]]
    rows: pd.DataFrame  # the metrics as generated; see _frame()

    def active(self, user_id: str) -> set[str]:
        return {a["company_id"] for a in self.access if a["user_id"] == user_id and a["is_active"]}

    @property
    def all_company_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.companies.values()))


_worlds: dict[int, World] = {}


# Fixtures for the test modules to import: the world is built once, whichever module asks first.
@pytest.fixture(scope="session")
def world(new_database: Callable[[str], str]) -> World:
    return build(new_database)


@pytest.fixture(scope="module")
def world_app_url(world: World) -> str:
    """The world's database as the app's runtime role (world_app: its engine)."""
    return engines.as_role(world.url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))


@pytest.fixture(scope="module")
def world_app(world_app_url: str) -> Iterator[Engine]:
    engine = engines.make_engine(world_app_url)
    yield engine
    engine.dispose()


INSERT_METRIC = """
    INSERT INTO orchestration_metrics (
        metric_id, session_id, company_id, venture_id, stage_id, stage_duration,
        handoff_efficiency, error_rate, action_count, success_count, failure_count,
        agent_response_time, agent_utilization, agents_involved, chairman_interventions,
        chairman_approvals, chairman_rejections, compute_cost, api_calls_made, data_quality_score,
        confidence_score, recorded_at, metric_period_start, metric_period_end, metadata
    ) VALUES (
        :metric_id, :session_id, :company_id, :venture_id, :stage_id, :stage_duration,
        :handoff_efficiency, :error_rate, :action_count, :success_count, :failure_count,
        :agent_response_time, :agent_utilization, :agents_involved, :chairman_interventions,
        :chairman_approvals, :chairman_rejections, :compute_cost, :api_calls_made,
        :data_quality_score, :confidence_score, :recorded_at, :metric_period_start,
        :metric_period_end, CAST(:metadata AS jsonb)
    )
"""


def build(new_database: Callable[[str], str]) -> World:
    """The world in a fresh database, built once per test session (new_database drops it)."""
    key = id(new_database)
    if key not in _worlds:
        _worlds[key] = _build(new_database("orchdash_metrics"))
    return _worlds[key]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _build(url: str) -> World:
    rng = random.Random(SEED)
    companies = {label: _uuid(rng) for label in COMPANY_NAMES}
    ventures = [
        {"id": _uuid(rng), "company_id": companies[label], "name": name}
        for label, names in VENTURE_NAMES.items()
        for name in names
    ]
    users = {label: _uuid(rng) for label in ACCESS}
    access = [
        {"user_id": users[u], "company_id": companies[c], "is_active": active}
        for u, grants in ACCESS.items()
        for c, active in grants.items()
    ]
    sessions = [
        {"session_id": _uuid(rng), "company_id": v["company_id"], "venture_id": v["id"]}
        for v in ventures[::2]
    ]
    metrics = _metrics(rng, list(companies.values()), ventures, sessions)

    schema.migrate(url)
    owner = create_engine(url, poolclass=NullPool)
    with owner.begin() as conn:
        conn.execute(
            text("INSERT INTO auth.users (id, email) VALUES (:id, :email)"),
            [{"id": uid, "email": f"{label}@world.test"} for label, uid in users.items()],
        )
        conn.execute(
            text("INSERT INTO companies (id, name) VALUES (:id, :name)"),
            [{"id": cid, "name": COMPANY_NAMES[label]} for label, cid in companies.items()],
        )
        conn.execute(
            text("INSERT INTO ventures (id, company_id, name) VALUES (:id, :company_id, :name)"),
            ventures,
        )
        conn.execute(
            text(
                "INSERT INTO eva_orchestration_sessions (session_id, company_id, venture_id)"
                " VALUES (:session_id, :company_id, :venture_id)"
            ),
            sessions,
        )
        conn.execute(
            text(
                "INSERT INTO user_company_access (user_id, company_id, is_active)"
                " VALUES (:user_id, :company_id, :is_active)"
            ),
            access,
        )
        conn.execute(
            text(INSERT_METRIC),
            [m | {"metadata": json.dumps(m["metadata"])} for m in metrics],
        )
    owner.dispose()
    return World(
        url=url,
        companies=companies,
        company_names={companies[k]: v for k, v in COMPANY_NAMES.items()},
        ventures=pd.DataFrame(
            {
                "venture_id": [v["id"] for v in ventures],
                "venture": [v["name"] for v in ventures],
                "company_id": [v["company_id"] for v in ventures],
            }
        ),
        users=users,
        access=access,
        rows=_frame(metrics, companies, ventures),
    )


def _maybe(rng: random.Random, value: Any, null_share: float = 0.1) -> Any:
    return None if rng.random() < null_share else value


def _recorded_at(rng: random.Random, day: date) -> datetime | None:
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    # Local midnights as UTC times: UTC, New York (EST, EDT), Kolkata (the day before).
    boundaries = [timedelta(0), timedelta(hours=5), timedelta(hours=4), timedelta(hours=-5.5)]
    pick = rng.random()
    if pick < 0.01:
        return None
    if pick < 0.05:  # exactly on a boundary: the half-open periods and buckets must agree
        return midnight + rng.choice(boundaries)
    if pick < 0.55:
        offset = timedelta(seconds=rng.uniform(-180, 180), microseconds=rng.randrange(10**6))
        return midnight + rng.choice(boundaries) + offset
    return midnight + timedelta(seconds=rng.uniform(0, 86400))


def _decimal(rng: random.Random, low: float, high: float, places: int) -> Decimal:
    return round(Decimal(rng.uniform(low, high)), places)


def _metrics(
    rng: random.Random,
    company_ids: list[str],
    ventures: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    by_company: dict[str, list[str]] = {}
    for v in ventures:
        by_company.setdefault(v["company_id"], []).append(v["id"])
    session_of = {s["venture_id"]: s["session_id"] for s in sessions}
    span = (LAST_DAY - FIRST_DAY).days
    rows = []
    for _ in range(3000):
        company = None if rng.random() < 0.05 else rng.choice(company_ids)
        if company is None:
            venture = rng.choice([None, rng.choice(ventures)["id"]])
        else:
            venture = None if rng.random() < 0.1 else rng.choice(by_company[company])
        recorded = _recorded_at(rng, FIRST_DAY + timedelta(days=rng.randrange(span + 1)))
        stage = rng.choice([rng.randint(1, 8), rng.randint(1, 40)])
        agents = rng.choice(["planner", "=evil()", "-minus", "reviewer", "a,b"])
        rows.append(
            {
                "metric_id": _uuid(rng),
                "session_id": session_of.get(venture) if rng.random() < 0.3 else None,
                "company_id": company,
                "venture_id": venture,
                "stage_id": _maybe(rng, stage, 0.05),
                "stage_duration": _maybe(
                    rng,
                    timedelta(
                        seconds=rng.uniform(-600, 3 * 86400), microseconds=rng.randrange(10**6)
                    ),
                ),
                "handoff_efficiency": _maybe(rng, _decimal(rng, 40, 100, 2)),
                "error_rate": _maybe(rng, _decimal(rng, 0, 0.4, 4)),
                "action_count": _maybe(rng, rng.choice([0, rng.randint(1, 60)]), 0.05),
                "success_count": _maybe(rng, rng.randint(0, 50)),
                "failure_count": _maybe(rng, rng.randint(0, 10)),
                "agent_response_time": _maybe(rng, timedelta(milliseconds=rng.randint(1, 90000))),
                "agent_utilization": _maybe(rng, _decimal(rng, 0, 100, 2)),
                "agents_involved": _maybe(rng, [agents, "planner"][: rng.randint(0, 2)]),
                "chairman_interventions": _maybe(rng, rng.randint(0, 3)),
                "chairman_approvals": _maybe(rng, rng.randint(0, 3)),
                "chairman_rejections": _maybe(rng, rng.randint(0, 2)),
                "compute_cost": _maybe(rng, _decimal(rng, -20, 500, 2)),
                "api_calls_made": _maybe(rng, rng.randint(0, 400)),
                "data_quality_score": _maybe(rng, _decimal(rng, 0, 100, 2)),
                "confidence_score": _maybe(rng, _decimal(rng, 0, 100, 2)),
                "recorded_at": recorded,
                "metric_period_start": recorded - timedelta(hours=1) if recorded else None,
                "metric_period_end": _maybe(rng, recorded),
                "metadata": _maybe(rng, rng.choice([{}, {"note": "=1+2"}, {"k": [1, -2.5]}])),
            }
        )
    return rows


def _frame(
    metrics: list[dict[str, Any]], companies: dict[str, str], ventures: list[dict[str, Any]]
) -> pd.DataFrame:
    """The generated rows with plain Python/pandas values: seconds, floats, UTC timestamps."""
    frame = pd.DataFrame(metrics)
    for col in ("stage_duration", "agent_response_time"):
        frame[col] = [np.nan if v is None else v.total_seconds() for v in frame[col]]
    for col in (
        "handoff_efficiency",
        "error_rate",
        "agent_utilization",
        "compute_cost",
        "data_quality_score",
        "confidence_score",
    ):
        frame[col] = [np.nan if v is None else float(v) for v in frame[col]]
    for col in ("recorded_at", "metric_period_start", "metric_period_end"):
        frame[col] = pd.to_datetime(frame[col].astype(object), utc=True)
    names = {cid: COMPANY_NAMES[label] for label, cid in companies.items()}
    venture_names = {(v["id"], v["company_id"]): v["name"] for v in ventures}
    frame["company"] = [names.get(c) for c in frame["company_id"]]
    frame["venture"] = [
        venture_names.get((v, c))
        for v, c in zip(frame["venture_id"], frame["company_id"], strict=True)
    ]
    return frame


# ---------------------------------------------------------------- drawing filters

GHOST_COMPANY = "00000000-0000-4000-8000-00000000c0de"
GHOST_VENTURE = "00000000-0000-4000-8000-0000000000fe"
# Weighted towards the user who sees most; the others see one company, or nothing.
DRAWN_USERS = ("multi", "multi", "multi", "single", "hostile", "inactive", "none")


@st.composite
def choices(draw: st.DrawFn, world: World) -> tuple[str, Filters]:
    """A user id and filters: periods in and around the data, companies and ventures of their
    own, of others and unknown, stages, every grain and zone."""
    user = world.users[draw(st.sampled_from(DRAWN_USERS))]
    start = draw(st.dates(FIRST_DAY - timedelta(days=10), LAST_DAY))
    end = start + timedelta(days=draw(st.integers(0, 80)))

    def some(values: tuple[Any, ...], size: int) -> st.SearchStrategy[tuple[Any, ...]]:
        picks = st.lists(st.sampled_from(values), max_size=size, unique=True).map(tuple)
        return st.one_of(st.just(()), picks)

    return user, Filters(
        start=start,
        end=end,
        company_ids=draw(some((*world.all_company_ids, GHOST_COMPANY), 3)),
        venture_ids=draw(some((*world.ventures["venture_id"], GHOST_VENTURE), 4)),
        stages=draw(some(tuple(range(1, 41)), 6)),
        grain=draw(st.sampled_from(GRAINS)),
        tz=draw(st.sampled_from(TIMEZONES)),
    )


# ---------------------------------------------------------------- the expected figures


def selected(
    world: World,
    user_id: str,
    start: date,
    end: date,
    tz: str,
    company_ids: tuple[str, ...] = (),
    venture_ids: tuple[str, ...] = (),
    stages: tuple[int, ...] = (),
) -> pd.DataFrame:
    """The raw rows a user may see under these filters."""
    visible = world.active(user_id)
    allowed = visible & set(company_ids) if company_ids else visible
    rows = world.rows
    first = pd.Timestamp(start).tz_localize(tz)
    after = pd.Timestamp(end + timedelta(days=1)).tz_localize(tz)
    mask = rows["company_id"].isin(allowed) & (rows["recorded_at"] >= first)
    mask &= rows["recorded_at"] < after
    if venture_ids:
        mask &= rows["venture_id"].isin(venture_ids)
    if stages:
        mask &= rows["stage_id"].isin(stages)
    return rows[mask.fillna(False).astype(bool)]


def weighted(rows: pd.DataFrame, column: str) -> float:
    counts = rows["action_count"].astype("float64")
    ok = rows[column].notna() & counts.notna() & (counts > 0)
    if not ok.any():
        return float("nan")
    return float((rows[column][ok] * counts[ok]).sum() / counts[ok].sum())


def _int_sum(series: pd.Series) -> int:
    return int(series.dropna().astype("int64").sum())


def _mean(series: pd.Series) -> float:
    values = series.dropna()
    return float(values.mean()) if len(values) else float("nan")


def measures(rows: pd.DataFrame) -> dict[str, Any]:
    """The measures of one group, as DESIGN.md defines them."""
    return {
        "rows": len(rows),
        "actions": _int_sum(rows["action_count"]),
        "successes": _int_sum(rows["success_count"]),
        "failures": _int_sum(rows["failure_count"]),
        "error_rate": weighted(rows, "error_rate"),
        "handoff_efficiency": weighted(rows, "handoff_efficiency"),
        "mean_stage_duration_s": _mean(rows["stage_duration"]),
        "interventions": _int_sum(rows["chairman_interventions"]),
        "approvals": _int_sum(rows["chairman_approvals"]),
        "rejections": _int_sum(rows["chairman_rejections"]),
        "compute_cost": float(rows["compute_cost"].dropna().sum()),
        "api_calls": _int_sum(rows["api_calls_made"]),
        "data_quality": _mean(rows["data_quality_score"]),
        "confidence": _mean(rows["confidence_score"]),
    }


def buckets(stamps: pd.Series, grain: str, tz: str) -> pd.Series:
    """Start of the local day, ISO week (Monday) or month of each timestamp, tz-aware in tz."""
    wall = stamps.dt.tz_convert(tz).dt.tz_localize(None)
    if grain == "day":
        start = wall.dt.normalize()
    elif grain == "week":
        start = wall.dt.normalize() - pd.to_timedelta(wall.dt.day_of_week, unit="D")
    else:
        start = wall.dt.to_period("M").dt.start_time
    return start.dt.tz_localize(tz)


def previous_period(start: date, end: date) -> tuple[date, date]:
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


MEASURE_NAMES = (
    "actions successes failures error_rate handoff_efficiency mean_stage_duration_s interventions"
    " approvals rejections compute_cost api_calls data_quality confidence"
).split()


def world_columns() -> list[str]:
    """The spec's 25 columns in its order, then the names (DESIGN.md's metric_rows and CSV)."""
    spec = (
        "metric_id session_id company_id venture_id stage_id stage_duration handoff_efficiency"
        " error_rate action_count success_count failure_count agent_response_time"
        " agent_utilization agents_involved chairman_interventions chairman_approvals"
        " chairman_rejections compute_cost api_calls_made data_quality_score confidence_score"
        " recorded_at metric_period_start metric_period_end metadata"
    ).split()
    assert len(spec) == 25
    return [*spec, "company", "venture"]
