"""Alembic environment: the URL comes from the Config that queries.schema builds."""

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

url = context.config.get_main_option("sqlalchemy.url")
assert url, "queries.schema.migrate() sets sqlalchemy.url"
engine = create_engine(url, poolclass=NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        version_table="orchdash_alembic_version",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
