"""Autovacuum of the metrics table by its own settings, so that pages stay fast while it is written.

The exact percentiles (Stage durations) and Venture health's medians read raw durations by
index-only scans (``orchdash_metrics_durations``, ``orchdash_metrics_venture_durations``,
``orchdash_metrics_venture_stages``). Each index entry on a page that is not all-visible in the
visibility map costs a visit to the table, and only VACUUM sets those bits again. With the
server's defaults autovacuum waits until 20 % of the table has changed (or 20 % more rows were
inserted): at 10,000,000 rows that is 2,000,000 rows, hours of an orchestrator's writes, during
which every updated or newly inserted page costs heap fetches.

The table's own storage parameters make autovacuum come after 1 % (dead rows, and inserted rows,
which need it for the visibility map too) and re-analyse after 2 % (the planner's estimates for
the newest days), with five times the default cost budget so that a vacuum of the whole table
ends within about a minute at 10,000,000 rows, still throttled on writes to disk. A table's owner
may set these (Supabase's ``postgres`` owns it); ``ALTER TABLE ... SET`` takes only a
SHARE UPDATE EXCLUSIVE lock, so writers and readers go on. No column, index, policy or row of
the production table changes. The launcher's round (``autovacuum_naptime``, 60 s) is the
server's and stays as it is. docs/performance.md has the measurements.

Revision ID: f07
Revises: f06
Create Date: 2026-12-03
"""

from alembic import op

revision = "f07"
down_revision = "f06"
branch_labels = None
depends_on = None

SET = """
ALTER TABLE public.orchestration_metrics SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_limit = 1000
)
"""

RESET = """
ALTER TABLE public.orchestration_metrics RESET (
    autovacuum_vacuum_scale_factor,
    autovacuum_vacuum_insert_scale_factor,
    autovacuum_analyze_scale_factor,
    autovacuum_vacuum_cost_limit
)
"""


def upgrade() -> None:
    op.execute(SET)


def downgrade() -> None:
    op.execute(RESET)
