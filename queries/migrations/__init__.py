"""Alembic's migrations (env.py, versions/): frozen text that imports nothing of the runtime.

Alembic loads them by path; this file only makes them a package that make lint can check.
"""
