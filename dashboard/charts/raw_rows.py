"""Raw metric rows as a table: what a reader looks for first, then every other column."""

from __future__ import annotations

import pandas as pd

FIRST = ["recorded_at", "company", "venture", "stage_id", "action_count", "error_rate"]


def rows_table(rows: pd.DataFrame) -> pd.DataFrame:
    """``queries.metric_rows`` or ``queries.cell_rows`` with :data:`FIRST` first; the ids, which
    the CSV also has, come last."""
    return rows[FIRST + [c for c in rows.columns if c not in FIRST]]
