"""The export audit: an insert-only record of every extract and every refused attempt.

Decision: the runtime role stays read-only on every tenant table. Its one write is a call of
``public.orchdash_record_export(...)``, a SECURITY DEFINER function owned by ``orchdash_auditor``,
a NOLOGIN role whose only privilege is a column-limited INSERT into ``orchdash_audit`` (not the
id, not the time: those are the database's). So the write path can add audit rows and nothing
else: it cannot read them, change or delete them, nor touch any other table. The function takes
the user from the transaction's JWT claims (as ``auth.uid()`` does), so a call records the
signed-in user of that transaction, or nobody for an attempt without a valid identity.
EXECUTE is granted to the dashboard's runtime role only (revoked from PUBLIC, so Supabase's API
roles cannot call it). The signed-in user reads their own rows as ``authenticated`` under RLS
(``user_id = auth.uid()``): the Audit view. The write runs in its own short transaction, since
every tenant read is READ ONLY.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SIGNATURE = "text, text, jsonb, text, timestamptz, bigint, uuid[], text, text"
COLUMNS = (
    "user_id, action, file_name, filters, time_zone, data_as_of, row_count, scope, sha256, reason"
)


def upgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orchdash_auditor') THEN
            CREATE ROLE orchdash_auditor NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE
              NOBYPASSRLS;
          END IF;
        END
        $$;
        """
    )
    # Owning a function needs membership of its owner (PostgreSQL 16 no longer implies it).
    op.execute("GRANT orchdash_auditor TO current_user")
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS public.orchdash_audit (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            user_id uuid,
            action text NOT NULL
                CHECK (action IN ('export', 'export_incomplete', 'refused')),
            file_name text CHECK (length(file_name) <= 200),
            filters jsonb,
            time_zone text CHECK (length(time_zone) <= 64),
            data_as_of timestamptz,
            row_count bigint CHECK (row_count >= 0),
            scope uuid[],
            sha256 text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            reason text CHECK (length(reason) <= 500)
        );
        CREATE INDEX IF NOT EXISTS idx_orchdash_audit_user_at
            ON public.orchdash_audit (user_id, at DESC);
        ALTER TABLE public.orchdash_audit ENABLE ROW LEVEL SECURITY;
        REVOKE ALL ON public.orchdash_audit FROM PUBLIC, anon, authenticated;
        GRANT SELECT ON public.orchdash_audit TO authenticated;
        GRANT USAGE ON SCHEMA public TO orchdash_auditor;
        """
    )
    op.execute(f"GRANT INSERT ({COLUMNS}) ON public.orchdash_audit TO orchdash_auditor")
    op.execute('DROP POLICY IF EXISTS "orchdash_audit_own" ON public.orchdash_audit')
    op.execute(
        'CREATE POLICY "orchdash_audit_own" ON public.orchdash_audit'
        " FOR SELECT TO authenticated USING (user_id = auth.uid())"
    )
    op.execute('DROP POLICY IF EXISTS "orchdash_audit_insert" ON public.orchdash_audit')
    op.execute(
        'CREATE POLICY "orchdash_audit_insert" ON public.orchdash_audit'
        " FOR INSERT TO orchdash_auditor WITH CHECK (true)"
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION public.orchdash_record_export(
            p_action text, p_file_name text, p_filters jsonb, p_time_zone text,
            p_data_as_of timestamptz, p_row_count bigint, p_scope uuid[], p_sha256 text,
            p_reason text)
        RETURNS void
        LANGUAGE sql
        SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            INSERT INTO public.orchdash_audit (
                user_id, action, file_name, filters, time_zone, data_as_of, row_count, scope,
                sha256, reason)
            VALUES (
                CAST(nullif(coalesce(
                    nullif(current_setting('request.jwt.claim.sub', true), ''),
                    CAST(nullif(current_setting('request.jwt.claims', true), '') AS jsonb)
                        ->> 'sub'), '') AS uuid),
                p_action, p_file_name, p_filters, p_time_zone, p_data_as_of, p_row_count,
                p_scope, p_sha256, p_reason
            )
        $$
        """
    )
    op.execute(
        f"ALTER FUNCTION public.orchdash_record_export({SIGNATURE}) OWNER TO orchdash_auditor"
    )
    op.execute(f"REVOKE ALL ON FUNCTION public.orchdash_record_export({SIGNATURE}) FROM PUBLIC")
    op.execute(
        f"GRANT EXECUTE ON FUNCTION public.orchdash_record_export({SIGNATURE}) TO orchdash_app"
    )


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS public.orchdash_record_export({SIGNATURE})")
    op.execute("DROP TABLE IF EXISTS public.orchdash_audit")
    op.execute("REVOKE USAGE ON SCHEMA public FROM orchdash_auditor")
