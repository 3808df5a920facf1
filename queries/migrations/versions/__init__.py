"""The frozen revisions f01-f05, loaded by Alembic by path (it skips this file)."""
