"""Fixtures of the security suite: the hostile world (tests/security/world.py) in a database of
its own, the owner's engine that computes every expectation, and the app's environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from queries import config, db, schema
from security import apptest
from security import world as w


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
