"""Venture health (queries.health) against independent pandas computations on fixtures.

The heatmap cells, baselines, peer benchmark and low-confidence shares are recomputed from the
metrics world's raw rows (tests/metrics_world.py) for hypothesis-drawn users and filters. The
"What changed" ranking is recomputed the same way, and on a planted world of its own: one venture
deteriorates, one tiny venture swings wildly; the ranking must put the first on top and not be
fooled by the second.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import metrics_world as mw
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

import queries
from queries import (
    Filters,
    Scope,
    changes,
    config,
    engines,
    health,
    schema,
    sqlfiles,
    totals,
    transactions,
)
from queries.criteria import sql_params
from queries.errors import InvalidFilter

GIVEN = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def close(a: Any, b: Any) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def assert_same(
    actual: pd.DataFrame, expected: pd.DataFrame, key: list[str], exact: tuple[str, ...]
) -> None:
    """Every expected column equal in the actual frame, row by row on ``key``; floats close."""
    got = actual.set_index(key).sort_index()
    want = expected.set_index(key).sort_index()
    assert list(got.index) == list(want.index)
    for column in want.columns:
        if column in exact:
            assert list(got[column]) == list(want[column]), column
            continue
        wrong = [(i, a, b) for i, a, b in zip(got.index, got[column], want[column], strict=True)
                 if not close(a, b)]  # fmt: skip
        assert not wrong, (column, wrong[:3])


def in_view(world: mw.World, user: str, f: Filters, start: date | None = None) -> pd.DataFrame:
    """The rows the comparisons run over: the scope and chosen companies, the period and stages,
    with a venture; the venture choice is not applied (baselines are over everything in view)."""
    rows = mw.selected(
        world,
        user,
        start or f.start,
        f.end if start is None else f.start - timedelta(days=1),
        f.tz,
        f.company_ids,
        (),
        f.stages,
    )
    return rows[rows["venture_id"].notna()]


def _weighted_base(rows: pd.DataFrame, column: str, low: pd.Series) -> tuple[float, float]:
    counts = rows["action_count"].astype("float64")
    ok = rows[column].notna() & counts.notna() & (counts > 0)
    total = counts[ok].sum()
    share = counts[ok & low].sum() / total if total > 0 else math.nan
    return mw.weighted(rows, column), share


def expected_cells(world: mw.World, user: str, f: Filters, threshold: float) -> pd.DataFrame:
    rows = in_view(world, user, f)
    rows = rows[rows["stage_id"].notna()]
    low = (rows["data_quality_score"] < threshold) | (rows["confidence_score"] < threshold)
    cells = []
    for (company, venture, stage), group in rows.groupby(["company_id", "venture_id", "stage_id"]):
        g_low = low[group.index]
        durations = group["stage_duration"]
        measured = durations.notna()
        error, error_low = _weighted_base(group, "error_rate", g_low)
        handoff, handoff_low = _weighted_base(group, "handoff_efficiency", g_low)
        cells.append(
            {
                "company_id": company,
                "venture_id": venture,
                "stage_id": int(stage),
                "rows": len(group),
                "actions": int(group["action_count"].dropna().sum()),
                "p50_s": float(np.percentile(durations[measured], 50))
                if measured.any()
                else math.nan,
                "error_rate": error,
                "handoff_efficiency": handoff,
                "low_share_duration": (
                    (measured & g_low).sum() / measured.sum() if measured.any() else math.nan
                ),
                "low_share_error_rate": error_low,
                "low_share_handoff_efficiency": handoff_low,
            }
        )
    frame = pd.DataFrame(cells)
    if frame.empty:
        return frame
    # The baselines: every row in view at the stage, with a venture or without.
    every = mw.selected(world, user, f.start, f.end, f.tz, f.company_ids, (), f.stages)
    for stage, group in every[every["stage_id"].notna()].groupby("stage_id"):
        at = frame["stage_id"] == int(stage)
        d = group["stage_duration"].dropna()
        frame.loc[at, "base_p50_s"] = float(np.percentile(d, 50)) if len(d) else math.nan
        frame.loc[at, "base_error_rate"] = mw.weighted(group, "error_rate")
        frame.loc[at, "base_handoff_efficiency"] = mw.weighted(group, "handoff_efficiency")
    for column in ("p50_s", "error_rate", "handoff_efficiency"):
        peers, counts = [], []
        for i, cell in frame.iterrows():
            others = frame[(frame["stage_id"] == cell["stage_id"]) & (frame.index != i)][column]
            others = others.dropna()
            peers.append(float(np.median(others)) if len(others) else math.nan)
            counts.append(len(others))
        frame[f"peer_{column}"] = peers
        if column == "p50_s":
            frame["peers"] = counts
    if f.venture_ids:
        frame = frame[frame["venture_id"].isin(f.venture_ids)]
    return frame


@pytest.fixture(scope="module")
def app(world_app: Engine) -> Engine:
    return world_app


@GIVEN
@given(data=st.data(), threshold=st.sampled_from([0.0, 37.5, 60.0, 100.0]))
def test_cells_baselines_peers_and_low_confidence_shares(
    app: Engine, world: mw.World, data: st.DataObject, threshold: float
) -> None:
    user, f = data.draw(mw.choices(world))
    scope = queries.scope_for_user(app, user)
    actual = health.venture_stage_health(app, scope, f, threshold=threshold)
    assert list(actual.columns) == list(health.CELLS)
    expected = expected_cells(world, user, f, threshold)
    assert len(actual) == len(expected)
    if expected.empty:
        return
    key = ["venture_id", "stage_id"]
    assert_same(actual, expected, key, exact=("company_id",))
    assert set(actual["company_id"]) <= set(scope.company_ids)


def test_cells_are_not_vacuous(app: Engine, world: mw.World) -> None:
    user = world.users["multi"]
    f = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY)
    cells = health.venture_stage_health(app, queries.scope_for_user(app, user), f)
    assert len(cells) > 50
    assert cells["peer_p50_s"].notna().sum() > 20
    assert 0 < cells["low_share_error_rate"].mean() < 1
    # A baseline differs from the cell wherever several ventures share the stage.
    assert (cells["base_error_rate"] != cells["error_rate"]).any()


def test_worse_by_says_which_way_is_worse() -> None:
    assert health.worse_by(150.0, 100.0, "duration") == 50.0
    assert health.worse_by(50.0, 100.0, "duration") == -50.0
    assert math.isnan(health.worse_by(50.0, 0.0, "duration"))
    assert health.worse_by(0.07, 0.05, "error_rate") == pytest.approx(2.0)
    assert health.worse_by(90.0, 95.0, "handoff_efficiency") == 5.0
    assert math.isnan(health.worse_by(None, 1.0, "error_rate"))
    with pytest.raises(ValueError):
        health.worse_by(1, 1, "cost")


def test_heatmap_cells_are_one_measure_against_one_reference(app: Engine, world: mw.World) -> None:
    f = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY)
    cells = health.venture_stage_health(app, queries.scope_for_user(app, world.users["multi"]), f)
    for measure, column in health.VALUE_COLUMN.items():
        for against in ("base", "peer"):
            one = queries.heatmap_cells(cells, measure, against)
            assert list(one.columns) == list(health.HEATMAP) and one.index.equals(cells.index)
            for name, source in (("value", column), ("base", f"base_{column}"), ("peers", "peers")):
                assert one[name].equals(cells[source]), name
            assert one["low_share"].equals(cells[f"low_share_{measure}"])
            worse = [
                health.worse_by(v, r, measure)
                for v, r in zip(cells[column], cells[f"{against}_{column}"], strict=True)
            ]
            assert one["worse"].equals(pd.Series(worse, index=cells.index, dtype="float64"))
    with pytest.raises(ValueError):
        queries.heatmap_cells(cells, "duration", "median")


@pytest.mark.parametrize("threshold", [-1, 101, "x", float("nan")])
def test_threshold_is_checked(app: Engine, world: mw.World, threshold: Any) -> None:
    scope = Scope(user_id=world.users["multi"], company_ids=(world.companies["acme"],))
    with pytest.raises(InvalidFilter):
        health.venture_stage_health(
            app, scope, Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY), threshold
        )


def test_drill_down_is_the_cells_rows_and_stays_in_scope(app: Engine, world: mw.World) -> None:
    user = world.users["multi"]
    scope = queries.scope_for_user(app, user)
    f = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY, tz="Asia/Kolkata")
    cells = health.venture_stage_health(app, scope, f)
    cell = cells.sort_values("rows").iloc[-1]
    rows = health.cell_rows(app, scope, f, cell["venture_id"], int(cell["stage_id"]))
    assert len(rows) == cell["rows"] > 1
    assert set(rows["venture_id"]) == {cell["venture_id"]}
    assert set(rows["stage_id"]) == {cell["stage_id"]}
    raw = in_view(world, user, f)
    want = raw[(raw["venture_id"] == cell["venture_id"]) & (raw["stage_id"] == cell["stage_id"])]
    assert set(rows["metric_id"]) == set(want["metric_id"])
    # A venture of a company the user cannot see (or an unknown one) selects nothing.
    hidden = world.ventures[world.ventures["company_id"] == world.companies["umbrella"]]
    for venture in (hidden["venture_id"].iloc[0], mw.GHOST_VENTURE):
        assert health.cell_rows(app, scope, f, venture, 1).empty
    # ... also with the RLS lock alone: an engine without the explicit scope cannot widen it.
    wide = Scope(user_id=user, company_ids=world.all_company_ids)
    assert health.cell_rows(app, wide, f, hidden["venture_id"].iloc[0], 1).empty


# ---- What changed ----------------------------------------------------------------------------


def expected_changes(world: mw.World, user: str, f: Filters, minimum: int) -> pd.DataFrame:
    prev_start, _ = mw.previous_period(f.start, f.end)
    now, before = in_view(world, user, f), in_view(world, user, f, start=prev_start)

    def figures(rows: pd.DataFrame) -> dict[str, float]:
        successes = rows["success_count"].dropna().sum()
        costs = rows["compute_cost"].dropna()
        response = rows["agent_response_time"].dropna()
        return {
            "actions": int(rows["action_count"].dropna().sum()),
            "error_rate": mw.weighted(rows, "error_rate"),
            "handoff_efficiency": mw.weighted(rows, "handoff_efficiency"),
            "cost_per_success": (
                float(costs.sum()) / successes if successes and len(costs) else math.nan
            ),
            "response_s": float(response.mean()) if len(response) else math.nan,
        }

    out = []
    for (company, venture), group in now.groupby(["company_id", "venture_id"]):
        old = before[(before["company_id"] == company) & (before["venture_id"] == venture)]
        a, b = figures(group), figures(old) if len(old) else None
        row: dict[str, Any] = {"company_id": company, "venture_id": venture, **a}
        row["prev_actions"] = b["actions"] if b else 0
        row["eligible"] = a["actions"] >= minimum and row["prev_actions"] >= minimum
        for m in changes.CHANGE_MEASURES:
            prev = b[m] if b else math.nan
            row[f"prev_{m}"] = prev
            if m == "error_rate":
                worse = 100 * (a[m] - prev)
            elif m == "handoff_efficiency":
                worse = prev - a[m]
            else:
                worse = (a[m] - prev) / prev * 100 if prev > 0 else math.nan
            row[f"worse_{m}"] = worse
        out.append(row)
    frame = pd.DataFrame(out)
    if frame.empty:
        return frame
    for m in changes.CHANGE_MEASURES:
        values = frame[f"worse_{m}"].where(frame["eligible"]).dropna()
        z = pd.Series(math.nan, index=frame.index)
        if len(values):
            center = float(np.median(values))
            spread = 1.4826 * float(np.median(np.abs(values - center)))
            if spread == 0:
                spread = float(np.std(values))
            for i in values.index:
                z[i] = (values[i] - center) / spread if spread else 0.0
        frame[f"z_{m}"] = z
    frame["score"] = frame[[f"z_{m}" for m in changes.CHANGE_MEASURES]].max(axis=1)
    frame.loc[~frame["eligible"], "score"] = math.nan
    if f.venture_ids:
        frame = frame[frame["venture_id"].isin(f.venture_ids)]
    return frame


@GIVEN
@given(data=st.data(), minimum=st.sampled_from([0, 50, 400]))
def test_changes_equal_pandas(
    app: Engine, world: mw.World, data: st.DataObject, minimum: int
) -> None:
    user, f = data.draw(mw.choices(world))
    scope = queries.scope_for_user(app, user)
    actual = changes.venture_changes(app, scope, f, min_actions=minimum)
    assert list(actual.columns) == list(changes.CHANGES)
    expected = expected_changes(world, user, f, minimum)
    assert len(actual) == len(expected)
    if expected.empty:
        return
    scores = actual["score"]
    assert scores.dropna().is_monotonic_decreasing
    assert scores.isna().sum() == 0 or scores.iloc[-1:].isna().all()
    assert_same(actual, expected, ["venture_id"], exact=("company_id", "eligible"))


@dataclass(frozen=True)
class Planted:
    app_url: str
    user: str
    companies: tuple[str, ...]
    ventures: dict[str, str]  # label -> id


PLANT_END = date(2026, 3, 31)
PLANT_DAYS = 30


def _row(rng: random.Random, company: str, venture: str, day: date, error: float) -> dict[str, Any]:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return {
        "metric_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "session_id": None,
        "company_id": company,
        "venture_id": venture,
        "stage_id": rng.randint(1, 40),
        "stage_duration": timedelta(hours=rng.uniform(1, 3)),
        "handoff_efficiency": round(rng.uniform(88, 92), 2),
        "error_rate": round(min(max(error + rng.uniform(-0.005, 0.005), 0), 1), 4),
        "action_count": 0,  # set by the caller
        "success_count": 10,
        "failure_count": 0,
        "agent_response_time": timedelta(seconds=rng.uniform(9, 11)),
        "agent_utilization": 50,
        "agents_involved": ["planner"],
        "chairman_interventions": 0,
        "chairman_approvals": 0,
        "chairman_rejections": 0,
        "compute_cost": round(rng.uniform(9, 11), 2),
        "api_calls_made": 1,
        "data_quality_score": 90,
        "confidence_score": 90,
        "recorded_at": at,
        "metric_period_start": at,
        "metric_period_end": at,
        "metadata": json.dumps({}),
    }


@pytest.fixture(scope="module")
def planted(new_database: Callable[[str], str]) -> Iterator[Planted]:
    """Two companies, ten steady ventures, one that deteriorates, one tiny and noisy."""
    owner = new_database("orchdash_planted")
    schema.migrate(owner)
    rng = random.Random(7)
    companies = (str(uuid.uuid4()), str(uuid.uuid4()))
    labels = [f"steady-{i}" for i in range(10)] + ["planted", "tiny"]
    ventures = {label: str(uuid.uuid4()) for label in labels}
    user = str(uuid.uuid4())
    rows = []
    start = PLANT_END - timedelta(days=2 * PLANT_DAYS - 1)
    for i, label in enumerate(labels):
        company = companies[i % 2]
        base = 0.03 + 0.002 * i
        for n in range(2 * PLANT_DAYS):
            day = start + timedelta(days=n)
            current = n >= PLANT_DAYS
            if label == "tiny":
                if n % 10:  # a row every ten days, a handful of actions: noise
                    continue
                error, actions = (0.9 if current else 0.0), 2
            else:
                error = base + (0.06 if label == "planted" and current else 0.0)
                actions = 20
            row = _row(rng, company, ventures[label], day, error)
            rows.append(row | {"action_count": actions})
    engine = create_engine(owner, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO auth.users (id, email) VALUES (:id, 'p@x.test')"), {"id": user}
        )
        for company in companies:
            conn.execute(
                text("INSERT INTO companies (id, name) VALUES (:id, 'Co')"), {"id": company}
            )
            conn.execute(
                text("INSERT INTO user_company_access (user_id, company_id) VALUES (:u, :c)"),
                {"u": user, "c": company},
            )
        for i, label in enumerate(labels):
            conn.execute(
                text("INSERT INTO ventures (id, company_id, name) VALUES (:id, :c, :name)"),
                {"id": ventures[label], "c": companies[i % 2], "name": label},
            )
        conn.execute(text(mw.INSERT_METRIC), rows)
    engine.dispose()
    yield Planted(
        app_url=engines.as_role(owner, config.APP_ROLE, None),
        user=user,
        companies=companies,
        ventures=ventures,
    )


def test_ranking_puts_the_planted_venture_first_and_ignores_tiny_noise(planted: Planted) -> None:
    engine = engines.make_engine(planted.app_url, pool_size=1)
    try:
        scope = queries.scope_for_user(engine, planted.user)
        f = Filters(start=PLANT_END - timedelta(days=PLANT_DAYS - 1), end=PLANT_END)
        ranking = changes.venture_changes(engine, scope, f)
        by_id = {v: k for k, v in planted.ventures.items()}
        assert by_id[ranking["venture_id"].iloc[0]] == "planted"
        assert ranking["measure"].iloc[0] == "error_rate"
        assert ranking["reason"].iloc[0].startswith("error rate up from")
        assert ranking["score"].iloc[0] > 3
        tiny = ranking[ranking["venture_id"] == planted.ventures["tiny"]].iloc[0]
        assert not tiny["eligible"] and math.isnan(tiny["score"])
        assert by_id[ranking["venture_id"].iloc[-1]] == "tiny"
        # Not vacuous: without the minimum of actions the tiny venture's noise would win.
        naive = changes.venture_changes(engine, scope, f, min_actions=0)
        assert by_id[naive["venture_id"].iloc[0]] == "tiny"
        # Choosing ventures narrows the list, not the spread they are scored against.
        chosen = Filters(start=f.start, end=f.end, venture_ids=(planted.ventures["planted"],))
        alone = changes.venture_changes(engine, scope, chosen)
        assert alone["score"].tolist() == [ranking["score"].iloc[0]]
    finally:
        engine.dispose()


def test_empty_scope_answers_without_the_database(world: mw.World) -> None:
    nowhere = engines.make_engine(
        "postgresql+psycopg://nobody@/none?host=/nonexistent", pool_timeout=1
    )
    f = Filters(start=date(2026, 1, 1), end=date(2026, 1, 31))
    mine = Scope(user_id=world.users["single"], company_ids=(world.companies["globex"],))
    other = Filters(start=f.start, end=f.end, company_ids=(world.companies["acme"],))
    for scope, filters in ((Scope(user_id=world.users["none"]), f), (mine, other)):
        assert health.venture_stage_health(nowhere, scope, filters).empty
        assert changes.venture_changes(nowhere, scope, filters).empty
        assert health.cell_rows(nowhere, scope, filters, world.ventures["venture_id"][0], 3).empty
    nowhere.dispose()


def test_cell_medians_read_each_cell_through_the_index_under_rls(
    app: Engine, world: mw.World
) -> None:
    """Each cell's median reads its own durations of the period in order, by an index range
    (venture, stage, duration) as the user: in the rollups' zone from the floor of the bin that
    the venture histograms give for the middle rank, in another zone from the shortest up to the
    middle one (no sort at all, and no scan of the period's rows as a whole); with agents
    chosen, each cell sorts only its own rows."""
    user = world.users["multi"]
    scope = queries.scope_for_user(app, user)
    f = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY, tz="UTC")
    cells = totals.venture_stages(app, scope, f, 60.0)
    cells = cells[cells["venture_id"].notna()]
    params = sql_params(scope, f)
    assert params is not None and len(cells) > 50
    params |= {
        "cell_companies": list(cells["company_id"]),
        "cell_ventures": list(cells["venture_id"]),
        "cell_stages": [int(s) for s in cells["stage_id"]],
        "cell_measured": [int(n) for n in cells["measured"]],
    }
    params |= {"first_day": f.start, "last_day": f.end}
    statement = sqlfiles.load("health_medians")
    for agents, tz in (((), "UTC"), ((), "Asia/Kathmandu"), (("planner",), "UTC")):
        chosen = params | {"agents": list(agents), "tz": tz}
        bound = {key: chosen[key] for key in statement._bindparams}
        with transactions.scoped(app, user) as conn:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            conn.execute(text("SET LOCAL enable_bitmapscan = off"))
            plan = (
                conn.execute(text("EXPLAIN (ANALYZE, COSTS OFF) " + statement.text), bound)
                .scalars()
                .all()
            )
        shown = "\n".join(plan)
        ran = [i for i, line in enumerate(plan) if "Scan" in line and "never executed" not in line
               and "orchestration_metrics" in line]  # fmt: skip
        assert ran, shown
        for i in ran:
            assert "Index" in plan[i], shown
            assert re.search(r"venture_id = c(_\d+)?\.venture_id", plan[i + 1]), shown
            assert re.search(r"stage_id = c(_\d+)?\.stage_id", plan[i + 1]), shown
        # The ordered read: a Limit straight above the scan of 0008's index (Buffers between).
        ordered = [i for i, line in enumerate(plan)
                   if "orchdash_metrics_venture_durations" in line
                   and "->  Limit" in plan[i - 1] + plan[i - 2]]  # fmt: skip
        assert ordered, shown
        prefixes = [line for line in plan if "on venture_day_prefix" in line]
        if agents:  # the sorted branch: the binned and ordered ones never run
            assert all("never executed" in plan[i] for i in ordered), shown
            assert all("never executed" in line for line in prefixes), shown
            continue
        assert not any("never executed" in plan[i] for i in ordered), shown
        assert "orchdash_metrics_venture_durations" in "".join(plan[i] for i in ran), shown
        if tz == "UTC":  # the rollups' zone: binned, each cell's scan starts at its bin's floor
            assert prefixes and not any("never executed" in line for line in prefixes), shown
            assert all("stage_duration >= " in plan[i + 1] for i in ran), shown
        else:
            assert all("never executed" in line for line in prefixes), shown
        # No cell's durations sorted (the log's few rows may be, to group them by bin).
        sort_node = re.compile(r"(^|->  )Sort \(")
        sorts = [i for i, line in enumerate(plan)
                 if sort_node.search(line) and "never executed" not in line]  # fmt: skip
        sorted_cells = [i for i in sorts if "Sort Key: m.stage_duration" in plan[i + 1]]
        assert not sorted_cells, shown


# ---- the cells' medians through writes, folds, agents and long durations ----------------------

RAW_DURATIONS = """
    SELECT CAST(m.company_id AS text) AS company_id, CAST(m.venture_id AS text) AS venture_id,
           m.stage_id, CAST(extract(epoch FROM m.stage_duration) AS double precision) AS seconds,
           m.agents_involved
    FROM orchestration_metrics AS m
    WHERE m.company_id = ANY(CAST(:companies AS uuid[])) AND m.venture_id IS NOT NULL
      AND m.stage_id IS NOT NULL AND m.stage_duration IS NOT NULL
      AND m.recorded_at >= CAST(:start AS timestamp) AT TIME ZONE CAST(:tz AS text)
      AND m.recorded_at < CAST(:after AS timestamp) AT TIME ZONE CAST(:tz AS text)
"""


def expected_medians(owner: Engine, companies: tuple[str, ...], f: Filters) -> dict[Any, float]:
    """Each cell's median over the rows as they are now (read as the owner), by numpy."""
    with owner.connect() as conn:
        rows = pd.DataFrame(
            conn.execute(
                text(RAW_DURATIONS),
                {
                    "companies": list(companies),
                    "start": f.start,
                    "after": f.end + timedelta(days=1),
                    "tz": f.tz,
                },
            )
            .mappings()
            .all()
        )
    if f.agents:
        wanted = set(f.agents)
        chosen = [
            (wanted <= set(a)) if f.agents_match == "all" else bool(wanted & set(a or ()))
            for a in rows["agents_involved"].map(lambda a: a or [])
        ]
        rows = rows[chosen]
    return {
        (c, v, int(s)): float(np.percentile(g["seconds"], 50))
        for (c, v, s), g in rows.groupby(["company_id", "venture_id", "stage_id"])
    }


def assert_medians(app: Engine, owner: Engine, user: str, f: Filters) -> int:
    scope = queries.scope_for_user(app, user)
    cells = health.venture_stage_health(app, scope, f)
    got = {
        (c, v, int(s)): p
        for c, v, s, p in zip(
            cells["company_id"], cells["venture_id"], cells["stage_id"], cells["p50_s"],
            strict=True,
        )
        if not math.isnan(p)
    }  # fmt: skip
    want = expected_medians(owner, scope.company_ids, f)
    assert got.keys() == want.keys()
    wrong = [(k, got[k], want[k]) for k in want if not close(got[k], want[k])]
    assert not wrong, wrong[:3]
    return len(want)


LONG_DURATION = """
    UPDATE orchestration_metrics SET stage_duration = CAST(:duration AS interval)
    WHERE metric_id IN (SELECT metric_id FROM orchestration_metrics
                        WHERE venture_id IS NOT NULL AND stage_id IS NOT NULL
                          AND stage_duration IS NOT NULL
                        ORDER BY metric_id LIMIT 3)
"""


def test_cell_medians_through_writes_folds_agents_and_long_durations(
    new_database: Callable[[str], str],
) -> None:
    """The medians read in order (by rank from the rollups' counts) and those sorted by seconds
    (agents chosen, or a duration of a year or more) equal numpy's over the raw rows: before
    and after writes, before and after the fold, in the rollups' zone and another."""
    world = mw._build(new_database("orchdash_health_medians"))
    owner = create_engine(world.url, poolclass=NullPool)
    app = engines.make_engine(
        engines.as_role(world.url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))
    )
    try:
        user = world.users["multi"]
        periods = [
            Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY, tz="UTC"),
            Filters(start=date(2026, 1, 10), end=date(2026, 3, 20), tz="Asia/Kathmandu"),
            Filters(start=date(2026, 1, 10), end=date(2026, 3, 20), tz="UTC"),
            Filters(start=date(2026, 2, 2), end=date(2026, 2, 2), tz="UTC"),
            Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY, tz="UTC", agents=("planner",)),
            Filters(
                start=mw.FIRST_DAY, end=mw.LAST_DAY, tz="UTC", agents=("planner", "reviewer"),
                agents_match="all",
            ),
        ]  # fmt: skip

        def check_all() -> None:
            assert all(assert_medians(app, owner, user, f) > 0 for f in periods)

        check_all()
        with owner.begin() as conn:
            conn.execute(text("SELECT orchdash.rollup_fold()"))
        check_all()
        later = mw.LAST_DAY + timedelta(days=20)
        acme = world.companies["acme"]
        venture = world.ventures[world.ventures["company_id"] == acme]["venture_id"].iloc[0]
        with owner.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO orchestration_metrics (company_id, venture_id, stage_id,"
                    " stage_duration, recorded_at)"
                    " SELECT :company, :venture, 1 + (i % 4),"
                    " make_interval(secs => 37.5 * i - 900),"
                    " CAST('2026-02-02' AS timestamptz) + make_interval(mins => 17 * i)"
                    " FROM generate_series(1, 120) AS i"
                ),
                {"company": acme, "venture": venture},
            )
            conn.execute(
                text(
                    "UPDATE orchestration_metrics SET stage_duration = stage_duration * 3"
                    " WHERE stage_id = 7"
                )
            )
            conn.execute(text("DELETE FROM orchestration_metrics WHERE stage_id = 2"))
        check_all()  # the changes in the log
        with owner.begin() as conn:
            conn.execute(text("SELECT orchdash.rollup_fold()"))
        check_all()  # and folded
        # Durations of a year or more, whose order by comparison is not that of their seconds:
        # '1 year' compares as 360 days and counts 365.25; sorted by comparison, this cell's
        # median would be '362 days', by seconds it is '363 days'.
        with owner.begin() as conn:
            conn.execute(text(LONG_DURATION), {"duration": "1 year 3 days"})
            conn.execute(
                text(
                    "INSERT INTO orchestration_metrics (company_id, venture_id, stage_id,"
                    " stage_duration, recorded_at)"
                    " SELECT :company, :venture, 40, CAST(d AS interval),"
                    " CAST(:day AS timestamptz) + interval '6 hours'"
                    " FROM unnest(ARRAY['1 year', '362 days', '363 days']) AS d"
                ),
                {"company": acme, "venture": venture, "day": later},
            )
        periods.append(Filters(start=later, end=later, tz="UTC"))
        check_all()
        with owner.begin() as conn:
            conn.execute(text("SELECT orchdash.rollup_fold()"))
        check_all()
    finally:
        app.dispose()
        owner.dispose()
