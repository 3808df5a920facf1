"""The main charts of each page, as a message shows them: each a title, a figure and its table.

They are the pages' own charts with the pages' defaults (Venture health's heatmap of the median
stage duration against the stage baseline), drawn by the same functions of dashboard/charts from
the same query functions; ``load(name, **options)`` is the recipient's
``queries.<name>(engine, scope, filters, **options)``. The Overview and Export pages have no
chart: their messages hold the tiles and tables every message has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

import queries
from dashboard.charts import agent_charts, heatmap, interventions, rates, stage_times
from dashboard.charts.csv_file import slug

Load = Callable[..., Any]


@dataclass(frozen=True)
class Chart:
    title: str
    figure: go.Figure
    table: pd.DataFrame

    @property
    def slug(self) -> str:
        return slug(self.title)


def _venture_health(load: Load, grain: str) -> list[Chart]:
    measure, against = next(iter(heatmap.MEASURES)), next(iter(heatmap.AGAINST))
    cells = load("venture_stage_health")
    compared = queries.heatmap_cells(cells, heatmap.MEASURES[measure].key, heatmap.AGAINST[against])
    table = heatmap.heatmap_table(compared, measure, against)
    title = f"{measure} by venture and stage, against the {against.lower()}"
    figure = heatmap.heatmap(table, measure, against, title)
    return [Chart(title, figure, heatmap.shown_table(table))]


def _agents(load: Load, grain: str) -> list[Chart]:
    table = agent_charts.activity_table(load("agent_activity"))
    title = "Utilization and response time per agent"
    return [Chart(title, agent_charts.activity(table, title), table)]


def _stage_durations(load: Load, grain: str) -> list[Chart]:
    table = stage_times.stage_duration_table(load("stage_durations"))
    title = "Time in each stage: median, p25–p75 and p90"
    return [Chart(title, stage_times.stage_durations(table, title), table)]


def _rates(name: str, query: str, column: str) -> Callable[[Load, str], list[Chart]]:
    def charts(load: Load, grain: str) -> list[Chart]:
        over_time = rates.rate_table(load(query), column)
        by_stage = rates.stage_rate_table(load("stage_rates"), column)
        first, second = f"{name} per venture, by {grain}", f"{name} per stage"
        return [
            Chart(first, rates.rate_over_time(over_time, first), over_time),
            Chart(second, rates.rate_by_stage(by_stage, second), by_stage),
        ]

    return charts


def _interventions(load: Load, grain: str) -> list[Chart]:
    frame = load("chairman_interventions")
    over_time = interventions.interventions_time_table(frame)
    per_venture = interventions.interventions_venture_table(frame)
    counts = interventions.venture_counts_table(per_venture)
    per_100 = interventions.per_100_table(per_venture)
    first = f"Interventions, approvals and rejections, by {grain}"
    return [
        Chart(first, interventions.interventions_over_time(over_time, first), over_time),
        Chart("Per venture", interventions.interventions_by_venture(counts, "Per venture"), counts),
        Chart(
            "Interventions per 100 actions",
            interventions.interventions_per_100(per_100, "Interventions per 100 actions"),
            per_100,
        ),
    ]


# page path -> its charts; a page missing here has none.
CHARTS: dict[str, Callable[[Load, str], list[Chart]]] = {
    "venture-health": _venture_health,
    "agents": _agents,
    "stage-durations": _stage_durations,
    "error-rates": _rates("Error rates", "error_rates", "error_rate"),
    "handoff-efficiency": _rates("Handoff efficiency", "handoff_efficiency", "handoff_efficiency"),
    "chairman-interventions": _interventions,
}


def page_charts(path: str, load: Load, grain: str) -> list[Chart]:
    """The main charts of the page at ``path`` (none for the Overview and Export)."""
    build = CHARTS.get(path)
    return build(load, grain) if build else []
