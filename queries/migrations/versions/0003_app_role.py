"""The dashboard's runtime login role: read-only, not an owner, no BYPASSRLS.

It is NOINHERIT: on its own it can read only the three columns of auth.users that sign-in needs;
tenant data it reads only after `SET LOCAL ROLE authenticated`, where RLS applies.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orchdash_app') THEN
            CREATE ROLE orchdash_app LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE
              NOBYPASSRLS;
          END IF;
        END
        $$;
        """
    )
    op.execute("GRANT authenticated TO orchdash_app")
    op.execute("GRANT USAGE ON SCHEMA auth TO orchdash_app")
    op.execute("GRANT SELECT (id, email, encrypted_password) ON auth.users TO orchdash_app")


def downgrade() -> None:
    op.execute("REVOKE SELECT (id, email, encrypted_password) ON auth.users FROM orchdash_app")
    op.execute("REVOKE USAGE ON SCHEMA auth FROM orchdash_app")
