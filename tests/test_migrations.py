"""Migrations on the databases they will really meet, read back from the catalog.

Every test runs on a plain database and on Supabase-shaped ones (PostgreSQL 15 and 18; see
tests/supabase), where they run as Supabase's ``postgres``, which is not a superuser. Each test
gets a fresh database. Covered: up step by step, down and up again, from the previous head;
Supabase's own objects untouched; the production tables adopted without a change to their rows,
columns, policies or indexes, and refused with a message where they differ from what the
dashboard relies on; a GRANT that PostgreSQL can only warn about stops the migration; the
function and trigger definitions in the database are the migrations' text; and the migrations
import nothing of the runtime.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

import queries
from queries import Filters, config, engines, schema

VERSIONS = Path(schema.MIGRATIONS) / "versions"
VERSION_TABLE = "orchdash_alembic_version"
OUR_PUBLIC_TABLES = {
    "companies",
    "ventures",
    "eva_orchestration_sessions",
    "user_company_access",
    "orchestration_metrics",
}


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(schema.alembic_config("postgresql://unused"))


def chain() -> list[str]:
    """The revisions from the first to the head."""
    return [r.revision for r in reversed(list(script().walk_revisions()))]


def migration(revision: str) -> ModuleType:
    [path] = VERSIONS.glob(f"{revision}_*.py")
    spec = importlib.util.spec_from_file_location(f"orchdash_test_migration_{revision}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fresh_url(database_maker: Any) -> str:
    return str(database_maker("orchdash_migrations"))


@pytest.fixture
def owner(fresh_url: str) -> Iterator[Engine]:
    engine = create_engine(fresh_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def superuser(database_maker: Any, fresh_url: str) -> Iterator[Engine]:
    engine = create_engine(database_maker.superuser(fresh_url), poolclass=NullPool)
    yield engine
    engine.dispose()


def one_column(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).scalars())


def public_tables(engine: Engine) -> set[str]:
    return set(one_column(engine, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))


def version(engine: Engine) -> list[str]:
    return one_column(engine, f"SELECT version_num FROM {VERSION_TABLE}")  # noqa: S608


CATALOG = """
    SELECT 'column', c.relname, a.attnum::text || ' ' || a.attname || ' '
           || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text
           || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_class AS c
    JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef AS d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE c.relnamespace = CAST(:schema AS regnamespace) AND c.relkind IN ('r', 'v')
    UNION ALL
    SELECT 'constraint', conrelid::regclass::text, conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = CAST(:schema AS regnamespace) AND contype <> 'n'
    UNION ALL
    SELECT 'index', tablename, indexdef FROM pg_indexes WHERE schemaname = CAST(:schema AS text)
    UNION ALL
    SELECT 'policy', tablename, policyname || ' ' || cmd || ' ' || roles::text
           || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
    FROM pg_policies WHERE schemaname = CAST(:schema AS text)
    UNION ALL
    SELECT 'rls', relname, relrowsecurity::text || ' ' || relowner::regrole::text
    FROM pg_class WHERE relnamespace = CAST(:schema AS regnamespace) AND relkind = 'r'
    UNION ALL
    SELECT 'storage', relname, array_to_string(reloptions, ' ')
    FROM pg_class
    WHERE relnamespace = CAST(:schema AS regnamespace) AND reloptions IS NOT NULL
    UNION ALL
    SELECT 'trigger', tgrelid::regclass::text, pg_get_triggerdef(t.oid)
    FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
    WHERE c.relnamespace = CAST(:schema AS regnamespace) AND NOT t.tgisinternal
    UNION ALL
    SELECT 'function', p.proname, pg_get_functiondef(p.oid)
    FROM pg_proc AS p WHERE p.pronamespace = CAST(:schema AS regnamespace)
    UNION ALL
    SELECT 'grant', table_name, grantee || ' ' || privilege_type
    FROM information_schema.role_table_grants
    WHERE table_schema = CAST(:schema AS text) AND grantee <> current_user
    ORDER BY 1, 2, 3
"""


def catalog(engine: Engine, namespace: str) -> list[tuple[Any, ...]]:
    """Everything in a schema as the catalog prints it, to compare two states."""
    with engine.connect() as conn:
        if not conn.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :n"), {"n": namespace}
        ).scalar():
            return []
        return [tuple(row) for row in conn.execute(text(CATALOG), {"schema": namespace})]


def ours(row: tuple[Any, ...]) -> bool:
    """What the migrations add to the production tables: our policies, indexes, triggers,
    the reader's grants, and the metrics table's autovacuum settings (f07)."""
    if row[0] == "storage":
        return row[1] == "orchestration_metrics" and str(row[2]) == METRICS_STORAGE
    return (
        "orchdash" in str(row[2])
        and row[0] in ("policy", "index", "trigger", "grant")
        and row[1] != VERSION_TABLE
    )


# f07: autovacuum after 1 % of the rows changed or inserted, with five times the cost budget.
METRICS_STORAGE = (
    "autovacuum_vacuum_scale_factor=0.01 autovacuum_vacuum_insert_scale_factor=0.01"
    " autovacuum_analyze_scale_factor=0.02 autovacuum_vacuum_cost_limit=1000"
)


# ------------------------------------------------------------------ up, down, up


def test_empty_database_up_step_by_step_down_and_up_again(fresh_url: str, owner: Engine) -> None:
    revisions = chain()
    assert revisions == ["f01", "f02", "f03", "f04", "f05", "f06", "f07", "f08", "f09"]
    for revision in revisions:
        schema.migrate(fresh_url, revision)
        assert version(owner) == [revision]
    assert public_tables(owner) == OUR_PUBLIC_TABLES | {VERSION_TABLE}
    first = catalog(owner, "public"), catalog(owner, "orchdash")

    schema.migrate(fresh_url)  # at head: nothing to do, nothing changes
    assert (catalog(owner, "public"), catalog(owner, "orchdash")) == first

    schema.downgrade(fresh_url)
    assert public_tables(owner) == {VERSION_TABLE} and version(owner) == []
    assert one_column(owner, "SELECT policyname FROM pg_policies") == []
    assert [row for row in catalog(owner, "orchdash") if row[0] != "grant"] == []
    # Roles are the server's, shared with other databases: a downgrade keeps them.
    assert set(
        one_column(owner, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'orchdash%'")
    ) == {config.APP_ROLE, "orchdash_reader"}

    schema.migrate(fresh_url)
    assert (catalog(owner, "public"), catalog(owner, "orchdash")) == first


def test_the_last_revision_applies_to_the_previous_head(fresh_url: str, owner: Engine) -> None:
    *_, previous, head = chain()
    schema.migrate(fresh_url, previous)
    with owner.begin() as conn:
        conn.execute(text("INSERT INTO public.companies (name) VALUES ('Before the upgrade')"))
    schema.migrate(fresh_url)
    assert version(owner) == [head]
    assert one_column(owner, "SELECT name FROM public.companies") == ["Before the upgrade"]


def test_the_metrics_table_gets_its_own_autovacuum_settings_and_loses_them_on_downgrade(
    fresh_url: str, owner: Engine
) -> None:
    def storage() -> list[str]:
        return one_column(
            owner,
            "SELECT array_to_string(reloptions, ' ') FROM pg_class"
            " WHERE oid = 'public.orchestration_metrics'::regclass",
        )

    schema.migrate(fresh_url, "f06")
    assert storage() == [None]
    schema.migrate(fresh_url)
    assert storage() == [METRICS_STORAGE]
    schema.downgrade(fresh_url, "f06")
    assert storage() == [None]


def test_a_database_of_the_folded_revisions_is_refused_with_a_message(
    fresh_url: str, owner: Engine
) -> None:
    with owner.begin() as conn:
        conn.execute(text(f"CREATE TABLE {VERSION_TABLE} (version_num varchar(32) PRIMARY KEY)"))
        conn.execute(text(f"INSERT INTO {VERSION_TABLE} VALUES ('0011')"))  # noqa: S608
    with pytest.raises(schema.MigrationError, match="0001-0011"):
        schema.migrate(fresh_url)
    assert version(owner) == ["0011"]


# ------------------------------------------------------------------ Supabase's own objects


def test_supabase_keeps_its_auth_and_the_migration_warns_about_nothing(
    database_maker: Any, fresh_url: str, owner: Engine
) -> None:
    before = catalog(owner, "auth")
    # No warning either: env.py stops on any (test_a_grant_the_migrating_role_cannot_give...).
    schema.migrate(fresh_url)
    after = catalog(owner, "auth")
    if database_maker.supabase:
        assert after == before  # not even a GRANT on Supabase's auth
    else:
        assert [row for row in after if row[0] == "function"]  # ours where it was missing
    app_reads_auth = one_column(
        owner,
        "SELECT has_table_privilege(:app, 'auth.users', 'SELECT')"
        " OR has_column_privilege(:app, 'auth.users', 'email', 'SELECT')",
        app=config.APP_ROLE,
    )
    assert app_reads_auth == [False]


def test_the_api_roles_cannot_write_what_the_migrations_created(
    fresh_url: str, owner: Engine
) -> None:
    # Supabase grants ALL on new tables in public to anon and authenticated by default; the
    # version table included, which PostgREST would otherwise expose.
    schema.migrate(fresh_url)
    with owner.connect() as conn:
        found = conn.execute(
            text(
                """
                SELECT r.rolname, t.schemaname || '.' || t.tablename, p.privilege,
                       has_table_privilege(r.rolname, format('%I.%I', t.schemaname, t.tablename),
                                           p.privilege)
                FROM pg_tables AS t,
                     (VALUES ('anon'), ('authenticated'), ('service_role')) AS r(rolname),
                     (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'),
                             ('REFERENCES'), ('TRIGGER')) AS p(privilege)
                WHERE t.schemaname IN ('public', 'orchdash')
                """
            )
        )
        # service_role is the project's admin key (BYPASSRLS): Supabase gives it everything in
        # public, as on the production tables; nothing in our own schema.
        granted = {
            (role, table, privilege)
            for role, table, privilege, ok in found
            if ok and not (role == "service_role" and table.startswith("public."))
        }
    assert granted == {("authenticated", f"public.{t}", "SELECT") for t in OUR_PUBLIC_TABLES}


# ------------------------------------------------------------------ adopting production tables

# The production tables as the spec's database has them: more columns than ours, rows, the spec's
# four policies on the metrics and policies of their own on the others; created by postgres.
PRODUCTION = """
CREATE TABLE public.companies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name varchar(200) NOT NULL, slug text,
    settings jsonb DEFAULT '{}', created_at timestamptz DEFAULT now());
CREATE TABLE public.ventures (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), company_id uuid REFERENCES public.companies(id),
    name text NOT NULL, description text, status text DEFAULT 'active', current_stage integer,
    tags text[], metadata jsonb, created_at timestamptz DEFAULT now());
CREATE TABLE public.eva_orchestration_sessions (
    session_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), company_id uuid, venture_id uuid,
    status text, notes text);
CREATE TABLE public.user_company_access (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), user_id uuid NOT NULL REFERENCES auth.users(id),
    company_id uuid NOT NULL REFERENCES public.companies(id), is_active boolean DEFAULT true,
    access_level text, granted_by uuid);
CREATE TABLE public.orchestration_metrics (
    metric_id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY, session_id uuid
        REFERENCES public.eva_orchestration_sessions(session_id),
    company_id uuid REFERENCES public.companies(id), venture_id uuid REFERENCES public.ventures(id),
    stage_id integer CHECK (stage_id >= 1 AND stage_id <= 40), stage_duration interval,
    handoff_efficiency numeric(5,2), error_rate numeric(5,4), action_count integer DEFAULT 0,
    success_count integer DEFAULT 0, failure_count integer DEFAULT 0,
    agent_response_time interval, agent_utilization numeric(5,2), agents_involved text[],
    chairman_interventions integer DEFAULT 0, chairman_approvals integer DEFAULT 0,
    chairman_rejections integer DEFAULT 0, compute_cost numeric(10,2),
    api_calls_made integer DEFAULT 0, data_quality_score numeric(5,2),
    confidence_score numeric(5,2), recorded_at timestamptz DEFAULT now(),
    metric_period_start timestamptz, metric_period_end timestamptz,
    metadata jsonb DEFAULT '{}'::jsonb);
CREATE INDEX idx_orch_metrics_company ON public.orchestration_metrics (company_id);
CREATE INDEX idx_orch_metrics_recorded ON public.orchestration_metrics (recorded_at DESC);
ALTER TABLE public.companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.ventures ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.eva_orchestration_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.user_company_access ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.orchestration_metrics ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Members read their companies" ON public.companies FOR SELECT TO authenticated
    USING (id IN (SELECT company_id FROM public.user_company_access WHERE user_id = auth.uid()));
CREATE POLICY "Own access" ON public.user_company_access FOR SELECT TO authenticated
    USING (user_id = auth.uid());
CREATE POLICY "Allow insert for authenticated" ON public.orchestration_metrics
    FOR INSERT TO authenticated WITH CHECK (true);
CREATE POLICY "Allow update for authenticated" ON public.orchestration_metrics
    FOR UPDATE TO authenticated USING (true) WITH CHECK (true);
CREATE POLICY eva_metrics_company_access ON public.orchestration_metrics FOR SELECT
    USING (company_id IN (SELECT user_company_access.company_id FROM user_company_access
           WHERE user_company_access.user_id = auth.uid()
             AND user_company_access.is_active = true));
CREATE POLICY orchestration_metrics_delete ON public.orchestration_metrics
    FOR DELETE TO authenticated USING (true);
INSERT INTO auth.users (id, email, encrypted_password, email_confirmed_at)
VALUES ('6b6b6b6b-0000-4000-8000-000000000001', 'chair@production.test', '$2a$10$x', now());
INSERT INTO public.companies (id, name, slug)
VALUES ('6b6b6b6b-0000-4000-8000-0000000000c1', 'Production One', 'one');
INSERT INTO public.ventures (id, company_id, name, description)
VALUES ('6b6b6b6b-0000-4000-8000-0000000000f1', '6b6b6b6b-0000-4000-8000-0000000000c1', 'Rocket',
        'kept as it is');
INSERT INTO public.user_company_access (user_id, company_id)
VALUES ('6b6b6b6b-0000-4000-8000-000000000001', '6b6b6b6b-0000-4000-8000-0000000000c1');
INSERT INTO public.orchestration_metrics (company_id, venture_id, stage_id, action_count,
                                          error_rate, stage_duration, recorded_at)
SELECT '6b6b6b6b-0000-4000-8000-0000000000c1', '6b6b6b6b-0000-4000-8000-0000000000f1',
       1 + mod(n, 40), n, 0.01, make_interval(secs => n), now() - make_interval(hours => n)
FROM generate_series(1, 50) AS n;
"""
PRODUCTION_TABLES = sorted(OUR_PUBLIC_TABLES)


def rows_of(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {
            table: sorted(
                str(row)
                for row in conn.execute(text(f"SELECT * FROM public.{table}"))  # noqa: S608
            )
            for table in PRODUCTION_TABLES
        }


def production(fresh_url: str, owner: Engine) -> None:
    """A database that holds the production tables before the dashboard is installed."""
    schema.migrate(fresh_url, "f02")  # where auth is ours (plain PostgreSQL), auth.users first
    with owner.begin() as conn:
        conn.exec_driver_sql(PRODUCTION)


def test_the_production_tables_are_adopted_unchanged(
    fresh_url: str, owner: Engine, database_maker: Any
) -> None:
    production(fresh_url, owner)
    before_rows, before_catalog = rows_of(owner), catalog(owner, "public")
    schema.migrate(fresh_url)
    after = catalog(owner, "public")
    assert rows_of(owner) == before_rows
    assert [row for row in after if not ours(row)] == before_catalog
    added = {row[2].split(" ")[0] for row in after if ours(row) and row[0] == "policy"}
    assert added == {
        "orchdash_reader_companies",
        "orchdash_reader_ventures",
        "orchdash_reader_access",
    }
    # The dashboard reads the adopted rows as the user they belong to.
    app = engines.make_engine(engines.as_role(fresh_url, config.APP_ROLE))
    try:
        scope = queries.scope_for_user(app, "6b6b6b6b-0000-4000-8000-000000000001")
        assert scope.company_ids == ("6b6b6b6b-0000-4000-8000-0000000000c1",)
        today = dt.datetime.now(dt.UTC).date()
        f = Filters(start=today - dt.timedelta(days=5), end=today)
        assert int(queries.kpis(app, scope, f)["actions"].iloc[0]) == sum(range(1, 51))
    finally:
        app.dispose()


DIFFERENCES = {
    "a column of another type": (
        "ALTER TABLE public.orchestration_metrics ALTER COLUMN error_rate TYPE numeric(6,4)",
        "public.orchestration_metrics.error_rate is numeric(6,4)",
    ),
    "a missing column": (
        "ALTER TABLE public.ventures DROP COLUMN name",
        "public.ventures has no column name",
    ),
    "RLS off": (
        "ALTER TABLE public.companies DISABLE ROW LEVEL SECURITY",
        "row-level security is off on public.companies",
    ),
    "no company policy": (
        "DROP POLICY eva_metrics_company_access ON public.orchestration_metrics",
        "has no SELECT policy for every role",
    ),
    "a policy that widens": (
        "CREATE POLICY everyone ON public.orchestration_metrics FOR SELECT USING (true)",
        "lets every role read rows outside",
    ),
}


@pytest.mark.parametrize("difference", DIFFERENCES)
def test_a_production_table_that_differs_stops_the_migration_and_changes_nothing(
    fresh_url: str, owner: Engine, difference: str
) -> None:
    production(fresh_url, owner)
    change, message = DIFFERENCES[difference]
    with owner.begin() as conn:
        conn.execute(text(change))
    before = catalog(owner, "public"), catalog(owner, "orchdash"), rows_of(owner)
    with pytest.raises(schema.MigrationError, match="differ from what the dashboard") as error:
        schema.migrate(fresh_url)
    assert message in str(error.value) and "How to fix it" in str(error.value)
    assert (catalog(owner, "public"), catalog(owner, "orchdash"), rows_of(owner)) == before
    assert version(owner) == ["f02"]


def test_a_production_table_of_another_owner_stops_the_migration_with_its_name(
    fresh_url: str, owner: Engine, superuser: Engine, database_maker: Any
) -> None:
    if not database_maker.supabase:
        pytest.skip("on plain PostgreSQL the migrating role is a superuser: it owns everything")
    production(fresh_url, owner)
    with superuser.begin() as conn:
        conn.execute(text("CREATE ROLE orchdash_test_other_owner NOLOGIN"))
        conn.execute(text("ALTER TABLE public.companies OWNER TO orchdash_test_other_owner"))
    try:
        with pytest.raises(schema.MigrationError, match="belongs to orchdash_test_other_owner"):
            schema.migrate(fresh_url)
        assert version(owner) == ["f02"]
    finally:
        with superuser.begin() as conn:
            conn.execute(text("DROP TABLE public.companies CASCADE"))
            conn.execute(text("DROP ROLE orchdash_test_other_owner"))


WARNS = {
    # What PostgreSQL answers a GRANT it could not give: on Supabase, postgres holds UPDATE on
    # auth.users without the grant option.
    "supabase": "GRANT UPDATE ON auth.users TO anon",
    "plain": "DO $$ BEGIN RAISE WARNING 'no privileges were granted for \"users\"'; END $$",
}


def test_a_warning_stops_the_migration_and_changes_nothing(
    fresh_url: str, owner: Engine, database_maker: Any, tmp_path: Path
) -> None:
    """env.py, with one revision of the test's own that makes the server warn."""
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text((Path(schema.MIGRATIONS) / "env.py").read_text())
    statement = WARNS["supabase" if database_maker.supabase else "plain"]
    (tmp_path / "versions" / "w01_warns.py").write_text(
        "from alembic import op\n"
        "revision = 'w01'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n"
        "def upgrade():\n    op.execute('CREATE TABLE public.planted (x int)')\n"
        f"    op.execute({statement!r})\n"
    )
    config = schema.alembic_config(fresh_url)
    config.set_main_option("script_location", str(tmp_path))
    with pytest.raises(RuntimeError, match="the server warned") as error:
        command.upgrade(config, "head")
    assert "no privileges were granted" in str(error.value)
    assert "planted" not in public_tables(owner)


def test_a_migrating_role_that_cannot_create_roles_is_told_how_to_fix_it(
    fresh_url: str, superuser: Engine
) -> None:
    name = f"orchdash_weak_{abs(hash(fresh_url)) % 10**8}"
    with superuser.begin() as conn:
        conn.execute(text(f"CREATE ROLE {name} LOGIN"))
    try:
        with pytest.raises(schema.MigrationError, match="cannot create roles") as error:
            schema.migrate(engines.as_role(fresh_url, name))
        assert "How to fix it" in str(error.value)
    finally:
        with superuser.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {name}"))
            conn.execute(text(f"DROP ROLE {name}"))


# ------------------------------------------------------------------ one place per definition


def test_functions_and_triggers_in_the_database_are_the_migrations_text(
    fresh_url: str, owner: Engine
) -> None:
    schema.migrate(fresh_url)
    written = [text.strip() for revision in chain() for text in getattr(
        migration(revision), "FUNCTIONS", ()
    )]  # fmt: skip
    triggers = [text.strip() for text in migration("f04").TRIGGERS]
    held = one_column(
        owner,
        "SELECT pg_get_functiondef(p.oid) FROM pg_proc AS p"
        " WHERE p.pronamespace = 'orchdash'::regnamespace AND p.proname <> 'require'",
    )
    assert sorted(d.strip() for d in held) == sorted(written)
    assert len(written) == len(set(written)) > 15
    held_triggers = one_column(
        owner,
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger"
        " WHERE tgrelid = 'public.orchestration_metrics'::regclass AND NOT tgisinternal",
    )
    assert sorted(held_triggers) == sorted(triggers) and len(triggers) == 8


ALLOWED_IMPORTS = {"__future__", "alembic", "sqlalchemy", "os", "zoneinfo"}


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.py")), ids=lambda p: p.name)
def test_migrations_import_nothing_of_the_runtime(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert imported <= ALLOWED_IMPORTS, path.name
