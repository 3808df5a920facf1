"""Session fixtures of the security suite, registered as a plugin by tests/conftest.py so that
the browser test in tests/e2e shares them: the hostile world (tests/security/world.py) in a
database of its own, its owner's engine, its runtime-role URL, and one app server on it.
Names start with ``hostile_``: plugin fixtures are seen by every test module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from harness import AppServer
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from queries import config, engines
from security import world as w
from security.servers import start_server


@pytest.fixture(scope="session")
def hostile_world(new_database: Callable[[str], str]) -> w.World:
    return w.migrated(new_database("orchdash_security"))


@pytest.fixture(scope="session")
def hostile_owner(hostile_world: w.World) -> Iterator[Engine]:
    """The tables' owner: RLS does not apply, so expectations read the whole truth."""
    engine = create_engine(hostile_world.url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def hostile_app_url(hostile_world: w.World) -> str:
    """The world's database as the app's runtime role, as the dashboard connects."""
    return engines.as_role(
        hostile_world.url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD")
    )


@pytest.fixture(scope="session")
def hostile_server(
    tmp_path_factory: pytest.TempPathFactory, hostile_app_url: str
) -> Iterator[AppServer]:
    """One app process (`orchdash run`) serving the hostile world: browser and load tests."""
    server = start_server(tmp_path_factory, hostile_app_url)
    yield server
    server.stop()
