"""Venture health's cell medians: a shorter loop in ``orchdash.middle_bin``'s common case.

Migration 0010's ``middle_bin`` walks a cell's coarse bins in plpgsql up to the middle rank, with
four statements per bin. Here the common case (no log entries, ``lo`` within ``hi``) keeps a
running count in one statement per bin and looks back only at the bin that passes the rank:
27 instead of 41 µs a cell over 1,520 cells of the 10M bench database (the same answers; timed
by hand, side by side). The other cases keep 0010's loop unchanged.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from alembic import op

from queries.schema import earlier_migration

R0010 = earlier_migration("0010_venture_histograms.py")

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COMMON_0010 = """    IF logged = 0 AND hi IS NOT NULL THEN
        -- The common case: lo's bins lie within hi's (the arrays only widen over the days).
        FOR i IN 1 .. cardinality(hi) LOOP
            n := hi[i];
            IF i > lo_off AND i <= lo_off + lo_n THEN
                n := n - lo[i - lo_off];
            END IF;
            IF below + n > p_rank THEN
                bin := hi_base + i - 1;
                RETURN;
            END IF;
            below := below + n;
        END LOOP;
        below := NULL;
        RETURN;
    END IF;
"""
# ``below`` runs up to and including bin i; the bin's own count is taken off once, at the end.
_COMMON = """    IF logged = 0 AND hi IS NOT NULL AND lo_off >= 0 THEN
        -- The common case: lo's bins lie within hi's (the arrays only widen over the days).
        FOR i IN 1 .. cardinality(hi) LOOP
            below := below + hi[i]
                - CASE WHEN i > lo_off AND i <= lo_off + lo_n THEN lo[i - lo_off] ELSE 0 END;
            IF below > p_rank THEN
                bin := hi_base + i - 1;
                below := below - hi[i]
                    + CASE WHEN i > lo_off AND i <= lo_off + lo_n THEN lo[i - lo_off] ELSE 0 END;
                RETURN;
            END IF;
        END LOOP;
        below := NULL;
        RETURN;
    END IF;
"""
assert R0010.MIDDLE_BIN.count(_COMMON_0010) == 1
_OLD = R0010.MIDDLE_BIN.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
MIDDLE_BIN = _OLD.replace(_COMMON_0010, _COMMON)


def upgrade() -> None:
    # CREATE OR REPLACE keeps the function's owner and its grants (0010's).
    op.execute(MIDDLE_BIN)


def downgrade() -> None:
    op.execute(_OLD)
