"""The security suite's per-test environment; its session fixtures (the hostile world, its
owner, its app server) are in tests/security/fixtures.py, a plugin of tests/conftest.py."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from security import apptest


@pytest.fixture(scope="session")
def owner(hostile_owner: Engine) -> Engine:
    """The hostile world's owner, which computes every expectation."""
    return hostile_owner


@pytest.fixture
def app_env(hostile_app_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The app (AppTest) reads DATABASE_URL like a deployment; times are in UTC; the files of
    download buttons are kept for the test."""
    monkeypatch.setenv("DATABASE_URL", hostile_app_url)
    monkeypatch.delenv("ORCHDASH_ADMIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("ORCHDASH_TIMEZONE", "UTC")
    apptest.record_downloads(monkeypatch)
    return hostile_app_url
