"""Chairman interventions: over time, per venture, and per 100 actions."""

from dashboard.charts import interventions
from dashboard.ui import layout

view = layout.current()
view.header("Chairman interventions")
view.need_access()

frame = view.load("chairman_interventions")
if frame.empty:
    view.nothing()
over_time = interventions.interventions_time_table(frame)
view.chart(
    interventions.interventions_over_time(
        over_time, f"Interventions, approvals and rejections, by {view.filters.grain}"
    ),
    over_time,
    "chairman-interventions",
)
per_venture = interventions.interventions_venture_table(frame)
counts = interventions.venture_counts_table(per_venture)
view.chart(
    interventions.interventions_by_venture(counts, "Per venture"),
    counts,
    "chairman-interventions-by-venture",
)
rates = interventions.per_100_table(per_venture)
view.chart(
    interventions.interventions_per_100(rates, "Interventions per 100 actions"),
    rates,
    "interventions-per-100-actions",
)
