"""The migrated schema equals the spec (spec/orchestration_metrics.md), read from the catalog.

The expectations below are the spec's tables copied as data; the database is asked what it has
(pg_attribute, pg_attrdef, pg_constraint, pg_indexes, pg_policies, pg_class, pg_roles), so a
migration that says one thing and does another cannot pass.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

TABLE = "public.orchestration_metrics"

# name, type as format_type() prints it, NOT NULL, default as pg_get_expr() prints it, comment
COLUMNS = [
    ("metric_id", "uuid", True, "gen_random_uuid()", None),
    ("session_id", "uuid", False, None, None),
    ("company_id", "uuid", False, None, None),
    ("venture_id", "uuid", False, None, None),
    ("stage_id", "integer", False, None, None),
    ("stage_duration", "interval", False, None, "Time spent in specific stage"),
    (
        "handoff_efficiency",
        "numeric(5,2)",
        False,
        None,
        "Percentage of successful agent-to-agent handoffs without errors or retries",
    ),
    ("error_rate", "numeric(5,4)", False, None, "Errors per action (0-1)"),
    ("action_count", "integer", False, "0", None),
    ("success_count", "integer", False, "0", None),
    ("failure_count", "integer", False, "0", None),
    ("agent_response_time", "interval", False, None, "Average agent response time"),
    (
        "agent_utilization",
        "numeric(5,2)",
        False,
        None,
        "Percentage of time agents were active (0-100)",
    ),
    ("agents_involved", "text[]", False, None, None),
    ("chairman_interventions", "integer", False, "0", "Number of manual Chairman overrides"),
    ("chairman_approvals", "integer", False, "0", None),
    ("chairman_rejections", "integer", False, "0", None),
    ("compute_cost", "numeric(10,2)", False, None, None),
    ("api_calls_made", "integer", False, "0", None),
    ("data_quality_score", "numeric(5,2)", False, None, "Quality of data produced (0-100)"),
    ("confidence_score", "numeric(5,2)", False, None, "AI confidence in decisions (0-100)"),
    ("recorded_at", "timestamp with time zone", False, "now()", None),
    ("metric_period_start", "timestamp with time zone", False, None, None),
    ("metric_period_end", "timestamp with time zone", False, None, None),
    ("metadata", "jsonb", False, "'{}'::jsonb", None),
]

# name: (type, columns, referenced table, referenced columns, definition)
CONSTRAINTS = {
    "orchestration_metrics_pkey": ("p", ["metric_id"], None, None, "PRIMARY KEY (metric_id)"),
    "orchestration_metrics_company_id_fkey": (
        "f",
        ["company_id"],
        "public.companies",
        ["id"],
        "FOREIGN KEY (company_id) REFERENCES companies(id)",
    ),
    "orchestration_metrics_session_id_fkey": (
        "f",
        ["session_id"],
        "public.eva_orchestration_sessions",
        ["session_id"],
        "FOREIGN KEY (session_id) REFERENCES eva_orchestration_sessions(session_id)",
    ),
    "orchestration_metrics_venture_id_fkey": (
        "f",
        ["venture_id"],
        "public.ventures",
        ["id"],
        "FOREIGN KEY (venture_id) REFERENCES ventures(id)",
    ),
    "orchestration_metrics_stage_id_check": (
        "c",
        ["stage_id"],
        None,
        None,
        "CHECK (((stage_id >= 1) AND (stage_id <= 40)))",
    ),
}

INDEXES = {
    "idx_orch_metrics_company": "CREATE INDEX idx_orch_metrics_company"
    " ON public.orchestration_metrics USING btree (company_id)",
    "idx_orch_metrics_recorded": "CREATE INDEX idx_orch_metrics_recorded"
    " ON public.orchestration_metrics USING btree (recorded_at DESC)",
    "idx_orch_metrics_session": "CREATE INDEX idx_orch_metrics_session"
    " ON public.orchestration_metrics USING btree (session_id)",
    "idx_orch_metrics_venture": "CREATE INDEX idx_orch_metrics_venture"
    " ON public.orchestration_metrics USING btree (venture_id)",
    "orchestration_metrics_pkey": "CREATE UNIQUE INDEX orchestration_metrics_pkey"
    " ON public.orchestration_metrics USING btree (metric_id)",
}
# Beside the spec's five, ours (migration f04, documented in docs/performance.md).
OUR_INDEXES = {
    "orchdash_metrics_durations": "CREATE INDEX orchdash_metrics_durations"
    " ON public.orchestration_metrics USING btree (company_id, stage_id, stage_duration)"
    " INCLUDE (recorded_at) WHERE (stage_duration IS NOT NULL)",
    "orchdash_metrics_venture_stages": "CREATE INDEX orchdash_metrics_venture_stages"
    " ON public.orchestration_metrics USING btree (venture_id, stage_id, recorded_at)"
    " INCLUDE (stage_duration, company_id)",
    # Venture health's cell medians.
    "orchdash_metrics_venture_durations": "CREATE INDEX orchdash_metrics_venture_durations"
    " ON public.orchestration_metrics USING btree (venture_id, stage_id, stage_duration)"
    " INCLUDE (recorded_at, company_id) WHERE (stage_duration IS NOT NULL)",
}

# The spec's "Using" of eva_metrics_company_access, as printed there (whitespace differs).
ACTIVE_COMPANY_QUAL = """(company_id IN ( SELECT user_company_access.company_id
   FROM user_company_access
  WHERE ((user_company_access.user_id = auth.uid()) AND (user_company_access.is_active = true))))"""

# name: (command, roles, using, with check)
POLICIES = {
    "Allow insert for authenticated": ("INSERT", ["authenticated"], None, "true"),
    "Allow update for authenticated": ("UPDATE", ["authenticated"], "true", "true"),
    "eva_metrics_company_access": ("SELECT", ["public"], ACTIVE_COMPANY_QUAL, None),
    "orchestration_metrics_delete": ("DELETE", ["authenticated"], "true", None),
}

TENANT_TABLES = [
    "companies",
    "ventures",
    "eva_orchestration_sessions",
    "user_company_access",
    "orchestration_metrics",
]


def normalised(expression: str | None) -> str | None:
    """PostgreSQL pretty-prints policy expressions with line breaks; only the tokens matter."""
    return None if expression is None else " ".join(expression.split())


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


def test_columns_in_order_with_types_nullability_defaults_and_comments(
    admin_engine: Engine,
) -> None:
    found = rows(
        admin_engine,
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum)
        FROM pg_attribute AS a
        LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        table=TABLE,
    )
    assert len(COLUMNS) == 25
    assert found == COLUMNS


def test_agents_involved_is_an_array_as_the_spec_says(admin_engine: Engine) -> None:
    [(category,)] = rows(
        admin_engine,
        """
        SELECT t.typcategory FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid
        WHERE a.attrelid = CAST(:table AS regclass) AND a.attname = 'agents_involved'
        """,
        table=TABLE,
    )
    assert category == "A"


def test_constraints(admin_engine: Engine) -> None:
    found = rows(
        admin_engine,
        """
        SELECT c.conname, c.contype,
               ARRAY(SELECT attname FROM unnest(c.conkey) WITH ORDINALITY AS k(n, i)
                     JOIN pg_attribute ON attrelid = c.conrelid AND attnum = k.n ORDER BY k.i),
               CASE WHEN c.confrelid <> 0
                    THEN c.confrelid::regclass::text END,
               CASE WHEN c.confrelid <> 0 THEN
                 ARRAY(SELECT attname FROM unnest(c.confkey) WITH ORDINALITY AS k(n, i)
                       JOIN pg_attribute ON attrelid = c.confrelid AND attnum = k.n
                       ORDER BY k.i) END,
               pg_get_constraintdef(c.oid)
        FROM pg_constraint AS c
        -- PostgreSQL 18 lists NOT NULL as constraints too; nullability is checked above.
        WHERE c.conrelid = CAST(:table AS regclass) AND c.contype <> 'n'
        """,
        table=TABLE,
    )
    as_dict = {name: tuple(rest) for name, *rest in found}
    # confrelid::regclass prints without the schema when it is on the search path.
    expected = {
        name: (kind, cols, target and target.removeprefix("public."), ref_cols, definition)
        for name, (kind, cols, target, ref_cols, definition) in CONSTRAINTS.items()
    }
    assert as_dict == expected


def test_foreign_keys_point_at_the_public_tables(admin_engine: Engine) -> None:
    found = rows(
        admin_engine,
        """
        SELECT conname, n.nspname || '.' || t.relname
        FROM pg_constraint AS c
        JOIN pg_class AS t ON t.oid = c.confrelid
        JOIN pg_namespace AS n ON n.oid = t.relnamespace
        WHERE c.conrelid = CAST(:table AS regclass) AND c.contype = 'f'
        """,
        table=TABLE,
    )
    assert dict(found) == {
        name: target for name, (kind, _, target, _, _) in CONSTRAINTS.items() if kind == "f"
    }


def test_indexes_exactly_as_the_spec_prints_them(admin_engine: Engine) -> None:
    found = rows(
        admin_engine,
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = 'public' AND tablename = 'orchestration_metrics'",
    )
    assert dict(found) == INDEXES | OUR_INDEXES


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_row_level_security_is_enabled(admin_engine: Engine, table: str) -> None:
    [(enabled,)] = rows(
        admin_engine,
        "SELECT relrowsecurity FROM pg_class WHERE oid = CAST(:table AS regclass)",
        table=f"public.{table}",
    )
    assert enabled is True


def test_the_four_policies_of_the_spec(admin_engine: Engine) -> None:
    found = rows(
        admin_engine,
        """
        SELECT policyname, permissive, cmd, roles::text[], qual, with_check FROM pg_policies
        WHERE schemaname = 'public' AND tablename = 'orchestration_metrics'
        """,
    )
    as_dict = {
        name: (permissive, cmd, list(roles), normalised(qual), normalised(check))
        for name, permissive, cmd, roles, qual, check in found
    }
    assert as_dict == {
        name: ("PERMISSIVE", cmd, roles, normalised(using), normalised(check))
        for name, (cmd, roles, using, check) in POLICIES.items()
    }


def test_the_select_policy_reads_active_access_of_the_signed_in_user(admin_engine: Engine) -> None:
    [(qual,)] = rows(
        admin_engine,
        "SELECT qual FROM pg_policies WHERE tablename = 'orchestration_metrics'"
        " AND policyname = 'eva_metrics_company_access'",
    )
    assert "user_company_access.user_id = auth.uid()" in qual
    assert "user_company_access.is_active = true" in qual
    assert " ".join(qual.split()).startswith(
        "(company_id IN ( SELECT user_company_access.company_id "
    )


# The reader's own policies on the tables the dashboard reads beside the metrics (migration f03);
# eva_orchestration_sessions it does not read, and has none.
READER_POLICIES = {
    "companies": "orchdash_reader_companies",
    "ventures": "orchdash_reader_ventures",
    "user_company_access": "orchdash_reader_access",
    "eva_orchestration_sessions": None,
}


@pytest.mark.parametrize("table", READER_POLICIES)
def test_the_other_tenant_tables_have_only_the_readers_active_access_policy(
    admin_engine: Engine, table: str
) -> None:
    found = rows(
        admin_engine,
        "SELECT policyname, cmd, roles::text[], qual FROM pg_policies"
        " WHERE schemaname = 'public' AND tablename = :table",
        table=table,
    )
    if READER_POLICIES[table] is None:
        assert found == []
        return
    [(name, cmd, roles, qual)] = found
    assert (name, cmd, list(roles)) == (READER_POLICIES[table], "SELECT", ["orchdash_reader"])
    if table == "user_company_access":
        assert normalised(qual) == "((user_id = auth.uid()) AND is_active)"
    else:
        assert "a.user_id = auth.uid()" in qual and "a.is_active" in qual


@pytest.mark.parametrize(
    ("role", "login", "inherit", "bypassrls"),
    [
        ("anon", False, False, False),
        ("authenticated", False, False, False),
        ("service_role", False, False, True),
    ],
)
def test_supabase_roles(
    admin_engine: Engine, role: str, login: bool, inherit: bool, bypassrls: bool
) -> None:
    found = rows(
        admin_engine,
        "SELECT rolcanlogin, rolinherit, rolbypassrls, rolsuper FROM pg_roles"
        " WHERE rolname = :role",
        role=role,
    )
    assert found == [(login, inherit, bypassrls, False)]


def test_auth_users_has_what_sign_in_and_the_foreign_keys_need(admin_engine: Engine) -> None:
    found = rows(
        admin_engine,
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
        FROM pg_attribute AS a
        WHERE a.attrelid = 'auth.users'::regclass AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
    )
    assert found == [
        ("id", "uuid", True),
        ("email", "character varying(255)", False),
        ("encrypted_password", "character varying(255)", False),
        ("email_confirmed_at", "timestamp with time zone", False),
        ("banned_until", "timestamp with time zone", False),
        ("deleted_at", "timestamp with time zone", False),
        ("created_at", "timestamp with time zone", False),
        ("updated_at", "timestamp with time zone", False),
        ("raw_user_meta_data", "jsonb", False),
    ]
    [(primary_key,)] = rows(
        admin_engine,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'auth.users'::regclass AND contype = 'p'",
    )
    assert primary_key == "PRIMARY KEY (id)"


SUB_CLAIM = "11111111-1111-1111-1111-111111111111"
JSON_SUB = "22222222-2222-2222-2222-222222222222"


@pytest.mark.parametrize(
    ("claim_sub", "claims", "expected"),
    [
        (None, None, None),
        ("", "", None),
        ("", '{"role": "authenticated"}', None),
        (SUB_CLAIM, None, SUB_CLAIM),
        (None, f'{{"sub": "{JSON_SUB}"}}', JSON_SUB),
        ("", f'{{"sub": "{JSON_SUB}"}}', JSON_SUB),
        (SUB_CLAIM, f'{{"sub": "{JSON_SUB}"}}', SUB_CLAIM),
    ],
    ids=["unset", "empty", "claims-without-sub", "claim-sub", "claims", "empty-sub", "sub-first"],
)
def test_auth_uid_reads_claim_sub_then_the_json_claims(
    admin_engine: Engine, claim_sub: str | None, claims: str | None, expected: str | None
) -> None:
    # A fresh connection: settings left unset must read as absent, not as an error.
    with admin_engine.connect() as conn, conn.begin():
        if claim_sub is not None:
            conn.execute(
                text("SELECT set_config('request.jwt.claim.sub', :v, true)"), {"v": claim_sub}
            )
        if claims is not None:
            conn.execute(text("SELECT set_config('request.jwt.claims', :v, true)"), {"v": claims})
        uid = conn.execute(text("SELECT auth.uid()::text")).scalar()
    assert uid == expected


def test_auth_uid_is_stable_sql_returning_uuid(admin_engine: Engine) -> None:
    found = rows(
        admin_engine,
        """
        SELECT l.lanname, p.provolatile, format_type(p.prorettype, NULL), p.pronargs
        FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang
        WHERE p.oid = to_regprocedure('auth.uid()')
        """,
    )
    assert found == [("sql", "s", "uuid", 0)]
