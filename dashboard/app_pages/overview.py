"""Overview: KPI tiles against the previous period, their trends, ventures that need attention."""

import streamlit as st

from dashboard.app_pages import board_pack_button
from dashboard.charts import format as fmt
from dashboard.charts import theme, tiles, what_changed
from dashboard.ui import layout, table_csv, tile_grid

view = layout.current()
view.header("Overview")
view.need_access()
board_pack_button(view, "Overview")

kpis = view.load("kpis")
if kpis.empty or fmt.is_missing(kpis["actions"].iloc[0]) or kpis["actions"].iloc[0] == 0:
    view.nothing()
trend = tiles.trend_table(view.load("kpi_trend"))
tile_grid.draw(kpis, trend)
left, right = st.columns(2)
with left:
    table_csv.download_button(
        tiles.kpi_table(kpis),
        view.file_name("kpis"),
        key="csv-kpis",
        help="The tiles: each measure in this period and in the previous one.",
    )
with right:
    table_csv.download_button(
        trend,
        view.file_name("kpi-trend"),
        key="csv-kpi-trend",
        help=f"The tiles' trends: each measure per {view.filters.grain}.",
    )

st.subheader("Ventures that most need attention")
attention = tiles.attention_table(view.load("venture_attention", limit=5))
if attention.empty:
    st.info(
        "No venture stands out in this period: none had enough activity to compare.",
        icon=":material/check_circle:",
    )
else:
    percent = st.column_config.NumberColumn(format="%.2f %%")
    view.table(
        attention,
        "ventures-attention",
        column_config={
            theme.ERROR_RATE: percent,
            "Previous error rate (%)": percent,
            theme.HANDOFF: percent,
            "Previous handoff efficiency (%)": percent,
            theme.ACTIONS: st.column_config.NumberColumn(format="localized"),
        },
    )
st.subheader("What changed")
# The top of the Venture health page's ranking: the largest deteriorations, scored.
view.table(
    what_changed.changes_table(view.load("venture_changes")).head(5),
    "what-changed",
    column_config={"Reason": st.column_config.TextColumn(width="large")},
)
st.caption(
    "Deltas compare with the previous period of the same length; their colour says better "
    f"(green) or worse (red). {fmt.markdown_text('Rates are weighted by actions.')}"
)
