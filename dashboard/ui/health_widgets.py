"""Venture health's interactive parts: the heatmap's controls, the heatmap a click drills into,
the rows behind a cell, and the decision a reader picks on the timelines.

The page (dashboard/app_pages/venture_health.py) strings them together; the tables and figures
are dashboard/charts/heatmap.py and decisions.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

import queries
from dashboard.charts import decisions, heatmap, raw_rows, theme
from dashboard.charts import format as fmt
from dashboard.ui import data, table_csv
from dashboard.ui.layout import View, figures_table
from queries import Filters

DRILL_LIMIT = 5_000
WINDOWS = (7, 14, 30)


def controls() -> tuple[str, str, float]:
    """The heatmap's measure, its reference and the low-confidence threshold."""
    left, middle, right = st.columns([2, 2, 1])
    measure = left.selectbox("Measure", list(heatmap.MEASURES), key="health_measure")
    against = middle.radio(
        "Compare with", list(heatmap.AGAINST), key="health_against", horizontal=True
    )
    threshold = right.number_input(
        "Low-confidence threshold",
        min_value=0.0,
        max_value=100.0,
        value=queries.default_threshold(),
        step=5.0,
        key="health_threshold",
        help="Rows whose data quality or confidence score is below this count as low confidence.",
    )
    return str(measure), str(against), float(threshold)


def clicked_heatmap(
    view: View, table: pd.DataFrame, measure: str, against: str, threshold: float
) -> pd.Series | None:
    """The heatmap with its badge, `Download CSV` and caption; the cell a click chose, if any."""
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
    figures_table(heatmap.shown_table(table), "venture-health")
    table_csv.download_button(
        heatmap.shown_table(table), view.file_name("venture-health"), key="csv-venture-health"
    )
    st.caption(
        fmt.markdown_text(
            "Red: worse than the reference, blue: better; hover for the figures, click a cell "
            "for its rows. Faded cells are built mostly from rows whose data quality or "
            f"confidence score is under {threshold:g}."
        )
    )
    # Indexing works on Streamlit's event object and on the plain state AppTest sets.
    state: Any = event or {}
    points = state.get("selection", {}).get("points", [])
    return table.iloc[int(points[0]["customdata"])] if points else None


def rows_behind(view: View, cell: pd.Series) -> None:
    """The newest rows behind a heatmap cell: read uncached (raw rows, one venture and stage)."""
    stage = int(cell[theme.STAGE])
    st.subheader(f"Rows behind {fmt.markdown_text(cell[theme.VENTURE])}, stage {stage}")
    rows = data.guarded(
        lambda: queries.cell_rows(
            view.engine,
            view.scope,
            view.filters,
            str(cell["venture_id"]),
            stage,
            limit=DRILL_LIMIT,
        )
    )
    if len(rows) == DRILL_LIMIT:
        st.caption(f"The newest {DRILL_LIMIT:,} rows; the Export page has them all.")
    view.table(raw_rows.rows_table(rows), "venture-health-rows")


@dataclass(frozen=True)
class DecisionPick:
    """The timelines' pickers: their venture's filters and trend, the decision and the window."""

    filters: Filters
    trend: pd.DataFrame
    chosen: Any
    window: int


def decision_pick(view: View, cells: pd.DataFrame) -> DecisionPick:
    """`Venture`, `Decision` and `Days before and after`, side by side; the trend of the chosen
    venture (all in view when none) is loaded between the first and the second."""
    names = cells.drop_duplicates("venture_id").set_index("venture_id")
    pick_left, pick_mid, pick_right = st.columns([2, 2, 1])
    venture = pick_left.selectbox(
        "Venture",
        ["", *names.index],
        format_func=lambda v: str(names.loc[v, "venture"]) if v else "All ventures in view",
        key="health_decision_venture",
    )
    chosen_filters = replace(view.filters, venture_ids=(venture,)) if venture else view.filters
    trend = decisions.decisions_table(
        data.load(view.engine, view.scope, chosen_filters, "kpi_trend")
    )
    markers = decisions.decision_periods(trend)
    chosen = pick_mid.selectbox(
        "Decision",
        [None, *markers[theme.PERIOD]],
        format_func=lambda d: "Choose a marker" if d is None else fmt.day(d),
        key="health_decision",
    )
    window = pick_right.selectbox("Days before and after", WINDOWS, index=1, key="health_window")
    return DecisionPick(chosen_filters, trend, chosen, int(window))


def before_after(view: View, pick: DecisionPick) -> None:
    """Error rate and handoff efficiency over the window before and after the chosen decision."""
    start = pd.Timestamp(pick.chosen).date()
    around = replace(pick.filters, start=start, end=start + timedelta(days=pick.window - 1))
    effect = decisions.before_after_table(data.load(view.engine, view.scope, around, "kpis"))
    before, after = st.columns(2)
    for column, name in ((before, "Before"), (after, "After")):
        column.metric(
            f"Error rate, {pick.window} days {name.lower()}",
            fmt.percent(effect.loc[0, name]),
        )
        column.metric(
            f"Handoff efficiency, {pick.window} days {name.lower()}",
            fmt.percent(effect.loc[1, name]),
        )
    table_csv.download_button(
        effect, view.file_name("decision-before-after"), key="csv-before-after"
    )
