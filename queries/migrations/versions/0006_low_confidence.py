"""Low-confidence sums in the rollups: how much of each figure rests on doubtful rows.

A metric row is "low confidence" when its data_quality_score or its confidence_score is below a
threshold (a missing score is not low), as queries/confidence.py defines it. The
threshold is configuration (ORCHDASH_LOW_CONFIDENCE, default 60; queries.confidence), stored
here like the rollup zone in ``orchdash.rollup_settings.low_threshold``; the rollups count at it:

- ``metric_totals`` gains ``low_rows``, ``low_actions``, ``low_durations``, ``low_error_actions``
  and ``low_handoff_actions``: the rows, actions, measured durations and the weights of the error
  rate and handoff efficiency that low-confidence rows carry;
- ``metric_facts`` and ``log_facts`` define them per row (at the stored threshold), and
  ``metric_facts`` shows the two scores, so that a query at another threshold can count from
  the raw rows instead (totals.sql reads the rollups only at the stored zone and threshold);
- ``rollup_fold()`` and ``rollup_rebuild(zone, low_threshold)`` sum them with the others (both
  re-rendered from migration 0004's text with the longer list of sums); the rebuild changes the
  stored threshold when given one. The log needs nothing new: it already keeps each changed
  row's two scores, and log_facts flags them at the stored threshold when read.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from queries.confidence import default_threshold
from queries.schema import earlier_migration

R0004 = earlier_migration("0004_rollup.py")

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LOW_SUMS = ["low_rows", "low_actions", "low_durations", "low_error_actions", "low_handoff_actions"]
SUMS = [*R0004.SUMS, *LOW_SUMS]

# One row's flag, at the stored threshold (an InitPlan each: evaluated once per statement).
THRESHOLD = "(SELECT s.low_threshold FROM orchdash.rollup_settings AS s)"
LOW = f"coalesce(m.data_quality_score < {THRESHOLD} OR m.confidence_score < {THRESHOLD}, false)"
# The low-confidence share of each base that metric_totals sums (see 0004's ADDENDS).
LOW_ADDENDS = f"""
    ({LOW})::integer::bigint AS low_rows,
    CASE WHEN {LOW} THEN coalesce(m.action_count, 0) ELSE 0 END::bigint AS low_actions,
    (m.stage_duration IS NOT NULL AND {LOW})::integer::bigint AS low_durations,
    CASE WHEN m.error_rate IS NOT NULL AND m.action_count > 0 AND {LOW}
        THEN m.action_count ELSE 0 END::bigint AS low_error_actions,
    CASE WHEN m.handoff_efficiency IS NOT NULL AND m.action_count > 0 AND {LOW}
        THEN m.action_count ELSE 0 END::bigint AS low_handoff_actions
"""


def _totals_columns(sums: list[str]) -> str:
    return "company_id, span, by_stage, day, venture_id, stage_id, rows, " + ", ".join(sums)


def _sums(alias: str, factor: str, sums: list[str]) -> str:
    return ", ".join(f"sum({factor}{alias}.{c})" for c in sums)


def _updates(sums: list[str]) -> str:
    return ", ".join(f"{c} = t.{c} + excluded.{c}" for c in sums)


# Every place where 0004's rebuild and fold list the sums, with the longer list.
_LONGER = [
    (_totals_columns(R0004.SUMS), _totals_columns(SUMS)),
    *(
        (_sums(alias, factor, R0004.SUMS), _sums(alias, factor, SUMS))
        for alias, factor in (("f", ""), ("t", ""), ("d", ""), ("f", "f.sign * "))
    ),
    (_updates(R0004.SUMS), _updates(SUMS)),
    (R0004.ADDENDS.strip(), R0004.ADDENDS.strip() + "," + LOW_ADDENDS.rstrip()),
]


def _with_low_sums(*texts: str) -> list[str]:
    """0004's function texts with the low sums beside the others; each place must be found."""
    out = list(texts)
    for old, new in _LONGER:
        assert any(old in t for t in out), old
        out = [t.replace(old, new) for t in out]
    return out


_REBUILD_0004_HEAD = "orchdash.rollup_rebuild(p_zone text DEFAULT NULL)"
_REBUILD_HEAD = (
    "orchdash.rollup_rebuild(p_zone text DEFAULT NULL, p_low_threshold numeric DEFAULT NULL)"
)
_ZONE_SET = "UPDATE orchdash.rollup_settings SET zone = p_zone;\n    END IF;\n"
_THRESHOLD_SET = f"""{_ZONE_SET}    IF p_low_threshold IS NOT NULL THEN
        UPDATE orchdash.rollup_settings SET low_threshold = p_low_threshold;
    END IF;
"""  # noqa: S608 - fixed text, no input


def _rebuild_and_fold() -> tuple[str, str]:
    rebuild, fold = _with_low_sums(R0004.REBUILD, R0004.FOLD)
    assert _REBUILD_0004_HEAD in rebuild and _ZONE_SET in rebuild
    rebuild = rebuild.replace(_REBUILD_0004_HEAD, _REBUILD_HEAD).replace(_ZONE_SET, _THRESHOLD_SET)
    return rebuild, _or_replace(fold)


def _or_replace(text: str) -> str:
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


# The views gain columns at their end only, so that CREATE OR REPLACE keeps them in place.
VIEWS = f"""
CREATE OR REPLACE VIEW orchdash.metric_facts WITH (security_invoker = true) AS
SELECT {R0004.ADDENDS.strip()},
    CAST(extract(epoch FROM m.stage_duration) AS double precision) AS seconds,
    {LOW_ADDENDS.strip()},
    m.data_quality_score,
    m.confidence_score
FROM public.orchestration_metrics AS m
WHERE {R0004.COUNTED};

CREATE OR REPLACE VIEW orchdash.log_facts WITH (security_invoker = true) AS
SELECT {R0004.ADDENDS.strip()},
    m.sign,
    {LOW_ADDENDS.strip()}
FROM orchdash.rollup_log AS m;
"""  # noqa: S608 - fixed names of these modules, no input

API_ROLES = "PUBLIC, anon, authenticated, service_role"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE orchdash.rollup_settings ADD COLUMN low_threshold numeric NOT NULL"
        " DEFAULT 60 CHECK (low_threshold >= 0 AND low_threshold <= 100)"
    )
    op.get_bind().execute(
        sa.text("UPDATE orchdash.rollup_settings SET low_threshold = :t"),
        {"t": default_threshold()},
    )
    op.execute(
        "ALTER TABLE orchdash.metric_totals "
        + ", ".join(f"ADD COLUMN {c} bigint NOT NULL DEFAULT 0" for c in LOW_SUMS)
    )
    # Filled by the rebuild below; from then on every writer of the rollups names them.
    op.execute(
        "ALTER TABLE orchdash.metric_totals "
        + ", ".join(f"ALTER COLUMN {c} DROP DEFAULT" for c in LOW_SUMS)
    )
    op.execute(VIEWS)
    rebuild, fold = _rebuild_and_fold()
    op.execute("DROP FUNCTION orchdash.rollup_rebuild(text)")
    op.execute(rebuild)
    op.execute(f"REVOKE ALL ON FUNCTION orchdash.rollup_rebuild(text, numeric) FROM {API_ROLES}")
    op.execute(fold)
    op.execute("SELECT orchdash.rollup_rebuild()")


def downgrade() -> None:
    op.execute("DROP FUNCTION orchdash.rollup_rebuild(text, numeric)")
    op.execute(R0004.REBUILD)
    op.execute(f"REVOKE ALL ON FUNCTION orchdash.rollup_rebuild(text) FROM {API_ROLES}")
    op.execute(_or_replace(R0004.FOLD))
    op.execute("DROP VIEW orchdash.metric_facts, orchdash.log_facts")
    op.execute(R0004.VIEW)
    op.execute("GRANT SELECT ON orchdash.metric_facts, orchdash.log_facts TO authenticated")
    op.execute(
        "ALTER TABLE orchdash.metric_totals " + ", ".join(f"DROP COLUMN {c}" for c in LOW_SUMS)
    )
    op.execute("ALTER TABLE orchdash.rollup_settings DROP COLUMN low_threshold")
