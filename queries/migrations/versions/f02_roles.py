"""The dashboard's two roles: the login it runs as, and the reader it becomes for tenant data.

- ``orchdash_app``: the runtime login. Not a superuser, no BYPASSRLS, owns nothing, NOINHERIT: on
  its own it can only call our sign-in and audit functions (revision f05); it reads tenant data
  only after ``SET LOCAL ROLE orchdash_reader`` in a transaction that carries the user's claims.
- ``orchdash_reader``: NOLOGIN, SELECT on exactly the relations the dashboard reads (granted in
  f03 and f04), under RLS. Not ``authenticated``: on Supabase every signed-in API user of the
  whole project shares that role through PostgREST, and a login that could become it could act on
  every RLS-protected table of the project, not only ours.

The app is a member of the reader and of nothing else; a membership of ``authenticated`` left by
an earlier set-up is revoked. Its password is set by the operator (README, "Deploy").

Revision ID: f02
Revises: f01
Create Date: 2026-12-02
"""

from alembic import op

revision = "f02"
down_revision = "f01"
branch_labels = None
depends_on = None

ROLES = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orchdash_app') THEN
    CREATE ROLE orchdash_app LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
      NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orchdash_reader') THEN
    CREATE ROLE orchdash_reader NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE
      NOREPLICATION NOBYPASSRLS;
  END IF;
  IF pg_has_role('orchdash_app', 'authenticated', 'MEMBER') THEN
    REVOKE authenticated FROM orchdash_app;
  END IF;
END
$$;
GRANT orchdash_reader TO orchdash_app;
"""

CHECKS = """
DO $$
DECLARE
  r pg_roles%ROWTYPE;
BEGIN
  FOR r IN SELECT * FROM pg_roles WHERE rolname IN ('orchdash_app', 'orchdash_reader') LOOP
    PERFORM orchdash.require(
      NOT (r.rolsuper OR r.rolbypassrls OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication),
      format('the role %s has more than it may (superuser, BYPASSRLS, CREATEROLE, CREATEDB or'
             ' REPLICATION)', r.rolname),
      format('ALTER ROLE %s NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION',
             r.rolname));
  END LOOP;
  PERFORM orchdash.require(
    pg_has_role('orchdash_app', 'orchdash_reader', 'MEMBER'),
    'orchdash_app is not a member of orchdash_reader',
    'GRANT orchdash_reader TO orchdash_app, as a role with ADMIN OPTION on orchdash_reader');
  -- PostgreSQL 16 separates membership from the right to SET ROLE.
  IF current_setting('server_version_num')::int >= 160000 THEN
    PERFORM orchdash.require(
      pg_has_role('orchdash_app', 'orchdash_reader', 'SET'),
      'orchdash_app may not SET ROLE orchdash_reader',
      'GRANT orchdash_reader TO orchdash_app WITH SET TRUE');
  END IF;
  PERFORM orchdash.require(
    NOT pg_has_role('orchdash_app', 'authenticated', 'MEMBER'),
    'orchdash_app can become authenticated, the role every API user of the project shares',
    'REVOKE authenticated FROM orchdash_app');
END
$$
"""


def upgrade() -> None:
    op.execute(ROLES)
    op.execute(CHECKS)


def downgrade() -> None:
    # Roles belong to the server, not to this database: another database may still use them.
    op.execute("REVOKE orchdash_reader FROM orchdash_app")
