"""Real PostgreSQL for every data test: TEST_DATABASE_URL (an owner's URL) or an embedded server.

Each test session gets its own freshly migrated database, dropped at the end.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import db_fixtures
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from queries import embedded, engines, schema

# Fixtures of the query tests' shared world (world, world_app_url, world_app), and of the
# security suite's hostile world (hostile_*), which tests/e2e uses too.
pytest_plugins = ["metrics_world", "security.fixtures", "supabase.fixtures"]


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """An owner's URL to a maintenance database on a running server."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield engines.with_driver(url)
        return
    folder = Path(tempfile.mkdtemp(prefix="orchdash-test-"))
    server = embedded.start_embedded(folder / "pgdata", cleanup_mode="delete")
    socket_dir = make_url(server.get_uri()).query["host"]
    yield f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
    server.cleanup()


def create_database(server_url: str, prefix: str = "orchdash_test") -> str:
    """Create an empty database; return its owner URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return engines.with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def new_database(server_url: str) -> Iterator[Callable[[str], str]]:
    """``new_database(prefix)`` creates an empty database (owner URL); all dropped at the end.

    A fixture rather than an import: ``from conftest import ...`` finds whichever conftest.py was
    imported last (tests/e2e has its own).
    """
    made: list[str] = []

    def make(prefix: str = "orchdash_test") -> str:
        made.append(create_database(server_url, prefix))
        return made[-1]

    yield make
    for url in made:
        drop_database(server_url, url)


@pytest.fixture(scope="session")
def empty_database(server_url: str) -> Iterator[str]:
    url = create_database(server_url)
    yield url
    drop_database(server_url, url)


@pytest.fixture(scope="session")
def migrated_url(server_url: str) -> Iterator[str]:
    """Owner URL of a database migrated to head."""
    url = create_database(server_url)
    schema.migrate(url)
    yield url
    drop_database(server_url, url)


admin_engine = pytest.fixture(scope="session", name="admin_engine")(db_fixtures.owner_engine)
app_url = pytest.fixture(scope="session", name="app_url")(db_fixtures.runtime_url)
app_engine = pytest.fixture(scope="session", name="app_engine")(db_fixtures.runtime_engine)


# Every test of migrations, roles, sign-in and RLS runs on a plain database and on a
# Supabase-shaped one (its own cluster, migrated as Supabase's non-superuser postgres), on
# PostgreSQL 15 and 18.
DATABASE_KINDS = ("plain", "supabase-pg15", "supabase-pg18")


class DatabaseMaker:
    """``maker(prefix)``: a fresh, empty database of ``maker.kind``; its owner's URL (on Supabase
    the role ``postgres``, which migrations run as there)."""

    def __init__(
        self, kind: str, make: Callable[[str], str], superuser: Callable[[str], str]
    ) -> None:
        self.kind = kind
        self.supabase = kind != "plain"
        self._make = make
        self._superuser = superuser

    def __call__(self, prefix: str = "orchdash_test") -> str:
        return self._make(prefix)

    def superuser(self, url: str) -> str:
        """A superuser's URL to the database of ``url`` (plain: its owner already is one)."""
        return self._superuser(url)


@pytest.fixture(scope="module", params=DATABASE_KINDS)
def database_maker(request: pytest.FixtureRequest) -> DatabaseMaker:
    if request.param == "plain":
        return DatabaseMaker("plain", request.getfixturevalue("new_database"), lambda url: url)
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("Supabase-shaped clusters are their own servers: they ran in the first pass")
    cluster = request.getfixturevalue("supabase_clusters").get(int(request.param[-2:]))
    return DatabaseMaker(
        request.param,
        cluster.new_database,
        lambda url: cluster.url_as("supabase_admin", make_url(url).database),
    )
