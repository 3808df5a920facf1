"""The Supabase shape, read from the catalog of a fresh copy, on PostgreSQL 15 and 18.

Every expectation here is what Supabase's scripts (scripts/README.md) make, checked against the
catalog; where that differs from a common belief, the comment says which script decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from supabase import loader, shaped, sqlsplit

API_ROLES = ("anon", "authenticated", "service_role")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

# What the loader skips, per version: (script, what is missing). Documented in scripts/README.md.
EXPECTED_SKIPS = {
    15: [
        ("00000000000000-initial-schema.sql", "pgjwt"),
        ("20220118070449_enable-safeupdate-postgrest.sql", "library:safeupdate"),
    ],
    18: [
        ("00000000000000-initial-schema.sql", "uuid-ossp"),
        ("00000000000000-initial-schema.sql", "pgcrypto"),
        ("00000000000000-initial-schema.sql", "pgjwt"),
        *[("00000000000002-storage-schema.sql", "uuid-ossp")] * 5,
        ("20220118070449_enable-safeupdate-postgrest.sql", "library:safeupdate"),
    ],
}


@pytest.fixture(scope="module")
def shape_url(supabase_cluster: shaped.SupabaseCluster) -> str:
    return supabase_cluster.new_database("shape")


@contextmanager
def connect(url: str, *, autocommit: bool = True) -> Iterator[psycopg.Connection]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        conn.autocommit = autocommit
        yield conn


def one(url: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
        assert row is not None
        return row[0] if len(row) == 1 else row


WHO = "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"


def test_urls_are_sqlalchemy_urls_of_the_roles(supabase_cluster: shaped.SupabaseCluster) -> None:
    for url, role, superuser in [
        (supabase_cluster.superuser_url, "supabase_admin", True),
        (supabase_cluster.new_database("urls"), "postgres", False),
    ]:
        assert url.startswith("postgresql+psycopg://")
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as conn:
            row = conn.execute(text(WHO)).one()
        engine.dispose()
        assert tuple(row) == (role, superuser)
    version = one(supabase_cluster.superuser_url, "SELECT current_setting('server_version_num')")
    assert int(version) // 10000 == supabase_cluster.version


def test_bootstrap_superuser_is_supabase_admin_and_postgres_is_demoted(shape_url: str) -> None:
    assert one(shape_url, "SELECT rolname FROM pg_roles WHERE oid = 10") == "supabase_admin"
    flags = one(
        shape_url,
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin"
        " FROM pg_roles WHERE rolname = 'postgres'",
    )
    assert flags == (False, True, True, True, True, True)
    assert one(shape_url, "SELECT current_user") == "postgres"


OWNERS = {
    "auth": "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'auth'",
    "auth.users": "SELECT relowner::regrole::text FROM pg_class WHERE oid = 'auth.users'::regclass",
    "auth.uid()": "SELECT proowner::regrole::text FROM pg_proc WHERE oid = 'auth.uid'::regproc",
}


def test_auth_belongs_to_the_auth_admin(shape_url: str) -> None:
    # The schema itself is supabase_admin's (init-script 00000000000001: AUTHORIZATION
    # supabase_admin, never altered); supabase_auth_admin has USAGE and CREATE on it and owns
    # its tables and functions.
    owners = {name: one(shape_url, sql) for name, sql in OWNERS.items()}
    assert owners == {
        "auth": "supabase_admin",
        "auth.users": "supabase_auth_admin",
        "auth.uid()": "supabase_auth_admin",
    }
    may = "SELECT has_schema_privilege(%s, 'auth', %s)"
    assert one(shape_url, may, ("supabase_auth_admin", "USAGE, CREATE")) is True
    # postgres may use auth but not create in it, nor act as its owner.
    assert one(shape_url, may, ("postgres", "USAGE")) is True
    assert one(shape_url, may, ("postgres", "CREATE")) is False
    assert one(shape_url, "SELECT pg_has_role('postgres', 'supabase_auth_admin', 'USAGE')") is False


def test_postgres_has_auth_users_without_grant_option_except_select(shape_url: str) -> None:
    has = "SELECT has_table_privilege('postgres', 'auth.users', %s)"
    for privilege in TABLE_PRIVILEGES:
        held = one(shape_url, has, (privilege,))
        grantable = one(shape_url, has, (f"{privilege} WITH GRANT OPTION",))
        assert held is True, privilege
        # GoTrue's 20240612123726_enable_rls_update_grants grants SELECT WITH GRANT OPTION on
        # every auth table to postgres; the rest comes from demote-postgres, without it.
        assert grantable is (privilege == "SELECT"), privilege
    rls = "SELECT relrowsecurity FROM pg_class WHERE oid = 'auth.users'::regclass"
    assert one(shape_url, rls) is True


def test_postgres_granting_auth_users_only_warns(shape_url: str) -> None:
    warnings: list[str] = []
    with connect(shape_url, autocommit=False) as conn:

        def keep(diag: psycopg.errors.Diagnostic) -> None:
            if diag.severity_nonlocalized == "WARNING":
                warnings.append(diag.message_primary or "")

        conn.add_notice_handler(keep)
        conn.execute("GRANT UPDATE ON auth.users TO anon")
        assert warnings == ['no privileges were granted for "users"']
        anon_has = "SELECT has_table_privilege('anon', 'auth.users', %s)"
        assert conn.execute(anon_has, ("UPDATE",)).fetchone() == (False,)
        # SELECT is grantable (see above), so this one really is granted.
        conn.execute("GRANT SELECT ON auth.users TO anon")
        assert conn.execute(anon_has, ("SELECT",)).fetchone() == (True,)
        assert len(warnings) == 1
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner"):
            conn.execute("ALTER TABLE auth.users ADD COLUMN orchdash int")
        conn.rollback()


def test_api_roles_inherit_and_postgres_is_granted_them(
    supabase_cluster: shaped.SupabaseCluster, shape_url: str
) -> None:
    for role in API_ROLES:
        assert one(shape_url, "SELECT rolinherit FROM pg_roles WHERE rolname = %s", (role,))
    # Roles our migrations and tests create in the session's shared cluster (orchdash_*: from
    # PostgreSQL 16 their creator, postgres, is granted each) are not Supabase's shape.
    with connect(shape_url) as conn:
        granted = dict(
            conn.execute(
                "SELECT r.rolname, m.admin_option FROM pg_auth_members m"
                " JOIN pg_roles r ON r.oid = m.roleid WHERE m.member = 'postgres'::regrole"
                " AND r.rolname NOT LIKE 'orchdash%'"
            ).fetchall()
        )
    # ADMIN OPTION on the API roles from PostgreSQL 16 (upstream 20250605172253, see
    # loader.LATER_UPSTREAM_CHANGES); no admin role (supabase_auth_admin, supabase_storage_admin)
    # any more; the predefined roles of 20230306081037 and 20240606060239.
    admin = supabase_cluster.version >= 16
    assert granted == {
        "anon": admin,
        "authenticated": admin,
        "service_role": admin,
        "pg_monitor": False,
        "pg_read_all_data": False,
        "pg_signal_backend": False,
    }


def test_postgres_may_hand_the_api_roles_to_a_login_role(
    supabase_cluster: shaped.SupabaseCluster, shape_url: str
) -> None:
    """What our migrations do: a login role of ours, member of authenticated, trust login."""
    role = f"orchdash_shape_{uuid.uuid4().hex[:8]}"
    with connect(shape_url) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOINHERIT')
        try:
            conn.execute(f'GRANT authenticated TO "{role}"')
            database = conn.info.dbname
            with connect(supabase_cluster.url_as(role, database)) as app:
                app.execute("SET ROLE authenticated")
                assert app.execute("SELECT current_user").fetchone() == ("authenticated",)
        finally:
            conn.execute(f'DROP ROLE "{role}"')


def test_auth_uid_reads_claim_sub_then_claims(shape_url: str) -> None:
    sub, other = str(uuid.uuid4()), str(uuid.uuid4())
    cases = [
        ({}, None),
        ({"request.jwt.claim.sub": sub}, sub),
        ({"request.jwt.claims": f'{{"sub": "{other}"}}'}, other),
        ({"request.jwt.claim.sub": sub, "request.jwt.claims": f'{{"sub": "{other}"}}'}, sub),
        ({"request.jwt.claim.sub": "", "request.jwt.claims": f'{{"sub": "{other}"}}'}, other),
    ]
    with connect(shape_url, autocommit=False) as conn:
        for settings, expected in cases:
            for name, value in settings.items():
                conn.execute("SELECT set_config(%s, %s, true)", (name, value))
            found = conn.execute("SELECT auth.uid()::text").fetchone()
            assert found == (expected,), settings
            conn.rollback()


def test_default_privileges_give_postgres_tables_in_public_to_the_api_roles(
    shape_url: str,
) -> None:
    with connect(shape_url, autocommit=False) as conn:
        conn.execute("CREATE TABLE public.orchdash_shape_probe (id int)")
        for role in API_ROLES:
            for privilege in TABLE_PRIVILEGES:
                row = conn.execute(
                    "SELECT has_table_privilege(%s, 'public.orchdash_shape_probe', %s)",
                    (role, privilege),
                ).fetchone()
                assert row == (True,), (role, privilege)
        # PUBLIC is not among them: an unrelated login role gets nothing.
        row = conn.execute(
            "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a"
            " WHERE c.oid = 'public.orchdash_shape_probe'::regclass AND a.grantee = 0"
        ).fetchone()
        assert row == (0,)
        conn.rollback()


def test_auth_users_has_current_supabase_columns(shape_url: str) -> None:
    with connect(shape_url) as conn:
        columns = {
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'auth' AND table_name = 'users'"
            )
        }
    assert {
        "id", "email", "encrypted_password", "email_confirmed_at", "confirmed_at",
        "banned_until", "deleted_at", "is_sso_user", "phone", "is_anonymous",
        "raw_app_meta_data", "raw_user_meta_data",
    } <= columns  # fmt: skip
    assert "confirmed_at" in columns and "email_change_token" not in columns  # renamed by GoTrue
    versions = one(shape_url, "SELECT count(*) FROM auth.schema_migrations")
    assert versions == 7 + len(list(loader.AUTH_MIGRATIONS.glob("*.up.sql")))


def test_copies_keep_the_database_grants(
    supabase_cluster: shaped.SupabaseCluster, shape_url: str
) -> None:
    name = make_url(shape_url).database
    with connect(supabase_cluster.superuser_url) as conn:
        found = conn.execute(
            "SELECT datname, datdba::regrole::text,"
            " array(SELECT a::text FROM unnest(datacl) a ORDER BY 1)"
            " FROM pg_database WHERE datname IN ('postgres', %s)",
            (name,),
        ).fetchall()
    rows = {datname: (owner, acl) for datname, owner, acl in found}
    assert rows[name] == rows["postgres"]
    owner, acl = rows[name]
    assert owner == "postgres"
    assert "dashboard_user=CTc/postgres" in acl


def test_skipped_statements_are_the_documented_ones(
    supabase_cluster: shaped.SupabaseCluster,
) -> None:
    report = supabase_cluster.report
    assert [(s.script, s.needs) for s in report.skipped] == EXPECTED_SKIPS[supabase_cluster.version]
    assert report.stand_in_roles == ["pgsodium_keyholder"]
    assert len(report.later_changes) == (3 if supabase_cluster.version >= 16 else 2)
    readme = (loader.SCRIPTS / "README.md").read_text()
    for rule in loader.SKIP_RULES:
        assert f"`{rule.script}`" in readme and f"`{rule.needs}`" in readme, rule
    for role in loader.STAND_IN_ROLES:
        assert f"`{role.name}`" in readme
    for change in loader.LATER_UPSTREAM_CHANGES:
        assert f"`{change.sql}`" in readme


def test_splitter_reads_the_scripts_as_psql() -> None:
    post_setup = (loader.INIT_SCRIPTS / "00000000000003-post-setup.sql").read_text()
    statements = sqlsplit.split(loader.dbmate_up(post_setup))
    # A quoted identifier holding "\$user" (a literal backslash: psql -f does not unescape it).
    assert loader.normalized(statements[0]).endswith(
        'search_path to "\\$user",public,auth,extensions'
    )
    # Function bodies in dollar quotes stay whole, semicolons and all.
    assert statements[2].startswith("-- Trigger for pg_cron\nCREATE OR REPLACE FUNCTION")
    assert statements[2].endswith("$$")
    assert sqlsplit.split("select 'a;''b'; select $f$ $$; $f$; /* ; /* ; */ */ select 2") == [
        "select 'a;''b'",
        "select $f$ $$; $f$",
        "/* ; /* ; */ */ select 2",
    ]
