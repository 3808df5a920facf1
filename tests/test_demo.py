"""The demo data set: deterministic, realistic, loaded with its accounts, on real PostgreSQL.

Two fresh databases of this module's own: ``demo`` is loaded once and only read; ``scratch`` is
for the tests that load again (determinism, reload, has_demo).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import bcrypt
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from queries import config, demo, demo_data, engines, schema, transactions

ROWS = 20_000
SEED = 7
END = dt.date(2026, 3, 15)
# The span: 548 days (18 months) that end with the END day, in UTC.
FIRST = dt.datetime.combine(END - dt.timedelta(days=547), dt.time(), dt.UTC)
AFTER = dt.datetime.combine(END + dt.timedelta(days=1), dt.time(), dt.UTC)

# The hash covers every column of every demo table but the users' salted password hashes.
DATA_HASH = """
    SELECT md5(concat_ws('|',
        (SELECT string_agg(m::text, '|' ORDER BY metric_id) FROM public.orchestration_metrics m),
        (SELECT string_agg(s::text, '|' ORDER BY session_id)
           FROM public.eva_orchestration_sessions s),
        (SELECT string_agg(v::text, '|' ORDER BY id) FROM public.ventures v),
        (SELECT string_agg(c::text, '|' ORDER BY id) FROM public.companies c),
        (SELECT string_agg(concat_ws(',', user_id, company_id, access_level, is_active), '|'
                           ORDER BY user_id, company_id) FROM public.user_company_access),
        (SELECT string_agg(concat_ws(',', id, email), '|' ORDER BY id)
           FROM auth.users WHERE email LIKE '%@demo.local')))
"""
# The loader drops and rebuilds these around its COPY: they must come back as they were.
KEYS_AND_INDEXES = """
    SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
    WHERE conrelid = 'public.orchestration_metrics'::regclass
    UNION ALL
    SELECT indexname, indexdef FROM pg_indexes
    WHERE schemaname = 'public' AND tablename = 'orchestration_metrics'
    ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Loaded:
    engine: Engine
    url: str
    summary: demo.DemoSummary
    progress: list[tuple[int, int]]


def _migrated(new_database: Callable[[str], str], prefix: str) -> tuple[str, Engine]:
    url = new_database(prefix)
    schema.migrate(url)
    return url, create_engine(url, poolclass=NullPool)


@pytest.fixture(scope="module")
def loaded(new_database: Callable[[str], str]) -> Iterator[Loaded]:
    url, engine = _migrated(new_database, "orchdash_demo")
    calls: list[tuple[int, int]] = []
    summary = demo.load_demo(
        engine, rows=ROWS, seed=SEED, end=END, progress=lambda d, t: calls.append((d, t))
    )
    yield Loaded(engine, url, summary, calls)
    engine.dispose()


@pytest.fixture(scope="module")
def scratch(new_database: Callable[[str], str]) -> Iterator[Engine]:
    _url, engine = _migrated(new_database, "orchdash_demo_scratch")
    yield engine
    engine.dispose()


def _one(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _rows(engine: Engine, sql: str, **params: object) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _table(rows: int, seed: int, end: dt.date = END) -> pa.Table:
    return pa.concat_tables(list(demo.generate_rows(rows, seed, end)))


# The generator, without a database


def test_same_seed_and_end_generate_the_same_rows_and_another_seed_others() -> None:
    first, again = _table(3_000, SEED), _table(3_000, SEED)
    assert first.equals(again)
    other = _table(3_000, SEED + 1)
    assert not set(first["metric_id"].to_pylist()) & set(other["metric_id"].to_pylist())
    assert first["error_rate"].to_pylist() != other["error_rate"].to_pylist()
    assert (
        demo.demo_world(3_000, SEED, END).company_ids
        != demo.demo_world(3_000, SEED + 1).company_ids
    )


def test_chunks_are_bounded_in_time_order_and_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_data, "CHUNK_ROWS", 2_500)
    chunks = list(demo.generate_rows(12_000, SEED, END))
    sizes = [chunk.num_rows for chunk in chunks]
    assert len(chunks) == 5 and sum(sizes) == 12_000
    assert max(sizes) < 2_500 * 1.1  # windows of equal expected rows
    times = pa.concat_arrays([c["recorded_at"].combine_chunks() for c in chunks])
    micros = times.cast(pa.int64()).to_numpy()
    assert (np.diff(micros) >= 0).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(0, 2_000), seed=st.integers(0, 2**32 - 1))
def test_generated_rows_keep_their_invariants(rows: int, seed: int) -> None:
    table = _table(rows, seed)
    assert table.num_rows == rows
    col = {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}
    actions, failures = col["action_count"], col["failure_count"]
    assert (col["success_count"] + failures == actions).all()
    assert (actions >= 0).all() and (failures >= 0).all()
    interventions = col["chairman_interventions"]
    assert (col["chairman_approvals"] + col["chairman_rejections"] <= interventions).all()
    error = table["error_rate"].to_numpy(zero_copy_only=False)
    known = ~np.isnan(error)
    assert ((error[known] >= 0) & (error[known] <= 1)).all()
    assert (np.abs(failures[known] - error[known] * actions[known]) <= 1).all()
    for name in ("handoff_efficiency", "agent_utilization", "data_quality_score"):
        values = col[name][~np.isnan(col[name])]
        assert ((values >= 0) & (values <= 100)).all(), name
    stages = col["stage_id"]
    assert ((stages >= 1) & (stages <= 40)).all()
    recorded = table["recorded_at"].cast(pa.int64()).to_numpy()
    assert ((recorded >= FIRST.timestamp() * 1e6) & (recorded < AFTER.timestamp() * 1e6)).all()


# Loaded into PostgreSQL


def test_load_reports_what_it_loaded_and_its_progress(loaded: Loaded) -> None:
    summary = loaded.summary
    e = loaded.engine
    assert summary.rows == ROWS == _one(e, "SELECT count(*) FROM public.orchestration_metrics")
    assert summary.companies == 6 == _one(e, "SELECT count(*) FROM public.companies")
    assert summary.ventures == _one(e, "SELECT count(*) FROM public.ventures")
    assert summary.sessions == _one(e, "SELECT count(*) FROM public.eva_orchestration_sessions")
    assert loaded.progress[-1] == (ROWS, ROWS)
    done = [d for d, _total in loaded.progress]
    assert done == sorted(done) and all(total == ROWS for _d, total in loaded.progress)


def test_every_company_has_four_to_eight_ventures(loaded: Loaded) -> None:
    counts = _rows(
        loaded.engine,
        "SELECT c.name, count(v.id) FROM public.companies c"
        " LEFT JOIN public.ventures v ON v.company_id = c.id GROUP BY c.name",
    )
    assert len(counts) == 6
    assert all(4 <= n <= 8 for _name, n in counts), counts


def test_rows_belong_to_a_session_of_their_venture_within_its_time(loaded: Loaded) -> None:
    mismatched = _one(
        loaded.engine,
        """
        SELECT count(*) FROM public.orchestration_metrics m
        JOIN public.eva_orchestration_sessions s USING (session_id)
        JOIN public.ventures v ON v.id = m.venture_id
        WHERE m.venture_id IS DISTINCT FROM s.venture_id
           OR m.company_id IS DISTINCT FROM s.company_id
           OR v.company_id IS DISTINCT FROM m.company_id
           OR m.recorded_at < s.started_at
           OR m.recorded_at > coalesce(s.ended_at, 'infinity')
        """,
    )
    assert mismatched == 0


def test_rows_span_eighteen_months_up_to_the_end_day_denser_lately(loaded: Loaded) -> None:
    first, last = _rows(
        loaded.engine, "SELECT min(recorded_at), max(recorded_at) FROM public.orchestration_metrics"
    )[0]
    assert FIRST <= first < FIRST + dt.timedelta(days=7)
    assert AFTER - dt.timedelta(days=2) < last < AFTER
    early, late = _rows(
        loaded.engine,
        """
        SELECT count(*) FILTER (WHERE recorded_at < :first + interval '6 months'),
               count(*) FILTER (WHERE recorded_at >= :after - interval '6 months')
        FROM public.orchestration_metrics
        """,
        first=FIRST,
        after=AFTER,
    )[0]
    assert late > early * 1.3


def test_figures_stay_within_their_ranges(loaded: Loaded) -> None:
    bad = _one(
        loaded.engine,
        """
        SELECT count(*) FROM public.orchestration_metrics WHERE
            error_rate NOT BETWEEN 0 AND 1
            OR handoff_efficiency NOT BETWEEN 0 AND 100
            OR agent_utilization NOT BETWEEN 0 AND 100
            OR data_quality_score NOT BETWEEN 0 AND 100
            OR confidence_score NOT BETWEEN 0 AND 100
            OR success_count + failure_count <> action_count
            OR chairman_approvals + chairman_rejections > chairman_interventions
            OR abs(failure_count - error_rate * action_count) > 1
            OR (action_count = 0 AND error_rate IS NOT NULL)
            OR action_count < 0 OR compute_cost < 0 OR api_calls_made < 0
            OR stage_duration <= interval '0' OR agent_response_time <= interval '0'
            OR metric_period_start > metric_period_end OR metric_period_end > recorded_at
            OR NOT agents_involved <@ ARRAY['planner','researcher','builder','reviewer',
                                            'deployer','analyst']
            OR cardinality(agents_involved) = 0
            OR metadata ->> 'source' IS DISTINCT FROM 'demo'
        """,
    )
    assert bad == 0
    shares = _rows(
        loaded.engine,
        """
        SELECT avg((action_count > 0)::int), avg((data_quality_score < 60)::int),
               avg((confidence_score < 60)::int), count(DISTINCT stage_id)
        FROM public.orchestration_metrics
        """,
    )[0]
    mostly_actions, low_quality, low_confidence, stages = shares
    assert mostly_actions > 0.95
    assert low_quality > 0 and low_confidence > 0
    assert stages == 40


def test_some_values_are_missing_and_some_rows_belong_to_no_company(loaded: Loaded) -> None:
    e = loaded.engine
    null_shares = _rows(
        e,
        """
        SELECT avg((stage_duration IS NULL)::int), avg((handoff_efficiency IS NULL)::int),
               avg((error_rate IS NULL)::int), avg((agent_response_time IS NULL)::int),
               avg((agent_utilization IS NULL)::int), avg((compute_cost IS NULL)::int),
               avg((data_quality_score IS NULL)::int), avg((confidence_score IS NULL)::int)
        FROM public.orchestration_metrics
        """,
    )[0]
    assert all(0 < share < 0.03 for share in null_shares), null_shares
    orphans = _rows(
        e,
        """
        SELECT count(*), count(venture_id), count(session_id)
        FROM public.orchestration_metrics WHERE company_id IS NULL
        """,
    )[0]
    assert 0 < orphans[0] < ROWS * 0.01
    assert orphans[1:] == (0, 0)


def test_stages_take_minutes_hours_or_days(loaded: Loaded) -> None:
    medians = dict(
        _rows(
            loaded.engine,
            """
            SELECT stage_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY stage_duration)
            FROM public.orchestration_metrics GROUP BY stage_id
            """,
        )
    )
    assert min(medians.values()) < dt.timedelta(minutes=30)
    assert any(dt.timedelta(hours=1) < m < dt.timedelta(hours=24) for m in medians.values())
    assert max(medians.values()) > dt.timedelta(days=3)


def test_trouble_lowers_handoffs_and_brings_the_chairman_in(loaded: Loaded) -> None:
    correlation, calm, troubled = _rows(
        loaded.engine,
        """
        SELECT corr(error_rate, handoff_efficiency),
               avg(chairman_interventions) FILTER (WHERE error_rate < 0.05),
               avg(chairman_interventions) FILTER (WHERE error_rate >= 0.15)
        FROM public.orchestration_metrics
        """,
    )[0]
    assert correlation < -0.7
    assert troubled > 4 * calm


def test_incidents_spike_a_venture_for_a_couple_of_weeks(loaded: Loaded) -> None:
    """Each venture's worst fortnight against its usual error rate, from the data alone."""
    spikes = _rows(
        loaded.engine,
        """
        WITH fortnights AS (
            SELECT venture_id, date_bin('14 days', recorded_at, :first) AS fortnight,
                   sum(error_rate * action_count) / nullif(sum(action_count), 0) AS rate,
                   count(*) AS rows
            FROM public.orchestration_metrics WHERE venture_id IS NOT NULL
            GROUP BY 1, 2
        )
        SELECT venture_id, max(rate) / percentile_cont(0.5) WITHIN GROUP (ORDER BY rate)
        FROM fortnights WHERE rows >= 20 GROUP BY venture_id
        """,
        first=FIRST,
    )
    ratios = sorted(float(ratio) for _venture, ratio in spikes)
    assert ratios[-2] > 5  # a few ventures have a spike
    assert ratios[len(ratios) // 2] < 2.5  # most do not


def test_demo_accounts_have_their_passwords_and_access(loaded: Loaded) -> None:
    users = loaded.summary.users
    assert set(users) == set(demo.DEMO_PASSWORDS)
    for email, password in demo.DEMO_PASSWORDS.items():
        stored = _one(
            loaded.engine,
            "SELECT encrypted_password FROM auth.users WHERE id = CAST(:id AS uuid)"
            " AND email = :email",
            id=users[email],
            email=email,
        )
        assert bcrypt.checkpw(password.encode(), str(stored).encode())
        assert not bcrypt.checkpw(b"not-the-password", str(stored).encode())
    access = _rows(
        loaded.engine,
        "SELECT user_id::text, company_id::text, is_active FROM public.user_company_access",
    )
    chairman_active = {c for u, c, a in access if u == users["chairman@demo.local"] and a}
    chairman_inactive = {c for u, c, a in access if u == users["chairman@demo.local"] and not a}
    analyst = {(c, a) for u, c, a in access if u == users["analyst@demo.local"]}
    assert len(chairman_active) == 3 and len(chairman_inactive) == 1
    assert len(analyst) == 1
    ((analyst_company, analyst_active),) = analyst
    assert analyst_active and analyst_company in chairman_active


def test_the_runtime_role_sees_each_account_s_active_companies_only(loaded: Loaded) -> None:
    app = engines.make_engine(
        engines.as_role(loaded.url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))
    )
    seen = {}
    for email, user_id in loaded.summary.users.items():
        with transactions.scoped(app, user_id) as conn:
            seen[email] = conn.execute(
                text(
                    "SELECT count(DISTINCT company_id), count(*) FROM public.orchestration_metrics"
                )
            ).one()
    app.dispose()
    assert seen["chairman@demo.local"][0] == 3
    assert seen["analyst@demo.local"][0] == 1
    assert 0 < seen["analyst@demo.local"][1] < seen["chairman@demo.local"][1] < ROWS


# Loading again


def test_loads_are_deterministic_and_replace_the_previous_demo(scratch: Engine) -> None:
    assert demo.has_demo(scratch) is False
    keys_before = _rows(scratch, KEYS_AND_INDEXES)
    definitions = [definition for _name, definition in keys_before]
    assert sum(d.startswith("FOREIGN KEY") for d in definitions) == 3
    # The spec's four secondary indexes, migration 0004's two and 0008's one.
    assert sum(d.startswith("CREATE INDEX") for d in definitions) == 7
    with scratch.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.users (id, email) VALUES (gen_random_uuid(), 'kept@example.com')"
            )
        )
    demo.load_demo(scratch, rows=5_000, seed=SEED, end=END)
    assert demo.has_demo(scratch) is True
    first = _one(scratch, DATA_HASH)
    demo.load_demo(scratch, rows=5_000, seed=SEED, end=END)
    assert _one(scratch, DATA_HASH) == first
    assert _one(scratch, "SELECT count(*) FROM public.orchestration_metrics") == 5_000
    assert _one(scratch, "SELECT count(*) FROM auth.users WHERE email LIKE '%@demo.local'") == 2
    assert _one(scratch, "SELECT count(*) FROM auth.users WHERE email = 'kept@example.com'") == 1
    assert _rows(scratch, KEYS_AND_INDEXES) == keys_before
    demo.load_demo(scratch, rows=5_000, seed=SEED + 1, end=END)
    assert _one(scratch, DATA_HASH) != first


def test_a_failed_load_leaves_the_previous_demo(scratch: Engine) -> None:
    demo.load_demo(scratch, rows=1_000, seed=SEED, end=END)
    before = _one(scratch, DATA_HASH)

    def fail(done: int, total: int) -> None:
        raise RuntimeError("interrupted")

    keys = _rows(scratch, KEYS_AND_INDEXES)
    with pytest.raises(RuntimeError, match="interrupted"):
        demo.load_demo(scratch, rows=2_000, seed=SEED + 5, end=END, progress=fail)
    assert _one(scratch, DATA_HASH) == before
    assert _rows(scratch, KEYS_AND_INDEXES) == keys
