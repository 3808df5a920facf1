"""Fixtures of the email tests on the test world: the owner's engine, which empties the mail
tables after each test (``owner``: import ``owner_fixture``), and a world user's scope."""

from __future__ import annotations

from collections.abc import Iterator

import metrics_world as mw
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from queries import Scope


@pytest.fixture(name="owner")
def owner_fixture(world: mw.World) -> Iterator[Engine]:
    engine = create_engine(world.url, poolclass=NullPool)
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM orchdash.messages"))
        conn.execute(text("DELETE FROM orchdash.subscriptions"))
    engine.dispose()


def scope(world: mw.World, label: str) -> Scope:
    user = world.users[label]
    return Scope(user_id=user, company_ids=tuple(sorted(world.active(user))))
