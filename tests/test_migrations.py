"""Migrations up, down and up again: on an empty database, and on one that is already Supabase.

Each test gets its own fresh database; the state is read from the catalog, never assumed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from queries import config, schema

OUR_TABLES = {
    "companies",
    "ventures",
    "eva_orchestration_sessions",
    "user_company_access",
    "orchestration_metrics",
    "orchdash_audit",  # 0005: the export audit, read by authenticated under RLS (own rows)
}
VERSION_TABLE = "orchdash_alembic_version"
MARK = "orchdash: created where Supabase was missing"
SUPABASE_AUTH = Path(__file__).with_name("supabase_auth.sql")


@pytest.fixture
def fresh_url(new_database: Callable[[str], str]) -> str:
    return new_database("orchdash_migrations")


@pytest.fixture
def owner(fresh_url: str) -> Iterator[Engine]:
    engine = create_engine(fresh_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def supabase_url(fresh_url: str, owner: Engine, server_url: str) -> Iterator[str]:
    """A database prepared as Supabase has it before our migrations run."""
    with owner.connect() as conn:
        created_owner = not conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = 'supabase_auth_admin'")
        ).scalar()
    with owner.begin() as conn:
        conn.exec_driver_sql(SUPABASE_AUTH.read_text())
    yield fresh_url
    if created_owner:
        # The role is the server's: leave none behind on a server we were only lent.
        with owner.begin() as conn:
            conn.execute(text("DROP OWNED BY supabase_auth_admin CASCADE"))
        server = create_engine(server_url, poolclass=NullPool)
        with server.begin() as conn:
            conn.execute(text("DROP ROLE supabase_auth_admin"))
        server.dispose()


def one_column(engine: Engine, sql: str) -> set[Any]:
    with engine.connect() as conn:
        return set(conn.execute(text(sql)).scalars())


def public_tables(engine: Engine) -> set[str]:
    return one_column(engine, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")


def head() -> str:
    script = ScriptDirectory.from_config(schema.alembic_config("postgresql://unused"))
    current = script.get_current_head()
    assert current
    return current


def version(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT version_num FROM orchdash_alembic_version"))
        return list(found.scalars())


def public_schema(engine: Engine) -> list[tuple[Any, ...]]:
    """Everything of ours in public, as the catalog prints it, to compare two migrations."""
    with engine.connect() as conn:
        found = conn.execute(
            text(
                """
                SELECT 'column', c.relname, a.attnum::text || ' ' || a.attname || ' '
                       || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text
                       || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
                FROM pg_class AS c
                JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0
                LEFT JOIN pg_attrdef AS d ON d.adrelid = c.oid AND d.adnum = a.attnum
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
                UNION ALL
                SELECT 'constraint', conrelid::regclass::text, conname || ' '
                       || pg_get_constraintdef(oid)
                FROM pg_constraint WHERE connamespace = 'public'::regnamespace
                UNION ALL
                SELECT 'index', tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'
                UNION ALL
                SELECT 'policy', tablename, policyname || ' ' || cmd || ' ' || roles::text
                       || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
                FROM pg_policies WHERE schemaname = 'public'
                UNION ALL
                SELECT 'rls', relname, relrowsecurity::text FROM pg_class
                WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
                UNION ALL
                SELECT 'grant', table_name, grantee || ' ' || privilege_type
                FROM information_schema.role_table_grants
                WHERE table_schema = 'public' AND grantee <> current_user
                ORDER BY 1, 2, 3
                """
            )
        )
        return [tuple(row) for row in found]


def auth_schema(engine: Engine) -> dict[str, Any]:
    """Supabase's auth objects as they are, privileges aside (0003 grants the app a read)."""
    with engine.connect() as conn:

        def column(sql: str) -> list[Any]:
            return list(conn.execute(text(sql)).scalars())

        return {
            "schema": column(
                "SELECT nspowner::regrole::text || ' '"
                " || coalesce(obj_description(oid, 'pg_namespace'), '')"
                " FROM pg_namespace WHERE nspname = 'auth'"
            ),
            "relations": column(
                "SELECT relname || ' ' || relkind::text || ' ' || relowner::regrole::text"
                " FROM pg_class WHERE relnamespace = 'auth'::regnamespace ORDER BY 1"
            ),
            "columns": column(
                "SELECT attnum::text || ' ' || attname || ' '"
                " || format_type(atttypid, atttypmod) || ' ' || attnotnull::text"
                " FROM pg_attribute WHERE attrelid = 'auth.users'::regclass AND attnum > 0"
                " ORDER BY attnum"
            ),
            "indexes": column(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'auth' ORDER BY 1"
            ),
            "constraints": column(
                "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE connamespace = 'auth'::regnamespace ORDER BY 1"
            ),
            "functions": column(
                "SELECT pg_get_functiondef(oid) || coalesce(obj_description(oid, 'pg_proc'), '')"
                " || proowner::regrole::text"
                " FROM pg_proc WHERE pronamespace = 'auth'::regnamespace ORDER BY 1"
            ),
            "triggers": column(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'auth.users'::regclass"
                " AND NOT tgisinternal ORDER BY 1"
            ),
            "users": column("SELECT id::text || ' ' || email FROM auth.users ORDER BY 1"),
        }


def has_auth_schema(engine: Engine) -> bool:
    return bool(one_column(engine, "SELECT 1 FROM pg_namespace WHERE nspname = 'auth'"))


def assert_only_our_bookkeeping_is_left(engine: Engine) -> None:
    # Alembic keeps its version table, emptied, after a downgrade to base.
    assert public_tables(engine) == {VERSION_TABLE}
    assert version(engine) == []
    assert one_column(engine, "SELECT policyname FROM pg_policies") == set()


def test_empty_database_up_down_and_up_again(fresh_url: str, owner: Engine) -> None:
    schema.migrate(fresh_url)
    assert public_tables(owner) == OUR_TABLES | {VERSION_TABLE}
    assert version(owner) == [head()]
    assert auth_schema(owner)["schema"] == [f"{owner.url.username} {MARK}"]
    first = public_schema(owner)

    schema.migrate(fresh_url)
    assert public_schema(owner) == first

    schema.downgrade(fresh_url)
    assert_only_our_bookkeeping_is_left(owner)
    assert not has_auth_schema(owner)
    # Roles are the server's, shared with other databases: a downgrade keeps them.
    assert one_column(
        owner, "SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated')"
    ) == {"anon", "authenticated"}

    schema.migrate(fresh_url)
    assert version(owner) == [head()]
    assert public_schema(owner) == first


def test_supabase_database_keeps_its_own_auth(supabase_url: str, owner: Engine) -> None:
    before = auth_schema(owner)
    empty = public_schema(owner)

    schema.migrate(supabase_url)
    assert public_tables(owner) == OUR_TABLES | {VERSION_TABLE}
    assert auth_schema(owner) == before
    first = public_schema(owner)

    schema.downgrade(supabase_url)
    assert_only_our_bookkeeping_is_left(owner)
    assert auth_schema(owner) == before
    assert [row for row in public_schema(owner) if row[1] != VERSION_TABLE] == empty
    app_reads_auth = one_column(
        owner,
        f"SELECT has_schema_privilege('{config.APP_ROLE}', 'auth', 'USAGE')"
        f" OR has_column_privilege('{config.APP_ROLE}', 'auth.users', 'email', 'SELECT')",
    )
    assert app_reads_auth == {False}

    schema.migrate(supabase_url)
    assert auth_schema(owner) == before
    assert public_schema(owner) == first


def test_supabase_default_privileges_do_not_let_the_api_roles_write(
    supabase_url: str, owner: Engine
) -> None:
    # Supabase grants ALL on new tables in public to anon and authenticated by default; the
    # version table included, which PostgREST would otherwise expose.
    schema.migrate(supabase_url)
    with owner.connect() as conn:
        found = conn.execute(
            text(
                """
                SELECT r.rolname, t.tablename, p.privilege,
                       has_table_privilege(r.rolname, 'public.' || t.tablename, p.privilege)
                FROM pg_tables AS t,
                     (VALUES ('anon'), ('authenticated')) AS r(rolname),
                     (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'),
                             ('REFERENCES'), ('TRIGGER')) AS p(privilege)
                WHERE t.schemaname = 'public'
                """
            )
        )
        granted = {(role, table, privilege) for role, table, privilege, ok in found if ok}
    assert granted == {("authenticated", table, "SELECT") for table in OUR_TABLES}


def test_supabase_user_can_be_given_access(supabase_url: str, owner: Engine) -> None:
    # Our user_company_access refers to Supabase's auth.users, with its wider columns.
    schema.migrate(supabase_url)
    with owner.begin() as conn:
        company = conn.execute(
            text("INSERT INTO public.companies (name) VALUES ('Acme') RETURNING id")
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO public.user_company_access (user_id, company_id)"
                " SELECT id, :company FROM auth.users"
            ),
            {"company": company},
        )
        granted = conn.execute(text("SELECT count(*) FROM public.user_company_access")).scalar()
    assert granted == 1
