"""Stage durations: median, spread and p90 of the 40 stages, in human units."""

from dashboard.charts import stage_times
from dashboard.ui import layout

view = layout.current()
view.header("Stage durations")
view.need_access()

table = stage_times.stage_duration_table(view.load("stage_durations"))
if table["Rows"].fillna(0).sum() == 0:
    view.nothing()
view.chart(
    stage_times.stage_durations(table, "Time in each stage: median, p25–p75 and p90"),
    table,
    "stage-durations",
)
