"""Every query function against the same figure computed in pandas from the world's raw rows.

Hypothesis draws the user, period, companies (their own, others', unknown), ventures, stages,
grain and time zone; the expected figures come from ``metrics_world`` (see its docstring), which
never reads the database and never calls the code under test.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import metrics_world as mw
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

import queries
from queries import Filters, Scope, engines
from queries.errors import DataUnavailable

GIVEN = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def app(world_app: Engine) -> Engine:
    """The world's database as the app's runtime role."""
    return world_app


def rows_for(world: mw.World, user: str, f: Filters, start: date | None = None) -> pd.DataFrame:
    return mw.selected(
        world,
        user,
        start or f.start,
        f.end if start is None else f.start - timedelta(days=1),
        f.tz,
        f.company_ids,
        f.venture_ids,
        f.stages,
    )


def scope_of(app: Engine, user: str) -> Scope:
    return queries.scope_for_user(app, user)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float | np.floating) or isinstance(b, float | np.floating):
        if pd.isna(a) and pd.isna(b):
            return True
        return not pd.isna(a) and not pd.isna(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if _missing(a) and _missing(b):
        return True
    return bool(a == b)


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, list | dict) and pd.isna(value))


def assert_rows(actual: pd.DataFrame, expected: list[dict[str, Any]]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual.to_dict("records"), expected, strict=True):
        wrong = {k: (got[k], v) for k, v in want.items() if not same(got[k], v)}
        assert not wrong, wrong


def grouped(rows: pd.DataFrame, keys: list[str]) -> list[dict[str, Any]]:
    if rows.empty:
        return []
    groups = rows.groupby(keys, dropna=False, sort=False)
    return [
        dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True)) | mw.measures(g)
        for k, g in groups
    ]


def test_scope_for_user_is_the_active_access(app: Engine, world: mw.World) -> None:
    for user in world.users.values():
        assert set(scope_of(app, user).company_ids) == world.active(user)
    assert scope_of(app, world.users["multi"]).company_ids  # the comparison is not vacuous


def test_pickers_and_data_range(app: Engine, world: mw.World) -> None:
    for user in world.users.values():
        scope = scope_of(app, user)
        visible = world.active(user)
        names = sorted((world.company_names[c], c) for c in visible)
        assert queries.companies(app, scope).to_dict("list") == {
            "company_id": [c for _, c in names],
            "company": [n for n, _ in names],
        }
        ventures = queries.ventures(app, scope)
        expected = world.ventures[world.ventures["company_id"].isin(visible)]
        assert sorted(ventures["venture_id"]) == sorted(expected["venture_id"])
        first, last = queries.data_range(app, scope, tz="Asia/Kolkata")
        stamps = world.rows[world.rows["company_id"].isin(visible)]["recorded_at"].dropna()
        if stamps.empty:
            assert (first, last) == (None, None)
        else:
            assert (first, last) == (stamps.min(), stamps.max())
            assert str(first.tzinfo) == "Asia/Kolkata"
    multi = scope_of(app, world.users["multi"])
    acme = world.companies["acme"]
    only_acme = queries.ventures(app, multi, company_ids=[acme.upper(), mw.GHOST_COMPANY])
    assert set(only_acme["company_id"]) == {acme}
    assert queries.ventures(app, multi, company_ids=[world.companies["umbrella"]]).empty


@GIVEN
@given(data=st.data())
def test_kpis(app: Engine, world: mw.World, data: st.DataObject) -> None:
    user, f = data.draw(mw.choices(world))
    prev_start, _ = mw.previous_period(f.start, f.end)
    current = mw.measures(rows_for(world, user, f))
    before = mw.measures(rows_for(world, user, f, start=prev_start))
    expected = current | {f"prev_{k}": v for k, v in before.items()}
    assert_rows(queries.kpis(app, scope_of(app, user), f), [expected])


@GIVEN
@given(data=st.data())
def test_kpi_trend(app: Engine, world: mw.World, data: st.DataObject) -> None:
    user, f = data.draw(mw.choices(world))
    rows = rows_for(world, user, f)
    rows = rows.assign(bucket=mw.buckets(rows["recorded_at"], f.grain, f.tz))
    expected = sorted(grouped(rows, ["bucket"]), key=lambda r: r["bucket"])
    actual = queries.kpi_trend(app, scope_of(app, user), f)
    assert_rows(actual, expected)
    assert all(str(b.tzinfo) == f.tz for b in actual["bucket"])


def _stage_expectation(rows: pd.DataFrame, stage: int) -> dict[str, Any]:
    durations = rows[rows["stage_id"] == stage]["stage_duration"].dropna()
    quantiles = np.percentile(durations, [10, 25, 50, 75, 90]) if len(durations) else [math.nan] * 5
    return {
        "stage_id": stage,
        "rows": int((rows["stage_id"] == stage).sum()),
        "measured": len(durations),
        "mean_s": durations.mean() if len(durations) else math.nan,
        **dict(zip(("p10_s", "p25_s", "p50_s", "p75_s", "p90_s"), quantiles, strict=True)),
    }


@GIVEN
@given(data=st.data())
def test_stage_durations(app: Engine, world: mw.World, data: st.DataObject) -> None:
    user, f = data.draw(mw.choices(world))
    rows = rows_for(world, user, f)
    expected = [_stage_expectation(rows, s) for s in range(1, 41)]
    assert_rows(queries.stage_durations(app, scope_of(app, user), f), expected)


@GIVEN
@given(data=st.data())
def test_stage_rates(app: Engine, world: mw.World, data: st.DataObject) -> None:
    user, f = data.draw(mw.choices(world))
    rows = rows_for(world, user, f)
    expected = [{"stage_id": s} | mw.measures(rows[rows["stage_id"] == s]) for s in range(1, 41)]
    assert_rows(queries.stage_rates(app, scope_of(app, user), f), expected)


PER_VENTURE: dict[str, Callable[..., pd.DataFrame]] = {
    "error_rate": queries.error_rates,
    "handoff_efficiency": queries.handoff_efficiency,
    "interventions": queries.chairman_interventions,
}


@GIVEN
@given(data=st.data(), measure=st.sampled_from(sorted(PER_VENTURE)))
def test_per_bucket_and_venture(
    app: Engine, world: mw.World, data: st.DataObject, measure: str
) -> None:
    user, f = data.draw(mw.choices(world))
    rows = rows_for(world, user, f)
    rows = rows.assign(bucket=mw.buckets(rows["recorded_at"], f.grain, f.tz))
    keys = ["bucket", "company_id", "venture_id", "company", "venture"]
    actual = PER_VENTURE[measure](app, scope_of(app, user), f)
    assert actual["bucket"].is_monotonic_increasing
    order = ["bucket", "company_id", "venture_id"]
    actual = actual.sort_values(order, ignore_index=True, na_position="first")
    expected = sorted(
        grouped(rows, keys),
        key=lambda r: (
            r["bucket"],
            r["company_id"],
            "" if _missing(r["venture_id"]) else r["venture_id"],
        ),
    )
    # low_share: tests/test_low_confidence.py, at several thresholds.
    shown = [c for c in actual.columns if c not in ("bucket", "low_share")]
    assert_rows(actual, [{k: r[k] for k in ["bucket", *shown]} for r in expected])


@GIVEN
@given(data=st.data(), limit=st.sampled_from([1, 3, 1000]))
def test_venture_attention(app: Engine, world: mw.World, data: st.DataObject, limit: int) -> None:
    user, f = data.draw(mw.choices(world))
    prev_start, _ = mw.previous_period(f.start, f.end)
    now = rows_for(world, user, f)
    before = rows_for(world, user, f, start=prev_start)
    expected = []
    for (company, venture), group in now[now["venture_id"].notna()].groupby(
        ["company_id", "venture_id"]
    ):
        old = before[(before["company_id"] == company) & (before["venture_id"] == venture)]
        err, herr = mw.weighted(group, "error_rate"), mw.weighted(old, "error_rate")
        hand, hhand = (
            mw.weighted(group, "handoff_efficiency"),
            mw.weighted(old, "handoff_efficiency"),
        )
        terms = [
            0 if math.isnan(err) else 100 * err,
            0 if math.isnan(hand) else 100 - hand,
            0 if math.isnan(err) or math.isnan(herr) else 2 * max(0, 100 * (err - herr)),
            0 if math.isnan(hand) or math.isnan(hhand) else 2 * max(0, hhand - hand),
        ]
        expected.append(
            {
                "venture_id": venture,
                "company_id": company,
                "actions": mw.measures(group)["actions"],
                "error_rate": err,
                "prev_error_rate": herr,
                "handoff_efficiency": hand,
                "prev_handoff_efficiency": hhand,
                "interventions": mw.measures(group)["interventions"],
                "score": sum(terms),
            }
        )
    actual = queries.venture_attention(app, scope_of(app, user), f, limit=limit)
    assert len(actual) == min(limit, len(expected))
    assert actual["score"].is_monotonic_decreasing
    scores = sorted((r["score"] for r in expected), reverse=True)[:limit]
    assert all(same(a, b) for a, b in zip(actual["score"], scores, strict=True))
    by_id = {r["venture_id"]: r for r in expected}
    assert_rows(actual, [by_id[v] for v in actual["venture_id"]])


def test_venture_attention_reasons() -> None:
    from queries.attention import attention_score

    assert attention_score(0.05, 0.01, 95.0, 96.0) == (
        5 + 5 + 8 + 2,
        "error rate up from 1.0% to 5.0%",
    )
    assert attention_score(0.02, 0.03, 70.0, 70.0)[1] == "handoff efficiency 70.0%"
    assert attention_score(math.nan, math.nan, math.nan, math.nan) == (
        0,
        "no errors or failed handoffs",
    )


@GIVEN
@given(data=st.data(), limit=st.one_of(st.none(), st.integers(1, 40)))
def test_metric_rows_and_count(
    app: Engine, world: mw.World, data: st.DataObject, limit: int | None
) -> None:
    user, f = data.draw(mw.choices(world))
    rows = rows_for(world, user, f).sort_values(["recorded_at", "metric_id"], ascending=False)
    scope = scope_of(app, user)
    assert queries.count_rows(app, scope, f) == len(rows)
    expected = rows.head(limit) if limit else rows
    actual = queries.metric_rows(app, scope, f, limit=limit)
    assert list(actual.columns) == list(mw.world_columns())
    assert_rows(actual, expected[list(actual.columns)].to_dict("records"))
    assert all(str(t.tzinfo) == f.tz for t in actual["recorded_at"])


def _straddled_midnight(rows: pd.DataFrame, tz: str) -> pd.Timestamp:
    """A local midnight with rows of the fixture minutes before and after it."""
    local = rows["recorded_at"].dropna().dt.tz_convert(tz)
    for midnight in sorted(set(local.dt.normalize())):
        gap = local - midnight
        if ((gap < pd.Timedelta(0)) & (gap > pd.Timedelta(minutes=-3))).any() and (
            (gap >= pd.Timedelta(0)) & (gap < pd.Timedelta(minutes=3))
        ).any():
            return pd.Timestamp(midnight)
    raise AssertionError(f"the fixture straddles no midnight in {tz}")


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata"])
def test_buckets_straddle_local_midnight(app: Engine, world: mw.World, tz: str) -> None:
    """Rows minutes either side of a local midnight fall in the two days it separates."""
    user = world.users["multi"]
    visible = world.rows[world.rows["company_id"].isin(world.active(user))]
    midnight = _straddled_midnight(visible, tz)
    day = midnight.date()
    f = Filters(start=day - timedelta(days=1), end=day, grain="day", tz=tz)
    rows = rows_for(world, user, f)
    trend = queries.kpi_trend(app, scope_of(app, user), f).set_index("bucket")
    day_before = pd.Timestamp(day - timedelta(days=1)).tz_localize(tz)
    assert list(trend.index) == [day_before, midnight]
    assert trend["rows"].tolist() == [
        int((rows["recorded_at"] < midnight).sum()),
        int((rows["recorded_at"] >= midnight).sum()),
    ]
    # The day after starts exactly at the midnight: its period holds the rows just after it.
    after = queries.count_rows(app, scope_of(app, user), Filters(start=day, end=day, tz=tz))
    assert after == trend.loc[midnight, "rows"]


def test_empty_scope_answers_without_the_database(world: mw.World) -> None:
    # Any connection attempt to this engine fails: results prove no query was sent.
    nowhere = engines.make_engine(
        "postgresql+psycopg://nobody@/none?host=/nonexistent", pool_timeout=1
    )
    f = Filters(start=date(2026, 1, 1), end=date(2026, 1, 31))
    with pytest.raises(DataUnavailable):
        queries.scope_for_user(nowhere, world.users["multi"])
    empty = Scope(user_id=world.users["none"])
    mine = Scope(user_id=world.users["single"], company_ids=(world.companies["globex"],))
    other = Filters(start=f.start, end=f.end, company_ids=(world.companies["acme"],))
    for scope, filters in ((empty, f), (mine, other)):
        assert (
            queries.kpis(nowhere, scope, filters)[["rows", "actions", "prev_rows"]].sum().sum() == 0
        )
        assert len(queries.kpis(nowhere, scope, filters)) == 1
        for stage_frame in (queries.stage_durations, queries.stage_rates):
            frame = stage_frame(nowhere, scope, filters)
            assert list(frame["stage_id"]) == list(range(1, 41)) and frame["rows"].eq(0).all()
        for query in (
            queries.kpi_trend,
            queries.error_rates,
            queries.handoff_efficiency,
            queries.chairman_interventions,
            queries.venture_attention,
            queries.metric_rows,
        ):
            assert query(nowhere, scope, filters).empty
        assert queries.count_rows(nowhere, scope, filters) == 0
    assert queries.companies(nowhere, empty).empty and queries.ventures(nowhere, empty).empty
    assert queries.data_range(nowhere, empty) == (None, None)
    nowhere.dispose()


EXPECTED_DTYPES = {
    "kpis": {
        "rows": "int64",
        "actions": "int64",
        "error_rate": "float64",
        "prev_api_calls": "int64",
    },
    "kpi_trend": {"bucket": "datetime64[us, Asia/Kolkata]", "interventions": "int64"},
    "stage_durations": {"stage_id": "int64", "rows": "int64", "p50_s": "float64"},
    "stage_rates": {"stage_id": "int64", "actions": "int64", "handoff_efficiency": "float64"},
    "error_rates": {"bucket": "datetime64[us, Asia/Kolkata]", "error_rate": "float64"},
    "handoff_efficiency": {"actions": "int64", "handoff_efficiency": "float64"},
    "chairman_interventions": {"approvals": "int64", "rejections": "int64"},
    "venture_attention": {"score": "float64", "actions": "int64"},
    "metric_rows": {
        "stage_id": "Int64",
        "stage_duration": "float64",
        "action_count": "Int64",
        "recorded_at": "datetime64[us, Asia/Kolkata]",
    },
}


@pytest.mark.parametrize("user", ["multi", "none"])
def test_documented_columns_and_dtypes(app: Engine, world: mw.World, user: str) -> None:
    scope = scope_of(app, world.users[user])
    f = Filters(start=date(2026, 1, 1), end=date(2026, 2, 28), grain="week", tz="Asia/Kolkata")
    for name, dtypes in EXPECTED_DTYPES.items():
        frame = getattr(queries, name)(app, scope, f)
        for column, dtype in dtypes.items():
            assert str(frame[column].dtype) == dtype, (name, column)
    kpis = queries.kpis(app, scope, f)
    for column in mw.MEASURE_NAMES:
        assert column in kpis.columns and f"prev_{column}" in kpis.columns
    for name in ("error_rates", "handoff_efficiency", "chairman_interventions"):
        assert {"bucket", "venture_id", "venture", "company", "actions"} <= set(
            getattr(queries, name)(app, scope, f).columns
        )


def test_unknown_user_has_an_empty_scope(app: Engine) -> None:
    assert scope_of(app, str(uuid.uuid4())).company_ids == ()
