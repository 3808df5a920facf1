"""Venture health: which venture needs the chairman, where in its 40 stages, and why.

A venture x stage heatmap against the stage baseline or the peer median (a click opens the rows
behind a cell), the "What changed" ranking, and the chairman's decisions on the error-rate and
handoff-efficiency timelines with the averages before and after a chosen one. The interactive
parts are dashboard/ui/health_widgets.py.
"""

import streamlit as st

import queries
from dashboard.app_pages import board_pack_button
from dashboard.charts import decisions, heatmap, what_changed
from dashboard.charts import format as fmt
from dashboard.ui import health_widgets as widgets
from dashboard.ui import layout

view = layout.current()
view.header("Venture health")
view.need_access()
board_pack_button(view, "Venture health")

measure, against, threshold = widgets.controls()
cells = view.load("venture_stage_health", threshold=threshold)
if cells.empty:
    view.nothing()

# ---- the heatmap and its drill-down ----------------------------------------------------------
compared = queries.heatmap_cells(cells, heatmap.MEASURES[measure].key, heatmap.AGAINST[against])
table = heatmap.heatmap_table(compared, measure, against)
cell = widgets.clicked_heatmap(view, table, measure, against, threshold)
if cell is not None:
    widgets.rows_behind(view, cell)
else:
    st.caption("Click a cell of the heatmap to see the rows behind it.")

# ---- what changed ----------------------------------------------------------------------------
st.subheader("What changed")
view.table(
    what_changed.changes_table(view.load("venture_changes")),
    "what-changed",
    column_config={"Reason": st.column_config.TextColumn(width="large")},
)
st.caption(
    fmt.markdown_text(
        "Each venture's largest deterioration against the previous period of the same length, "
        "over error rate, handoff efficiency, compute cost per success and agent response time, "
        "as a robust z-score against the spread of every venture's change. Ventures with fewer "
        f"than {queries.DEFAULT_MIN_ACTIONS} actions in either period are not scored."
    )
)

# ---- decisions on the timelines --------------------------------------------------------------
st.subheader("Decisions on the timelines")
pick = widgets.decision_pick(view, cells)
view.chart(
    decisions.decisions_over_time(pick.trend, "Decisions on the timelines", pick.chosen),
    pick.trend,
    "decisions",
)
if pick.chosen is not None:
    widgets.before_after(view, pick)
