"""The rollups (migration 0004) give exactly the raw answers, stay exact through writes, and are
read under RLS.

The reference is the shared metrics world, whose rows were inserted and never folded: there every
row is still in the rollup log, so in the rollup zone (UTC) each query reads the log, and in any
other zone it reads the raw rows; test_metrics proves both equal to pandas. Here a copy of the
same world is folded (or rebuilt in another zone), so that its answers come from the rollup rows,
and every public query must answer the same on both.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import low_shares
import metrics_world as mw
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

import queries
from queries import (
    Filters,
    config,
    demo,
    engines,
    folding,
    percentiles,
    periods,
    sqlfiles,
    transactions,
)
from queries.criteria import sql_params
from queries.low_confidence import default_threshold
from queries.transactions import fetch

GIVEN = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ROLLUP_TABLES = {
    "metric_totals": "company_id, by_stage, span, day, venture_id, stage_id",
    "duration_days": "company_id, stage_id, day",
    "duration_day_prefix": "company_id, stage_id, day",
    "duration_month_prefix": "company_id, stage_id, month",
    "venture_duration_days": "company_id, venture_id, stage_id, day",
    "venture_day_prefix": "company_id, venture_id, stage_id, day",
}
FRAMES: dict[str, Callable[..., Any]] = {
    "kpis": queries.kpis,
    "kpi_trend": queries.kpi_trend,
    "stage_durations": queries.stage_durations,
    "stage_rates": queries.stage_rates,
    "error_rates": queries.error_rates,
    "handoff_efficiency": queries.handoff_efficiency,
    "chairman_interventions": queries.chairman_interventions,
    "venture_attention": lambda e, s, f: queries.venture_attention(e, s, f, limit=100),
    "venture_stage_health": queries.venture_stage_health,
    "count_rows": queries.count_rows,
}


def app_engine(url: str) -> Engine:
    return engines.make_engine(
        engines.as_role(url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))
    )


def sql(engine: Engine, statement: str, **params: Any) -> list[Any]:
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def rollup_state(engine: Engine) -> dict[str, list[Any]]:
    return {
        table: [
            tuple(r)
            for r in sql(engine, f"SELECT * FROM orchdash.{table} ORDER BY {keys}")  # noqa: S608
        ]
        for table, keys in ROLLUP_TABLES.items()
    }


# The frames with low-confidence shares, at a threshold of the test's choosing.
LOW_FRAMES = ("kpis", "kpi_trend", "stage_durations", "stage_rates", "venture_stage_health")
LOW_FRAMES += low_shares.PER_VENTURE


def answers(
    engine: Engine, user: str, f: Filters, threshold: float | None = None
) -> dict[str, Any]:
    scope = queries.scope_for_user(engine, user)
    return {
        name: query(engine, scope, f, threshold=threshold)
        if threshold is not None and name in LOW_FRAMES
        else query(engine, scope, f)
        for name, query in FRAMES.items()
    }


def assert_same_answers(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(actual[name], value, obj=name)
        else:
            assert actual[name] == value, name


@pytest.fixture(scope="module")
def copy(new_database: Callable[[str], str]) -> Iterator[tuple[mw.World, Engine, Engine]]:
    """A second database with the world's rows (the same ids), its owner and its app engine."""
    world = mw._build(new_database("orchdash_rollup"))
    owner = create_engine(world.url, poolclass=NullPool)
    app = app_engine(world.url)
    yield world, owner, app
    app.dispose()
    owner.dispose()


@pytest.fixture(scope="module")
def reference(world: mw.World, world_app: Engine) -> tuple[mw.World, Engine]:
    """The shared world, never folded: its answers add every row from the rollup log."""
    owner = create_engine(world.url, poolclass=NullPool)
    assert sql(owner, "SELECT count(*) FROM orchdash.rollup_log")[0][0] > 0
    owner.dispose()
    return world, world_app


def rolled_in(owner: Engine, zone: str, threshold: float | None = None) -> None:
    """The copy's rollups rebuilt in ``zone`` at ``threshold`` (None: the configured one),
    unless they already are."""
    low = default_threshold() if threshold is None else threshold
    [(current, stored)] = sql(owner, "SELECT zone, low_threshold FROM orchdash.rollup_settings")
    logged = sql(owner, "SELECT count(*) FROM orchdash.rollup_log")[0][0]
    if current != zone or float(stored) != low or logged:
        sql(
            owner,
            "SELECT orchdash.rollup_rebuild(:zone, CAST(:low AS numeric))",
            zone=zone,
            low=low,
        )


@pytest.mark.parametrize("zone", mw.TIMEZONES)
@GIVEN
@given(data=st.data())
def test_rollups_answer_as_the_raw_rows(
    copy: tuple[mw.World, Engine, Engine],
    reference: tuple[mw.World, Engine],
    zone: str,
    data: st.DataObject,
) -> None:
    world, owner, app = copy
    ref_world, ref_app = reference
    rolled_in(owner, zone)
    user, drawn = data.draw(mw.choices(ref_world))
    f = Filters(
        start=drawn.start,
        end=drawn.end,
        company_ids=drawn.company_ids,
        venture_ids=drawn.venture_ids,
        stages=drawn.stages,
        grain=drawn.grain,
        tz=zone,
    )
    assert_same_answers(answers(app, user, f), answers(ref_app, user, f))


def test_all_of_the_world_in_months_and_weeks(
    copy: tuple[mw.World, Engine, Engine], reference: tuple[mw.World, Engine]
) -> None:
    """Whole months, and a period that starts and ends mid-month, for every user."""
    world, owner, app = copy
    _, ref_app = reference
    rolled_in(owner, "UTC")
    whole = (mw.FIRST_DAY - dt.timedelta(days=40), mw.LAST_DAY + dt.timedelta(days=40))
    months = (dt.date(2026, 1, 1), dt.date(2026, 2, 28))
    ragged = (dt.date(2025, 12, 24), dt.date(2026, 3, 7))
    cases = [(whole, "month"), (months, "week"), (ragged, "day"), (ragged, "month")]
    for user in ("multi", "single", "hostile"):
        for (start, end), grain in cases:
            f = Filters(start=start, end=end, grain=grain, tz="UTC")
            got = answers(app, world.users[user], f)
            assert_same_answers(got, answers(ref_app, world.users[user], f))
    multi = answers(app, world.users["multi"], Filters(start=whole[0], end=whole[1]))
    assert multi["count_rows"] > 0 and multi["stage_durations"]["p50_s"].notna().any()


def test_rollups_at_another_threshold(
    copy: tuple[mw.World, Engine, Engine], reference: tuple[mw.World, Engine]
) -> None:
    """Rebuilt at another threshold, the rollups serve that one (the reference reads its raw
    rows there), and the configured one goes to the copy's raw rows: the same answers."""
    world, owner, app = copy
    _, ref_app = reference
    f = Filters(start=dt.date(2025, 12, 10), end=dt.date(2026, 3, 9), grain="week", tz="UTC")
    user = world.users["multi"]
    try:
        rolled_in(owner, "UTC", 37.5)
        for threshold in (37.5, None):
            got = answers(app, user, f, threshold)
            assert_same_answers(got, answers(ref_app, user, f, threshold))
        scope = queries.scope_for_user(app, user)
        want = low_shares.expected(world, user, f, 37.5)
        low_shares.assert_same(low_shares.actual(app, scope, f, 37.5), want)
        assert want["kpis"] != low_shares.expected(world, user, f, None)["kpis"]
    finally:
        rolled_in(owner, "UTC")


NEW_ROWS = """
    INSERT INTO orchestration_metrics (company_id, venture_id, stage_id, stage_duration,
        error_rate, action_count, failure_count, compute_cost, data_quality_score, recorded_at)
    SELECT :company, :venture, 1 + (i % 40), make_interval(secs => 37.5 * i - 900),
        CASE WHEN i % 7 = 0 THEN NULL ELSE 0.01 * (i % 9) END, i % 13, i % 3, 0.25 * i - 40,
        CASE WHEN i % 5 = 0 THEN NULL ELSE (i * 7) % 100 END,
        CAST(:day AS timestamptz) + make_interval(mins => 17 * i)
    FROM generate_series(1, :n) AS i
"""


def write_some(owner: Engine, world: mw.World) -> None:
    """Inserts on new and old days, rows moved between days and companies, values changed,
    rows deleted; each its own statement, as writers do."""
    acme, globex = world.companies["acme"], world.companies["globex"]
    venture = world.ventures[world.ventures["company_id"] == acme]["venture_id"].iloc[0]
    sql(owner, NEW_ROWS, company=acme, venture=venture, day="2026-04-02", n=150)
    sql(owner, NEW_ROWS, company=acme, venture=None, day="2026-01-15", n=60)
    sql(
        owner,
        "UPDATE orchestration_metrics SET recorded_at = recorded_at + interval '9 days',"
        " company_id = :globex WHERE company_id = :acme AND stage_id BETWEEN 3 AND 5",
        acme=acme,
        globex=globex,
    )
    sql(
        owner,
        "UPDATE orchestration_metrics SET stage_duration = stage_duration * 3,"
        " action_count = coalesce(action_count, 0) + 1 WHERE stage_id = 7",
    )
    sql(
        owner,
        "DELETE FROM orchestration_metrics WHERE stage_id = 2 AND company_id = :globex",
        globex=globex,
    )
    # Rows into and out of low confidence (and scores to and from NULL).
    sql(
        owner,
        "UPDATE orchestration_metrics SET confidence_score = CASE WHEN confidence_score IS NULL"
        " THEN 12.5 WHEN confidence_score > 90 THEN NULL ELSE 100 - confidence_score END,"
        " data_quality_score = greatest(data_quality_score, 75) WHERE stage_id IN (9, 10)",
    )


def test_writes_stay_exact_before_and_after_the_fold(copy: tuple[mw.World, Engine, Engine]) -> None:
    world, owner, app = copy
    rolled_in(owner, "UTC")
    write_some(owner, world)
    assert sql(owner, "SELECT count(*) FROM orchdash.rollup_log")[0][0] > 0
    user = world.users["multi"]
    whole = Filters(start=dt.date(2025, 11, 1), end=dt.date(2026, 4, 30), grain="week", tz="UTC")
    # In another zone the same question is answered from the raw rows only.
    raw = Filters(start=whole.start, end=whole.end, grain=whole.grain, tz="Asia/Kathmandu")
    before = answers(app, user, whole)
    assert before["count_rows"] == answers(app, user, raw)["count_rows"]
    # Low-confidence shares as pandas counts them from the rows as they are now: from the log
    # (and the rollups) here, from the raw rows in the other zone, and after the fold.
    written = low_shares.as_written(owner, world)
    scope = queries.scope_for_user(app, user)
    for f in (whole, raw):
        want = low_shares.expected(written, user, f, None)
        low_shares.assert_same(low_shares.actual(app, scope, f, None), want)
    assert [r[0] for r in sql(owner, "SELECT orchdash.rollup_fold()")] != [0]
    assert sql(owner, "SELECT count(*) FROM orchdash.rollup_log")[0][0] == 0
    assert_same_answers(answers(app, user, whole), before)
    want = low_shares.expected(written, user, whole, None)
    low_shares.assert_same(low_shares.actual(app, scope, whole, None), want)
    folded = rollup_state(owner)
    sql(owner, "SELECT orchdash.rollup_rebuild()")
    assert rollup_state(owner) == folded
    assert_same_answers(answers(app, user, whole), before)


def test_a_writer_folds_once_the_marks_are_old_enough(
    copy: tuple[mw.World, Engine, Engine],
) -> None:
    world, owner, app = copy
    rolled_in(owner, "UTC")
    acme = world.companies["acme"]
    try:
        sql(owner, NEW_ROWS, company=acme, venture=None, day="2026-02-03", n=5)
        assert sql(owner, "SELECT count(*) FROM orchdash.rollup_log")[0][0] > 0
        sql(owner, "UPDATE orchdash.rollup_settings SET fold_after = interval '0'")
        sql(owner, NEW_ROWS, company=acme, venture=None, day="2026-02-04", n=5)
        assert sql(owner, "SELECT count(*) FROM orchdash.rollup_log")[0][0] == 0
    finally:
        sql(owner, "UPDATE orchdash.rollup_settings SET fold_after = interval '5 minutes'")
    folded = rollup_state(owner)
    sql(owner, "SELECT orchdash.rollup_rebuild()")
    assert rollup_state(owner) == folded


def test_the_scheduled_fold_empties_the_log(copy: tuple[mw.World, Engine, Engine]) -> None:
    world, owner, _app = copy
    rolled_in(owner, "UTC")
    sql(owner, NEW_ROWS, company=world.companies["globex"], venture=None, day="2026-02-05", n=7)
    assert folding.fold(owner) == 7
    assert folding.fold(owner) == 0
    sql(owner, NEW_ROWS, company=world.companies["globex"], venture=None, day="2026-02-06", n=3)
    stop = folding.start(owner, seconds=0.05)
    try:
        deadline = time.monotonic() + 60
        while sql(owner, "SELECT count(*) FROM orchdash.rollup_log")[0][0]:
            assert time.monotonic() < deadline, "not folded within a minute"
    finally:
        stop.set()
    folded = rollup_state(owner)
    sql(owner, "SELECT orchdash.rollup_rebuild()")
    assert rollup_state(owner) == folded


def test_truncate_empties_the_rollups(new_database: Callable[[str], str]) -> None:
    url = new_database("orchdash_rollup_truncate")
    from queries import schema

    schema.migrate(url)
    owner = create_engine(url, poolclass=NullPool)
    demo.load_demo(owner, rows=3_000, seed=7, end=dt.date(2026, 3, 1))
    # The loader rebuilds the rollups after its COPY: nothing is left to fold.
    assert sql(owner, "SELECT count(*) FROM orchdash.rollup_log")[0][0] == 0
    assert sql(
        owner,
        "SELECT (SELECT sum(rows) FROM orchdash.metric_totals WHERE span = 'month'"
        " AND NOT by_stage) = (SELECT count(*) FROM orchestration_metrics"
        " WHERE company_id IS NOT NULL AND recorded_at IS NOT NULL)",
    )[0][0]
    sql(owner, "TRUNCATE orchestration_metrics")
    assert all(not rows for rows in rollup_state(owner).values())
    owner.dispose()


def scoped_rows(app: Engine, user: str, statement: str, **params: Any) -> list[Any]:
    with transactions.scoped(app, user) as conn:
        return list(conn.execute(text(statement), params))


@pytest.mark.parametrize("user", sorted(mw.ACCESS))
def test_rollups_are_read_under_the_same_policy(
    copy: tuple[mw.World, Engine, Engine], user: str
) -> None:
    world, owner, app = copy
    rolled_in(owner, "UTC")
    uid = world.users[user]
    for table in (*ROLLUP_TABLES, "rollup_log"):
        seen = {
            r[0]
            for r in scoped_rows(
                app,
                uid,
                f"SELECT company_id::text FROM orchdash.{table}",  # noqa: S608
            )
        }
        assert seen <= world.active(uid), table
        if user == "multi" and table != "rollup_log":
            assert seen == world.active(uid), table


def test_exact_percentiles_read_one_bin_through_the_index_under_rls(
    copy: tuple[mw.World, Engine, Engine],
) -> None:
    """Under RLS only leakproof comparisons may bound an index scan: the raw reads of
    duration_ranks.sql compare stage_duration with interval bounds, so they must."""
    world, owner, app = copy
    rolled_in(owner, "UTC")
    uid = world.users["multi"]
    scope = queries.scope_for_user(app, uid)
    f = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY, tz="UTC")
    params = sql_params(scope, f)
    assert params is not None
    params |= periods.percentile_cells(f) | {"fractions": [0.1, 0.5, 0.9]}
    with transactions.scoped(app, uid):
        rows = fetch(app, scope, "duration_histograms", params)
    wanted = percentiles.ranks(percentiles.histograms(rows), params["fractions"])
    assert wanted.totals, "the rollups serve this period"
    params |= wanted.params()
    statement = sqlfiles.load("duration_ranks")
    bound = {key: params[key] for key in statement._bindparams}
    with transactions.scoped(app, uid) as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = conn.execute(text("EXPLAIN " + statement.text), bound).scalars().all()
    scans = [line for line in plan if "orchdash_metrics_durations" in line]
    conditions = [line for line in plan if "Index Cond" in line and "stage_duration >=" in line]
    assert scans and conditions, "\n".join(plan)


def test_the_runtime_role_itself_reads_no_rollup(copy: tuple[mw.World, Engine, Engine]) -> None:
    _world, _owner, app = copy
    with pytest.raises(DBAPIError, match="permission denied"), app.connect() as conn:
        conn.execute(text("SELECT count(*) FROM orchdash.metric_totals"))


def test_other_roles_cannot_write_or_rebuild(copy: tuple[mw.World, Engine, Engine]) -> None:
    _world, _owner, app = copy
    with app.connect() as conn:
        conn.execute(text(f"SET ROLE {transactions.TENANT_ROLE}"))
        for statement in (
            "SELECT orchdash.rollup_rebuild()",
            "SELECT orchdash.rollup_fold()",
            "SELECT orchdash.rebuild_duration_prefixes(gen_random_uuid(), 1, current_date)",
            "SELECT orchdash.rebuild_venture_prefixes(gen_random_uuid(), gen_random_uuid(), 1,"
            " current_date)",
            "DELETE FROM orchdash.venture_day_prefix",
            "SELECT orchdash.fold_if_due(1000000)",
            "DELETE FROM orchdash.metric_totals",
            "INSERT INTO orchdash.rollup_log DEFAULT VALUES",
            "UPDATE orchdash.rollup_settings SET zone = 'UTC'",
            "UPDATE orchdash.rollup_settings SET low_threshold = 0",
            "SELECT orchdash.rollup_rebuild('UTC', 10)",
        ):
            with pytest.raises(DBAPIError, match="permission denied"), conn.begin_nested():
                conn.execute(text(statement))
        conn.rollback()
