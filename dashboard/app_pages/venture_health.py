"""Venture health: which venture needs the chairman, where in its 40 stages, and why.

A venture x stage heatmap against the stage baseline or the peer median (a click opens the rows
behind a cell), the "What changed" ranking, and the chairman's decisions on the error-rate and
handoff-efficiency timelines with the averages before and after a chosen one.
"""

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

import queries
from dashboard import export
from dashboard.charts import decisions, heatmap, theme, what_changed
from dashboard.charts import format as fmt
from dashboard.ui import data, layout

DRILL_LIMIT = 5_000
WINDOWS = (7, 14, 30)

view = layout.current()
view.header("Venture health")
view.need_access()

left, middle, right = st.columns([2, 2, 1])
measure = left.selectbox("Measure", list(heatmap.MEASURES), key="health_measure")
against = middle.radio("Compare with", list(heatmap.AGAINST), key="health_against", horizontal=True)
threshold = right.number_input(
    "Low-confidence threshold",
    min_value=0.0,
    max_value=100.0,
    value=queries.default_threshold(),
    step=5.0,
    key="health_threshold",
    help="Rows whose data quality or confidence score is below this count as low confidence.",
)

cells = view.load("venture_stage_health", threshold=float(threshold))
if cells.empty:
    view.nothing()

# ---- the heatmap and its drill-down ----------------------------------------------------------
compared = queries.heatmap_cells(cells, heatmap.MEASURES[measure].key, heatmap.AGAINST[against])
table = heatmap.heatmap_table(compared, measure, against)
title = f"{measure} by venture and stage, against the {against.lower()}"
faded, badge = heatmap.low_confidence_badge(table)
if faded > 0:
    st.badge(badge, icon=":material/visibility_off:", color="orange")
event = st.plotly_chart(
    heatmap.heatmap(table, measure, against, title),
    theme="streamlit",
    key="chart-venture-health",
    config={"displaylogo": False},
    on_select="rerun",
    selection_mode="points",
)
export.download_button(
    heatmap.shown_table(table), view.file_name("venture-health"), key="csv-venture-health"
)
st.caption(
    fmt.markdown_text(
        "Red: worse than the reference, blue: better; hover for the figures, click a cell "
        "for its rows. Faded cells are built mostly from rows whose data quality or confidence "
        f"score is under {threshold:g}."
    )
)

# Indexing works on Streamlit's event object and on the plain state AppTest sets.
state: Any = event or {}
points = state.get("selection", {}).get("points", [])
if points:
    cell = table.iloc[int(points[0]["customdata"])]
    st.subheader(
        f"Rows behind {fmt.markdown_text(cell[theme.VENTURE])}, stage {int(cell[theme.STAGE])}"
    )
    rows = data.guarded(
        lambda: queries.cell_rows(
            view.engine,
            view.scope,
            view.filters,
            str(cell["venture_id"]),
            int(cell[theme.STAGE]),
            limit=DRILL_LIMIT,
        )
    )
    if len(rows) == DRILL_LIMIT:
        st.caption(f"The newest {DRILL_LIMIT:,} rows; the Export page has them all.")
    first = ["recorded_at", "company", "venture", "stage_id", "action_count", "error_rate"]
    rows = rows[first + [c for c in rows.columns if c not in first]]
    view.table(rows, "venture-health-rows")
else:
    st.caption("Click a cell of the heatmap to see the rows behind it.")

# ---- what changed ----------------------------------------------------------------------------
st.subheader("What changed")
changes = what_changed.changes_table(view.load("venture_changes"))
view.table(
    changes,
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
names = cells.drop_duplicates("venture_id").set_index("venture_id")
venture_options = ["", *names.index]
pick_left, pick_mid, pick_right = st.columns([2, 2, 1])
venture = pick_left.selectbox(
    "Venture",
    venture_options,
    format_func=lambda v: str(names.loc[v, "venture"]) if v else "All ventures in view",
    key="health_decision_venture",
)
decision_filters = replace(view.filters, venture_ids=(venture,)) if venture else view.filters
trend = decisions.decisions_table(data.load(view.engine, view.scope, decision_filters, "kpi_trend"))
markers = decisions.decision_periods(trend)
chosen = pick_mid.selectbox(
    "Decision",
    [None, *markers[theme.PERIOD]],
    format_func=lambda d: "Choose a marker" if d is None else fmt.day(d),
    key="health_decision",
)
window = pick_right.selectbox("Days before and after", WINDOWS, index=1, key="health_window")
view.chart(
    decisions.decisions_over_time(trend, "Decisions on the timelines", chosen), trend, "decisions"
)
if chosen is not None:
    start = pd.Timestamp(chosen).date()
    around = replace(decision_filters, start=start, end=start + timedelta(days=window - 1))
    effect = decisions.before_after_table(data.load(view.engine, view.scope, around, "kpis"))
    before, after = st.columns(2)
    for column, name in ((before, "Before"), (after, "After")):
        column.metric(
            f"Error rate, {window} days {name.lower()}",
            fmt.percent(effect.loc[0, name]),
        )
        column.metric(
            f"Handoff efficiency, {window} days {name.lower()}",
            fmt.percent(effect.loc[1, name]),
        )
    export.download_button(effect, view.file_name("decision-before-after"), key="csv-before-after")
