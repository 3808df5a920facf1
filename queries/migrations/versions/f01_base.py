"""What the dashboard needs before anything else: a role that may migrate, and what Supabase has.

(The migrating role was checked before this revision, by env.py: it must be able to create
roles and schemas, as Supabase's ``postgres`` can without being a superuser.) What a Supabase
project already has is created
only where it is missing: the roles ``anon``, ``authenticated``, ``service_role``; the schema
``auth`` with ``auth.users`` (the columns sign-in reads, including Supabase Auth's account state)
and ``auth.uid()``. On a Supabase database all of that exists, belongs to
``supabase_auth_admin``, and is left exactly as it is: no GRANT on it is attempted, since
``postgres`` holds those privileges without the grant option there. What this revision creates is
marked with a comment, so that the downgrade removes only that.

Last, our own schema ``orchdash`` (not exposed by PostgREST) and ``orchdash.require()``, with which
every later revision checks that a privilege it granted is really there: PostgreSQL only warns
about a GRANT it could not give, and a warning is never the outcome.

Revision ID: f01
Revises:
Create Date: 2026-12-02
"""

from alembic import op

revision = "f01"
down_revision = None
branch_labels = None
depends_on = None

API_ROLES = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
END
$$
"""

# Supabase Auth's own columns where sign-in reads them (account state included), and its
# definition of auth.uid(): the claim set by PostgREST, then the JSON claims.
AUTH = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'auth') THEN
    CREATE SCHEMA auth;
    COMMENT ON SCHEMA auth IS 'orchdash: created where Supabase was missing';
    GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
  END IF;
  IF to_regclass('auth.users') IS NULL THEN
    CREATE TABLE auth.users (
        id uuid NOT NULL PRIMARY KEY,
        email varchar(255),
        encrypted_password varchar(255),
        -- No confirmation flow here: an account is confirmed when it is created.
        email_confirmed_at timestamptz DEFAULT now(),
        banned_until timestamptz,
        deleted_at timestamptz,
        created_at timestamptz DEFAULT now(),
        updated_at timestamptz DEFAULT now(),
        raw_user_meta_data jsonb
    );
    CREATE UNIQUE INDEX orchdash_users_email_key ON auth.users (lower(email));
  END IF;
  IF to_regprocedure('auth.uid()') IS NULL THEN
    CREATE FUNCTION auth.uid() RETURNS uuid
      LANGUAGE sql STABLE
      AS $f$
        SELECT coalesce(
          nullif(current_setting('request.jwt.claim.sub', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
        )::uuid
      $f$;
  END IF;
END
$$
"""

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS orchdash;
COMMENT ON SCHEMA orchdash IS 'orchdash: the dashboard''s rollups, audit and sign-in functions';
REVOKE ALL ON SCHEMA orchdash FROM PUBLIC;
CREATE OR REPLACE FUNCTION orchdash.require(ok boolean, problem text, fix text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog'
AS $function$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION 'orchdash migrate: %', problem USING HINT = fix;
  END IF;
END
$function$;
REVOKE ALL ON FUNCTION orchdash.require(boolean, text, text) FROM PUBLIC;
"""


def upgrade() -> None:
    op.execute(API_ROLES)
    op.execute(AUTH)
    op.execute(SCHEMA)
    # Alembic's version table lives in public, where Supabase's default privileges grant the API
    # roles everything on what postgres creates, and PostgREST would expose it.
    op.execute(
        "REVOKE ALL ON public.orchdash_alembic_version FROM PUBLIC, anon, authenticated, service_role"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS orchdash.require(boolean, text, text)")
    op.execute(
        """
        DO $$
        BEGIN
          IF obj_description('auth'::regnamespace, 'pg_namespace')
              = 'orchdash: created where Supabase was missing' THEN
            DROP SCHEMA auth CASCADE;
          END IF;
        END
        $$
        """
    )
