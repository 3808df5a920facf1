"""Venture health's cell medians: an index of each venture and stage's durations in order.

``orchdash_metrics_venture_durations`` on orchestration_metrics (venture_id, stage_id,
stage_duration) INCLUDE (recorded_at, company_id) WHERE stage_duration IS NOT NULL: a cell's
median (queries/sql/health_medians.sql) reads the cell's durations of the period in order and
stops at the middle one, without a sort, read as the user under RLS (the time and company are
included, so the scan is index-only).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX orchdash_metrics_venture_durations ON public.orchestration_metrics"
        " (venture_id, stage_id, stage_duration) INCLUDE (recorded_at, company_id)"
        " WHERE stage_duration IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS public.orchdash_metrics_venture_durations")
