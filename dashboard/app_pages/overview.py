"""Overview: KPI tiles against the previous period, their trends, ventures that need attention."""

import streamlit as st

from dashboard import export
from dashboard.charts import confidence, theme, tiles, what_changed
from dashboard.charts import format as fmt
from dashboard.ui import layout

view = layout.current()
view.header("Overview")
view.need_access()

kpis = view.load("kpis")
if kpis.empty or fmt.is_missing(kpis["actions"].iloc[0]) or kpis["actions"].iloc[0] == 0:
    view.nothing()
trend = tiles.trend_table(view.load("kpi_trend"))
row = kpis.iloc[0]

for start in range(0, len(tiles.KPIS), 4):
    for column, kpi in zip(st.columns(4), tiles.KPIS[start : start + 4], strict=False):
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
# Tiles built mostly from low-confidence rows say so (st.metric cannot be drawn faded).
note = confidence.tile_note(kpis)
for badge in note.badges:
    st.badge(badge, icon=":material/visibility_off:", color="orange")
if note.caption:
    st.caption(fmt.markdown_text(note.caption))
left, right = st.columns(2)
with left:
    export.download_button(
        tiles.kpi_table(kpis),
        view.file_name("kpis"),
        key="csv-kpis",
        help="The tiles: each measure in this period and in the previous one.",
    )
with right:
    export.download_button(
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
