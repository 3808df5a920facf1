"""Agent rollup: writers only append; merging moves to the scheduled fold.

Migration 0007's statement triggers merged a day's agent entries inside the writer's statement
once more than 64 were unmerged. Measured with `make bench`'s inserts (statements of 1,000 rows,
each committed), that cost the writers about 85 % of their throughput, because every statement
piled more than 64 entries onto the day of the lists over all days. Here ``agent_changes()``
only appends its signed sums, and ``orchdash.agent_merge()`` (owner only, one at a time through
the same advisory lock) merges every key with unmerged entries; queries.folding runs it with
the rollup fold every few seconds. Readers add entries up either way, so answers stay exact
whether merged or not.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

import re

from alembic import op

from queries.schema import earlier_migration

R0007 = earlier_migration("0007_agents.py")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_START = "CREATE FUNCTION orchdash.agent_changes()"
_CHANGES_0007 = R0007.FUNCTIONS[
    R0007.FUNCTIONS.index(_START) : R0007.FUNCTIONS.index("CREATE FUNCTION orchdash.agent_clear()")
].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
# The same function without its merges: each branch's IF pg_try_advisory_xact_lock ... END IF.
_MERGE_BLOCK = re.compile(r"IF pg_try_advisory_xact_lock.*?END IF;", re.S)
assert len(_MERGE_BLOCK.findall(_CHANGES_0007)) == 3
APPEND_ONLY = _MERGE_BLOCK.sub("", _CHANGES_0007)

MERGE = f"""
CREATE FUNCTION orchdash.agent_merge() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_merged bigint := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('orchdash.agent_compact')) THEN
        RETURN 0;  -- another merge is under way
    END IF;
    WITH keys AS (
        SELECT DISTINCT t.company_id, t.day, t.fine, t.venture_id, t.stage_id, t.agents
        FROM orchdash.agent_totals AS t
        WHERE NOT t.merged
    ),
    gone AS (
        DELETE FROM orchdash.agent_totals AS t USING keys AS k
        WHERE t.company_id = k.company_id AND t.day = k.day AND t.fine = k.fine
          AND t.venture_id IS NOT DISTINCT FROM k.venture_id
          AND t.stage_id IS NOT DISTINCT FROM k.stage_id AND t.agents = k.agents
        RETURNING t.*
    )
    INSERT INTO orchdash.agent_totals ({R0007._COLUMNS})
    SELECT {R0007._KEY}, sum(g.rows), sum(g.actions), sum(g.utilization_sum),
           sum(g.utilization_n), sum(g.response_sum), sum(g.response_n), true
    FROM gone AS g
    GROUP BY {R0007._KEY}
    HAVING sum(g.rows) <> 0;
    GET DIAGNOSTICS v_merged = ROW_COUNT;
    RETURN v_merged;
END
$$;
"""  # noqa: S608 - fixed names of migration 0007, no input


def upgrade() -> None:
    op.execute(APPEND_ONLY)
    op.execute(MERGE)
    op.execute(f"REVOKE ALL ON FUNCTION orchdash.agent_merge() FROM {R0007.API_ROLES}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS orchdash.agent_merge()")
    op.execute(_CHANGES_0007)
