"""The Overview's KPI tiles: ``st.metric`` in rows of four, each with its delta and sparkline, and
the badges of the tiles built mostly from low-confidence rows (st.metric cannot be drawn faded).

What each tile shows is dashboard/charts/tiles.py (``KPIS``); this module only draws them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.charts import confidence, tiles
from dashboard.charts import format as fmt

PER_ROW = 4


def draw(kpis: pd.DataFrame, trend: pd.DataFrame) -> None:
    """The tiles of ``queries.kpis`` (one row), their trends from ``tiles.trend_table``."""
    row = kpis.iloc[0]
    for start in range(0, len(tiles.KPIS), PER_ROW):
        shown = tiles.KPIS[start : start + PER_ROW]
        for column, kpi in zip(st.columns(PER_ROW), shown, strict=False):
            points = trend[kpi.unit_label].dropna()
            column.metric(
                kpi.label,
                kpi.shown(row[kpi.column]),
                delta=kpi.delta(row[kpi.column], row["prev_" + kpi.column]),
                delta_color=kpi.delta_color,
                delta_description="vs previous period",
                chart_data=points.tolist() if len(points) > 1 else None,
                chart_type="area",
                border=True,
                help=f"Previous period: {kpi.shown(row['prev_' + kpi.column])}",
            )
    note = confidence.tile_note(kpis)
    for badge in note.badges:
        st.badge(badge, icon=":material/visibility_off:", color="orange")
    if note.caption:
        st.caption(fmt.markdown_text(note.caption))
