"""The tenant tables and orchestration_metrics exactly as the production spec has it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ACTIVE_COMPANIES = """
    SELECT user_company_access.company_id
    FROM user_company_access
    WHERE user_company_access.user_id = auth.uid()
      AND user_company_access.is_active = true
"""


def upgrade() -> None:
    op.execute(
        """
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
        CREATE INDEX IF NOT EXISTS idx_ventures_company ON public.ventures (company_id);
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
    )
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS public.orchestration_metrics (
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
        CREATE INDEX IF NOT EXISTS idx_orch_metrics_company
            ON public.orchestration_metrics USING btree (company_id);
        CREATE INDEX IF NOT EXISTS idx_orch_metrics_recorded
            ON public.orchestration_metrics USING btree (recorded_at DESC);
        CREATE INDEX IF NOT EXISTS idx_orch_metrics_session
            ON public.orchestration_metrics USING btree (session_id);
        CREATE INDEX IF NOT EXISTS idx_orch_metrics_venture
            ON public.orchestration_metrics USING btree (venture_id);
        """
    )
    for table in (
        "companies",
        "ventures",
        "eva_orchestration_sessions",
        "user_company_access",
        "orchestration_metrics",
    ):
        op.execute(f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY")
        # Supabase's default privileges grant ALL on new tables in public to anon and
        # authenticated; the app's role may only read, whatever the write policies allow.
        op.execute(f"REVOKE ALL ON public.{table} FROM PUBLIC, anon, authenticated")
        op.execute(f"GRANT SELECT ON public.{table} TO authenticated")
    # Alembic's version table lives in public too, where PostgREST would expose it.
    version_table = op.get_context().version_table
    op.execute(f"REVOKE ALL ON public.{version_table} FROM PUBLIC, anon, authenticated")

    # Policies are dropped and created again so that a re-run leaves exactly these.
    policies = {
        "companies": [
            ("companies_company_access", f"FOR SELECT USING (id IN ({ACTIVE_COMPANIES}))"),
        ],
        "ventures": [
            ("ventures_company_access", f"FOR SELECT USING (company_id IN ({ACTIVE_COMPANIES}))"),
        ],
        "eva_orchestration_sessions": [
            (
                "eva_sessions_company_access",
                f"FOR SELECT USING (company_id IN ({ACTIVE_COMPANIES}))",
            ),
        ],
        "user_company_access": [
            # Active grants only: a revoked grant must not even reveal the company's id.
            (
                "user_company_access_own",
                "FOR SELECT USING (user_id = auth.uid() AND is_active = true)",
            ),
        ],
        "orchestration_metrics": [
            ("Allow insert for authenticated", "FOR INSERT TO authenticated WITH CHECK (true)"),
            (
                "Allow update for authenticated",
                "FOR UPDATE TO authenticated USING (true) WITH CHECK (true)",
            ),
            (
                "eva_metrics_company_access",
                f"FOR SELECT TO public USING (company_id IN ({ACTIVE_COMPANIES}))",
            ),
            ("orchestration_metrics_delete", "FOR DELETE TO authenticated USING (true)"),
        ],
    }
    for table, rules in policies.items():
        for name, body in rules:
            op.execute(f'DROP POLICY IF EXISTS "{name}" ON public.{table}')
            op.execute(f'CREATE POLICY "{name}" ON public.{table} {body}')


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS public.orchestration_metrics, public.user_company_access,
            public.eva_orchestration_sessions, public.ventures, public.companies;
        """
    )
