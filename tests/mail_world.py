"""Fixtures of the email tests on the test world: the owner's engine, which empties the mail
tables after each test (``owner``: import ``owner_fixture``), a real SMTP server and the
settings that send to it (``server``, ``settings``: import ``server_fixture``,
``settings_fixture``), a world user's scope, and a user's access revoked for a while."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import metrics_world as mw
import pytest
from smtp_server import SmtpServer
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from dashboard.mail import smtp
from queries import Scope


@pytest.fixture(name="owner")
def owner_fixture(world: mw.World) -> Iterator[Engine]:
    engine = create_engine(world.url, poolclass=NullPool)
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM orchdash.messages"))
        conn.execute(text("DELETE FROM orchdash.subscriptions"))
        conn.execute(text("DELETE FROM orchdash.alert_rules"))
    engine.dispose()


def scope(world: mw.World, label: str) -> Scope:
    user = world.users[label]
    return Scope(user_id=user, company_ids=tuple(sorted(world.active(user))))


@pytest.fixture(name="server")
def server_fixture(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path) as running:
        yield running


@pytest.fixture(name="settings")
def settings_fixture(server: SmtpServer) -> smtp.SmtpSettings:
    return smtp.SmtpSettings.from_url(server.url(), mail_from="digest@orchdash.test")


@contextmanager
def revoked(owner: Engine, user_id: str) -> Iterator[None]:
    """Every access of the user inactive inside the block, active again after it."""

    def set_active(active: bool) -> None:
        with owner.begin() as conn:
            conn.execute(
                text("UPDATE user_company_access SET is_active = :a WHERE user_id = :u"),
                {"a": active, "u": user_id},
            )

    set_active(False)
    try:
        yield
    finally:
        set_active(True)
