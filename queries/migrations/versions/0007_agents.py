"""Agents: the agent filter on the raw path of the totals, and a small rollup of agent activity.

- ``metric_facts`` shows ``agents_involved`` (appended, so CREATE OR REPLACE keeps the view in
  place), so that totals.sql can apply the agent filter when it reads the raw rows; the
  rollups of migration 0004 have no agents, so every query with agents chosen reads raw rows.
- ``agent_totals``: per company, local day (in ``agent_settings.zone``) and ``agents_involved``
  exactly as stored, the sums behind queries.agent_activity (rows, actions, utilization in
  1e-2 and its count, response seconds and their count). Keyed by the whole array, it serves
  the "any of" and "all of" filters exactly (``&&`` and ``@>`` on the key); rows without agents
  count for no agent and are not kept. It has no venture or stage: with either chosen, or in
  another zone, agent activity reads the raw rows. queries.agents reads the agent names from it.
- It is kept by statement-level triggers that append each statement's changes as signed sums
  per company, day and agents (insert only: writers never wait on each other), and a writer
  merges a day's entries once it holds more than ``COMPACT_AFTER`` of them (one writer at a
  time, the others skip: an advisory lock). ``agent_rebuild(zone)`` recomputes it from the raw
  rows (the demo load calls it once after COPY, with the trigger off, as for the rollups).

Everything is read as the user under the metrics' company policy, like the other rollups.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from queries import config
from queries.filters import valid_timezone
from queries.schema import earlier_migration

R0006 = earlier_migration("0006_low_confidence.py")
R0004 = R0006.R0004

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

API_ROLES = "PUBLIC, anon, authenticated, service_role"
COMPACT_AFTER = 64
# 0006's metric_facts, with agents_involved appended.
_FACTS_END = "    m.confidence_score\nFROM public.orchestration_metrics AS m"
assert R0006.VIEWS.count(_FACTS_END) == 1
_FACTS = R0006.VIEWS[: R0006.VIEWS.index("CREATE OR REPLACE VIEW orchdash.log_facts")]
FACTS_VIEW = _FACTS.replace(
    _FACTS_END,
    "    m.confidence_score,\n    m.agents_involved\nFROM public.orchestration_metrics AS m",
)

TABLES = """
CREATE TABLE orchdash.agent_settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    zone text NOT NULL
);

-- Signed sums, appended per statement and merged now and then: a (company, day, agents) may
-- have several entries; readers add them up.
CREATE TABLE orchdash.agent_totals (
    company_id uuid NOT NULL,
    day date NOT NULL,              -- the local day in agent_settings.zone
    agents text[] NOT NULL,         -- agents_involved as stored
    rows bigint NOT NULL,
    actions bigint NOT NULL,
    utilization_sum bigint NOT NULL,  -- agent_utilization, in 1e-2
    utilization_n bigint NOT NULL,
    response_sum numeric NOT NULL,    -- agent_response_time, seconds
    response_n bigint NOT NULL
);
CREATE INDEX agent_totals_company_day ON orchdash.agent_totals (company_id, day);
"""

# Rows that name agents; rows without a company or a time are nobody's or in no period.
_COUNTED = (
    "m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL AND cardinality(m.agents_involved) > 0"
)
_DAY = "(m.recorded_at AT TIME ZONE v_zone)::date"


def _sums(source: str, sign: str = "") -> str:
    """One statement's rows of a transition table as signed sums per company, day, agents."""
    return f"""
        INSERT INTO orchdash.agent_totals
        SELECT m.company_id, {_DAY}, m.agents_involved,
               {sign}count(*), {sign}coalesce(sum(m.action_count), 0),
               {sign}coalesce(sum((m.agent_utilization * 100)::bigint), 0),
               {sign}count(m.agent_utilization),
               {sign}coalesce(sum(extract(epoch FROM m.agent_response_time)), 0),
               {sign}count(m.agent_response_time)
        FROM {source} AS m
        WHERE {_COUNTED}
        GROUP BY 1, 2, 3;"""  # noqa: S608 - fixed names, no input


def _compact(*sources: str) -> str:
    """Merge the entries of the days a statement touched, where they have piled up: one
    (company, day, agents) entry each; groups that net out to nothing go. One writer at a time
    (the others leave it to the next statement; readers add entries up either way)."""
    days = " UNION ".join(
        f"SELECT m.company_id, {_DAY} AS day FROM {s} AS m WHERE {_COUNTED}"  # noqa: S608
        for s in sources
    )
    return f"""
        IF pg_try_advisory_xact_lock(hashtext('orchdash.agent_compact')) THEN
            WITH touched AS (
                SELECT DISTINCT d.company_id, d.day FROM ({days}) AS d
            ),
            crowded AS (
                SELECT d.company_id, d.day FROM touched AS d
                WHERE (SELECT count(*) FROM orchdash.agent_totals AS t
                       WHERE t.company_id = d.company_id AND t.day = d.day) > {COMPACT_AFTER}
            ),
            gone AS (
                DELETE FROM orchdash.agent_totals AS t USING crowded AS c
                WHERE t.company_id = c.company_id AND t.day = c.day
                RETURNING t.*
            )
            INSERT INTO orchdash.agent_totals
            SELECT g.company_id, g.day, g.agents, sum(g.rows), sum(g.actions),
                   sum(g.utilization_sum), sum(g.utilization_n), sum(g.response_sum),
                   sum(g.response_n)
            FROM gone AS g
            GROUP BY g.company_id, g.day, g.agents
            HAVING sum(g.rows) <> 0;
        END IF;"""  # noqa: S608 - fixed names, no input


FUNCTIONS = f"""
CREATE FUNCTION orchdash.agent_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    v_zone text := (SELECT s.zone FROM orchdash.agent_settings AS s);
BEGIN
    -- A transition table exists only for its operations, and PL/pgSQL plans a statement when
    -- it first runs it: each branch names only its own.
    IF TG_OP = 'INSERT' THEN
        {_sums("inserted")}
        {_compact("inserted")}
    ELSIF TG_OP = 'DELETE' THEN
        {_sums("deleted", "-")}
        {_compact("deleted")}
    ELSE
        {_sums("inserted")}
        {_sums("deleted", "-")}
        {_compact("inserted", "deleted")}
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION orchdash.agent_clear() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    TRUNCATE orchdash.agent_totals;
    RETURN NULL;
END
$$;

-- Everything again from the raw rows, in p_zone (NULL: keep the zone). Writers wait meanwhile.
CREATE FUNCTION orchdash.agent_rebuild(p_zone text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET work_mem = '256MB' AS $$
DECLARE
    v_zone text;
    done bigint;
BEGIN
    LOCK TABLE public.orchestration_metrics IN SHARE MODE;
    IF p_zone IS NOT NULL THEN
        PERFORM now() AT TIME ZONE p_zone;  -- an unknown zone fails here, before any change
        UPDATE orchdash.agent_settings SET zone = p_zone;
    END IF;
    v_zone := (SELECT s.zone FROM orchdash.agent_settings AS s);
    TRUNCATE orchdash.agent_totals;
    {_sums("public.orchestration_metrics")}
    GET DIAGNOSTICS done = ROW_COUNT;
    ANALYZE orchdash.agent_totals;
    RETURN done;
END
$$;
"""  # noqa: S608 - fixed names of this module, no input

# 0004's four statement triggers, calling these functions under names of their own.
TRIGGERS = R0004.TRIGGERS
for old, new in (
    ("orchdash_rollup_", "orchdash_agents_"),
    ("orchdash.log_changes()", "orchdash.agent_changes()"),
    ("orchdash.clear_on_truncate()", "orchdash.agent_clear()"),
):
    assert old in TRIGGERS, old
    TRIGGERS = TRIGGERS.replace(old, new)
FUNCTION_NAMES = ("agent_changes()", "agent_clear()", "agent_rebuild(text)")


def upgrade() -> None:
    op.execute(FACTS_VIEW)
    op.execute(TABLES)
    op.get_bind().execute(
        sa.text("INSERT INTO orchdash.agent_settings (zone) VALUES (:zone)"),
        {"zone": valid_timezone(config.timezone_name())},
    )
    op.execute("ALTER TABLE orchdash.agent_totals ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY agent_totals_company_access ON orchdash.agent_totals"
        f" FOR SELECT TO authenticated USING ({R0004.ACTIVE_COMPANIES})"
    )
    op.execute(f"REVOKE ALL ON orchdash.agent_settings, orchdash.agent_totals FROM {API_ROLES}")
    op.execute("GRANT SELECT ON orchdash.agent_settings, orchdash.agent_totals TO authenticated")
    op.execute(FUNCTIONS)
    for function in FUNCTION_NAMES:
        op.execute(f"REVOKE ALL ON FUNCTION orchdash.{function} FROM {API_ROLES}")
    op.execute(TRIGGERS)
    op.execute("SELECT orchdash.agent_rebuild()")


def downgrade() -> None:
    for trigger in ("insert", "update", "delete", "truncate"):
        op.execute(
            f"DROP TRIGGER IF EXISTS orchdash_agents_{trigger} ON public.orchestration_metrics"
        )
    for function in FUNCTION_NAMES:
        op.execute(f"DROP FUNCTION IF EXISTS orchdash.{function}")
    op.execute("DROP TABLE orchdash.agent_totals, orchdash.agent_settings")
    # A view loses a column only by being made again (nothing depends on it but functions).
    op.execute("DROP VIEW orchdash.metric_facts")
    op.execute(_FACTS)
    op.execute("GRANT SELECT ON orchdash.metric_facts TO authenticated")
