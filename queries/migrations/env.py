"""Alembic environment: the URL comes from the Config that queries.schema builds.

Before anything (Alembic's own version table included), the migrating role is checked: it must
create roles, schemas and tables, as Supabase's ``postgres`` can without being a superuser.
Every WARNING the server sends while migrating stops the migration (and rolls it back): a GRANT
that PostgreSQL could not give only warns, and a warning nobody reads is never the outcome.
"""

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

url = context.config.get_main_option("sqlalchemy.url")
assert url, "queries.schema.migrate() sets sqlalchemy.url"
engine = create_engine(url, poolclass=NullPool)
warnings: list[str] = []

PREFLIGHT = """
DO $$
DECLARE
  me pg_roles%ROWTYPE;
BEGIN
  SELECT * INTO me FROM pg_roles WHERE rolname = current_user;
  IF NOT (me.rolsuper OR me.rolcreaterole) THEN
    RAISE EXCEPTION 'orchdash migrate: the role % cannot create roles', current_user
      USING HINT = 'Run orchdash migrate as the database''s owner: on Supabase the role postgres'
        ' (the direct or session-mode connection string), elsewhere a role WITH CREATEROLE.';
  END IF;
  IF NOT has_database_privilege(current_user, current_database(), 'CREATE')
      OR NOT has_schema_privilege(current_user, 'public', 'CREATE') THEN
    RAISE EXCEPTION 'orchdash migrate: the role % cannot create schemas in database % or'
      ' tables in its schema public', current_user, current_database()
      USING HINT = 'Migrate as the database''s owner, or GRANT CREATE ON DATABASE and'
        ' CREATE ON SCHEMA public to the migrating role.';
  END IF;
END
$$
"""


def _collect(diagnostic) -> None:  # type: ignore[no-untyped-def]
    if diagnostic.severity_nonlocalized == "WARNING":
        warnings.append(f"{diagnostic.message_primary} {diagnostic.message_hint or ''}".strip())


with engine.connect() as connection:
    connection.connection.driver_connection.add_notice_handler(_collect)  # type: ignore[union-attr]
    connection.execute(text(PREFLIGHT))
    connection.commit()
    context.configure(
        connection=connection,
        version_table="orchdash_alembic_version",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if warnings:
            raise RuntimeError(
                "orchdash migrate: the server warned, so nothing was changed:\n- "
                + "\n- ".join(warnings)
            )
engine.dispose()
