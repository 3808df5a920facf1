"""Alembic migrations run from code, so `orchdash migrate` needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, exc, text
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"
# Revisions of the development chain that f01-f05 replaced before any production database ran it.
FOLDED = frozenset(f"{n:04d}" for n in range(1, 12))


class MigrationError(RuntimeError):
    """A migration stopped: the message says what is wrong and how to fix it."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolates '%': a password with one must be escaped.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (None if never migrated)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('public.orchdash_alembic_version')")).scalar():
                return conn.execute(
                    text("SELECT version_num FROM public.orchdash_alembic_version")
                ).scalar()
            return None
    finally:
        engine.dispose()


def is_folded(url: str) -> bool:
    """Whether the database is at a revision of the folded development chain."""
    return current_revision(url) in FOLDED


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` (an owner's URL) to ``revision``.

    Raises :class:`MigrationError` with the server's explanation (and its hint) when a check of a
    migration stops it; nothing is changed then.
    """
    if is_folded(url):
        raise MigrationError(
            "orchdash migrate: this database was migrated by the development revisions 0001-0011,"
            " which f01-f05 replaced before any production use. Migrate a new database (the"
            " embedded demo database is recreated by `orchdash run` and `orchdash demo`)."
        )
    try:
        command.upgrade(alembic_config(url), revision)
    except exc.DBAPIError as error:
        diag = getattr(error.orig, "diag", None)
        primary = getattr(diag, "message_primary", None) or str(error.orig)
        hint = getattr(diag, "message_hint", None)
        raise MigrationError(primary + (f"\nHow to fix it: {hint}" if hint else "")) from error
    except RuntimeError as error:
        if str(error).startswith("orchdash migrate:"):
            raise MigrationError(str(error)) from error
        raise


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
