"""The revisions f01-f06 (f01-f05 folded), loaded by Alembic by path (it skips this file)."""
