"""Fixtures of the security suite: the hostile world (tests/security/world.py) in a database of
its own, the owner's engine that computes every expectation, and the app's environment."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest
from harness import AppServer
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from queries import config, db, schema
from security import apptest
from security import world as w
from security.servers import start_server


def _browser_fixtures() -> ModuleType:
    """tests/e2e/conftest.py, loaded under a name of its own: its ``browser`` (Debian's Chromium)
    and ``page`` (fails on any dialog, page error or console error) serve the browser tests here
    too, without copying them."""
    path = Path(__file__).resolve().parents[1] / "e2e" / "conftest.py"
    spec = importlib.util.spec_from_file_location("orchdash_security_browser_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_browser = _browser_fixtures()
browser = _browser.browser
page = _browser.page
foreign_origins = _browser.foreign_origins


@pytest.fixture(scope="session")
def hostile_world(new_database: Callable[[str], str]) -> w.World:
    url = new_database("orchdash_security")
    schema.migrate(url)
    owner = create_engine(url, poolclass=NullPool)
    try:
        return w.build(owner, url, date.today())
    finally:
        owner.dispose()


@pytest.fixture(scope="session")
def owner(hostile_world: w.World) -> Iterator[Engine]:
    """The tables' owner: RLS does not apply, so expectations read the whole truth."""
    engine = create_engine(hostile_world.url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def hostile_app_url(hostile_world: w.World) -> str:
    """The world's database as the app's runtime role, as the dashboard connects."""
    return db.as_role(hostile_world.url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))


@pytest.fixture
def app_env(hostile_app_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The app (AppTest) reads DATABASE_URL like a deployment; times are in UTC; the files of
    download buttons are kept for the test."""
    monkeypatch.setenv("DATABASE_URL", hostile_app_url)
    monkeypatch.delenv("ORCHDASH_ADMIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("ORCHDASH_TIMEZONE", "UTC")
    apptest.record_downloads(monkeypatch)
    return hostile_app_url


@pytest.fixture(scope="session")
def world_server(
    tmp_path_factory: pytest.TempPathFactory, hostile_app_url: str
) -> Iterator[AppServer]:
    """One app process serving the hostile world, for the browser and load tests."""
    server = start_server(tmp_path_factory, hostile_app_url)
    yield server
    server.stop()
