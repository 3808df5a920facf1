"""`orchdash check` on real databases: all ok when freshly migrated, FAIL (exit 1) for an unsafe
runtime role or a table without RLS, warnings (exit 0) for a stopped fold, rollups that disagree
with the table, and settings that differ from the app's.

Each unsafe role is a login made here for one test (a unique name; roles belong to the whole test
server, so orchdash_app and orchdash_reader are never altered) that is set up as the app is, plus
one flaw; it is dropped afterwards. Databases that a test damages are its own throwaway ones.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from dashboard import cli
from queries import checks, config, demo, engines, low_confidence, schema

ROW = re.compile(r"^(\S.*?)\s{2,}(ok|warn|FAIL)\b\s*(.*)$")
EXPECTED = [
    "role attributes",
    "not the owner",
    "owns nothing",
    "creates nothing",
    "no writes",
    "no auth.users",
    "no API roles",
    "becomes orchdash_reader",
    "RLS applies",
    "RLS enabled",
    "RLS policies",
    "sign-in functions",
    "migrations at head",
    "rollups folded",
    "rollups agree",
    "pooler",
    "settings stored",
]


@dataclass(frozen=True)
class Database:
    owner: str  # the owner's URL
    app: str  # the runtime role's

    def engine(self) -> Engine:
        return create_engine(self.owner, poolclass=NullPool)


def migrated(new_database: Callable[[str], str], prefix: str) -> Database:
    owner = new_database(prefix)
    schema.migrate(owner)
    return Database(
        owner, engines.as_role(owner, config.APP_ROLE, os.environ.get("ORCHDASH_APP_PASSWORD"))
    )


@pytest.fixture(scope="module")
def fresh(new_database: Callable[[str], str]) -> Database:
    """Migrated and never changed."""
    return migrated(new_database, "orchdash_check_fresh")


@pytest.fixture(scope="module")
def scratch(new_database: Callable[[str], str]) -> Database:
    """Migrated; tests that damage it put it back as they found it."""
    return migrated(new_database, "orchdash_check_scratch")


@pytest.fixture(autouse=True)
def no_database_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ORCHDASH_ADMIN_DATABASE_URL", raising=False)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, tuple[str, str]]]:
    """`orchdash check ARGS`: its exit code and its table, name -> (status, problem and fix)."""
    code = cli.main(["check", *args])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["check", "status", "problem", "/", "fix"]
    rows: dict[str, tuple[str, str]] = {}
    name = ""
    for line in lines[1:]:
        if line.startswith(" "):  # a further line of the row above
            rows[name] = (rows[name][0], f"{rows[name][1]}\n{line.strip()}")
            continue
        match = ROW.match(line)
        assert match, line
        name = match[1]
        assert name not in rows, name
        rows[name] = (match[2], match[3])
    return code, rows


def not_ok(rows: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {name: status for name, (status, _) in rows.items() if status != "ok"}


def test_a_freshly_migrated_database_checks_ok(
    fresh: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = run(capsys, "--url", fresh.app, "--owner-url", fresh.owner)
    assert list(rows) == EXPECTED
    assert not_ok(rows) == {}
    assert code == 0
    assert rows["pooler"][1] == "direct or session pooling: ok"
    assert all(detail == "" for name, (_, detail) in rows.items() if name != "pooler")


def test_without_the_owner_url_the_rollups_are_skipped(
    fresh: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = run(capsys, "--url", fresh.app)
    assert rows["rollups current"] == ("warn", "skipped, give --owner-url")
    assert "rollups folded" not in rows
    assert not_ok(rows) == {"rollups current": "warn"}
    assert code == 0


def test_an_unreachable_server_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = run(capsys, "--url", "postgresql://nobody@127.0.0.1:1/none")
    assert rows["pooler"][0] == "FAIL"
    assert "cannot connect" in rows["pooler"][1]
    assert "Connection refused" in rows["pooler"][1]
    assert code == 1


# ---- unsafe runtime roles -----------------------------------------------------------------------

# Each: the flaw (statements with {role}), the check that must fail, a line of its fix.
FLAWS = {
    "bypassrls": (
        "ALTER ROLE {role} BYPASSRLS",
        "role attributes",
        "ALTER ROLE {role} NOBYPASSRLS",
    ),
    "owns a table": (
        "CREATE TABLE public.{role}_t (x int); ALTER TABLE public.{role}_t OWNER TO {role}",
        "owns nothing",
        "ALTER TABLE public.{role}_t OWNER TO",
    ),
    "writes the metrics": (
        "GRANT INSERT ON public.orchestration_metrics TO {role}",
        "no writes",
        "REVOKE INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER ON public.orchestration_metrics"
        " FROM {role}",
    ),
    "becomes authenticated": (
        "GRANT authenticated TO {role}",
        "no API roles",
        "REVOKE authenticated FROM {role}",
    ),
}
AS_THE_APP = [
    "CREATE ROLE {role} LOGIN NOINHERIT PASSWORD '{password}'",
    "GRANT orchdash_reader TO {role}",
    "GRANT USAGE ON SCHEMA orchdash TO {role}",
    *(f"GRANT EXECUTE ON FUNCTION {f} TO {{role}}" for f in checks.SIGN_IN_FUNCTIONS),
]


@pytest.fixture
def login_role(scratch: Database) -> Iterator[Callable[[list[str]], str]]:
    """``login_role(statements)``: a new login set up as the app, then ``statements`` (with
    ``{role}``) run as the owner; its URL. Dropped with all it owns at the end."""
    made: list[str] = []

    def make(statements: list[str]) -> str:
        role, password = f"orchdash_check_{secrets.token_hex(4)}", secrets.token_hex(12)
        made.append(role)
        engine = scratch.engine()
        with engine.begin() as conn:
            for statement in [*AS_THE_APP, *statements]:
                conn.execute(text(statement.format(role=role, password=password)))
        engine.dispose()
        return engines.as_role(scratch.owner, role, password)

    yield make
    engine = scratch.engine()
    with engine.begin() as conn:
        for role in made:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
    engine.dispose()


def test_a_role_set_up_as_the_app_checks_ok(
    scratch: Database, login_role: Callable[[list[str]], str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = run(capsys, "--url", login_role([]), "--owner-url", scratch.owner)
    assert not_ok(rows) == {}
    assert code == 0


@pytest.mark.parametrize("flaw", FLAWS)
def test_an_unsafe_runtime_role_fails(
    scratch: Database,
    login_role: Callable[[list[str]], str],
    capsys: pytest.CaptureFixture[str],
    flaw: str,
) -> None:
    statements, failing, fix = FLAWS[flaw]
    url = login_role(statements.split("; "))
    role = make_url(url).username
    code, rows = run(capsys, "--url", url, "--owner-url", scratch.owner)
    assert not_ok(rows) == {failing: "FAIL"}
    assert f"fix: {fix.format(role=role)}" in rows[failing][1]
    assert code == 1


def test_a_table_without_rls_fails(scratch: Database, capsys: pytest.CaptureFixture[str]) -> None:
    engine = scratch.engine()
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE public.companies DISABLE ROW LEVEL SECURITY"))
    try:
        code, rows = run(capsys, "--url", scratch.app, "--owner-url", scratch.owner)
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE public.companies ENABLE ROW LEVEL SECURITY"))
        engine.dispose()
    assert not_ok(rows) == {"RLS enabled": "FAIL", "RLS applies": "FAIL"}
    assert rows["RLS enabled"][1].splitlines() == [
        "row-level security is off on public.companies",
        "fix: ALTER TABLE public.companies ENABLE ROW LEVEL SECURITY, as its owner"
        f" {make_url(scratch.owner).username}",
    ]
    assert "RLS does not apply to orchdash_reader on public.companies" in rows["RLS applies"][1]
    assert code == 1


def test_a_sign_in_function_an_api_role_may_call_fails(
    scratch: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = scratch.engine()
    grant = "GRANT EXECUTE ON FUNCTION orchdash.account_by_email(text) TO anon"
    with engine.begin() as conn:
        conn.execute(text(grant))
    try:
        code, rows = run(capsys, "--url", scratch.app, "--owner-url", scratch.owner)
    finally:
        with engine.begin() as conn:
            conn.execute(text(grant.replace("GRANT", "REVOKE").replace(" TO ", " FROM ")))
        engine.dispose()
    assert not_ok(rows) == {"sign-in functions": "FAIL"}
    assert rows["sign-in functions"][1].splitlines() == [
        "anon can EXECUTE orchdash.account_by_email(text)",
        "fix: REVOKE ALL ON FUNCTION orchdash.account_by_email(text) FROM PUBLIC, anon",
    ]
    assert code == 1


# ---- the rollups --------------------------------------------------------------------------------

COPY_ROWS = """
    INSERT INTO public.orchestration_metrics (company_id, venture_id, stage_id, recorded_at,
                                              action_count)
    SELECT company_id, venture_id, stage_id, recorded_at - interval '1 day', action_count + 1
    FROM public.orchestration_metrics
    ORDER BY metric_id
    LIMIT 40
"""
DELETE_ROWS = """
    DELETE FROM public.orchestration_metrics
    WHERE metric_id IN (SELECT metric_id FROM public.orchestration_metrics ORDER BY metric_id
                        LIMIT 15)
"""
MISCOUNT = """
    UPDATE orchdash.metric_totals SET rows = rows + 1
    WHERE ctid = (SELECT ctid FROM orchdash.metric_totals WHERE span = 'day' AND NOT by_stage
                  LIMIT 1)
"""


def test_rollups_out_of_date_warn(
    new_database: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    base = migrated(new_database, "orchdash_check_rollups")
    engine = base.engine()
    demo.load_demo(engine, rows=2_000, seed=3)
    args = ("--url", base.app, "--owner-url", base.owner)

    def sql(*statements: str) -> None:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))

    code, rows = run(capsys, *args)
    assert not_ok(rows) == {}

    # Changes not folded yet: the rollups plus the log still agree with the table.
    sql(COPY_ROWS, DELETE_ROWS, "UPDATE public.orchestration_metrics SET action_count = 7")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM orchdash.rollup_log")).scalar_one() > 0
    code, rows = run(capsys, *args)
    assert not_ok(rows) == {}

    # ... until they wait for longer than the fold should let them.
    sql("UPDATE orchdash.rollup_log SET logged_at = logged_at - interval '1 hour'")
    code, rows = run(capsys, *args)
    assert not_ok(rows) == {"rollups folded": "warn"}
    detail = rows["rollups folded"][1]
    assert "the fold is not running" in detail
    assert (
        "fix: start `orchdash run` with ORCHDASH_ADMIN_DATABASE_URL, or run"
        " `SELECT orchdash.rollup_fold()` on a schedule" in detail
    )
    assert code == 0

    sql("SELECT orchdash.rollup_fold()", MISCOUNT)
    code, rows = run(capsys, *args)
    assert not_ok(rows) == {"rollups agree": "warn"}
    assert rows["rollups agree"][1].endswith("fix: SELECT orchdash.rollup_rebuild(), as the owner")
    assert code == 0

    sql(
        "SELECT orchdash.rollup_rebuild()",
        "UPDATE public.orchdash_alembic_version SET version_num = 'f04'",
    )
    code, rows = run(capsys, *args)
    assert not_ok(rows) == {"migrations at head": "warn"}
    assert "the database is at revision f04" in rows["migrations at head"][1]
    engine.dispose()


# ---- settings and the pooler --------------------------------------------------------------------


def test_settings_that_differ_from_the_apps_warn(
    fresh: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stored, threshold = config.timezone_name(), low_confidence.default_threshold()
    zone = "Pacific/Auckland" if stored != "Pacific/Auckland" else "Europe/Paris"
    monkeypatch.setenv("ORCHDASH_TIMEZONE", zone)
    code, rows = run(capsys, "--url", fresh.app, "--owner-url", fresh.owner)
    assert not_ok(rows) == {"settings stored": "warn"}
    assert rows["settings stored"][1].splitlines() == [
        f"the rollups are built in time zone {stored}, the app reads ORCHDASH_TIMEZONE={zone}",
        f"the agent rollup is built in time zone {stored}, the app reads ORCHDASH_TIMEZONE={zone}",
        f"fix: SELECT orchdash.rollup_rebuild('{zone}', {threshold:g}), as the owner; or set"
        f" ORCHDASH_TIMEZONE={stored}",
        f"fix: SELECT orchdash.agent_rebuild('{zone}'), as the owner; or set"
        f" ORCHDASH_TIMEZONE={stored}",
    ]
    assert code == 0

    monkeypatch.setenv("ORCHDASH_TIMEZONE", stored)
    monkeypatch.setenv("ORCHDASH_LOW_CONFIDENCE", str(threshold / 2))
    code, rows = run(capsys, "--url", fresh.app, "--owner-url", fresh.owner)
    assert not_ok(rows) == {"settings stored": "warn"}
    assert f"the rollups count low confidence below {threshold:g}," in rows["settings stored"][1]
    assert code == 0


def test_through_a_pooler_in_transaction_mode(
    fresh: Database, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pooler import running_pgbouncer  # here: only this test needs pgbouncer

    owner = make_url(server_url)
    roles = {
        owner.username or "postgres": owner.password,
        config.APP_ROLE: os.environ.get("ORCHDASH_APP_PASSWORD"),
    }
    with running_pgbouncer(server_url, roles) as pooler:
        code, rows = run(capsys, "--url", pooler.url_for(fresh.app), "--owner-url", fresh.owner)
    assert rows["pooler"] == (
        "ok",
        "transaction pooling (pgbouncer / Supavisor 6543): ok, the app keeps no session state",
    )
    assert not_ok(rows) == {}
    assert code == 0
