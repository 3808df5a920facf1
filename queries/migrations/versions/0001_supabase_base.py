"""What Supabase already has, created only where it is missing.

Roles anon, authenticated, service_role; schema auth with auth.users and auth.uid(). On a Supabase
database all of it exists and this revision changes nothing. What it creates is marked with a
comment so that the downgrade removes only that.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MARK = "orchdash: created where Supabase was missing"


def upgrade() -> None:
    op.execute(
        """
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
        $$;
        """
    )
    op.execute(
        f"""
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'auth') THEN
            CREATE SCHEMA auth;
            COMMENT ON SCHEMA auth IS '{MARK}';
          END IF;
        END
        $$;
        """
    )
    # Only where we create auth.users do we add our index: Supabase's table belongs to
    # supabase_auth_admin, and an index on it would be ours to keep in step with Supabase Auth.
    op.execute(
        """
        DO $$
        BEGIN
          IF to_regclass('auth.users') IS NULL THEN
            CREATE TABLE auth.users (
                id uuid NOT NULL PRIMARY KEY,
                email varchar(255),
                encrypted_password varchar(255),
                created_at timestamptz DEFAULT now(),
                updated_at timestamptz DEFAULT now(),
                raw_user_meta_data jsonb
            );
            CREATE UNIQUE INDEX orchdash_users_email_key ON auth.users (lower(email));
          END IF;
        END
        $$;
        """
    )
    # Supabase's own definition: the claim set by PostgREST, then the JSON claims.
    op.execute(
        """
        DO $$
        BEGIN
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
        $$;
        """
    )
    op.execute("GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role")


def downgrade() -> None:
    op.execute(
        f"""
        DO $$
        BEGIN
          IF obj_description('auth'::regnamespace, 'pg_namespace') = '{MARK}' THEN
            DROP SCHEMA auth CASCADE;
          END IF;
        END
        $$;
        """
    )
