"""Agents: the agent filter on the raw path of the totals, and a small rollup of agent activity.

- ``metric_facts`` shows ``agents_involved`` (appended, so CREATE OR REPLACE keeps the view in
  place), so that totals.sql can apply the agent filter when it reads the raw rows; the
  rollups of migration 0004 have no agents, so every query with agents chosen reads raw rows.
- ``agent_totals``: per company, local day (in ``agent_settings.zone``) and ``agents_involved``
  exactly as stored, the sums behind queries.agent_activity (rows, actions, utilization in
  1e-2 and its count, response seconds and their count), in two grains: over all ventures and
  stages (``fine`` false: what a page without those filters reads), and per venture and stage
  (``fine`` true: read through an index by venture or by stage when either is chosen), and over
  all days too (coarse, day ``-infinity``: the lists queries.agents reads). Keyed by
  the whole array, it serves the "any of" and "all of" filters exactly (``&&`` and ``@>`` on
  the key); rows without agents count for no agent and are not kept. In another zone agent
  activity reads the raw rows. queries.agents reads the agent names from it.
- It is kept by statement-level triggers that append each statement's changes as signed sums
  per company, day and agents (insert only: writers never wait on each other), and a writer
  merges a day's entries once it holds more than ``COMPACT_AFTER`` of them (one writer at a
  time, the others skip: an advisory lock). ``agent_rebuild(zone)`` recomputes it from the raw
  rows (the demo load calls it once after COPY, with the trigger off, as for the rollups).
  A merge rewrites only the keys that have unmerged changes, so its cost follows the changes,
  not the day.

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

-- Signed sums, appended per statement and merged now and then: a key (company, day, fine,
-- venture, stage, agents) may have several entries; readers add them up.
CREATE TABLE orchdash.agent_totals (
    company_id uuid NOT NULL,
    day date NOT NULL,              -- the local day in agent_settings.zone
    fine boolean NOT NULL,          -- false: summed over ventures and stages (both NULL)
    venture_id uuid,
    stage_id integer,
    agents text[] NOT NULL,         -- agents_involved as stored
    rows bigint NOT NULL,
    actions bigint NOT NULL,
    utilization_sum bigint NOT NULL,  -- agent_utilization, in 1e-2
    utilization_n bigint NOT NULL,
    response_sum numeric NOT NULL,    -- agent_response_time, seconds
    response_n bigint NOT NULL,
    merged boolean NOT NULL           -- false: a statement's change, not merged yet
);
-- The reading orders: the coarse grain by day; the fine grain by venture or by stage, then day.
CREATE INDEX agent_totals_days ON orchdash.agent_totals (company_id, fine, day);
CREATE INDEX agent_totals_ventures ON orchdash.agent_totals (company_id, fine, venture_id, day);
CREATE INDEX agent_totals_stages ON orchdash.agent_totals (company_id, fine, stage_id, day);
-- A writer's one question: how many changes of this day are not merged yet?
CREATE INDEX agent_totals_unmerged ON orchdash.agent_totals (company_id, day) WHERE NOT merged;
"""

# Rows that name agents; rows without a company or a time are nobody's or in no period.
_COUNTED = (
    "m.company_id IS NOT NULL AND m.recorded_at IS NOT NULL AND cardinality(m.agents_involved) > 0"
)
_DAY = "(m.recorded_at AT TIME ZONE v_zone)::date"
# The day of the entries summed over all days (coarse grain): what the Agents picker reads.
ALL_DAYS = "CAST('-infinity' AS date)"


_COLUMNS = (
    "company_id, day, fine, venture_id, stage_id, agents, rows, actions, utilization_sum,"
    " utilization_n, response_sum, response_n, merged"
)
_KEY = "company_id, day, fine, venture_id, stage_id, agents"


def _sums(source: str, sign: str = "", merged: str = "false") -> str:
    """Rows (of a transition table, or all) as signed sums per company, day and agents, in both
    grains: over all ventures and stages, and per venture and stage."""
    return f"""
        INSERT INTO orchdash.agent_totals ({_COLUMNS})
        SELECT m.company_id,
               CASE WHEN GROUPING({_DAY}) = 1 THEN {ALL_DAYS} ELSE {_DAY} END,
               GROUPING(m.venture_id) = 0, m.venture_id, m.stage_id,
               m.agents_involved,
               {sign}count(*), {sign}coalesce(sum(m.action_count), 0),
               {sign}coalesce(sum((m.agent_utilization * 100)::bigint), 0),
               {sign}count(m.agent_utilization),
               {sign}coalesce(sum(extract(epoch FROM m.agent_response_time)), 0),
               {sign}count(m.agent_response_time), {merged}
        FROM {source} AS m
        WHERE {_COUNTED}
        GROUP BY GROUPING SETS (
            (m.company_id, m.agents_involved),
            (m.company_id, {_DAY}, m.agents_involved),
            (m.company_id, {_DAY}, m.venture_id, m.stage_id, m.agents_involved)
        );"""  # noqa: S608 - fixed names, no input


def _compact(*sources: str) -> str:
    """Merge the changes of a day the statement touched once more than COMPACT_AFTER of them
    are not merged yet: each key (company, day, fine, venture, stage, agents) that has a change
    gets one merged entry; keys that net out to nothing go. Cost: the changes and their keys'
    merged entries, not the day. One writer at a time (the others leave it to the next
    statement; readers add entries up either way)."""
    days = " UNION ".join(
        f"SELECT m.company_id, {day} AS day FROM {s} AS m WHERE {_COUNTED}"  # noqa: S608
        for s in sources
        for day in (_DAY, ALL_DAYS)
    )
    return f"""
        IF pg_try_advisory_xact_lock(hashtext('orchdash.agent_compact')) THEN
            WITH touched AS (
                SELECT DISTINCT d.company_id, d.day FROM ({days}) AS d
            ),
            crowded AS (
                SELECT d.company_id, d.day FROM touched AS d
                WHERE (SELECT count(*) FROM orchdash.agent_totals AS t
                       WHERE t.company_id = d.company_id AND t.day = d.day AND NOT t.merged)
                      > {COMPACT_AFTER}
            ),
            keys AS (
                SELECT DISTINCT t.company_id, t.day, t.fine, t.venture_id, t.stage_id, t.agents
                FROM crowded AS c
                JOIN orchdash.agent_totals AS t
                  ON t.company_id = c.company_id AND t.day = c.day AND NOT t.merged
            ),
            gone AS (
                DELETE FROM orchdash.agent_totals AS t USING keys AS k
                WHERE t.company_id = k.company_id AND t.day = k.day AND t.fine = k.fine
                  AND t.venture_id IS NOT DISTINCT FROM k.venture_id
                  AND t.stage_id IS NOT DISTINCT FROM k.stage_id AND t.agents = k.agents
                RETURNING t.*
            )
            INSERT INTO orchdash.agent_totals ({_COLUMNS})
            SELECT {_KEY}, sum(g.rows), sum(g.actions), sum(g.utilization_sum),
                   sum(g.utilization_n), sum(g.response_sum), sum(g.response_n), true
            FROM gone AS g
            GROUP BY {_KEY}
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
    {_sums("public.orchestration_metrics", merged="true")}
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
