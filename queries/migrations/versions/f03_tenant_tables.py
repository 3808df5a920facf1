"""The tenant tables: adopted where production has them, created exactly as the spec where not.

In production ``orchestration_metrics``, ``companies``, ``ventures``, ``eva_orchestration_sessions``
and ``user_company_access`` already exist, with rows, more columns than ours and their own
policies. This revision never alters or drops an existing column, policy, index or row. It first
checks what the dashboard relies on in the tables that exist: the columns it reads and their
types, row-level security enabled, and on ``orchestration_metrics`` the spec's SELECT policy (rows
of the user's active companies, for every role) with no other permissive SELECT policy that would
widen it; where anything differs it stops, names each difference and changes nothing. It also
checks that the migrating role owns the tables it adds a policy to (and, on
``orchestration_metrics``, triggers and indexes, in revision f04).

Then it creates what is missing: the tables as the spec has them (marked with a comment), with RLS
and, on ``orchestration_metrics``, the spec's four policies. On every table the dashboard reads it
adds a SELECT policy of its own for ``orchdash_reader`` (rows of the user's active companies; own
active grants on ``user_company_access``), and grants that role SELECT on exactly those four
tables; each grant is checked. ``eva_orchestration_sessions`` is not read by the dashboard.

Revision ID: f03
Revises: f02
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "f03"
down_revision = "f02"
branch_labels = None
depends_on = None

ADOPTION_CHECK = r"""
DO $$
DECLARE
  problems text[] := '{}';
  want record;
  got text;
  base text;
  t text;
  qual text;
  shaped int;
BEGIN
  FOR want IN
    SELECT * FROM (VALUES
      ('orchestration_metrics', 'metric_id', '{uuid}'),
      ('orchestration_metrics', 'session_id', '{uuid}'),
      ('orchestration_metrics', 'company_id', '{uuid}'),
      ('orchestration_metrics', 'venture_id', '{uuid}'),
      ('orchestration_metrics', 'stage_id', '{integer}'),
      ('orchestration_metrics', 'stage_duration', '{interval}'),
      ('orchestration_metrics', 'handoff_efficiency', '{"numeric(5,2)"}'),
      ('orchestration_metrics', 'error_rate', '{"numeric(5,4)"}'),
      ('orchestration_metrics', 'action_count', '{integer}'),
      ('orchestration_metrics', 'success_count', '{integer}'),
      ('orchestration_metrics', 'failure_count', '{integer}'),
      ('orchestration_metrics', 'agent_response_time', '{interval}'),
      ('orchestration_metrics', 'agent_utilization', '{"numeric(5,2)"}'),
      ('orchestration_metrics', 'agents_involved', '{"text[]","character varying[]"}'),
      ('orchestration_metrics', 'chairman_interventions', '{integer}'),
      ('orchestration_metrics', 'chairman_approvals', '{integer}'),
      ('orchestration_metrics', 'chairman_rejections', '{integer}'),
      ('orchestration_metrics', 'compute_cost', '{"numeric(10,2)"}'),
      ('orchestration_metrics', 'api_calls_made', '{integer}'),
      ('orchestration_metrics', 'data_quality_score', '{"numeric(5,2)"}'),
      ('orchestration_metrics', 'confidence_score', '{"numeric(5,2)"}'),
      ('orchestration_metrics', 'recorded_at', '{"timestamp with time zone"}'),
      ('orchestration_metrics', 'metric_period_start', '{"timestamp with time zone"}'),
      ('orchestration_metrics', 'metric_period_end', '{"timestamp with time zone"}'),
      ('orchestration_metrics', 'metadata', '{jsonb}'),
      ('companies', 'id', '{uuid}'),
      ('companies', 'name', '{text,"character varying"}'),
      ('ventures', 'id', '{uuid}'),
      ('ventures', 'company_id', '{uuid}'),
      ('ventures', 'name', '{text,"character varying"}'),
      ('eva_orchestration_sessions', 'session_id', '{uuid}'),
      ('user_company_access', 'user_id', '{uuid}'),
      ('user_company_access', 'company_id', '{uuid}'),
      ('user_company_access', 'is_active', '{boolean}')
    ) AS w(tab, col, types)
  LOOP
    CONTINUE WHEN to_regclass('public.' || want.tab) IS NULL;
    -- The type with its modifier (numeric(5,2)) or without one (any varchar length).
    SELECT format_type(a.atttypid, a.atttypmod), format_type(a.atttypid, NULL) INTO got, base
    FROM pg_attribute AS a
    WHERE a.attrelid = to_regclass('public.' || want.tab) AND a.attname = want.col
      AND a.attnum > 0 AND NOT a.attisdropped;
    IF got IS NULL THEN
      problems := problems || format('public.%s has no column %s, which the dashboard reads',
                                     want.tab, want.col);
    ELSIF NOT (got = ANY (want.types::text[]) OR base = ANY (want.types::text[])) THEN
      problems := problems || format('public.%s.%s is %s; the dashboard reads it as %s',
                                     want.tab, want.col, got,
                                     array_to_string(want.types::text[], ' or '));
    END IF;
  END LOOP;

  FOREACH t IN ARRAY ARRAY['orchestration_metrics', 'companies', 'ventures',
                           'user_company_access'] LOOP
    CONTINUE WHEN to_regclass('public.' || t) IS NULL;
    IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass('public.' || t)) THEN
      problems := problems || format(
        'row-level security is off on public.%s, so its policies do not limit anyone; the'
        ' dashboard reads it under RLS (ALTER TABLE public.%s ENABLE ROW LEVEL SECURITY, after'
        ' checking what the other clients of the table need)', t, t);
    END IF;
  END LOOP;

  IF to_regclass('public.orchestration_metrics') IS NOT NULL THEN
    shaped := 0;
    FOR qual IN
      SELECT coalesce(pg_get_expr(p.polqual, p.polrelid), '')
      FROM pg_policy AS p
      WHERE p.polrelid = 'public.orchestration_metrics'::regclass
        AND p.polcmd IN ('r', '*') AND p.polpermissive
        AND (p.polroles = '{0}' OR (SELECT oid FROM pg_roles WHERE rolname = 'orchdash_reader')
             = ANY (p.polroles))
    LOOP
      IF qual ~ 'user_company_access' AND qual ~ 'auth\.uid\(\)' AND qual ~ 'is_active' THEN
        shaped := shaped + 1;
      ELSE
        problems := problems || format(
          'a permissive SELECT policy on public.orchestration_metrics (USING %s) lets every'
          ' role read rows outside the user''s active companies', qual);
      END IF;
    END LOOP;
    IF shaped = 0 THEN
      problems := problems ||
        'public.orchestration_metrics has no SELECT policy for every role that keeps rows to'
        ' the user''s active companies (the spec''s eva_metrics_company_access)'::text;
    END IF;
  END IF;

  -- Policies, triggers and indexes can only be added by a table's owner.
  FOREACH t IN ARRAY ARRAY['orchestration_metrics', 'companies', 'ventures',
                           'user_company_access'] LOOP
    CONTINUE WHEN to_regclass('public.' || t) IS NULL;
    IF NOT pg_has_role(current_user,
                       (SELECT relowner FROM pg_class WHERE oid = to_regclass('public.' || t)),
                       'USAGE') THEN
      problems := problems || format(
        'public.%s belongs to %s, and %s may not add the dashboard''s policy (and, on the'
        ' metrics, its triggers and indexes) to it: run orchdash migrate as its owner',
        t, (SELECT relowner::regrole FROM pg_class WHERE oid = to_regclass('public.' || t)),
        current_user);
    END IF;
  END LOOP;

  IF cardinality(problems) > 0 THEN
    RAISE EXCEPTION 'orchdash migrate: the existing tables differ from what the dashboard relies on:%',
      E'\n- ' || array_to_string(problems, E'\n- ')
      USING HINT = 'Nothing was changed. Fix each item above, or ask for the dashboard to be'
        ' adapted, then run orchdash migrate again.';
  END IF;
END
$$
"""

MARK_CREATED = r"""
CREATE TEMPORARY TABLE orchdash_created ON COMMIT DROP AS
SELECT t AS name
FROM unnest(ARRAY['companies', 'ventures', 'eva_orchestration_sessions', 'user_company_access',
                  'orchestration_metrics']) AS t
WHERE to_regclass('public.' || t) IS NULL
"""

TABLES = """
CREATE TABLE IF NOT EXISTS public.companies (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz DEFAULT now()
);
CREATE TABLE IF NOT EXISTS public.ventures (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    company_id uuid REFERENCES public.companies(id),
    name text NOT NULL,
    created_at timestamptz DEFAULT now()
);
CREATE TABLE IF NOT EXISTS public.eva_orchestration_sessions (
    session_id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    company_id uuid REFERENCES public.companies(id),
    venture_id uuid REFERENCES public.ventures(id),
    status text,
    started_at timestamptz DEFAULT now(),
    ended_at timestamptz
);
CREATE TABLE IF NOT EXISTS public.user_company_access (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    company_id uuid NOT NULL REFERENCES public.companies(id) ON DELETE CASCADE,
    access_level text NOT NULL DEFAULT 'viewer',
    is_active boolean NOT NULL DEFAULT true,
    granted_at timestamptz DEFAULT now(),
    UNIQUE (user_id, company_id)
);
"""

METRICS = """
CREATE TABLE public.orchestration_metrics (
    metric_id uuid NOT NULL DEFAULT gen_random_uuid(),
    session_id uuid,
    company_id uuid,
    venture_id uuid,
    stage_id integer,
    stage_duration interval,
    handoff_efficiency numeric(5,2),
    error_rate numeric(5,4),
    action_count integer DEFAULT 0,
    success_count integer DEFAULT 0,
    failure_count integer DEFAULT 0,
    agent_response_time interval,
    agent_utilization numeric(5,2),
    agents_involved text[],
    chairman_interventions integer DEFAULT 0,
    chairman_approvals integer DEFAULT 0,
    chairman_rejections integer DEFAULT 0,
    compute_cost numeric(10,2),
    api_calls_made integer DEFAULT 0,
    data_quality_score numeric(5,2),
    confidence_score numeric(5,2),
    recorded_at timestamptz DEFAULT now(),
    metric_period_start timestamptz,
    metric_period_end timestamptz,
    metadata jsonb DEFAULT '{}'::jsonb,
    CONSTRAINT orchestration_metrics_pkey PRIMARY KEY (metric_id),
    CONSTRAINT orchestration_metrics_company_id_fkey
        FOREIGN KEY (company_id) REFERENCES public.companies(id),
    CONSTRAINT orchestration_metrics_session_id_fkey
        FOREIGN KEY (session_id) REFERENCES public.eva_orchestration_sessions(session_id),
    CONSTRAINT orchestration_metrics_venture_id_fkey
        FOREIGN KEY (venture_id) REFERENCES public.ventures(id),
    CONSTRAINT orchestration_metrics_stage_id_check
        CHECK (((stage_id >= 1) AND (stage_id <= 40)))
);
COMMENT ON COLUMN public.orchestration_metrics.stage_duration
    IS 'Time spent in specific stage';
COMMENT ON COLUMN public.orchestration_metrics.handoff_efficiency
    IS 'Percentage of successful agent-to-agent handoffs without errors or retries';
COMMENT ON COLUMN public.orchestration_metrics.error_rate IS 'Errors per action (0-1)';
COMMENT ON COLUMN public.orchestration_metrics.agent_response_time
    IS 'Average agent response time';
COMMENT ON COLUMN public.orchestration_metrics.agent_utilization
    IS 'Percentage of time agents were active (0-100)';
COMMENT ON COLUMN public.orchestration_metrics.chairman_interventions
    IS 'Number of manual Chairman overrides';
COMMENT ON COLUMN public.orchestration_metrics.data_quality_score
    IS 'Quality of data produced (0-100)';
COMMENT ON COLUMN public.orchestration_metrics.confidence_score
    IS 'AI confidence in decisions (0-100)';
CREATE INDEX idx_orch_metrics_company
    ON public.orchestration_metrics USING btree (company_id);
CREATE INDEX idx_orch_metrics_recorded
    ON public.orchestration_metrics USING btree (recorded_at DESC);
CREATE INDEX idx_orch_metrics_session
    ON public.orchestration_metrics USING btree (session_id);
CREATE INDEX idx_orch_metrics_venture
    ON public.orchestration_metrics USING btree (venture_id);
CREATE POLICY "Allow insert for authenticated" ON public.orchestration_metrics
    FOR INSERT TO authenticated WITH CHECK (true);
CREATE POLICY "Allow update for authenticated" ON public.orchestration_metrics
    FOR UPDATE TO authenticated USING (true) WITH CHECK (true);
CREATE POLICY eva_metrics_company_access ON public.orchestration_metrics
    FOR SELECT TO public USING (company_id IN (
        SELECT user_company_access.company_id
        FROM user_company_access
        WHERE user_company_access.user_id = auth.uid()
          AND user_company_access.is_active = true));
CREATE POLICY orchestration_metrics_delete ON public.orchestration_metrics
    FOR DELETE TO authenticated USING (true);
"""

# On the tables this revision created: RLS on, the mark, and (Supabase's default privileges grant
# the API roles everything in public) only reads for authenticated, as in production.
SECURE_CREATED = r"""
DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT name FROM orchdash_created LOOP
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('COMMENT ON TABLE public.%I IS %L', t,
                   'orchdash: created where production was missing');
    EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC, anon, authenticated', t);
    EXECUTE format('GRANT SELECT ON public.%I TO authenticated', t);
  END LOOP;
END
$$
"""

# The reader's own policies, in the index-friendly shape company_id = ANY (ARRAY(...)).
READER_POLICIES = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_policy WHERE polname = 'orchdash_reader_companies'
                 AND polrelid = 'public.companies'::regclass) THEN
    CREATE POLICY orchdash_reader_companies ON public.companies
      FOR SELECT TO orchdash_reader
      USING (id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                             WHERE a.user_id = auth.uid() AND a.is_active)));
  END IF;
  IF NOT EXISTS (SELECT FROM pg_policy WHERE polname = 'orchdash_reader_ventures'
                 AND polrelid = 'public.ventures'::regclass) THEN
    CREATE POLICY orchdash_reader_ventures ON public.ventures
      FOR SELECT TO orchdash_reader
      USING (company_id = ANY (ARRAY(SELECT a.company_id FROM public.user_company_access AS a
                                     WHERE a.user_id = auth.uid() AND a.is_active)));
  END IF;
  IF NOT EXISTS (SELECT FROM pg_policy WHERE polname = 'orchdash_reader_access'
                 AND polrelid = 'public.user_company_access'::regclass) THEN
    -- Active grants only: a revoked grant must not even reveal the company's id.
    CREATE POLICY orchdash_reader_access ON public.user_company_access
      FOR SELECT TO orchdash_reader
      USING (user_id = auth.uid() AND is_active);
  END IF;
END
$$;
-- The sidebar lists a company's ventures (an index of ours, like those f04 adds to the metrics).
CREATE INDEX IF NOT EXISTS orchdash_ventures_company ON public.ventures (company_id);
GRANT USAGE ON SCHEMA public TO orchdash_reader;
GRANT SELECT ON public.orchestration_metrics, public.companies, public.ventures,
    public.user_company_access TO orchdash_reader;
"""

READER_CHECK = """
DO $$
DECLARE
  t text;
BEGIN
  PERFORM orchdash.require(has_schema_privilege('orchdash_reader', 'public', 'USAGE'),
    'orchdash_reader has no USAGE on schema public',
    'GRANT USAGE ON SCHEMA public TO orchdash_reader, as the owner of schema public');
  FOREACH t IN ARRAY ARRAY['orchestration_metrics', 'companies', 'ventures',
                           'user_company_access'] LOOP
    PERFORM orchdash.require(has_table_privilege('orchdash_reader', 'public.' || t, 'SELECT'),
      format('orchdash_reader cannot SELECT public.%s', t),
      format('GRANT SELECT ON public.%s TO orchdash_reader, as the owner of the table', t));
    PERFORM orchdash.require(
      NOT has_table_privilege('orchdash_reader', 'public.' || t, 'INSERT, UPDATE, DELETE, TRUNCATE'),
      format('orchdash_reader can write public.%s', t),
      format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON public.%s FROM orchdash_reader', t));
  END LOOP;
END
$$
"""


def upgrade() -> None:
    op.execute(ADOPTION_CHECK)
    op.execute(MARK_CREATED)
    op.execute(TABLES)
    missing = sa.text("SELECT to_regclass('public.orchestration_metrics') IS NULL")
    if op.get_bind().execute(missing).scalar():
        op.execute(METRICS)
    op.execute(SECURE_CREATED)
    op.execute(READER_POLICIES)
    op.execute(READER_CHECK)


def downgrade() -> None:
    op.execute(
        "REVOKE ALL ON public.orchestration_metrics, public.companies, public.ventures,"
        " public.user_company_access FROM orchdash_reader"
    )
    op.execute("DROP POLICY IF EXISTS orchdash_reader_companies ON public.companies")
    op.execute("DROP POLICY IF EXISTS orchdash_reader_ventures ON public.ventures")
    op.execute("DROP POLICY IF EXISTS orchdash_reader_access ON public.user_company_access")
    op.execute("REVOKE USAGE ON SCHEMA public FROM orchdash_reader")
    op.execute("DROP INDEX IF EXISTS public.orchdash_ventures_company")
    op.execute(
        """
        DO $$
        DECLARE
          t text;
        BEGIN
          FOREACH t IN ARRAY ARRAY['orchestration_metrics', 'user_company_access',
                                   'eva_orchestration_sessions', 'ventures', 'companies'] LOOP
            IF obj_description(to_regclass('public.' || t), 'pg_class')
                = 'orchdash: created where production was missing' THEN
              EXECUTE format('DROP TABLE public.%I', t);
            END IF;
          END LOOP;
        END
        $$
        """
    )
