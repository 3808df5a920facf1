"""The orchdash admin command against a real database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import bcrypt
import metrics_world as mw
import pytest
from mail_world import owner_fixture  # noqa: F401
from smtp_server import SmtpServer
from sqlalchemy import Engine, create_engine, text
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


def test_digest_subscribe_list_and_send(
    world: mw.World,
    world_app_url: str,
    owner: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", world_app_url)
    monkeypatch.setenv("ORCHDASH_ADMIN_DATABASE_URL", world.url)
    monkeypatch.delenv("ORCHDASH_SMTP_URL", raising=False)
    subscribe = ["digest", "subscribe", "multi@world.test", "--every", "week"]
    assert cli.main([*subscribe, "--page", "Error rates", "--query", "?stage=3"]) == 0
    assert cli.main([*subscribe, "--page", "nowhere"]) == 2
    assert cli.main(["digest", "subscribe", "nobody@world.test", "--every", "day"]) == 2
    assert cli.main([*subscribe, "--hour", "24"]) == 2
    capsys.readouterr()
    assert cli.main(["digest", "list"]) == 0
    (listed,) = capsys.readouterr().out.splitlines()
    assert "multi@world.test" in listed and "error-rates" in listed and "last: -" in listed

    # Without SMTP nothing is sent, and the command says why.
    assert cli.main(["digest", "send", "--all"]) == 2
    assert "ORCHDASH_SMTP_URL" in capsys.readouterr().err
    with SmtpServer(tmp_path) as server:
        monkeypatch.setenv("ORCHDASH_SMTP_URL", server.url())
        # Subscribed just now: this week's slot came before it, so nothing is due yet.
        assert cli.main(["digest", "send", "--due"]) == 0
        assert capsys.readouterr().out.endswith("0 sent, 0 handled.\n")
        assert cli.main(["digest", "send", "--all"]) == 0
        assert capsys.readouterr().out.endswith("1 sent, 1 handled.\n")
        (received,) = server.wait_for(1)
    assert received.message["Subject"].startswith("Weekly digest: Error rates, ")
    assert cli.main(["digest", "list"]) == 0
    assert "last: sent" in capsys.readouterr().out
