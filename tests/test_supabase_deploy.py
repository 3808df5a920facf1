"""A deployment on Supabase as the README describes it, end to end, on PostgreSQL 15 and 18.

A Supabase-shaped database (tests/supabase: Supabase's own set-up scripts, ``postgres`` demoted)
holds accounts stored the way Supabase Auth stores them (bcrypt ``$2a$`` hashes, ``aud`` and
``role`` ``authenticated``, confirmed, or banned, deleted, unconfirmed). ``orchdash migrate`` runs
as ``postgres``; the app then runs as ``orchdash_app``, directly and through pgbouncer in
transaction mode (Supabase's pooler on port 6543): it signs in the confirmed account, refuses the
closed ones with the same answer as a wrong password, and shows each user only their companies.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import bcrypt
import pytest
from pooler import running_pgbouncer
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

import queries
from dashboard import cli
from queries import Filters, config, engines, schema, users

PASSWORD = "a long chairman's password"
ACCOUNTS = {
    # email: the state Supabase Auth leaves the account in
    "chair@one.test": "email_confirmed_at = now()",
    "chair@two.test": "email_confirmed_at = now()",
    "banned@one.test": "email_confirmed_at = now(), banned_until = now() + interval '7 days'",
    "deleted@one.test": "email_confirmed_at = now(), deleted_at = now()",
    "unconfirmed@one.test": "email_confirmed_at = NULL",
}
COMPANY_OF = {email: "two" if "two" in email else "one" for email in ACCOUNTS}


@dataclass(frozen=True)
class Deployment:
    owner_url: str
    server_url: str  # the cluster's, as postgres, for the pooler
    users: dict[str, str]
    companies: dict[str, str]
    rows: dict[str, int]  # company name: actions


@pytest.fixture(scope="module", params=["pg15", "pg18"])
def deployment(request: pytest.FixtureRequest, supabase_clusters: Any) -> Deployment:
    cluster = supabase_clusters.get(int(request.param[-2:]))
    url = cluster.new_database("orchdash_deploy")
    schema.migrate(url)  # as postgres; any server WARNING would have stopped it
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    accounts = {email: str(uuid.uuid4()) for email in ACCOUNTS}
    companies = {"one": str(uuid.uuid4()), "two": str(uuid.uuid4())}
    actions = {"one": 0, "two": 0}
    owner = create_engine(url, poolclass=NullPool)
    with owner.begin() as conn:
        for email, user_id in accounts.items():
            conn.execute(
                text(
                    "INSERT INTO auth.users (instance_id, id, aud, role, email,"
                    " encrypted_password, created_at, updated_at)"
                    " VALUES ('00000000-0000-0000-0000-000000000000', :id, 'authenticated',"
                    " 'authenticated', :email, :hash, now(), now())"
                ),
                {"id": user_id, "email": email, "hash": hashed},
            )
            conn.execute(
                text(f"UPDATE auth.users SET {ACCOUNTS[email]} WHERE id = :id"),  # noqa: S608
                {"id": user_id},
            )
        for name, company_id in companies.items():
            conn.execute(
                text("INSERT INTO public.companies (id, name) VALUES (:id, :name)"),
                {"id": company_id, "name": f"Company {name}"},
            )
        for email, user_id in accounts.items():
            conn.execute(
                text(
                    "INSERT INTO public.user_company_access (user_id, company_id) VALUES (:u, :c)"
                ),
                {"u": user_id, "c": companies[COMPANY_OF[email]]},
            )
        for n in range(60):
            name = "one" if n % 3 else "two"
            actions[name] += n
            conn.execute(
                text(
                    "INSERT INTO public.orchestration_metrics (company_id, stage_id, action_count,"
                    " error_rate, recorded_at) VALUES (:c, :stage, :n, 0.05,"
                    " now() - make_interval(hours => :n))"
                ),
                {"c": companies[name], "stage": 1 + n % 40, "n": n},
            )
    owner.dispose()
    return Deployment(url, cluster.url_as("postgres", "postgres"), accounts, companies, actions)


@pytest.fixture(scope="module", params=["direct", "pgbouncer"])
def app(request: pytest.FixtureRequest, deployment: Deployment) -> Iterator[Engine]:
    direct = engines.as_role(deployment.owner_url, config.APP_ROLE)
    if request.param == "direct":
        engine = engines.make_engine(direct)
        yield engine
        engine.dispose()
        return
    roles = {config.APP_ROLE: None, "postgres": None}
    with running_pgbouncer(deployment.server_url, roles) as pooler:
        engine = engines.make_engine(pooler.url_for(direct))
        yield engine
        engine.dispose()


def test_postgres_migrated_without_being_a_superuser(deployment: Deployment) -> None:
    owner = create_engine(deployment.owner_url, poolclass=NullPool)
    with owner.connect() as conn:
        me = conn.execute(
            text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        ).one()
        head = conn.execute(text("SELECT version_num FROM orchdash_alembic_version")).scalar()
    owner.dispose()
    assert tuple(me) == ("postgres", False)
    assert head == "f09"


def test_a_confirmed_supabase_account_signs_in(app: Engine, deployment: Deployment) -> None:
    for email in ("chair@one.test", "chair@two.test"):
        assert users.verify_password(app, email, PASSWORD) == deployment.users[email]
        assert users.user_exists(app, deployment.users[email])
    assert users.verify_password(app, "chair@one.test", "wrong") is None


@pytest.mark.parametrize("email", ["banned@one.test", "deleted@one.test", "unconfirmed@one.test"])
def test_a_closed_supabase_account_is_refused(
    app: Engine, deployment: Deployment, email: str
) -> None:
    assert users.verify_password(app, email, PASSWORD) is None
    assert not users.user_exists(app, deployment.users[email])


@pytest.mark.parametrize("email", ["chair@one.test", "chair@two.test"])
def test_each_user_sees_only_their_company(app: Engine, deployment: Deployment, email: str) -> None:
    mine = COMPANY_OF[email]
    scope = queries.scope_for_user(app, deployment.users[email])
    assert scope.company_ids == (deployment.companies[mine],)
    today = dt.datetime.now(dt.UTC).date()
    f = Filters(start=today - dt.timedelta(days=7), end=today)
    assert int(queries.kpis(app, scope, f)["actions"].iloc[0]) == deployment.rows[mine]
    # Asking for the other company selects nothing, as an id that does not exist.
    other = deployment.companies["two" if mine == "one" else "one"]
    widened = Filters(start=f.start, end=f.end, company_ids=(other,))
    assert int(queries.kpis(app, scope, widened)["actions"].iloc[0]) == 0
    shown = set(queries.metric_rows(app, scope, f)["company_id"].astype(str))
    assert shown == {deployment.companies[mine]}


def test_orchdash_check_reports_every_check_ok(
    app: Engine, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = app.url.render_as_string(hide_password=False)
    code = cli.main(["check", "--url", runtime, "--owner-url", deployment.owner_url])
    table = capsys.readouterr().out
    assert code == 0, table
    header, *rows = table.splitlines()
    at = header.index("status")
    statuses = [row[at:].split()[0] for row in rows if row[:at].strip()]
    assert statuses and set(statuses) == {"ok"}, table
