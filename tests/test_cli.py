"""The orchdash admin command against a real database."""

from __future__ import annotations

from collections.abc import Callable

import bcrypt
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dashboard import cli
from queries import admin, schema


@pytest.fixture()
def owner_url(new_database: Callable[[str], str]) -> str:
    url = new_database("orchdash_cli")
    schema.migrate(url)
    return url


def test_users_add_grant_revoke(
    owner_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORCHDASH_ADMIN_DATABASE_URL", owner_url)
    engine = create_engine(owner_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO companies (name) VALUES ('Acme'), ('Globex')"))

    assert cli.main(["users", "add", "Ann@Example.org", "--password", "s3cret"]) == 0
    assert cli.main(["users", "grant", "ann@example.org", "Acme"]) == 0
    capsys.readouterr()
    assert cli.main(["users"]) == 0
    assert "Acme" in capsys.readouterr().out

    # Setting the password again keeps one user and replaces the hash.
    first = admin.add_user(engine, "ann@example.org", "other")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id::text, encrypted_password FROM auth.users WHERE lower(email) = :e"),
            {"e": "ann@example.org"},
        ).all()
    assert [r[0] for r in rows] == [first]
    assert bcrypt.checkpw(b"other", rows[0][1].encode())

    assert cli.main(["users", "revoke", "ann@example.org", "Acme"]) == 0
    with engine.connect() as conn:
        active = conn.execute(text("SELECT is_active FROM user_company_access")).scalars().all()
    assert active == [False]
    with pytest.raises(LookupError):
        admin.set_access(engine, "ann@example.org", "Initech", active=True)
    engine.dispose()


def test_demo_refuses_external_database_without_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert cli.main(["demo", "--rows", "10"]) == 2
