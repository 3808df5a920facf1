"""The bodies of the database fixtures that a test module may want at its own scope.

tests/conftest.py registers them per session on the plain test server; a module that runs on
every kind of database (``database_maker``) registers them again per module, e.g.
``admin_engine = pytest.fixture(scope="module", name="admin_engine")(owner_engine)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from queries import config, engines


def owner_engine(migrated_url: str) -> Iterator[Engine]:
    """The owner's engine of the migrated database."""
    engine = create_engine(migrated_url, poolclass=NullPool)
    yield engine
    engine.dispose()


def runtime_url(migrated_url: str) -> str:
    """The same database as the app's runtime role."""
    return engines.as_role(migrated_url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))


def runtime_engine(app_url: str) -> Iterator[Engine]:
    """The app's runtime role, exactly as the dashboard connects."""
    engine = engines.make_engine(app_url)
    yield engine
    engine.dispose()
