"""`orchdash check`: what a deployment's database must be for the dashboard to be safe there.

:func:`run_checks` connects with the runtime role's URL (and the owner's, when given) and returns
one :class:`Check` per verified property: its name, ``ok`` / ``warn`` / ``FAIL``, and for anything
not ok the problem and its fix (a statement or a command). ``FAIL`` means unsafe (a tenant could
see or change what is not theirs, or the server is unreachable); ``warn`` means worth fixing but
not unsafe by itself (stale or slower rollups, a role that could create objects).

Every query is a named file ``queries/sql/check_*.sql`` that returns one (problem, fix) row per
problem it finds; the tables, functions and roles it looks at come from the fixed lists below, as
bound parameters, and the fixes are formatted by the server (``format('%I')``). Each check runs
in a READ ONLY transaction of its own with a time limit and no JWT claims, so a pooler in
transaction mode serves it as it serves the dashboard, and a failing check (say, on a database
never migrated) leaves the others to run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfoNotFoundError

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, exc
from sqlalchemy.engine import make_url

from queries import config, engines, low_confidence, schema, transactions
from queries.errors import InvalidFilter
from queries.sqlfiles import load

Status = Literal["ok", "warn", "FAIL"]
READER = transactions.TENANT_ROLE
API_ROLES = ("anon", "authenticated", "service_role")
PUBLIC_TABLES = ("orchestration_metrics", "companies", "ventures", "user_company_access")
ROLLUP_TABLES = tuple(
    "agent_totals duration_day_prefix duration_days duration_month_prefix irregular_durations"
    " metric_totals rollup_log venture_day_prefix venture_duration_days".split()
)
# Tables of tenant rows (RLS on each), the views over them (as the invoker), and the settings.
RLS_TABLES = (
    *(f"public.{t}" for t in PUBLIC_TABLES),
    *(f"orchdash.{t}" for t in ROLLUP_TABLES),
    "orchdash.export_audit",
)
# Tables of a user's own rows (f08, f09): RLS on each too; the reader may write the
# subscriptions and the alert rules, under their policies, and nothing else of them.
OWN_ROWS = (
    "orchdash.subscriptions",
    "orchdash.messages",
    "orchdash.alert_rules",
    "orchdash.alert_states",
)
VIEWS = ("orchdash.metric_facts", "orchdash.log_facts")
SETTINGS = ("orchdash.agent_settings", "orchdash.rollup_settings")
# What the runtime role must not write: all of the above, and the table the dashboard never reads.
# The sign-in state of migration f06: only through its functions, never written directly.
SIGN_IN_STATE = (
    "orchdash.sessions",
    "orchdash.sign_in_tickets",
    "orchdash.export_links",
    "orchdash.sign_in_failures",
    "orchdash.sign_in_load",
    "orchdash.identity_links",
)
NO_WRITES = (
    *RLS_TABLES,
    *VIEWS,
    *SETTINGS,
    *SIGN_IN_STATE,
    "orchdash.messages",
    "orchdash.alert_states",
    "public.eva_orchestration_sessions",
)
SIGN_IN_FUNCTIONS = (
    "orchdash.account_by_email(text)",
    "orchdash.account_active(uuid)",
    "orchdash.record_export(text, text, jsonb, text, timestamp with time zone, bigint, uuid[],"
    " text, text)",
    "orchdash.session_get(bytea, boolean)",
    "orchdash.session_end(bytea)",
    "orchdash.session_end_user(uuid)",
    "orchdash.ticket_issue(bytea, uuid, text, double precision)",
    "orchdash.ticket_redeem(bytea, bytea, double precision, double precision)",
    "orchdash.export_link_create(bytea, bytea, jsonb, double precision)",
    "orchdash.export_link_open(bytea, bytea)",
    "orchdash.sign_in_wait(bytea[], integer)",
    "orchdash.sign_in_failed(bytea[], integer[], double precision[], double precision[],"
    " double precision)",
    "orchdash.sign_in_succeeded(bytea[])",
    "orchdash.identity_user(text, text)",
    "orchdash.identity_link(text, text, uuid)",
    # The sender's (f08).
    "orchdash.mail_subscriptions()",
    "orchdash.mail_claim(text, uuid, uuid, text, text)",
    "orchdash.mail_done(bigint, text, text, double precision)",
    "orchdash.mail_rules()",
    "orchdash.alert_transition(uuid, boolean, double precision, bigint, text,"
    " timestamp with time zone)",
)
TIMEOUT_MS = 60_000
FOLD_FACTOR = 3  # the log may be this many times fold_after old before the fold counts as stopped
PROBES = 5  # short transactions on one client connection, for the pooler's mode
MAX_PROBLEMS = 12
MIGRATE = "orchdash migrate, as the owner (ORCHDASH_ADMIN_DATABASE_URL), then orchdash check"


@dataclass(frozen=True)
class Check:
    """One verified property. ``detail`` is the problem when ``status`` is not ok (several, one a
    line), and ``fix`` the statements or commands that fix them, one a line; an ok check has no
    fix, and a detail only when it tells something (the pooler's mode)."""

    name: str
    status: Status
    detail: str = ""
    fix: str = ""


def unsafe(checks: Sequence[Check]) -> bool:
    """Whether any check failed: `orchdash check` then exits 1."""
    return any(c.status == "FAIL" for c in checks)


def run_checks(url: str, owner_url: str | None = None) -> list[Check]:
    """Every check of the database at ``url`` (the runtime role's URL); the rollups' checks need
    ``owner_url`` (the owner's), and are one ``warn`` row without it."""
    runtime = engines.make_engine(_psycopg(url), pool_size=1, max_overflow=1)
    owner = (
        engines.make_engine(_psycopg(owner_url), pool_size=1, max_overflow=0) if owner_url else None
    )
    try:
        pooler = pooler_mode(runtime)
        reachable = pooler.status != "FAIL"  # else nothing more can be checked with this URL
        checks = runtime_checks(runtime, owner) if reachable else []
        if owner is None:
            checks.append(Check("rollups current", "warn", "skipped, give --owner-url"))
        else:
            checks.extend(rollups_current(owner, _psycopg(owner_url or "")))
        return [*checks, pooler, *([settings_stored(runtime)] if reachable else [])]
    finally:
        runtime.dispose()
        if owner is not None:
            owner.dispose()


def runtime_checks(runtime: Engine, owner: Engine | None) -> list[Check]:
    """Checks 1-3: the runtime role, row-level security, the sign-in functions."""
    reach = _query(runtime, "check_role_reach", {})
    if isinstance(reach, Check):
        return [Check("runtime role", "FAIL", reach.detail, reach.fix)]
    roles = {"roles": [r.name for r in reach], "vias": [r.via for r in reach]}
    names = {"roles": roles["roles"]}
    owner_login = _login(owner) if owner is not None else None
    return [
        _check(runtime, "role attributes", "check_role_attributes", roles),
        _check(runtime, "not the owner", "check_role_owner", {"owner_login": owner_login}),
        _check(runtime, "owns nothing", "check_role_owns", names),
        _check(runtime, "creates nothing", "check_role_creates", names, severity="warn"),
        _check(runtime, "no writes", "check_role_writes", names | {"tables": list(NO_WRITES)}),
        _check(runtime, "no auth.users", "check_role_auth", names),
        _check(runtime, "no API roles", "check_role_api", roles | {"api_roles": list(API_ROLES)}),
        _check(runtime, f"becomes {READER}", "check_role_reader", {"reader": READER}),
        _check(
            runtime,
            "RLS applies",
            "check_reader_rls",
            {"tables": [*RLS_TABLES, *OWN_ROWS]},
            role=READER,
        ),
        _check(
            runtime,
            "RLS enabled",
            "check_rls",
            {"tables": [*RLS_TABLES, *OWN_ROWS], "views": list(VIEWS)},
        ),
        _check(
            runtime,
            "RLS policies",
            "check_policies",
            {"rollup_tables": list(ROLLUP_TABLES), "reader": READER, "tables": list(RLS_TABLES)},
        ),
        _check(
            runtime,
            "sign-in functions",
            "check_functions",
            {"functions": list(SIGN_IN_FUNCTIONS), "api_roles": list(API_ROLES)} | names,
        ),
    ]


def pooler_mode(runtime: Engine) -> Check:
    """Check 5: whether consecutive transactions of one client connection share a server process
    (direct, or a pooler in session mode) or not (transaction mode), and whether a second client
    connection gets one of the same processes (transaction mode with a small pool)."""
    name = "pooler"
    try:
        with runtime.connect() as first:
            pids = set()
            for _ in range(PROBES):
                with first.begin():
                    pids.add(first.execute(load("check_backend")).scalar_one())
            with runtime.connect() as second, second.begin():
                other = second.execute(load("check_backend")).scalar_one()
    except exc.DBAPIError as error:
        return Check(
            name,
            "FAIL",
            f"cannot connect, the server is unreachable or refuses: {_message(error)}",
            "check DATABASE_URL (or --url): host, port, database, role and password",
        )
    if len(pids) > 1 or other in pids:
        return Check(
            name,
            "ok",
            "transaction pooling (pgbouncer / Supavisor 6543): ok, the app keeps no session state",
        )
    return Check(name, "ok", "direct or session pooling: ok")


def settings_stored(runtime: Engine) -> Check:
    """Check 6: the zone and threshold the rollups were built at are the app's (as the reader)."""
    name, zone = "settings stored", config.timezone_name()
    try:
        config.timezone()
        params = {"zone": zone, "threshold": low_confidence.default_threshold()}
    except InvalidFilter as error:  # a ValueError too: first
        return Check(name, "warn", str(error), "set ORCHDASH_LOW_CONFIDENCE to a number 0..100")
    except (ZoneInfoNotFoundError, ValueError):
        return Check(name, "warn", f"ORCHDASH_TIMEZONE={zone} is not a time zone", "set it to one")
    return _check(runtime, name, "check_settings", params, severity="warn", role=READER)


def rollups_current(owner: Engine, owner_url: str) -> list[Check]:
    """Check 4 (as the owner): migrations at the head revision, the fold running, and the
    rollups agreeing with the table."""
    return [
        _at_head(owner_url),
        _check(
            owner, "rollups folded", "check_rollup_log", {"factor": FOLD_FACTOR}, severity="warn"
        ),
        _check(owner, "rollups agree", "check_rollup_agree", {}, severity="warn"),
    ]


def _at_head(owner_url: str) -> Check:
    name = "migrations at head"
    heads = ScriptDirectory.from_config(schema.alembic_config(owner_url)).get_heads()
    try:
        current = schema.current_revision(owner_url)
    except exc.DBAPIError as error:
        return Check(name, "warn", f"could not read the revision: {_message(error)}", MIGRATE)
    if current in heads:
        return Check(name, "ok")
    return Check(
        name,
        "warn",
        f"the database is at revision {current or '(never migrated)'}, the code's head is"
        f" {', '.join(heads)}",
        "orchdash migrate, as the owner (ORCHDASH_ADMIN_DATABASE_URL)",
    )


# ---- running the checks' queries ---------------------------------------------------------------


@contextmanager
def _transaction(engine: Engine, role: str) -> Iterator[Connection]:
    """A READ ONLY transaction with the checks' settings, as the login role ('none') or ``role``."""
    with engine.connect() as conn:
        conn = conn.execution_options(postgresql_readonly=True)
        with conn.begin():
            conn.execute(load("check_session"), {"timeout": str(TIMEOUT_MS), "role": role})
            yield conn


def _query(
    engine: Engine, sql: str, params: Mapping[str, Any], role: str = "none"
) -> Sequence[Any] | Check:
    """The rows of ``sql``, or a FAIL naming the error that stopped it."""
    try:
        with _transaction(engine, role) as conn:
            return conn.execute(load(sql), dict(params)).all()
    except exc.DBAPIError as error:
        return Check(sql, "FAIL", f"could not check: {_message(error)}", MIGRATE)


def _check(
    engine: Engine,
    name: str,
    sql: str,
    params: Mapping[str, Any],
    *,
    severity: Status = "FAIL",
    role: str = "none",
) -> Check:
    """The check of a query that returns one (problem, fix) row per problem found; as ``role``
    (the reader), a failure to become it points to the check that says why."""
    rows = _query(engine, sql, params, role)
    if isinstance(rows, Check):
        denied = role != "none" and "set role" in rows.detail.lower()
        fix = f"see `becomes {role}`" if denied else rows.fix
        return Check(name, severity, rows.detail, fix)
    if not rows:
        return Check(name, "ok")
    problems = [str(r.problem) for r in rows[:MAX_PROBLEMS]]
    if len(rows) > MAX_PROBLEMS:
        problems.append(f"... and {len(rows) - MAX_PROBLEMS} more")
    fixes = dict.fromkeys(str(r.fix) for r in rows[:MAX_PROBLEMS])
    return Check(name, severity, "\n".join(problems), "\n".join(fixes))


def _login(engine: Engine) -> str | None:
    rows = _query(engine, "check_login", {})
    return None if isinstance(rows, Check) else str(rows[0].login)


def _message(error: exc.DBAPIError) -> str:
    diag = getattr(error.orig, "diag", None)
    text = getattr(diag, "message_primary", None) or str(error.orig).strip()
    return text.splitlines()[0] if text else type(error.orig).__name__


def _psycopg(url: str) -> str:
    """``url`` with the psycopg 3 driver (a plain postgresql:// URL as operators write it)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)
