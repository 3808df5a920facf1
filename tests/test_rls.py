"""Row-level security as the app's runtime role sees it, on a fixture in a database of its own.

Users: A has active access to C1 and inactive access to C2, B to C3, Z to nothing. Every tenant
table also holds rows of no company. What each user may see is derived from the fixture below,
then read through ``queries.transactions.scoped`` as ``orchdash_app`` (which becomes
``orchdash_reader``).
Each test runs on a plain database and on Supabase-shaped ones (PostgreSQL 15 and 18), migrated
there as Supabase's non-superuser ``postgres``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from queries import config, schema
from queries.engines import as_role, make_engine
from queries.transactions import TENANT_ROLE, scoped

USERS = {name: str(uuid.uuid4()) for name in ("A", "B", "Z")}
C1, C2, C3 = (str(uuid.uuid4()) for _ in range(3))
NO_COMPANY = None

ACCESS: list[dict[str, Any]] = [
    {"user_id": USERS["A"], "company_id": C1, "is_active": True},
    {"user_id": USERS["A"], "company_id": C2, "is_active": False},
    {"user_id": USERS["B"], "company_id": C3, "is_active": True},
]
COMPANIES = [{"id": company, "name": f"Company {n}"} for n, company in enumerate((C1, C2, C3))]
VENTURES = [
    {"id": str(uuid.uuid4()), "company_id": company, "name": f"Venture {n}"}
    for n, company in enumerate((C1, C1, C2, C3, NO_COMPANY))
]
SESSIONS = [
    {"session_id": str(uuid.uuid4()), "company_id": v["company_id"], "venture_id": v["id"]}
    for v in VENTURES
]
METRICS = [
    {
        "metric_id": str(uuid.uuid4()),
        "company_id": s["company_id"],
        "venture_id": s["venture_id"],
        "session_id": s["session_id"],
        "stage_id": stage,
    }
    for s in SESSIONS
    for stage in (1, 40)
] + [
    # A venture of C1 recorded without its company: still nobody's.
    {
        "metric_id": str(uuid.uuid4()),
        "company_id": NO_COMPANY,
        "venture_id": VENTURES[0]["id"],
        "session_id": None,
        "stage_id": 2,
    }
]

INSERTS: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "INSERT INTO auth.users (id, email) VALUES (:id, :email)",
        [{"id": uid, "email": f"{name.lower()}@rls.test"} for name, uid in USERS.items()],
    ),
    ("INSERT INTO public.companies (id, name) VALUES (:id, :name)", COMPANIES),
    (
        "INSERT INTO public.ventures (id, company_id, name) VALUES (:id, :company_id, :name)",
        VENTURES,
    ),
    (
        "INSERT INTO public.eva_orchestration_sessions (session_id, company_id, venture_id)"
        " VALUES (:session_id, :company_id, :venture_id)",
        SESSIONS,
    ),
    (
        "INSERT INTO public.user_company_access (user_id, company_id, is_active)"
        " VALUES (:user_id, :company_id, :is_active)",
        ACCESS,
    ),
    (
        "INSERT INTO public.orchestration_metrics"
        " (metric_id, company_id, venture_id, session_id, stage_id)"
        " VALUES (:metric_id, :company_id, :venture_id, :session_id, :stage_id)",
        METRICS,
    ),
]

# A table of the project that is not ours, open to every signed-in API user (authenticated), as
# Supabase projects have many; its default privileges would grant it too.
PROJECT_TABLE = (
    "CREATE TABLE public.project_notes (id int, company_id uuid, note text);"
    " ALTER TABLE public.project_notes ENABLE ROW LEVEL SECURITY;"
    " CREATE POLICY open_to_users ON public.project_notes FOR ALL TO authenticated"
    " USING (true) WITH CHECK (true);"
    " GRANT ALL ON public.project_notes TO authenticated;"
    " INSERT INTO public.project_notes VALUES (1, NULL, 'not the dashboard''s')"
)
PROJECT_STATEMENTS = {
    "read": "SELECT note FROM public.project_notes",
    "insert": "INSERT INTO public.project_notes VALUES (2, NULL, 'x')",
    "update": "UPDATE public.project_notes SET note = 'x'",
    "delete": "DELETE FROM public.project_notes",
}

# table: (query of each visible row's key, the fixture rows, the key of a fixture row)
TABLES: dict[str, tuple[str, list[dict[str, Any]], str]] = {
    "orchestration_metrics": (
        "SELECT metric_id::text FROM public.orchestration_metrics",
        METRICS,
        "metric_id",
    ),
    "companies": ("SELECT id::text FROM public.companies", COMPANIES, "id"),
    "ventures": ("SELECT id::text FROM public.ventures", VENTURES, "id"),
    "user_company_access": (
        "SELECT user_id::text || ' ' || company_id::text FROM public.user_company_access",
        ACCESS,
        "",
    ),
}


def active_companies(user: str) -> set[str]:
    return {a["company_id"] for a in ACCESS if a["user_id"] == USERS[user] and a["is_active"]}


def key(table: str, row: dict[str, Any]) -> str:
    if table == "user_company_access":
        return f"{row['user_id']} {row['company_id']}"
    return str(row[TABLES[table][2]])


def company_of(table: str, row: dict[str, Any]) -> str | None:
    return row["id"] if table == "companies" else row["company_id"]


def expected_rows(table: str, user: str) -> set[str]:
    companies = active_companies(user)
    _, fixture, _ = TABLES[table]
    return {
        key(table, row)
        for row in fixture
        if company_of(table, row) in companies
        and (table != "user_company_access" or row["user_id"] == USERS[user])
    }


@pytest.fixture(scope="module")
def rls_url(database_maker: Callable[[str], str]) -> str:
    url = database_maker("orchdash_rls")
    schema.migrate(url)
    owner = create_engine(url, poolclass=NullPool)
    with owner.begin() as conn:
        for sql, rows in INSERTS:
            conn.execute(text(sql), rows)
        conn.execute(text(PROJECT_TABLE))
    owner.dispose()
    return url


@pytest.fixture(scope="module")
def owner(rls_url: str) -> Iterator[Engine]:
    engine = create_engine(rls_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app_role_url(rls_url: str) -> str:
    return as_role(rls_url, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))


@pytest.fixture(scope="module")
def app(app_role_url: str) -> Iterator[Engine]:
    engine = make_engine(app_role_url)
    yield engine
    engine.dispose()


def visible(conn: Connection, table: str) -> set[str]:
    return set(conn.execute(text(TABLES[table][0])).scalars())


def test_the_fixture_can_tell_access_apart(owner: Engine) -> None:
    # Owner sees all: the expectations below exclude rows that really are there.
    with owner.connect() as conn:
        for table, (_, fixture, _) in TABLES.items():
            assert visible(conn, table) == {key(table, row) for row in fixture}
    assert expected_rows("orchestration_metrics", "A")
    assert expected_rows("orchestration_metrics", "B")
    assert not expected_rows("orchestration_metrics", "A") & expected_rows(
        "orchestration_metrics", "B"
    )


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("user", USERS)
def test_each_user_sees_exactly_the_rows_of_their_active_companies(
    app: Engine, user: str, table: str
) -> None:
    with scoped(app, USERS[user]) as conn:
        assert visible(conn, table) == expected_rows(table, user)


@pytest.mark.parametrize("table", ["orchestration_metrics", "ventures"])
def test_rows_without_a_company_are_seen_by_no_one(app: Engine, owner: Engine, table: str) -> None:
    sql = f"SELECT count(*) FROM public.{table} WHERE company_id IS NULL"  # noqa: S608
    with owner.connect() as conn:
        assert conn.execute(text(sql)).scalar()
    for user in USERS.values():
        with scoped(app, user) as conn:
            assert conn.execute(text(sql)).scalar() == 0


@pytest.mark.parametrize("table", TABLES)
def test_inactive_access_grants_nothing(app: Engine, table: str) -> None:
    c2_rows = {key(table, row) for row in TABLES[table][1] if company_of(table, row) == C2}
    assert c2_rows
    with scoped(app, USERS["A"]) as conn:
        assert not visible(conn, table) & c2_rows


WRITES = {
    "insert metrics": "INSERT INTO public.orchestration_metrics (company_id) VALUES (:c1)",
    "update metrics": "UPDATE public.orchestration_metrics SET action_count = 7",
    "delete metrics": "DELETE FROM public.orchestration_metrics",
    "truncate metrics": "TRUNCATE public.orchestration_metrics",
    "insert company": "INSERT INTO public.companies (name) VALUES ('Mine')",
    "update company": "UPDATE public.companies SET name = 'Mine'",
    "delete company": "DELETE FROM public.companies WHERE id = :c1",
    "insert venture": "INSERT INTO public.ventures (company_id, name) VALUES (:c1, 'Mine')",
    "update venture": "UPDATE public.ventures SET name = 'Mine'",
    "delete venture": "DELETE FROM public.ventures",
    "insert session": "INSERT INTO public.eva_orchestration_sessions (company_id) VALUES (:c1)",
    "update session": "UPDATE public.eva_orchestration_sessions SET status = 'x'",
    "delete session": "DELETE FROM public.eva_orchestration_sessions",
    "grant oneself access": "INSERT INTO public.user_company_access (user_id, company_id)"
    " VALUES (:a, :c3)",
    "reactivate access": "UPDATE public.user_company_access SET is_active = true",
    "delete access": "DELETE FROM public.user_company_access",
}
# The runtime role has no privilege at all on auth (sign-in goes through functions): refused
# before READ ONLY would be.
AUTH_WRITES = {
    "insert user": "INSERT INTO auth.users (id) VALUES (gen_random_uuid())",
    "update user": "UPDATE auth.users SET encrypted_password = 'x'",
}
WRITE_PARAMS = {"c1": C1, "c3": C3, "a": USERS["A"]}

READ_ONLY = "25006"
INSUFFICIENT_PRIVILEGE = "42501"


def sqlstate(error: DBAPIError) -> str:
    return str(getattr(error.orig, "sqlstate", None))


@pytest.mark.parametrize("write", WRITES)
def test_no_write_inside_scoped(app: Engine, write: str) -> None:
    with pytest.raises(DBAPIError) as error, scoped(app, USERS["A"]) as conn:
        conn.execute(text(WRITES[write]), WRITE_PARAMS)
    assert sqlstate(error.value) == READ_ONLY


@pytest.mark.parametrize("write", AUTH_WRITES)
def test_no_write_of_auth_users_inside_scoped(app: Engine, write: str) -> None:
    with pytest.raises(DBAPIError) as error, scoped(app, USERS["A"]) as conn:
        conn.execute(text(AUTH_WRITES[write]))
    assert sqlstate(error.value) == INSUFFICIENT_PRIVILEGE


@pytest.mark.parametrize("write", [*WRITES, *AUTH_WRITES])
def test_no_write_privilege_as_the_reader_even_outside_read_only(app: Engine, write: str) -> None:
    # No commit: a write that wrongly succeeds must not spoil the fixture for other tests.
    with pytest.raises(DBAPIError) as error, app.connect() as conn:
        conn.execute(
            text(
                "SELECT set_config('request.jwt.claims', :claims, true),"
                " set_config('request.jwt.claim.sub', :sub, true)"
            ),
            {"claims": f'{{"sub": "{USERS["A"]}"}}', "sub": USERS["A"]},
        )
        conn.execute(text(f"SET LOCAL ROLE {TENANT_ROLE}"))
        state = conn.execute(
            text("SELECT current_user, current_setting('transaction_read_only')")
        ).one()
        assert tuple(state) == (TENANT_ROLE, "off")
        conn.execute(text({**WRITES, **AUTH_WRITES}[write]), WRITE_PARAMS)
    assert sqlstate(error.value) == INSUFFICIENT_PRIVILEGE


@pytest.mark.parametrize("write", [*WRITES, *AUTH_WRITES])
def test_no_write_privilege_as_the_app_role_itself(app: Engine, write: str) -> None:
    with pytest.raises(DBAPIError) as error, app.connect() as conn:
        conn.execute(text({**WRITES, **AUTH_WRITES}[write]), WRITE_PARAMS)
    assert sqlstate(error.value) == INSUFFICIENT_PRIVILEGE


def test_writes_failed_and_changed_nothing(owner: Engine) -> None:
    with owner.connect() as conn:
        for table, (_, fixture, _) in TABLES.items():
            assert visible(conn, table) == {key(table, row) for row in fixture}
        changed = conn.execute(
            text("SELECT count(*) FROM public.orchestration_metrics WHERE action_count = 7")
        ).scalar()
    assert changed == 0


def test_app_role_attributes(owner: Engine) -> None:
    with owner.connect() as conn:
        found = conn.execute(
            text(
                "SELECT rolsuper, rolbypassrls, rolinherit, rolcreaterole, rolcreatedb,"
                " rolcanlogin FROM pg_roles WHERE rolname = :role"
            ),
            {"role": config.APP_ROLE},
        ).one()
        assert tuple(found) == (False, False, False, False, False, True)
        owned = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid)"
                " + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid)"
                " + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)"
                " FROM pg_roles AS r WHERE r.rolname = :role"
            ),
            {"role": config.APP_ROLE},
        ).scalar()
        assert owned == 0


def test_app_role_is_a_member_of_the_reader_only_without_its_privileges(app: Engine) -> None:
    with app.connect() as conn:
        found = conn.execute(
            text(
                "SELECT current_user, pg_has_role(:reader, 'MEMBER'), pg_has_role(:reader, 'USAGE')"
            ),
            {"reader": TENANT_ROLE},
        ).one()
        memberships = set(
            conn.execute(
                text(
                    "SELECT m.roleid::regrole::text FROM pg_auth_members AS m"
                    " WHERE m.member = current_user::regrole"
                )
            ).scalars()
        )
    assert tuple(found) == (config.APP_ROLE, True, False)
    assert memberships == {TENANT_ROLE}


@pytest.mark.parametrize("role", ["authenticated", "anon", "service_role", "postgres"])
def test_app_role_cannot_become_a_role_of_the_project(app: Engine, role: str) -> None:
    # authenticated is what every signed-in API user of a Supabase project shares.
    with pytest.raises(DBAPIError) as error, app.connect() as conn, conn.begin():
        conn.execute(text(f"SET LOCAL ROLE {role}"))
    assert sqlstate(error.value) == INSUFFICIENT_PRIVILEGE


@pytest.mark.parametrize("statement", PROJECT_STATEMENTS)
@pytest.mark.parametrize("as_reader", [False, True], ids=["app role", "reader"])
def test_a_project_table_open_to_authenticated_stays_closed_to_the_app(
    app: Engine, statement: str, as_reader: bool
) -> None:
    # Not READ ONLY: privileges alone must refuse, whatever the table's policies allow.
    with pytest.raises(DBAPIError) as error, app.connect() as conn, conn.begin():
        conn.execute(
            text("SELECT set_config('request.jwt.claim.sub', :sub, true)"), {"sub": USERS["A"]}
        )
        if as_reader:
            conn.execute(text(f"SET LOCAL ROLE {TENANT_ROLE}"))
        conn.execute(text(PROJECT_STATEMENTS[statement]))
    assert sqlstate(error.value) == INSUFFICIENT_PRIVILEGE


def test_the_reader_does_not_read_what_the_dashboard_does_not(app: Engine) -> None:
    with pytest.raises(DBAPIError) as error, scoped(app, USERS["A"]) as conn:
        conn.execute(text("SELECT session_id FROM public.eva_orchestration_sessions"))
    assert sqlstate(error.value) == INSUFFICIENT_PRIVILEGE


@pytest.mark.parametrize("table", TABLES)
def test_without_set_role_the_app_reads_no_tenant_table(app: Engine, table: str) -> None:
    with pytest.raises(DBAPIError) as error, app.connect() as conn, conn.begin():
        conn.execute(
            text("SELECT set_config('request.jwt.claim.sub', :sub, true)"), {"sub": USERS["A"]}
        )
        conn.execute(text(TABLES[table][0]))
    assert sqlstate(error.value) == INSUFFICIENT_PRIVILEGE


@pytest.mark.parametrize("column", ["id", "email", "encrypted_password", "raw_user_meta_data"])
def test_app_reads_nothing_of_auth_users_itself(app: Engine, column: str) -> None:
    with pytest.raises(DBAPIError) as error, app.connect() as conn:
        conn.execute(text(f"SELECT {column} FROM auth.users"))  # noqa: S608
    assert sqlstate(error.value) == INSUFFICIENT_PRIVILEGE


def test_the_sign_in_function_answers_for_one_account_only(app: Engine) -> None:
    with app.connect() as conn:
        found = conn.execute(
            text("SELECT id::text FROM orchdash.account_by_email(:email)"), {"email": "A@RLS.test"}
        ).scalars()
        assert list(found) == [USERS["A"]]
        assert not list(
            conn.execute(text("SELECT id FROM orchdash.account_by_email('%')")).scalars()
        )


def test_a_tenant_cannot_list_the_users(app: Engine) -> None:
    with pytest.raises(DBAPIError) as error, scoped(app, USERS["A"]) as conn:
        conn.execute(text("SELECT email FROM auth.users"))
    assert sqlstate(error.value) == INSUFFICIENT_PRIVILEGE


SESSION_STATE = """
    SELECT pg_backend_pid(), current_user::text,
           current_setting('request.jwt.claims', true),
           current_setting('request.jwt.claim.sub', true),
           current_setting('transaction_read_only'),
           current_setting('statement_timeout')
"""


class Boom(Exception):
    pass


def end_normally(conn: Connection) -> None:
    pass


def raise_in_python(conn: Connection) -> None:
    raise Boom


def fail_in_sql(conn: Connection) -> None:
    conn.execute(text("SELECT 1 / 0"))


@pytest.mark.parametrize(
    ("end", "raised"),
    [(end_normally, None), (raise_in_python, Boom), (fail_in_sql, DBAPIError)],
    ids=["commit", "python-error", "sql-error"],
)
def test_one_pooled_connection_carries_nothing_to_the_next_user(
    app_role_url: str, end: Callable[[Connection], None], raised: type[Exception] | None
) -> None:
    engine = make_engine(app_role_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            pid, *_, default_timeout = conn.execute(text(SESSION_STATE)).one()

        def after_transaction() -> None:
            with engine.connect() as conn:
                state = tuple(conn.execute(text(SESSION_STATE)).one())
            claims, sub = state[2:4]
            assert not claims and not sub
            assert state == (pid, config.APP_ROLE, claims, sub, "off", default_timeout)

        with pytest.raises(raised) if raised else nullcontext():
            with scoped(engine, USERS["A"]) as conn:
                state = conn.execute(text(SESSION_STATE)).one()
                assert state[:2] == (pid, TENANT_ROLE)
                assert state[3] == USERS["A"]
                assert visible(conn, "orchestration_metrics") == expected_rows(
                    "orchestration_metrics", "A"
                )
                end(conn)
        after_transaction()

        with scoped(engine, USERS["B"]) as conn:
            state = conn.execute(text(SESSION_STATE)).one()
            assert state[0] == pid
            assert USERS["A"] not in state[2] and state[3] == USERS["B"]
            assert visible(conn, "orchestration_metrics") == expected_rows(
                "orchestration_metrics", "B"
            )
        after_transaction()
    finally:
        engine.dispose()
