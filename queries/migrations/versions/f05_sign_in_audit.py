"""Sign-in without reading auth.users, and the export audit: the runtime role's only calls.

The runtime role ``orchdash_app`` has no privilege on ``auth.users`` at all. Sign-in calls
``orchdash.account_by_email(email)``, a ``SECURITY DEFINER`` function owned by the migrating role
(which can read ``auth.users``: Supabase's ``postgres`` can), ``search_path`` pinned, executable
by ``orchdash_app`` only: it returns, for the one account with that email (two rows at most, so
that an ambiguous email is refused), its id, its bcrypt hash and whether it may sign in. The
password never reaches the database. Supabase Auth's account state is honoured where its columns
exist (read through ``to_jsonb`` so that one definition serves both shapes of ``auth.users``):
``banned_until`` in the future, ``deleted_at`` set, or ``email_confirmed_at`` empty close the
account. ``orchdash.account_active(user_id)``, called on every page run, ends the session of an
account that was deleted, banned or unconfirmed since.

The export audit is insert-only: ``orchdash.record_export(...)`` (``SECURITY DEFINER``, executable
by ``orchdash_app`` only) adds one row of ``orchdash.export_audit`` and nothing else, with the
user taken from the transaction's JWT claims. The signed-in user reads their own rows as
``orchdash_reader`` under RLS (``user_id = auth.uid()``).

Revision ID: f05
Revises: f04
Create Date: 2026-12-02
"""

from alembic import op

revision = "f05"
down_revision = "f04"
branch_labels = None
depends_on = None

PREFLIGHT = r"""
SELECT orchdash.require(
  has_schema_privilege(current_user, 'auth', 'USAGE')
    AND has_table_privilege(current_user, 'auth.users', 'SELECT'),
  format('%s cannot read auth.users, which the sign-in functions read as their owner',
         current_user),
  'On Supabase run orchdash migrate as postgres; elsewhere GRANT USAGE ON SCHEMA auth and'
  ' SELECT ON auth.users to the migrating role.')
"""

AUDIT = r"""
CREATE TABLE orchdash.export_audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    user_id uuid,
    action text NOT NULL CHECK (action IN ('export', 'export_incomplete', 'refused')),
    file_name text CHECK (length(file_name) <= 200),
    filters jsonb,
    time_zone text CHECK (length(time_zone) <= 64),
    data_as_of timestamptz,
    row_count bigint CHECK (row_count >= 0),
    scope uuid[],
    sha256 text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    reason text CHECK (length(reason) <= 500)
);
CREATE INDEX export_audit_user_at ON orchdash.export_audit (user_id, at DESC);
ALTER TABLE orchdash.export_audit ENABLE ROW LEVEL SECURITY;
CREATE POLICY export_audit_own ON orchdash.export_audit
    FOR SELECT TO orchdash_reader USING (user_id = auth.uid());
REVOKE ALL ON orchdash.export_audit FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT ON orchdash.export_audit TO orchdash_reader;
"""

FUNCTIONS = (
    r"""
CREATE OR REPLACE FUNCTION orchdash.record_export(p_action text, p_file_name text, p_filters jsonb, p_time_zone text, p_data_as_of timestamp with time zone, p_row_count bigint, p_scope uuid[], p_sha256 text, p_reason text)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    INSERT INTO orchdash.export_audit (
        user_id, action, file_name, filters, time_zone, data_as_of, row_count, scope, sha256,
        reason)
    VALUES (
        CAST(nullif(coalesce(
            nullif(current_setting('request.jwt.claim.sub', true), ''),
            CAST(nullif(current_setting('request.jwt.claims', true), '') AS jsonb) ->> 'sub'),
            '') AS uuid),
        p_action, p_file_name, p_filters, p_time_zone, p_data_as_of, p_row_count, p_scope,
        p_sha256, p_reason)
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.account_open(account jsonb)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    -- A column that this auth.users lacks reads as NULL here, and its rule then does not apply.
    SELECT coalesce(CAST(account ->> 'banned_until' AS timestamptz) <= now(), true)
       AND account ->> 'deleted_at' IS NULL
       AND (NOT account ? 'email_confirmed_at' OR account ->> 'email_confirmed_at' IS NOT NULL)
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.account_by_email(p_email text)
 RETURNS TABLE(id uuid, encrypted_password text, active boolean)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT u.id, CAST(u.encrypted_password AS text), orchdash.account_open(to_jsonb(u))
    FROM auth.users AS u
    WHERE lower(u.email) = lower(p_email)
    ORDER BY u.id
    LIMIT 2
$function$
""",
    r"""
CREATE OR REPLACE FUNCTION orchdash.account_active(p_user uuid)
 RETURNS boolean
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT coalesce(
        (SELECT orchdash.account_open(to_jsonb(u)) FROM auth.users AS u WHERE u.id = p_user),
        false)
$function$
""",
)

GRANTS = r"""
REVOKE ALL ON FUNCTION orchdash.account_open(jsonb) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION orchdash.record_export(text, text, jsonb, text, timestamptz, bigint, uuid[], text, text) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION orchdash.account_by_email(text) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION orchdash.account_active(uuid) FROM PUBLIC, anon, authenticated, service_role;
GRANT USAGE ON SCHEMA orchdash TO orchdash_app;
GRANT EXECUTE ON FUNCTION orchdash.record_export(text, text, jsonb, text, timestamptz, bigint, uuid[], text, text) TO orchdash_app;
GRANT EXECUTE ON FUNCTION orchdash.account_by_email(text) TO orchdash_app;
GRANT EXECUTE ON FUNCTION orchdash.account_active(uuid) TO orchdash_app;
"""

CHECKS = r"""
DO $$
DECLARE
  f text;
  r text;
BEGIN
  PERFORM orchdash.require(has_schema_privilege('orchdash_app', 'orchdash', 'USAGE'),
    'orchdash_app has no USAGE on schema orchdash',
    'GRANT USAGE ON SCHEMA orchdash TO orchdash_app');
  FOREACH f IN ARRAY ARRAY[
    'orchdash.record_export(text, text, jsonb, text, timestamptz, bigint, uuid[], text, text)',
    'orchdash.account_by_email(text)',
    'orchdash.account_active(uuid)'
  ] LOOP
    PERFORM orchdash.require(has_function_privilege('orchdash_app', f, 'EXECUTE'),
      format('orchdash_app cannot EXECUTE %s', f),
      format('GRANT EXECUTE ON FUNCTION %s TO orchdash_app', f));
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role', 'orchdash_reader'] LOOP
      PERFORM orchdash.require(NOT has_function_privilege(r, f, 'EXECUTE'),
        format('%s can EXECUTE %s, which only orchdash_app may call', r, f),
        format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, %s', f, r));
    END LOOP;
  END LOOP;
  PERFORM orchdash.require(
    NOT has_table_privilege('orchdash_app', 'auth.users', 'SELECT')
      AND NOT has_column_privilege('orchdash_app', 'auth.users', 'encrypted_password', 'SELECT'),
    'orchdash_app can read auth.users itself',
    'REVOKE ALL ON auth.users FROM orchdash_app (as the owner of auth.users)');
END
$$
"""


def upgrade() -> None:
    op.execute(PREFLIGHT)
    op.execute(AUDIT)
    for function in FUNCTIONS:
        op.execute(function)
    op.execute(GRANTS)
    op.execute(CHECKS)


def downgrade() -> None:
    op.execute("REVOKE USAGE ON SCHEMA orchdash FROM orchdash_app")
    op.execute("DROP FUNCTION IF EXISTS orchdash.account_active(uuid)")
    op.execute("DROP FUNCTION IF EXISTS orchdash.account_by_email(text)")
    op.execute("DROP FUNCTION IF EXISTS orchdash.account_open(jsonb)")
    op.execute(
        "DROP FUNCTION IF EXISTS orchdash.record_export"
        "(text, text, jsonb, text, timestamptz, bigint, uuid[], text, text)"
    )
    op.execute("DROP TABLE IF EXISTS orchdash.export_audit")
