"""Case 9, roles, read from the catalog so that every table, view and function a later migration
adds is covered too: the runtime role and every role it can become are not superuser, own
nothing, cannot bypass RLS or write anything; every relation it can read that holds tenant data
applies RLS (views as the invoker, no materialized views), and the only functions it can call
that run with their owner's rights are the reviewed doors of migrations f05 (the export audit's
insert, and sign-in's lookup of one account and of its state) and f06 (sessions, tickets, export
links, throttle and SSO links), each with a pinned search_path; the reader it becomes can call
none.

The fixed statements of tests/test_rls.py (writes inside and outside the READ ONLY
transaction, per table) stay there; the role's own attributes are also in test_app_role_attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from queries import config, engines, transactions
from security import world as w

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
INSUFFICIENT_PRIVILEGE = "42501"

# The runtime role and every role it is a member of, directly or not.
ROLES = """
    WITH RECURSIVE member_of(oid) AS (
        SELECT oid FROM pg_roles WHERE rolname = :role
        UNION
        SELECT m.roleid FROM pg_auth_members AS m JOIN member_of ON m.member = member_of.oid
    )
    SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
           (SELECT count(*) FROM pg_class WHERE relowner = r.oid)
         + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid)
         + (SELECT count(*) FROM pg_proc WHERE pronamespace NOT IN
               (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema'))
             AND proowner = r.oid)
         + (SELECT count(*) FROM pg_database WHERE datdba = r.oid) AS owns
    FROM pg_roles AS r JOIN member_of USING (oid)
    ORDER BY r.rolname
"""
RELATIONS = """
    SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind::text AS kind,
           c.relrowsecurity AS rls,
           (SELECT format('%I', a.attname) FROM pg_attribute AS a WHERE a.attrelid = c.oid
            AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity = ''
            AND a.attgenerated = '' ORDER BY a.attnum LIMIT 1) AS first_column,
           coalesce('security_invoker=true' = ANY(c.reloptions)
                    OR 'security_invoker=on' = ANY(c.reloptions), false) AS invoker,
           EXISTS (SELECT FROM pg_attribute AS a WHERE a.attrelid = c.oid
                   AND a.attname = 'company_id' AND NOT a.attisdropped) AS has_company,
           has_any_column_privilege(:role, c.oid, 'SELECT') AS readable,
           has_table_privilege(:role, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES,
                               TRIGGER') AS writable,
           has_any_column_privilege(:role, c.oid, 'INSERT, UPDATE, REFERENCES') AS column_writable
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    ORDER BY 1
"""
# SECURITY DEFINER functions the role may call, and what could make one leak: a search_path
# that is not pinned, a result to carry data out, an owner that could log in, is privileged,
# or can read any relation at all.
DEFINER_FUNCTIONS = """
    SELECT p.oid::regprocedure::text AS name,
           coalesce(EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%'),
                    false) AS pinned_path,
           p.prorettype = 'void'::regtype AS returns_nothing,
           o.rolname AS owner,
           o.rolcanlogin OR o.rolsuper OR o.rolbypassrls AS owner_privileged,
           EXISTS (SELECT FROM pg_class AS c JOIN pg_namespace AS cn ON cn.oid = c.relnamespace
                   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
                     AND cn.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
                     AND has_any_column_privilege(o.oid, c.oid, 'SELECT')) AS owner_reads
    FROM pg_proc AS p
    JOIN pg_namespace AS n ON n.oid = p.pronamespace
    JOIN pg_roles AS o ON o.oid = p.proowner
    WHERE p.prosecdef
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND has_function_privilege(:role, p.oid, 'EXECUTE')
"""
RUNTIME_ROLES = (config.APP_ROLE, transactions.TENANT_ROLE)
# What each runtime role may call that runs as its owner: reviewed one by one (migrations f05,
# f06).
DOORS = {
    config.APP_ROLE: {
        "orchdash.record_export(text,text,jsonb,text,timestamp with time zone,bigint,uuid[],"
        "text,text)",
        "orchdash.account_by_email(text)",
        "orchdash.account_active(uuid)",
        # Sign-in state (f06): sessions, tickets, export links, throttle, SSO links.
        "orchdash.session_get(bytea,boolean)",
        "orchdash.session_end(bytea)",
        "orchdash.session_end_user(uuid)",
        "orchdash.ticket_issue(bytea,uuid,text,double precision)",
        "orchdash.ticket_redeem(bytea,bytea,double precision,double precision)",
        "orchdash.export_link_create(bytea,bytea,jsonb,double precision)",
        "orchdash.export_link_open(bytea,bytea)",
        "orchdash.sign_in_wait(bytea[],integer)",
        "orchdash.sign_in_failed(bytea[],integer[],double precision[],double precision[],"
        "double precision)",
        "orchdash.sign_in_succeeded(bytea[])",
        "orchdash.identity_user(text,text)",
        "orchdash.identity_link(text,text,uuid)",
        # Email (f08): the sender's every subscription, claim and outcome of each message.
        "orchdash.mail_subscriptions()",
        "orchdash.mail_claim(text,uuid,uuid,text,text)",
        "orchdash.mail_done(bigint,text,text,double precision)",
        # Alerts (f09): every rule with its state, and the record of an evaluation.
        "orchdash.mail_rules()",
        "orchdash.alert_transition(uuid,boolean,double precision,bigint,text,"
        "timestamp with time zone)",
    },
    transactions.TENANT_ROLE: set(),
}
# The only tables the reader may write: each user's own rows, under RLS policies that decide
# which (tests/test_subscriptions.py proves the policy alone keeps a user to their own).
OWN_ROWS = {"orchdash.subscriptions", "orchdash.alert_rules"}


# This module reads the catalog of a database of each kind (plain, and Supabase-shaped on
# PostgreSQL 15 and 18, migrated there as the non-superuser postgres): the session's hostile
# world is replaced here by one of the module's own.
@pytest.fixture(scope="module")
def hostile_world(database_maker: Callable[[str], str]) -> w.World:
    return w.migrated(database_maker("orchdash_roles"))


@pytest.fixture(scope="module")
def owner(hostile_world: w.World) -> Iterator[Engine]:
    engine = create_engine(hostile_world.url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def hostile_app_url(hostile_world: w.World) -> str:
    return engines.as_role(hostile_world.url, config.APP_ROLE)


def relations(owner: Engine, role: str) -> list[dict[str, object]]:
    with owner.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(RELATIONS), {"role": role})]


def test_neither_the_runtime_role_nor_any_role_it_can_become_is_privileged(
    owner: Engine,
) -> None:
    with owner.connect() as conn:
        found = conn.execute(text(ROLES), {"role": config.APP_ROLE}).all()
    names = {row.rolname for row in found}
    assert {config.APP_ROLE, transactions.TENANT_ROLE} <= names  # the closure was really walked
    assert not names & {"service_role", "postgres", "pg_write_all_data", "pg_read_all_data"}
    for row in found:
        assert (row.rolsuper, row.rolbypassrls, row.rolcreaterole, row.rolcreatedb) == (
            False,
            False,
            False,
            False,
        ), row.rolname
        assert row.owns == 0, f"{row.rolname} owns something"


@pytest.mark.parametrize("role", RUNTIME_ROLES)
def test_the_catalog_grants_no_write_on_any_relation(owner: Engine, role: str) -> None:
    found = relations(owner, role)
    assert any(r["name"] == "public.orchestration_metrics" for r in found)
    writable = {r["name"]: r for r in found if r["writable"] or r["column_writable"]}
    assert set(writable) == (OWN_ROWS if role == transactions.TENANT_ROLE else set())
    assert all(r["rls"] for r in writable.values())


@pytest.fixture(scope="module")
def app(hostile_app_url: str) -> Iterator[Engine]:
    engine = engines.make_engine(hostile_app_url, pool_size=1)
    yield engine
    engine.dispose()


def attempt(conn: Connection, sql: str) -> str:
    """The SQLSTATE a write fails with; 'ok' if it went through (it is rolled back anyway)."""
    try:
        with conn.begin_nested():
            conn.execute(text(sql))
    except DBAPIError as error:
        return str(getattr(error.orig, "sqlstate", None))
    return "ok"


@pytest.mark.parametrize("as_tenant", [False, True], ids=["app role", "reader"])
def test_every_write_to_every_table_is_refused_with_a_permission_error(
    owner: Engine, app: Engine, hostile_world: w.World, as_tenant: bool
) -> None:
    tables = [
        (r["name"], r["first_column"])
        for r in relations(owner, config.APP_ROLE)
        if r["kind"] in ("r", "p")
    ]
    assert len(tables) >= 6
    refused: dict[str, set[str]] = {}
    with app.connect() as conn, conn.begin():  # not READ ONLY: privileges alone must refuse
        if as_tenant:
            conn.execute(
                text("SELECT set_config('request.jwt.claim.sub', :sub, true)"),
                {"sub": hostile_world.users["A"]},
            )
            conn.execute(text(f"SET LOCAL ROLE {transactions.TENANT_ROLE}"))
        for table, column in tables:
            # Identifiers quoted by PostgreSQL's format('%I'); no value is interpolated.
            for sql in (
                f"INSERT INTO {table} DEFAULT VALUES",  # noqa: S608
                f"UPDATE {table} SET {column} = {column}",  # noqa: S608
                f"DELETE FROM {table}",  # noqa: S608
                f"TRUNCATE {table}",
            ):
                refused.setdefault(table, set()).add(attempt(conn, sql))
        conn.rollback()
    allowed = {t: s for t, s in refused.items() if s != {INSUFFICIENT_PRIVILEGE}}
    # The reader's own rows: written under RLS (an INSERT of nobody's row fails its NOT NULL
    # and policy checks); TRUNCATE, which RLS cannot filter, stays refused.
    assert set(allowed) == (OWN_ROWS if as_tenant else set())
    assert all(INSUFFICIENT_PRIVILEGE in s for s in allowed.values())


@pytest.mark.parametrize("role", RUNTIME_ROLES)
def test_what_it_can_read_applies_row_level_security(owner: Engine, role: str) -> None:
    readable = [r for r in relations(owner, role) if r["readable"]]
    # The login itself reads nothing (not even auth.users); the reader it becomes reads tenants.
    assert bool(readable) == (role == transactions.TENANT_ROLE), [r["name"] for r in readable]
    for r in readable:
        if r["kind"] == "v":
            # A view runs as its owner unless security_invoker: RLS would not apply.
            assert r["invoker"], f"view {r['name']} is not security_invoker"
        elif r["kind"] == "m":
            raise AssertionError(f"materialized view {r['name']} cannot apply RLS")
        elif r["has_company"] or r["name"] == "public.companies":
            assert r["rls"], f"{r['name']} holds tenant rows without RLS"
    with owner.connect() as conn:
        definers = conn.execute(text(DEFINER_FUNCTIONS), {"role": role}).all()
    # They run with their owner's rights: only the reviewed doors, each with a pinned path.
    assert {f.name.replace(", ", ",") for f in definers} == DOORS[role]
    assert all(f.pinned_path for f in definers)


@pytest.mark.parametrize("user", w.USERS)
def test_every_readable_relation_with_tenant_rows_shows_only_the_scope(
    owner: Engine, app: Engine, hostile_world: w.World, user: str
) -> None:
    uid = hostile_world.users[user]
    scope = w.active_scope(owner, uid)
    tenant = [
        r["name"]
        for r in relations(owner, transactions.TENANT_ROLE)
        if r["readable"] and (r["has_company"] or r["name"] == "public.companies")
    ]
    assert "public.orchestration_metrics" in tenant
    with transactions.scoped(app, uid) as conn:
        for name in tenant:
            column = "id" if name == "public.companies" else "company_id"
            # Identifiers from the catalog, quoted by format('%I.%I').
            seen = conn.execute(
                text(f"SELECT DISTINCT {column}::text FROM {name}")  # noqa: S608
            ).scalars()
            assert set(seen) <= scope, name


def test_the_checks_catch_a_leaking_function_and_a_view_run_as_its_owner(owner: Engine) -> None:
    """The control: what the checks above look for, planted in a transaction rolled back."""
    with owner.connect() as conn, conn.begin() as planted:
        conn.execute(
            text(
                "CREATE FUNCTION public.leak() RETURNS bigint LANGUAGE sql SECURITY DEFINER"
                " AS 'SELECT count(*) FROM public.orchestration_metrics';"
                " GRANT EXECUTE ON FUNCTION public.leak() TO orchdash_reader;"
                " CREATE VIEW public.leaky AS SELECT company_id FROM public.orchestration_metrics;"
                " GRANT SELECT ON public.leaky TO orchdash_reader"
            )
        )
        [leak] = [
            f
            for f in conn.execute(text(DEFINER_FUNCTIONS), {"role": transactions.TENANT_ROLE})
            if f.name == "leak()"
        ]
        assert not leak.returns_nothing and leak.owner_privileged and leak.owner_reads
        views = conn.execute(text(RELATIONS), {"role": transactions.TENANT_ROLE}).all()
        [leaky] = [v for v in views if v.name == "public.leaky"]
        assert leaky.readable and not leaky.invoker
        planted.rollback()
