"""The dashboard through a transaction-mode pooler, as Supabase's usual connection string (port
6543) has it: pgbouncer 1.18 (tests/pooler.py) in front of the test server, as the app's runtime
role.

In transaction mode each transaction may run on another server connection, and a server
connection goes from one client to the next without a reset. So nothing may hang on the session:
no startup ``options`` (pgbouncer refuses the connection), no named prepared statements (psycopg
prepares a statement on its sixth run; the next run on another server connection finds nothing
under that name), no plain ``SET``. Every page renders, the CSV export streams the same bytes as
directly, password sign-in works, Venture health's side connection imports the caller's snapshot
on another server connection, a page's queries run again and again on one client connection
while the server connections under it change, and the next client of a server connection finds
it as the server's defaults left it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import metrics_world as mw
import psycopg
import pytest
import streamlit as st
from pooler import Pooler, running_pgbouncer
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from test_pages import CHAIRMAN, PAGES, Demo, app_for, assert_clean, open_page

import queries
from queries import (
    Filters,
    config,
    demo,
    engines,
    schema,
    side_reads,
    sqlfiles,
    transactions,
    users,
)

SEED = 1
ROWS = 20_000
# More than psycopg's prepare_threshold (5): the statements of the query set would be prepared.
ROUNDS = 8
# What a server connection carries from one transaction to the next, if anything leaks.
SESSION_STATE = (
    "SELECT current_user, session_user, current_setting('role'),"
    " current_setting('request.jwt.claims', true), current_setting('request.jwt.claim.sub', true),"
    " current_setting('statement_timeout'), current_setting('jit'),"
    " current_setting('plan_cache_mode'), current_setting('TimeZone'),"
    " current_setting('DateStyle'), current_setting('transaction_read_only'),"
    " current_setting('transaction_isolation'),"
    " (SELECT count(*) FROM pg_prepared_statements)"
)


@dataclass(frozen=True)
class Demos:
    owner_url: str
    app_url: str  # direct, as the runtime role
    users: dict[str, str]  # email -> id
    companies: tuple[str, ...]


@pytest.fixture(scope="module")
def demo_data(new_database: Callable[[str], str]) -> Demos:
    owner = new_database("orchdash_pooler")
    schema.migrate(owner)
    engine = create_engine(owner, poolclass=NullPool)
    summary = demo.load_demo(engine, rows=ROWS, seed=SEED)
    engine.dispose()
    world = demo.demo_world(ROWS, SEED)
    return Demos(
        owner_url=owner,
        app_url=engines.as_role(owner, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD")),
        users=dict(summary.users),
        companies=tuple(str(c) for c in world.company_ids),
    )


@pytest.fixture(scope="module")
def pooler(server_url: str) -> Iterator[Pooler]:
    """pgbouncer in transaction mode in front of the test server, for its owner and the app."""
    owner = make_url(server_url)
    roles = {
        owner.username or "postgres": owner.password,
        config.APP_ROLE: os.environ.get("ORCHDASH_APP_PASSWORD"),
    }
    with running_pgbouncer(server_url, roles) as started:
        yield started


@pytest.fixture(scope="module")
def pooled_url(pooler: Pooler, demo_data: Demos) -> Iterator[str]:
    """The demo database as the runtime role, through the pooler."""
    url = pooler.url_for(demo_data.app_url)
    assert make_url(url).port == pooler.port
    assert make_url(url).username == config.APP_ROLE
    yield url
    cached = engines._engines.pop(url, None)  # the dashboard's get_engine() of DATABASE_URL
    if cached is not None:
        cached.dispose()


@pytest.fixture
def pooled_app(pooled_url: str, demo_data: Demos, monkeypatch: pytest.MonkeyPatch) -> Demo:
    """The dashboard's DATABASE_URL points at the pooler; caches start empty."""
    monkeypatch.setenv("DATABASE_URL", pooled_url)
    monkeypatch.delenv("ORCHDASH_ADMIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("ORCHDASH_TIMEZONE", "UTC")
    st.cache_data.clear()
    return Demo(app_url=pooled_url, users=demo_data.users, companies=demo_data.companies)


@pytest.fixture
def pooled_engine(pooled_url: str) -> Iterator[Engine]:
    """One client connection to the pooler (pool_size 1), so that every transaction of a test
    shares it, while the server connections under it change."""
    engine = engines.make_engine(pooled_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def chairman_scope(engine: Engine, demo_data: Demos) -> queries.Scope:
    return queries.scope_for_user(engine, demo_data.users[CHAIRMAN])


def backend_pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def clients_of(pooler: Pooler, database: str, user: str) -> list[dict[str, Any]]:
    return [
        c
        for c in pooler.admin("SHOW CLIENTS", user)
        if c["database"] == database and c["user"] == user
    ]


def open_servers(url: str, count: int) -> set[int]:
    """Make the pooler open ``count`` server connections for the database and role of ``url``
    (as many transactions at once), so that its round robin has several to choose from; their
    backend pids."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    held = [psycopg.connect(conninfo, prepare_threshold=None) for _ in range(count)]
    try:
        return {int(c.execute("SELECT pg_backend_pid()").fetchall()[0][0]) for c in held}
    finally:
        for c in held:
            c.rollback()  # a client that leaves inside a transaction takes its server with it
            c.close()


# ---- every page --------------------------------------------------------------------------------


@pytest.mark.parametrize(("file", "title"), PAGES)
def test_each_page_renders_through_the_pooler(
    pooled_app: Demo, pooler: Pooler, file: str, title: str
) -> None:
    at = open_page(app_for(pooled_app, CHAIRMAN), file)
    assert_clean(at)
    assert not at.warning
    assert [t.value for t in at.title] == [title]
    assert at.get("download_button") or at.get("link_button")  # a page with data, not a notice
    # It read through the pooler: the dashboard's engine is the pooler's, and its clients are
    # the pooler's clients.
    assert engines.get_engine().url.port == pooler.port
    database = make_url(pooled_app.app_url).database
    assert database is not None
    assert clients_of(pooler, database, config.APP_ROLE)


# ---- the CSV export ----------------------------------------------------------------------------


def test_the_export_streams_the_same_bytes_through_the_pooler(
    pooler: Pooler, world: mw.World, world_app_url: str
) -> None:
    direct = engines.make_engine(world_app_url)
    pooled = engines.make_engine(pooler.url_for(world_app_url), pool_size=1, max_overflow=0)
    try:
        for name, tz in (("multi", "Asia/Kolkata"), ("hostile", "America/New_York")):
            f = Filters(start=mw.FIRST_DAY, end=mw.LAST_DAY, tz=tz)
            sent = []
            for engine in (direct, pooled):
                scope = queries.scope_for_user(engine, world.users[name])
                out = io.BytesIO()
                rows = queries.export_csv(engine, scope, f, out)
                sent.append((rows, out.getvalue()))
            assert sent[0][0] > 100
            assert sent[1] == sent[0]
    finally:
        direct.dispose()
        pooled.dispose()


# ---- sign-in -----------------------------------------------------------------------------------


def test_password_sign_in_through_the_pooler(pooled_engine: Engine, demo_data: Demos) -> None:
    chairman = demo_data.users[CHAIRMAN]
    password = demo.DEMO_PASSWORDS[CHAIRMAN]
    assert users.verify_password(pooled_engine, CHAIRMAN, password) == chairman
    assert users.verify_password(pooled_engine, CHAIRMAN, password + "x") is None
    assert users.verify_password(pooled_engine, "nobody@demo.local", password) is None
    assert users.user_id_for_email(pooled_engine, CHAIRMAN.upper()) == chairman
    assert users.user_exists(pooled_engine, chairman)


# ---- Venture health's side connection ----------------------------------------------------------


def test_venture_health_reads_beside_in_the_callers_snapshot_through_the_pooler(
    pooler: Pooler,
    pooled_engine: Engine,
    demo_data: Demos,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """side_reads.beside exports the caller's snapshot; the side transaction, on another server
    connection, imports it while the caller's transaction stays open on its own. A transaction
    committed in between proves the import: a snapshot of its own would see it."""
    callers: list[tuple[int, str]] = []
    sides: list[dict[str, Any]] = []
    beside, read_beside = side_reads.beside, side_reads._read_beside
    owner = make_url(demo_data.owner_url).set(drivername="postgresql")

    def state(conn: Connection) -> tuple[int, str]:
        snapshot = conn.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()
        return backend_pid(conn), str(snapshot)

    def recording_beside(read: Callable[[], Any]) -> Callable[[], Any]:
        held = transactions.open_scope.get()
        assert held is not None
        callers.append(state(held[2]))
        with psycopg.connect(owner.render_as_string(hide_password=False)) as other:
            other.execute("SELECT pg_current_xact_id()")  # commits a transaction id
        return beside(read)

    def recording_read_beside(
        side: Engine,
        engine: Engine,
        user_id: str,
        snapshot: str,
        timeout_ms: int | None,
        read: Callable[[], Any],
    ) -> Any:
        def traced() -> Any:
            held = transactions.open_scope.get()
            assert held is not None and held[0] is engine
            conn = held[2]
            pid, current = state(conn)
            who = conn.execute(
                text("SELECT current_user, current_setting('request.jwt.claim.sub')")
            ).one()
            sides.append({"side": side, "on": conn.engine, "pid": pid, "snapshot": current})
            sides[-1]["who"] = tuple(who)
            return read()

        return read_beside(side, engine, user_id, snapshot, timeout_ms, traced)

    monkeypatch.setattr(side_reads, "beside", recording_beside)
    monkeypatch.setattr(side_reads, "_read_beside", recording_read_beside)
    today = date.today()
    f = Filters(start=today - timedelta(days=89), end=today, grain="week")
    through = queries.venture_stage_health(
        pooled_engine, chairman_scope(pooled_engine, demo_data), f
    )
    assert len(callers) == 1 and len(sides) == 1
    (caller_pid, caller_snapshot), side = callers[0], sides[0]
    # On the side engine, through the pooler, on another server connection, in the same snapshot.
    assert side["on"] is side["side"] and side["side"] is not pooled_engine
    assert side["side"].url.port == pooler.port
    assert side["pid"] != caller_pid
    assert side["snapshot"] == caller_snapshot
    assert side["who"] == (transactions.TENANT_ROLE, demo_data.users[CHAIRMAN])
    # Same cells as a direct connection reads.
    monkeypatch.undo()
    direct = engines.make_engine(demo_data.app_url)
    try:
        expected = queries.venture_stage_health(direct, chairman_scope(direct, demo_data), f)
    finally:
        direct.dispose()
    assert len(through) > 0
    assert through.equals(expected)


# ---- a page's queries, again and again, on one client connection --------------------------------


def venture_health_queries(engine: Engine, demo_data: Demos) -> list[int]:
    """What the layout and Venture health ask for, in order (its side read included); the
    backend pids of the transactions that began and ended it."""
    pids = []
    with transactions.scoped(engine, demo_data.users[CHAIRMAN]) as conn:
        pids.append(backend_pid(conn))
    scope = chairman_scope(engine, demo_data)
    queries.companies(engine, scope)
    queries.ventures(engine, scope)
    queries.agents(engine, scope)
    queries.rollup_zone(engine, scope)
    queries.data_range(engine, scope)
    today = date.today()
    f = Filters(start=today - timedelta(days=29), end=today)
    assert len(queries.venture_stage_health(engine, scope, f)) > 0
    queries.venture_changes(engine, scope, f)
    queries.kpi_trend(engine, scope, f)
    queries.kpis(engine, scope, f)
    for _ in range(3):  # three transactions in a row: the pooler's round robin moves them
        with transactions.scoped(engine, demo_data.users[CHAIRMAN]) as conn:
            pids.append(backend_pid(conn))
    return pids


def test_a_pages_queries_run_again_and_again_on_one_pooled_connection(
    pooled_url: str, pooled_engine: Engine, demo_data: Demos
) -> None:
    """Every statement runs more often than psycopg's prepare_threshold on one client connection,
    while the pooler moves its transactions between server connections: with automatic prepared
    statements the sixth run prepares a statement on one server connection, and a later run on
    another fails with 'prepared statement "_pg3_0" does not exist' (or, where another client
    prepared one under the same name, 'already exists')."""
    assert len(open_servers(pooled_url, 3)) == 3
    seen: set[int] = set()
    clients: set[int] = set()
    for _ in range(ROUNDS):
        seen.update(venture_health_queries(pooled_engine, demo_data))
        with pooled_engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            clients.add(id(raw))
            assert raw.prepare_threshold is None
    assert len(clients) == 1  # one client connection throughout
    assert len(seen) >= 2  # under it, several server connections


# ---- nothing is left on a server connection ------------------------------------------------------


def state_of_next_client(url: str, pid: int) -> tuple[Any, ...]:
    """SESSION_STATE as a new client of the pooler finds it on the server connection ``pid``
    (clients are connected until one lands there: a bounded number of tries)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    for _ in range(50):
        with psycopg.connect(conninfo, prepare_threshold=None) as conn:
            if conn.execute("SELECT pg_backend_pid()").fetchone() == (pid,):
                row = conn.execute(SESSION_STATE).fetchone()
                assert row is not None
                return tuple(row)
    raise AssertionError(f"no client of the pooler landed on server connection {pid}")


def test_a_scoped_transaction_leaves_nothing_on_its_server_connection(
    pooled_url: str, pooled_engine: Engine, demo_data: Demos
) -> None:
    direct = make_url(demo_data.app_url).set(drivername="postgresql")
    with psycopg.connect(direct.render_as_string(hide_password=False)) as conn:
        defaults = conn.execute(SESSION_STATE).fetchone()
    assert defaults is not None
    assert defaults[:3] == (config.APP_ROLE, config.APP_ROLE, "none")
    assert not defaults[3] and not defaults[4]
    chairman = demo_data.users[CHAIRMAN]
    with transactions.scoped(pooled_engine, chairman) as conn:
        pid = backend_pid(conn)
        # Everything a dashboard transaction sets, as the export and Venture health set it.
        conn.execute(sqlfiles.load("export_session"), {"tz": "Asia/Kathmandu"})
        conn.execute(sqlfiles.load("custom_plans"))
        inside = conn.execute(text(SESSION_STATE)).one()
    assert inside[0] == transactions.TENANT_ROLE and inside[1] == config.APP_ROLE
    assert chairman in inside[3] and inside[4] == chairman
    assert inside[6] == "off"  # jit, set in the transaction now that no startup option may be
    assert inside[10:12] == ("on", "repeatable read")
    after = state_of_next_client(pooled_url, pid)
    assert after[:3] == defaults[:3]
    assert not after[3] and not after[4]  # no claims: '' once a transaction has defined them
    assert after[5:] == defaults[5:]  # timeout, jit, plans, zone, style, mode; no statements


def test_the_pooler_does_carry_session_state(pooled_url: str) -> None:
    """The check above can fail: a plain SET reaches the next client of that server connection
    (a custom setting, which no other test reads)."""
    conninfo = (
        make_url(pooled_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # One statement: in autocommit each statement may run on another server connection.
        row = conn.execute(
            "SELECT pg_backend_pid(), set_config('orchdash.leak_probe', 'left behind', false)"
        ).fetchone()
    assert row is not None
    for _ in range(50):
        with psycopg.connect(conninfo) as conn:
            found = conn.execute(
                "SELECT pg_backend_pid(), current_setting('orchdash.leak_probe', true)"
            ).fetchone()
        if found is not None and found[0] == row[0]:
            assert found[1] == "left behind"
            return
    raise AssertionError(f"no client of the pooler landed on server connection {row[0]}")
