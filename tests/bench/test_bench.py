"""`make bench`: the dashboard's figures at one and ten million rows, beside their targets.

Two databases of their own get 1,000,000 and 10,000,000 demo rows (``load_demo``, timed). Then,
in order, each step adding to the results that the last test prints and writes to
docs/benchmarks.md (tests/bench/report.py; the targets are in docs/performance.md):

- pages: each page's query calls (tests/bench/scenarios.py) as the demo chairman (3 of 6
  companies), for 90 days and for all time, over ``RUNS`` varied filters: cold (a new connection,
  filters never asked before) and warm (the same again);
- the naive baseline on the first of those filters: the raw rows read into pandas and grouped
  there (tests/bench/naive.py), checked equal to the query layer before the ratio is given;
- export_csv of 1,000,000 and 5,000,000 rows against pandas.read_sql + to_csv, each in a process
  of its own for its peak memory;
- 20 threads of mixed users and filters for 60 s, once reading each page for 1-5 s and once
  without pause, every answer checked against its user's scope;
- inserts: throughput with and without the rollup marks (and their fold), and how soon a new
  row shows;
- Chromium: `Sign in` to the Overview drawn, a Period change to the page drawn again.

Speed is reported, never asserted; equality with the naive figures and the scopes are asserted.
ORCHDASH_BENCH_ROWS (e.g. "100000,1000000"), ORCHDASH_BENCH_RUNS and ORCHDASH_BENCH_SECONDS (of each
concurrent run) shrink a trial run, whose figures go to test-artifacts/bench.md instead;
ORCHDASH_BENCH_OUT names another file.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

import queries
from bench import naive, report
from bench import scenarios as sc
from bench.browser import app_server, measure
from bench.report import Results
from queries import Filters, admin, config, demo, engines, folding, schema, transactions
from queries.errors import QueryTimeout
from queries.folding import FOLD_EVERY_S

pytestmark = [pytest.mark.bench, pytest.mark.timeout(3600)]

SCALES = tuple(int(n) for n in os.environ.get("ORCHDASH_BENCH_ROWS", "1000000,10000000").split(","))
BIG, SMALL = max(SCALES), min(SCALES)
RUNS = int(os.environ.get("ORCHDASH_BENCH_RUNS", "20"))
# The naive baseline reads millions of rows per run (about a minute at ten million, all time).
NAIVE_RUNS = {"90 days": 3, "all time": 2}
CONCURRENT_USERS = 20
CONCURRENT_SECONDS = float(os.environ.get("ORCHDASH_BENCH_SECONDS", "60"))
# Seconds each user spends reading a page before the next click (uniform between the two), and
# the same users clicking without pause: the first is a busy board meeting, the second measures
# how many pages per second the machine can give at most.
PAUSES = {"reading 1-5 s between pages": (1.0, 5.0), "no pause (saturation)": (0.0, 0.0)}
INSERT_BATCHES, BATCH_ROWS = 100, 1_000
BENCH_DIR = Path(__file__).parent
PROJECT = BENCH_DIR.parents[1]
PASSWORD = "bench-password-1"
# Users beside the demo accounts, for the mixed load: label -> indexes of the companies.
MIXED = {"all": (0, 1, 2, 3, 4, 5), "pair": (0, 4), "others": (3, 4, 5), "one": (5,)}
BROWSER_USERS = 3


@dataclass
class BenchDb:
    rows: int
    owner: Engine
    app_url: str
    load_s: float
    chairman: str
    users: dict[str, str]  # label -> user id (chairman, analyst and MIXED)
    access: dict[str, set[str]]  # user id -> active company ids
    autovacuum: list[str]  # the metrics table's storage parameters as migrated (f07)


RESULTS = Results()


def timed(call: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = call(*args)
    return time.perf_counter() - started, out


def _sql(engine: Engine, statement: str, **params: Any) -> list[Any]:
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def _load(new_database: Callable[[str], str], rows: int) -> BenchDb:
    url = new_database(f"orchdash_bench_{rows}")
    schema.migrate(url)
    owner = create_engine(url, poolclass=NullPool)
    load_s, summary = timed(demo.load_demo, owner, rows, 42)
    companies = [r[0] for r in _sql(owner, "SELECT id::text FROM companies ORDER BY name, id")]
    users = dict(summary.users)
    for label, picks in MIXED.items():
        email = f"bench-{label}@bench.local"
        users[email] = admin.add_user(owner, email, PASSWORD)
        for i in picks:
            admin.set_access(owner, email, companies[i], active=True)
    chairman = users["chairman@demo.local"]
    chairman_companies = _sql(
        owner,
        "SELECT company_id::text FROM user_company_access WHERE user_id = :u AND is_active",
        u=chairman,
    )
    for n in range(BROWSER_USERS):
        email = f"bench-browser-{n}@bench.local"
        users[email] = admin.add_user(owner, email, PASSWORD)
        for (company,) in chairman_companies:
            admin.set_access(owner, email, company, active=True)
    access: dict[str, set[str]] = {}
    for user_id, company_id in _sql(
        owner,
        "SELECT user_id::text, company_id::text FROM user_company_access WHERE is_active",
    ):
        access.setdefault(user_id, set()).add(company_id)
    _sql(owner, "ANALYZE")
    RESULTS.sizes[rows] = dict(_sql(owner, SIZES))
    [(autovacuum,)] = _sql(owner, METRICS_OPTIONS)
    [(RESULTS.server,)] = _sql(owner, SERVER)
    return BenchDb(
        rows=rows,
        owner=owner,
        app_url=engines.as_role(url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD")),
        load_s=load_s,
        chairman=chairman,
        users=users,
        access=access,
        autovacuum=list(autovacuum),
    )


SERVER = """
    SELECT 'PostgreSQL ' || current_setting('server_version')
           || ' with shared_buffers ' || current_setting('shared_buffers')
"""
METRICS_OPTIONS = """
    SELECT coalesce(reloptions, '{}') FROM pg_class
    WHERE oid = 'public.orchestration_metrics'::regclass
"""

# The metrics table, the indexes our migrations add to it, and every table of the rollups.
SIZES = """
    SELECT c.relname, pg_total_relation_size(c.oid)
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE (n.nspname = 'public' AND c.relname = 'orchestration_metrics')
       OR (n.nspname = 'public' AND c.relkind = 'i' AND c.relname LIKE 'orchdash%')
       OR (n.nspname = 'orchdash' AND c.relkind = 'r')
    ORDER BY n.nspname DESC, c.relname
"""


@pytest.fixture(scope="module")
def bench(new_database: Callable[[str], str]) -> Iterator[dict[int, BenchDb]]:
    RESULTS.started = time.perf_counter()
    loaded = {rows: _load(new_database, rows) for rows in SCALES}
    for rows, found in loaded.items():
        RESULTS.loads[rows] = found.load_s
    yield loaded
    for found in loaded.values():
        found.owner.dispose()


# ---- pages -----------------------------------------------------------------------------------


def _page_runs(found: BenchDb, period: str) -> None:
    engine = engines.make_engine(found.app_url)
    tenant = sc.Tenant.of(engine, found.chairman)
    engine.dispose()
    rng = random.Random(f"{found.rows}-{period}")
    drawn = [sc.varied_filters(rng, tenant, period) for _ in range(RUNS)]
    for page in sc.PAGES:
        for n, f in enumerate(drawn):
            engine = engines.make_engine(found.app_url)  # cold: a connection of its own
            try:
                for mode in ("cold", "warm"):
                    seconds, answers = timed(sc.run_page, engine, found.chairman, f, page)
                    RESULTS.pages.setdefault((found.rows, page, period, mode), []).append(seconds)
                    assert sc.companies_seen(answers) <= found.access[found.chairman]
                if n < NAIVE_RUNS[period]:
                    _naive_run(found, engine, page, period, f, answers)
            except QueryTimeout:
                key = (found.rows, page, period)
                RESULTS.timeouts[key] = RESULTS.timeouts.get(key, 0) + 1
                break
            finally:
                engine.dispose()


_naive_rows: dict[bool, tuple[float, Any]] = {}
_naive_of: list[tuple[int, Filters]] = []


def _naive_run(
    found: BenchDb, engine: Engine, page: str, period: str, f: Filters, answers: dict[str, Any]
) -> None:
    seconds = _naive_check(found, engine, page, f, answers)
    RESULTS.checked.append(f"{found.rows:,} rows, {period}")
    RESULTS.pages.setdefault((found.rows, page, period, "naive"), []).append(seconds)


def _naive_check(
    found: BenchDb, engine: Engine, page: str, f: Filters, answers: dict[str, Any]
) -> float:
    """The page the naive way: its rows read (shared by the pages of one filter set, each page
    charged the read) and grouped in pandas; the figures must equal the query layer's. Returns
    the seconds the naive way took."""
    scope = sc.scope_of(answers)
    if _naive_of != [(found.rows, f)]:
        _naive_rows.clear()
        _naive_of[:] = [(found.rows, f)]
    needs_previous = page in ("Overview", "Venture health")
    reads = []
    for previous in (False, True) if needs_previous else (False,):
        if previous not in _naive_rows:
            _naive_rows[previous] = timed(
                naive.read_rows,
                engine,
                found.chairman,
                scope.companies_for(f.company_ids),
                f,
                previous,
            )
        reads.append(_naive_rows[previous])
    now = reads[0][1]
    before = reads[1][1] if needs_previous else now.iloc[0:0]
    grouping, figures = timed(naive.page_figures, page, now, before, f)
    naive.assert_equal(page, figures, answers)
    return sum(r[0] for r in reads) + grouping


@pytest.mark.parametrize("period", sc.PERIODS)
@pytest.mark.parametrize("rows", SCALES)
def test_pages(bench: dict[int, BenchDb], rows: int, period: str) -> None:
    _page_runs(bench[rows], period)


# ---- export ----------------------------------------------------------------------------------


def _period_with(engine: Engine, user_id: str, rows: int, last: date, first: date) -> Filters:
    """The shortest period ending on ``last`` with at least ``rows`` rows (or all of them)."""
    scope = queries.scope_for_user(engine, user_id)
    lo, hi = 1, (last - first).days + 1
    while lo < hi:
        mid = (lo + hi) // 2
        f = Filters(start=last - timedelta(days=mid - 1), end=last)
        if queries.count_rows(engine, scope, f) >= rows:
            hi = mid
        else:
            lo = mid + 1
    return Filters(start=last - timedelta(days=lo - 1), end=last)


def _probe(mode: str, app_url: str, user_id: str, f: Filters) -> dict[str, Any]:
    command = [
        sys.executable,
        str(BENCH_DIR / "export_probe.py"),
        mode,
        app_url,
        user_id,
        f.start.isoformat(),
        f.end.isoformat(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_export(bench: dict[int, BenchDb]) -> None:
    found = bench[BIG]
    user = found.users["bench-all@bench.local"]
    engine = engines.make_engine(found.app_url)
    first, last = queries.data_range(engine, queries.scope_for_user(engine, user))
    assert first is not None and last is not None
    sizes = {"1,000,000": 1_000_000, "5,000,000": 5_000_000}
    for label, size in sizes.items():
        if size > found.rows:
            continue
        f = _period_with(engine, user, size, last.date(), first.date())
        RESULTS.export[f"export_csv {label}"] = _probe("export_csv", found.app_url, user, f)
        if size == 1_000_000:
            RESULTS.export[f"pandas {label}"] = _probe("pandas", found.app_url, user, f)
    engine.dispose()
    for result in RESULTS.export.values():
        assert result["rows"] > 0


# ---- concurrency -----------------------------------------------------------------------------


@pytest.mark.parametrize("pause", list(PAUSES))
def test_concurrent_users(bench: dict[int, BenchDb], pause: str) -> None:
    found = bench[BIG]
    engine = engines.make_engine(found.app_url)
    labels = [
        "chairman@demo.local",
        "analyst@demo.local",
        *(f"bench-{m}@bench.local" for m in MIXED),
    ]
    tenants = {
        label: sc.Tenant.of(engine, found.users[label])
        for label in labels
        if queries.scope_for_user(engine, found.users[label]).company_ids
    }
    latencies: dict[str, list[float]] = {}
    outside: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    low, high = PAUSES[pause]
    deadline = time.perf_counter() + CONCURRENT_SECONDS

    def user_loop(n: int) -> None:
        rng = random.Random(n)
        # Users do not all arrive in the same instant.
        time.sleep(rng.uniform(0, high))
        while time.perf_counter() < deadline:
            label = rng.choice(list(tenants))
            tenant = tenants[label]
            page = rng.choice(list(sc.PAGES))
            f = sc.varied_filters(rng, tenant, rng.choice(sc.PERIODS))
            try:
                seconds, answers = timed(sc.run_page, engine, tenant.user_id, f, page)
            except Exception as error:  # reported, never hidden
                with lock:
                    errors.append(f"{page}: {type(error).__name__}: {error}")
                continue
            seen = sc.companies_seen(answers) | set(sc.scope_of(answers).company_ids)
            with lock:
                latencies.setdefault(page, []).append(seconds)
                if not seen <= found.access[tenant.user_id]:
                    outside.append(f"{label} saw {seen - found.access[tenant.user_id]}")
            time.sleep(rng.uniform(low, high))  # reading the page

    threads = [threading.Thread(target=user_loop, args=(n,)) for n in range(CONCURRENT_USERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    engine.dispose()
    RESULTS.concurrent[pause] = {
        "users": CONCURRENT_USERS,
        "seconds": elapsed,
        "pages": sum(len(v) for v in latencies.values()),
        "latencies": latencies,
        "outside": outside,
        "errors": errors,
    }
    assert outside == []


# ---- inserts and freshness -------------------------------------------------------------------
# Rows as the newest of the table, recorded now, marked so that they can be deleted again.

BATCH = """
    INSERT INTO orchestration_metrics (
        session_id, company_id, venture_id, stage_id, stage_duration, handoff_efficiency,
        error_rate, action_count, success_count, failure_count, agent_response_time,
        agent_utilization, agents_involved, chairman_interventions, chairman_approvals,
        chairman_rejections, compute_cost, api_calls_made, data_quality_score, confidence_score,
        recorded_at, metric_period_start, metric_period_end, metadata)
    SELECT session_id, company_id, venture_id, stage_id, stage_duration, handoff_efficiency,
        error_rate, action_count, success_count, failure_count, agent_response_time,
        agent_utilization, agents_involved, chairman_interventions, chairman_approvals,
        chairman_rejections, compute_cost, api_calls_made, data_quality_score, confidence_score,
        clock_timestamp(), metric_period_start, metric_period_end, '{"bench": true}'
    FROM bench_batch
"""

BATCH_SOURCE = (
    "CREATE TEMP TABLE bench_batch AS SELECT * FROM orchestration_metrics"
    " WHERE company_id IS NOT NULL ORDER BY recorded_at DESC LIMIT :n"
)


# Every trigger that keeps a rollup (the metrics' and the agents', migration f04): "without" is
# the table with the spec's indexes and ours, and no rollup at all.
TRIGGERS = tuple(
    f"orchdash_{rollup}_{op}" for rollup in ("rollup", "agents") for op in ("insert", "delete")
)


def _insert_run(owner: Engine, with_rollup: bool) -> tuple[float, float]:
    """Seconds for INSERT_BATCHES statements of BATCH_ROWS rows, each committed as a writer
    does (with the rollup's triggers, or without), and seconds for folding what they logged
    (the scheduled fold's work, off the writers' path). The rows are deleted again afterwards,
    the same way, so the database is as before."""
    switch = "ENABLE" if with_rollup else "DISABLE"
    with owner.connect() as conn:
        conn.execute(text(BATCH_SOURCE), {"n": BATCH_ROWS})
        conn.execute(text("SELECT orchdash.rollup_fold()"))
        for trigger in TRIGGERS:
            conn.execute(text(f"ALTER TABLE orchestration_metrics {switch} TRIGGER {trigger}"))
        conn.commit()
        since = conn.execute(text("SELECT clock_timestamp()")).scalar()
        started = time.perf_counter()
        for _ in range(INSERT_BATCHES):
            conn.execute(text(BATCH))
            conn.commit()
        inserts = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(text("SELECT orchdash.rollup_fold()"))
        conn.execute(text("SELECT orchdash.agent_merge()"))
        conn.commit()
        fold = time.perf_counter() - started
        conn.execute(
            text(
                "DELETE FROM orchestration_metrics WHERE recorded_at >= :since"
                " AND metadata = CAST(:mark AS jsonb)"
            ),
            {"since": since, "mark": '{"bench": true}'},
        )
        for trigger in TRIGGERS:
            conn.execute(text(f"ALTER TABLE orchestration_metrics ENABLE TRIGGER {trigger}"))
        conn.execute(text("SELECT orchdash.rollup_fold()"))
        conn.execute(text("DROP TABLE bench_batch"))
        conn.commit()
    return inserts, fold


FRESH_MARK = '{"bench": "fresh"}'


def test_inserts_and_freshness(bench: dict[int, BenchDb]) -> None:
    found = bench[BIG]
    runs = [(_insert_run(found.owner, False), _insert_run(found.owner, True)) for _ in range(3)]
    without = statistics.median(r[0][0] for r in runs)
    with_rollup = statistics.median(r[1][0] for r in runs)
    fold = statistics.median(r[1][1] for r in runs)
    rows = INSERT_BATCHES * BATCH_ROWS
    RESULTS.inserts["rows/s without rollup"] = rows / without
    RESULTS.inserts["rows/s with rollup"] = rows / with_rollup
    RESULTS.inserts["cost"] = with_rollup / without - 1
    RESULTS.inserts["fold s"] = fold
    RESULTS.inserts["fold share"] = fold / without

    # A committed row of the chairman's, shown by the next query that covers today?
    engine = engines.make_engine(found.app_url)
    scope = queries.scope_for_user(engine, found.chairman)
    today = date.today()
    f = Filters(start=today - timedelta(days=29), end=today)
    before = int(queries.kpis(engine, scope, f).loc[0, "rows"])
    company = scope.company_ids[0]
    with found.owner.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO orchestration_metrics (company_id, stage_id, stage_duration,"
                " action_count, recorded_at, metadata)"
                " VALUES (:c, 7, interval '42 minutes', 3, now(), CAST(:mark AS jsonb))"
            ),
            {"c": company, "mark": FRESH_MARK},
        )
    inserted = time.perf_counter()
    shown = None
    while time.perf_counter() - inserted < 120:
        if int(queries.kpis(engine, scope, f).loc[0, "rows"]) == before + 1:
            shown = time.perf_counter() - inserted
            break
    dirty_s, _ = timed(sc.run_page, engine, found.chairman, f, "Overview")
    RESULTS.inserts["seconds until shown"] = float("nan") if shown is None else shown
    RESULTS.inserts["Overview with a day not yet folded (s)"] = dirty_s
    # By its mark alone: demo rows may have the same duration.
    _sql(
        found.owner,
        "DELETE FROM orchestration_metrics WHERE metadata = CAST(:mark AS jsonb)",
        mark=FRESH_MARK,
    )
    _sql(found.owner, "SELECT orchdash.rollup_fold()")
    assert int(queries.kpis(engine, scope, f).loc[0, "rows"]) == before
    engine.dispose()
    assert shown is not None


# ---- browser ---------------------------------------------------------------------------------


def test_browser(bench: dict[int, BenchDb], tmp_path: Path) -> None:
    found = bench[BIG]
    accounts = [(f"bench-browser-{n}@bench.local", PASSWORD) for n in range(BROWSER_USERS)]
    with app_server(found.app_url, tmp_path / "server.log") as url:
        RESULTS.browser = measure(url, accounts, changes=3)
    assert len(RESULTS.browser["sign_in"]) == BROWSER_USERS


# ---- the live table (issue #17) -------------------------------------------------------------
# A burst of writes as the owner (one statement each, no manual VACUUM), then every page for
# every period timed again and again for LIVE_SECONDS, while the rollup log is folded every
# folding.FOLD_EVERY_S seconds as `orchdash run` does. Before it, the same window on the table
# just vacuumed. ORCHDASH_BENCH_LIVE_SECONDS shortens both windows (0 skips the live case);
# ORCHDASH_BENCH_AUTOVACUUM=defaults resets the metrics table's autovacuum settings (migration
# f07) to the server's for the case, to compare the two;
# ORCHDASH_BENCH_EXPLAIN=1 runs every page's statements under EXPLAIN (ANALYZE, BUFFERS) as the
# app's role right after the burst (the window then starts when those end).

LIVE_SECONDS = float(os.environ.get("ORCHDASH_BENCH_LIVE_SECONDS", "120"))
LIVE_AUTOVACUUM = os.environ.get("ORCHDASH_BENCH_AUTOVACUUM", "")
LIVE_EXPLAIN = os.environ.get("ORCHDASH_BENCH_EXPLAIN", "") == "1"
SERVER_DEFAULTS = "the server's defaults"
LIVE_TABLES = """
    SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables
    WHERE (schemaname = 'public' AND relname = 'orchestration_metrics') OR schemaname = 'orchdash'
    ORDER BY schemaname DESC, relname
"""
# The last 100 and 7 days are counted back from the newest row.
BURST = {
    "update 15 % of the last 100 days' rows": """
        UPDATE orchestration_metrics SET stage_duration = stage_duration + interval '1 second'
        WHERE recorded_at > (SELECT max(recorded_at) FROM orchestration_metrics)
                            - interval '100 days'
          AND abs(hashtext(metric_id::text)) % 100 < 15""",
    "insert 100,000 rows into the last 7 days": """
        INSERT INTO orchestration_metrics (
            session_id, company_id, venture_id, stage_id, stage_duration, handoff_efficiency,
            error_rate, action_count, success_count, failure_count, agent_response_time,
            agent_utilization, agents_involved, chairman_interventions, chairman_approvals,
            chairman_rejections, compute_cost, api_calls_made, data_quality_score,
            confidence_score, recorded_at, metric_period_start, metric_period_end, metadata)
        SELECT session_id, company_id, venture_id, stage_id, stage_duration, handoff_efficiency,
            error_rate, action_count, success_count, failure_count, agent_response_time,
            agent_utilization, agents_involved, chairman_interventions, chairman_approvals,
            chairman_rejections, compute_cost, api_calls_made, data_quality_score,
            confidence_score,
            (SELECT max(recorded_at) FROM orchestration_metrics) - random() * interval '7 days',
            metric_period_start, metric_period_end, '{"bench": "live"}'
        FROM orchestration_metrics
        WHERE recorded_at > (SELECT max(recorded_at) FROM orchestration_metrics)
                            - interval '100 days'
        LIMIT 100000""",
    "delete 1 % of all rows": """
        DELETE FROM orchestration_metrics
        WHERE abs(hashtext(metric_id::text || 'delete')) % 100 = 0""",
}
VACUUMS = """
    SELECT relname, last_autovacuum, n_dead_tup,
           EXISTS (SELECT FROM pg_stat_progress_vacuum AS v WHERE v.relid = s.relid)
    FROM pg_stat_user_tables AS s
    WHERE (schemaname = 'public' AND relname = 'orchestration_metrics') OR schemaname = 'orchdash'
"""


def _live_window(found: BenchDb, engine: Engine, state: str, seed: str) -> None:
    """Every page for every live period, in turn, with varied filters, until LIVE_SECONDS."""
    tenant = sc.Tenant.of(engine, found.chairman)
    rng = random.Random(seed)
    deadline = time.perf_counter() + LIVE_SECONDS
    while time.perf_counter() < deadline:
        for period in sc.LIVE_PERIODS:
            for page in sc.PAGES:
                key = (found.rows, state, page, period)
                f = sc.varied_filters(rng, tenant, period)
                started = time.perf_counter()
                try:
                    answers = sc.run_page(engine, found.chairman, f, page)
                    assert sc.companies_seen(answers) <= found.access[found.chairman]
                except QueryTimeout:
                    RESULTS.live_timeouts[key] = RESULTS.live_timeouts.get(key, 0) + 1
                RESULTS.live.setdefault(key, []).append(time.perf_counter() - started)
                if time.perf_counter() >= deadline:
                    return


def _watch_vacuums(owner: Engine, since: Any, stop: threading.Event, seen: dict[str, Any]) -> None:
    """When autovacuum starts on (and is done with) each live table after ``since``: seconds."""
    while not stop.wait(1.0):
        for relname, vacuumed, dead, running in _sql(owner, VACUUMS):
            now = _sql(owner, "SELECT clock_timestamp()")[0][0]
            if running and f"{relname} started" not in seen:
                seen[f"{relname} started"] = (now - since).total_seconds()
            if vacuumed is not None and vacuumed > since and f"{relname} done" not in seen:
                seen[f"{relname} done"] = (vacuumed - since).total_seconds()
            seen.setdefault(f"{relname} dead rows at the start", dead)


def _explain_pages(found: BenchDb, engine: Engine, state: str) -> None:
    """Each page's statements, captured as they run, again under EXPLAIN (ANALYZE, BUFFERS) in
    a scoped transaction of the app's role: the slowest with their heap fetches and buffers."""
    captured: list[tuple[str, str, Any]] = []
    calling = ["layout"]

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("SELECT SET_CONFIG", "EXPLAIN")):
            captured.append((calling[0], statement, params))

    def label(load: str) -> None:
        calling[0] = load

    tenant = sc.Tenant.of(engine, found.chairman)
    event.listen(engine, "before_cursor_execute", capture)
    try:
        for period in sc.LIVE_PERIODS:
            f = sc.varied_filters(random.Random(0), tenant, period)
            f = Filters(start=f.start, end=f.end, grain="day")  # every company, venture, stage
            for page in sc.PAGES:
                del captured[:]
                calling[0] = "layout"
                sc.run_page(engine, found.chairman, f, page, calling=label)
                for load, statement, params in list(captured):
                    with transactions.scoped(engine, found.chairman, timeout_ms=120_000) as conn:
                        plan = conn.exec_driver_sql(
                            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params
                        ).scalar()
                    RESULTS.explain.append(
                        {"rows": found.rows, "state": state, "page": page, "period": period}
                        | {"load": load, **_plan_summary(plan[0])}
                    )
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def _plan_summary(plan: dict[str, Any]) -> dict[str, Any]:
    """Execution ms, and over every node: heap fetches of index-only scans, shared buffers."""
    nodes, fetches, index_only = [plan["Plan"]], 0, []
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node["Node Type"] == "Index Only Scan":
            fetches += node.get("Heap Fetches", 0)
            index_only.append(node["Index Name"])
    top = plan["Plan"]
    return {
        "ms": plan["Execution Time"],
        "heap_fetches": fetches,
        "index_only": sorted(set(index_only)),
        "hit": top.get("Shared Hit Blocks", 0),
        "read": top.get("Shared Read Blocks", 0),
    }


# The steady trickle: each second, BATCH_ROWS rows inserted (BATCH) and as many updated.
TRICKLE_UPDATE = """
    UPDATE orchestration_metrics SET stage_duration = stage_duration + interval '1 second'
    WHERE metric_id IN (
        SELECT metric_id FROM orchestration_metrics
        WHERE recorded_at > clock_timestamp() - interval '7 days' ORDER BY random() LIMIT :n)
"""


def _trickle(
    owner: Engine, stop: threading.Event, note: dict[str, Any], paced: bool = True
) -> None:
    """Until ``stop``: each tick inserts BATCH_ROWS rows and updates as many, one transaction;
    one tick a second when ``paced``, else as fast as the server takes them."""
    with owner.connect() as conn:
        conn.execute(text(BATCH_SOURCE), {"n": BATCH_ROWS})
        conn.commit()
        started, ticks = time.perf_counter(), 0
        while not stop.is_set():
            conn.execute(text(BATCH))
            conn.execute(text(TRICKLE_UPDATE), {"n": BATCH_ROWS})
            conn.commit()
            ticks += 1
            if paced:
                stop.wait(max(0.0, started + ticks - time.perf_counter()))
        note["trickle seconds"] = time.perf_counter() - started
        note["trickle ticks"] = ticks
        conn.execute(text("DROP TABLE bench_batch"))
        conn.commit()


@contextmanager
def _live(
    found: BenchDb, state: str, note: dict[str, Any], trickle: bool, paced: bool = True
) -> Iterator[None]:
    """The rollup log folded every FOLD_EVERY_S as `orchdash run` does, autovacuum watched from
    now, and (if ``trickle``) the trickle of writes (``paced``: see :func:`_trickle`), until the
    block ends."""
    since = _sql(found.owner, "SELECT clock_timestamp()")[0][0]
    stop, seen = threading.Event(), note.setdefault("vacuums", {}).setdefault(state, {})
    threads = [
        threading.Thread(target=folding.fold_every, args=(found.owner, FOLD_EVERY_S, stop)),
        threading.Thread(target=_watch_vacuums, args=(found.owner, since, stop, seen)),
    ]
    if trickle:
        threads.append(threading.Thread(target=_trickle, args=(found.owner, stop, note, paced)))
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def _vacuum(found: BenchDb) -> None:
    tables = [t for (t,) in _sql(found.owner, LIVE_TABLES)]
    vacuum = create_engine(found.owner.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with vacuum.connect() as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {', '.join(tables)}"))
    vacuum.dispose()


def _autovacuum(found: BenchDb, options: list[str]) -> None:
    """The metrics table's storage parameters set to exactly ``options`` (none: the server's
    autovacuum defaults)."""
    [(current,)] = _sql(found.owner, METRICS_OPTIONS)
    with found.owner.begin() as conn:
        if current:
            names = ", ".join(option.split("=")[0] for option in current)
            conn.execute(text(f"ALTER TABLE orchestration_metrics RESET ({names})"))
        if options:
            conn.execute(text(f"ALTER TABLE orchestration_metrics SET ({', '.join(options)})"))


def _autovacuum_label(options: list[str]) -> str:
    return "the migration's (f07): " + ", ".join(options) if options else SERVER_DEFAULTS


@pytest.mark.skipif(LIVE_SECONDS <= 0, reason="ORCHDASH_BENCH_LIVE_SECONDS=0")
@pytest.mark.parametrize("rows", SCALES)
def test_live(bench: dict[int, BenchDb], rows: int) -> None:
    found = bench[rows]
    options = [] if LIVE_AUTOVACUUM == "defaults" else found.autovacuum
    _autovacuum(found, options)
    _vacuum(found)
    settings = _sql(
        found.owner,
        "SELECT name, setting FROM pg_settings WHERE name ~ :names",
        names="^(autovacuum|shared_buffers|work_mem|vacuum_cost)",
    )
    settings += _sql(found.owner, "SELECT 'server_version', version()")
    note = RESULTS.live_notes.setdefault(rows, {"settings": dict(settings)})
    note["autovacuum"] = _autovacuum_label(options)
    engine = engines.make_engine(found.app_url)
    _live_window(found, engine, "vacuumed", f"{rows}-vacuumed")
    with _live(found, "during the trickle", note, trickle=True):
        _live_window(found, engine, "during the trickle", f"{rows}-trickle")
    _vacuum(found)
    for what, statement in BURST.items():
        note[what], _ = timed(_sql, found.owner, statement)
    with _live(found, "after the burst", note, trickle=False):
        if LIVE_EXPLAIN:
            note["explain s"], _ = timed(_explain_pages, found, engine, "after the burst")
        _live_window(found, engine, "after the burst", f"{rows}-burst")
    folding.fold(found.owner)
    # The naive baseline still agrees, on the table as the writes left it.
    tenant = sc.Tenant.of(engine, found.chairman)
    for period in sc.LIVE_PERIODS:
        f = sc.varied_filters(random.Random(f"{rows}-{period}-naive"), tenant, period)
        for page in sc.PAGES:
            _naive_check(found, engine, page, f, sc.run_page(engine, found.chairman, f, page))
            RESULTS.checked.append(f"{rows:,} rows after the trickle and the burst, {period}")
    engine.dispose()
    _autovacuum(found, found.autovacuum)


# ---- the writers' cost of autovacuum (issue #17) ---------------------------------------------
# Writers as fast as they go (each transaction 1,000 rows inserted and 1,000 of the last 7 days
# updated, the log folded every 10 s) with the migration's autovacuum settings and with the
# server's, alternately, each after any autovacuum of the table has ended.

WRITER_SECONDS = float(os.environ.get("ORCHDASH_BENCH_WRITER_SECONDS", "45"))
WRITER_ROUNDS = 2
VACUUMING = """
    SELECT count(*) FROM pg_stat_progress_vacuum
    WHERE relid = 'public.orchestration_metrics'::regclass
"""


@pytest.mark.skipif(WRITER_SECONDS <= 0, reason="ORCHDASH_BENCH_WRITER_SECONDS=0")
def test_writers(bench: dict[int, BenchDb]) -> None:
    found = bench[BIG]
    for n in range(WRITER_ROUNDS):
        for options in (found.autovacuum, []):
            _autovacuum(found, options)
            deadline = time.perf_counter() + 300
            while _sql(found.owner, VACUUMING)[0][0] and time.perf_counter() < deadline:
                time.sleep(1)
            note: dict[str, Any] = {}
            with _live(found, f"round {n + 1}", note, trickle=True, paced=False):
                time.sleep(WRITER_SECONDS)
            RESULTS.writers.setdefault(_autovacuum_label(options), []).append(note)
    _autovacuum(found, found.autovacuum)
    assert all(note["trickle ticks"] > 0 for notes in RESULTS.writers.values() for note in notes)


# ---- the document ----------------------------------------------------------------------------


def test_report() -> None:
    body = report.render(RESULTS, SMALL, BIG)
    settings = report.settings(SCALES, RUNS, CONCURRENT_SECONDS, RESULTS.server)
    run = report.this_run(RESULTS.started, PROJECT, settings)
    out = report.destination(PROJECT, os.environ)
    text_ = report.write(out, run, body)
    print("\n" + text_ + f"\nWritten to {out}.")
