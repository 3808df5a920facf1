"""One thin script per page: read the view, load its frames (dashboard/ui/data.py), chart them."""

from __future__ import annotations

from dashboard.charts import rates as rate_charts
from dashboard.ui import table_csv
from dashboard.ui.layout import View


def rates(view: View, title: str, query: str, column: str) -> None:
    """A rate per venture over time at the chosen grain, then per stage (Error rates, Handoff)."""
    view.header(title)
    view.need_access()
    slug = table_csv.slug(title)
    over_time = rate_charts.rate_table(view.load(query), column)
    if over_time.empty:
        view.nothing()
    view.chart(
        rate_charts.rate_over_time(over_time, f"{title} per venture, by {view.filters.grain}"),
        over_time,
        slug,
    )
    by_stage = rate_charts.stage_rate_table(view.load("stage_rates"), column)
    view.chart(
        rate_charts.rate_by_stage(by_stage, f"{title} per stage"), by_stage, f"{slug}-by-stage"
    )
