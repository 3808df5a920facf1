"""Tenancy through the public query functions: each of the two locks holds on its own.

Lock 1 is the scoped transaction (RLS as the user), lock 2 the explicit company filter. To see
lock 1 alone, the Scope is widened to every company, so the SQL's company list excludes nothing.
To see lock 2 alone, the functions run as the owner (RLS bypassed) with
``transactions.without_role_switch``.
Each test compares with what both locks together return, which test_metrics proves equal to the
figures computed from the raw rows.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import metrics_world as mw
import pandas as pd
import psutil
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

import queries
from queries import (
    Busy,
    DataUnavailable,
    Filters,
    QueryTimeout,
    Scope,
    config,
    embedded,
    engines,
    side_reads,
    transactions,
)

GHOST_COMPANY = "00000000-0000-4000-8000-00000000c0de"
GHOST_VENTURE = "00000000-0000-4000-8000-0000000000fe"
WHOLE = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY, grain="week", tz="UTC")
FILTERS = [
    WHOLE,
    Filters(start=date(2026, 1, 1), end=date(2026, 1, 31), stages=[1, 2, 3], tz="Asia/Kolkata"),
    Filters(start=date(2026, 2, 1), end=date(2026, 3, 20), grain="month", tz="America/New_York"),
]
FRAMES: dict[str, Callable[[Engine, Scope, Filters], pd.DataFrame]] = {
    "kpis": queries.kpis,
    "kpi_trend": queries.kpi_trend,
    "stage_durations": queries.stage_durations,
    "stage_rates": queries.stage_rates,
    "error_rates": queries.error_rates,
    "handoff_efficiency": queries.handoff_efficiency,
    "chairman_interventions": queries.chairman_interventions,
    "venture_attention": lambda e, s, f: queries.venture_attention(e, s, f, limit=100),
    "metric_rows": queries.metric_rows,
}


@pytest.fixture(scope="module")
def app(world_app: Engine) -> Engine:
    """The world's database as the app's runtime role."""
    return world_app


@pytest.fixture(scope="module")
def owner(world: mw.World) -> Iterator[Engine]:
    """The owner of the tables: RLS does not apply to it."""
    engine = create_engine(world.url, poolclass=NullPool)
    yield engine
    engine.dispose()


def results(engine: Engine, scope: Scope, f: Filters) -> dict[str, Any]:
    """Everything the public API answers for a scope and filters."""
    out: dict[str, Any] = {name: query(engine, scope, f) for name, query in FRAMES.items()}
    csv = io.BytesIO()
    out["export_rows"] = queries.export_csv(engine, scope, f, csv)
    out["export"] = csv.getvalue()
    out["count_rows"] = queries.count_rows(engine, scope, f)
    out["companies"] = queries.companies(engine, scope)
    out["ventures"] = queries.ventures(engine, scope)
    out["data_range"] = queries.data_range(engine, scope)
    return out


def assert_same_results(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(actual[name], value, obj=name)
        else:
            assert actual[name] == value, name


def seen_companies(result: dict[str, Any]) -> set[str]:
    return set(result["metric_rows"]["company_id"]) | set(result["companies"]["company_id"])


def widened(world: mw.World, user: str) -> Scope:
    """A scope that lists every company: the explicit filter then excludes nothing."""
    return Scope(user_id=world.users[user], company_ids=world.all_company_ids)


@pytest.mark.parametrize("user", sorted(mw.ACCESS))
def test_rls_alone_keeps_each_user_inside_their_companies(
    app: Engine, world: mw.World, user: str
) -> None:
    uid = world.users[user]
    for f in FILTERS:
        alone = results(app, widened(world, user), f)
        assert seen_companies(alone) <= world.active(uid)
        assert (alone["count_rows"] > 0) == bool(world.active(uid)) or f != WHOLE
        assert_same_results(alone, results(app, queries.scope_for_user(app, uid), f))


@pytest.mark.parametrize("user", sorted(mw.ACCESS))
def test_the_company_filter_alone_keeps_each_user_inside_their_companies(
    app: Engine, owner: Engine, world: mw.World, user: str
) -> None:
    uid = world.users[user]
    both = {f: results(app, queries.scope_for_user(app, uid), f) for f in FILTERS}
    with transactions.without_role_switch():
        scope = queries.scope_for_user(owner, uid)
        assert set(scope.company_ids) == world.active(uid)
        for f in FILTERS:
            alone = results(owner, scope, f)
            assert seen_companies(alone) <= world.active(uid)
            assert (alone["count_rows"] > 0) == bool(world.active(uid)) or f != WHOLE
            assert_same_results(alone, both[f])


def test_without_both_locks_the_data_of_others_shows(owner: Engine, world: mw.World) -> None:
    """The control: the two tests above would fail if their remaining lock did not hold."""
    with transactions.without_role_switch():
        bare = results(owner, widened(world, "single"), WHOLE)
        with transactions.scoped(owner, world.users["single"]) as conn:
            assert conn.execute(text("SELECT current_user")).scalar() != transactions.TENANT_ROLE
    assert seen_companies(bare) == set(world.all_company_ids)
    with transactions.scoped(owner, world.users["single"]) as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == transactions.TENANT_ROLE


@pytest.mark.parametrize("user", ["none", "inactive"])
def test_no_access_and_inactive_access_see_nothing(app: Engine, world: mw.World, user: str) -> None:
    uid = world.users[user]
    assert queries.scope_for_user(app, uid).company_ids == ()
    for scope in (queries.scope_for_user(app, uid), widened(world, user)):
        got = results(app, scope, WHOLE)
        assert got["count_rows"] == got["export_rows"] == 0
        assert got["kpis"].loc[0, "rows"] == 0 and got["stage_durations"]["rows"].sum() == 0
        assert got["metric_rows"].empty and got["companies"].empty and got["ventures"].empty
        assert got["data_range"] == (None, None)


@pytest.fixture
def revocable(owner: Engine, world: mw.World) -> Iterator[tuple[str, str]]:
    user, company = world.users["revocable"], world.companies["initech"]
    yield user, company
    with owner.begin() as conn:  # as it was, for the other tests
        conn.execute(
            text(
                "INSERT INTO user_company_access (user_id, company_id, is_active)"
                " VALUES (:u, :c, true)"
                " ON CONFLICT (user_id, company_id) DO UPDATE SET is_active = true"
            ),
            {"u": user, "c": company},
        )


REVOKE = {
    "deactivated": "UPDATE user_company_access SET is_active = false"
    " WHERE user_id = :u AND company_id = :c",
    "deleted": "DELETE FROM user_company_access WHERE user_id = :u AND company_id = :c",
}


@pytest.mark.parametrize("how", sorted(REVOKE))
def test_access_revoked_between_two_calls(
    app: Engine, owner: Engine, revocable: tuple[str, str], how: str
) -> None:
    user, company = revocable
    stale = queries.scope_for_user(app, user)
    assert stale.company_ids == (company,)
    before = results(app, stale, WHOLE)
    assert before["count_rows"] > 0 and seen_companies(before) == {company}
    with owner.begin() as conn:
        conn.execute(text(REVOKE[how]), {"u": user, "c": company})
    # The page still holds the old Scope: RLS must close the door regardless.
    after = results(app, stale, WHOLE)
    assert after["count_rows"] == after["export_rows"] == 0
    assert seen_companies(after) == set() and after["ventures"].empty
    assert after["data_range"] == (None, None)
    assert queries.scope_for_user(app, user).company_ids == ()


def test_ids_of_others_behave_like_ids_that_do_not_exist(app: Engine, world: mw.World) -> None:
    uid = world.users["single"]
    globex, acme = world.companies["globex"], world.companies["acme"]
    acme_venture = world.ventures[world.ventures["company_id"] == acme]["venture_id"].iloc[0]
    for scope in (queries.scope_for_user(app, uid), widened(world, "single")):

        def answer(scope: Scope = scope, **choice: Any) -> dict[str, Any]:
            return results(app, scope, Filters(start=WHOLE.start, end=WHOLE.end, **choice))

        assert_same_results(answer(company_ids=[acme]), answer(company_ids=[GHOST_COMPANY]))
        own = answer(company_ids=[globex])
        assert own["count_rows"] > 0
        assert_same_results(answer(company_ids=[globex, acme]), own)
        assert_same_results(answer(company_ids=[globex, GHOST_COMPANY]), own)
        assert_same_results(answer(venture_ids=[acme_venture]), answer(venture_ids=[GHOST_VENTURE]))
        assert answer(venture_ids=[acme_venture])["count_rows"] == 0


SESSION_STATE = """
    SELECT pg_backend_pid(), current_user,
           coalesce(current_setting('request.jwt.claims', true), ''),
           coalesce(current_setting('request.jwt.claim.sub', true), ''),
           current_setting('TimeZone'), current_setting('statement_timeout'),
           current_setting('transaction_read_only'), current_setting('transaction_isolation')
"""


def test_a_pool_of_one_carries_no_claims_to_the_next_user(
    world_app_url: str, world: mw.World
) -> None:
    engine = engines.make_engine(world_app_url, pool_size=1, max_overflow=0)
    reference = engines.make_engine(world_app_url)
    try:
        with engine.connect() as conn:
            clean = conn.execute(text(SESSION_STATE)).one()
        assert clean[1] == config.APP_ROLE and clean[2:4] == ("", "")
        f = Filters(start=WHOLE.start, end=WHOLE.end, tz="Asia/Kathmandu")
        for user in ("multi", "single", "hostile", "none", "multi"):
            uid = world.users[user]
            got = results(engine, queries.scope_for_user(engine, uid), f)
            assert_same_results(got, results(reference, queries.scope_for_user(reference, uid), f))
            with engine.connect() as conn:
                assert conn.execute(text(SESSION_STATE)).one() == clean
    finally:
        engine.dispose()
        reference.dispose()


def test_hostile_names_are_inert_and_never_slow_a_query(
    app: Engine, owner: Engine, world: mw.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pg_sleep(10) in any name, if ever executed, would trip this timeout.
    monkeypatch.setenv("ORCHDASH_STATEMENT_TIMEOUT_MS", "3000")
    monkeypatch.setenv("ORCHDASH_EXPORT_TIMEOUT_MS", "3000")
    uid = world.users["hostile"]
    got = results(app, queries.scope_for_user(app, uid), WHOLE)
    names = set(got["companies"]["company"]) | set(got["ventures"]["venture"])
    assert mw.COMPANY_NAMES["hostile"] in names and "'; SELECT pg_sleep(10); --" in names
    assert mw.COMPANY_NAMES["hostile"] in set(got["metric_rows"]["company"])
    with owner.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM companies")).scalar() == len(
            mw.COMPANY_NAMES
        )


def test_statement_timeout_is_query_timeout(app: Engine, world: mw.World) -> None:
    with (
        pytest.raises(QueryTimeout),
        transactions.scoped(app, world.users["multi"], timeout_ms=50) as conn,
    ):
        conn.execute(text("SELECT pg_sleep(5)"))


def test_an_exhausted_pool_is_busy(world_app_url: str, world: mw.World) -> None:
    engine = engines.make_engine(world_app_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    scope = Scope(user_id=world.users["multi"], company_ids=world.all_company_ids)
    try:
        # The pool's one connection held elsewhere (a scoped() of the same user would be joined).
        with engine.connect(), pytest.raises(Busy):
            queries.kpis(engine, scope, WHOLE)
        assert queries.kpis(engine, scope, WHOLE).loc[0, "rows"] > 0  # free again
    finally:
        engine.dispose()


def test_an_unreachable_server_is_data_unavailable(world: mw.World) -> None:
    nowhere = engines.make_engine("postgresql+psycopg://nobody@/none?host=/nonexistent")
    scope = Scope(user_id=world.users["multi"], company_ids=world.all_company_ids)
    try:
        for call in (
            lambda: queries.kpis(nowhere, scope, WHOLE),
            lambda: queries.export_csv(nowhere, scope, WHOLE, io.BytesIO()),
        ):
            with pytest.raises(DataUnavailable):
                call()
    finally:
        nowhere.dispose()


def _insert_marked(owner: Engine, company_id: str, mark: str) -> None:
    """One row at noon of the world's last day, committed, with ``mark`` as its metadata."""
    noon = datetime.combine(mw.LAST_DAY, time(12), tzinfo=UTC)
    with owner.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO orchestration_metrics"
                " (company_id, stage_id, action_count, recorded_at, metadata)"
                " VALUES (:c, 3, 1, :t, CAST(:mark AS jsonb))"
            ),
            {"c": company_id, "t": noon, "mark": mark},
        )


def _delete_marked(owner: Engine, mark: str) -> None:
    with owner.begin() as conn:
        conn.execute(
            text("DELETE FROM orchestration_metrics WHERE metadata = CAST(:mark AS jsonb)"),
            {"mark": mark},
        )


def test_reads_inside_one_scoped_transaction_share_one_snapshot(
    app: Engine, owner: Engine, world: mw.World
) -> None:
    """Venture health reads a cell's count, then the value at its middle rank: a row committed
    between the two reads must not shift the rank, so both run in one transaction."""
    uid = world.users["single"]
    scope = queries.scope_for_user(app, uid)
    f = Filters(start=mw.LAST_DAY, end=mw.LAST_DAY, tz="UTC")
    mark = '{"test": "snapshot"}'
    try:
        with transactions.scoped(app, uid):
            before = queries.count_rows(app, scope, f)
            _insert_marked(owner, scope.company_ids[0], mark)
            assert queries.count_rows(app, scope, f) == before
        assert queries.count_rows(app, scope, f) == before + 1
    finally:
        _delete_marked(owner, mark)
    assert queries.count_rows(app, scope, f) == before


def _session(app: Engine, uid: str) -> tuple[int, str, str, int]:
    """Who reads, and where: the backend, the role, the JWT subject, the companies seen."""
    with transactions.scoped(app, uid) as conn:
        row = conn.execute(
            text(
                "SELECT pg_backend_pid(), current_user,"
                " current_setting('request.jwt.claim.sub', true),"
                " (SELECT count(DISTINCT company_id) FROM orchestration_metrics)"
            )
        ).one()
    return int(row[0]), str(row[1]), str(row[2]), int(row[3])


def test_a_read_beside_shares_the_snapshot_user_and_scope_on_another_connection(
    app: Engine, owner: Engine, world: mw.World
) -> None:
    """Venture health reads its baselines on a second connection while the cells are read:
    the same snapshot, the same user under RLS, a different backend."""
    uid = world.users["single"]
    scope = queries.scope_for_user(app, uid)
    f = Filters(start=mw.LAST_DAY, end=mw.LAST_DAY, tz="UTC")
    mark = '{"test": "beside"}'
    try:
        with transactions.scoped(app, uid):
            here = _session(app, uid)
            before = queries.count_rows(app, scope, f)
            _insert_marked(owner, scope.company_ids[0], mark)
            counted = side_reads.beside(lambda: queries.count_rows(app, scope, f))
            there = side_reads.beside(lambda: _session(app, uid))()
            assert counted() == before
        assert there[0] != here[0]
        assert there[1:] == here[1:] == (transactions.TENANT_ROLE, uid, len(scope.company_ids))
        assert queries.count_rows(app, scope, f) == before + 1
    finally:
        _delete_marked(owner, mark)


def test_without_a_free_side_connection_a_read_runs_in_the_callers_transaction(
    app: Engine, world: mw.World
) -> None:
    uid = world.users["multi"]
    gate = threading.Event()

    def held() -> int:
        assert gate.wait(30)
        return _session(app, uid)[0]

    with transactions.scoped(app, uid):
        here = _session(app, uid)[0]
        busy = [side_reads.beside(held) for _ in range(side_reads.SIDE_CONNECTIONS)]
        assert side_reads.beside(lambda: _session(app, uid)[0])() == here
        gate.set()
        assert here not in {answer() for answer in busy}


def test_a_read_beside_raises_its_error_to_the_caller(
    app: Engine, world: mw.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow() -> None:
        with transactions.scoped(app, world.users["multi"]) as conn:
            conn.execute(text("SELECT pg_sleep(5)"))

    with pytest.raises(RuntimeError):
        side_reads.beside(slow)  # only inside a scoped transaction, whose snapshot it reads
    monkeypatch.setenv("ORCHDASH_STATEMENT_TIMEOUT_MS", "50")
    with pytest.raises(QueryTimeout), transactions.scoped(app, world.users["multi"]):
        side_reads.beside(slow)()


def test_the_embedded_server_keeps_a_quarter_of_the_memory_in_shared_buffers(
    server_url: str,
) -> None:
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("a server of the caller's, with its own settings")
    memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    engine = create_engine(server_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            buffers = conn.execute(
                text("SELECT pg_size_bytes(current_setting('shared_buffers'))")
            ).scalar()
    finally:
        engine.dispose()
    assert buffers == min(4096, max(128, memory_mb // 4)) * 2**20


def test_a_killed_process_does_not_keep_the_embedded_server_running(tmp_path: Path) -> None:
    """A process that asked for the embedded server and was killed stays in its list of users;
    the server must still stop when the last live one exits."""
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("a server of the caller's")
    pgdata = tmp_path / "pgdata"
    embedded.start_embedded(pgdata, cleanup_mode="stop")._cleanup()
    killed = subprocess.Popen(["true"])
    killed.wait()
    (pgdata / ".handle_pids.json").write_text(json.dumps([killed.pid]))
    server = embedded.start_embedded(pgdata, cleanup_mode="stop")
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    server._cleanup()  # what its exit handler runs
    _, running = psutil.wait_procs([postmaster], timeout=60)
    assert not running, "the embedded PostgreSQL still runs"
