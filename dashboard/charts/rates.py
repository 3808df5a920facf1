"""Error rates and handoff efficiency: per venture over time, and per stage."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import confidence
from dashboard.charts import format as fmt
from dashboard.charts.theme import (
    ACTIONS,
    COMPANY,
    ERROR_RATE,
    HANDOFF,
    NO_COMPANY,
    NO_VENTURE,
    PERIOD,
    STAGE,
    VENTURE,
    group_names,
    no_data,
    period_start,
    scaled_percent,
    stage_axis,
    themed,
    trace_labels,
)


def rate_table(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per bucket and venture: `error_rate` (0..1) or `handoff_efficiency` (0..100) in percent."""
    label, scale = (ERROR_RATE, 100.0) if column == "error_rate" else (HANDOFF, 1.0)
    table = pd.DataFrame(
        {
            PERIOD: period_start(frame["bucket"]),
            COMPANY: group_names(frame["company"], NO_COMPANY),
            VENTURE: group_names(frame["venture"], NO_VENTURE),
            ACTIONS: pd.to_numeric(frame["actions"]).astype("Int64"),
            label: scaled_percent(frame[column], scale),
            **confidence.column(frame),
        }
    )
    return table.sort_values([PERIOD, COMPANY, VENTURE], ignore_index=True)


def stage_rate_table(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    label, scale = (ERROR_RATE, 100.0) if column == "error_rate" else (HANDOFF, 1.0)
    table = pd.DataFrame(
        {
            STAGE: pd.to_numeric(frame["stage_id"]).astype(int),
            ACTIONS: pd.to_numeric(frame["actions"]).astype("Int64"),
            label: scaled_percent(frame[column], scale),
            **confidence.column(frame),
        }
    )
    return table.sort_values(STAGE, ignore_index=True)


def _rate(table: pd.DataFrame) -> tuple[str, str]:
    """The rate column a table holds, and its name in hover text."""
    if ERROR_RATE in table.columns:
        return ERROR_RATE, "Error rate"
    return HANDOFF, "Handoff efficiency"


def rate_over_time(table: pd.DataFrame, title: str, threshold: float | None = None) -> go.Figure:
    """One line per venture across the period buckets; ``threshold`` names the low-confidence
    threshold in the note on faded points (the configured one by default)."""
    if table.empty:
        return no_data(title)
    label, short = _rate(table)
    fig = go.Figure()
    named = table.assign(_label=trace_labels(table))
    buckets = pd.Index(sorted(named[PERIOD].unique()), name=PERIOD)
    for name, venture in named.groupby("_label", sort=True):
        # A bucket without rows is a gap in the line, not a straight line across it.
        rows = venture.set_index(PERIOD).reindex(buckets).reset_index()
        fig.add_trace(
            go.Scatter(
                x=rows[PERIOD],
                y=rows[label],
                mode="lines+markers",
                name=fmt.plotly_text(name),
                marker={"opacity": confidence.opacities(rows)},
                customdata=list(
                    zip(
                        rows[VENTURE].fillna(venture[VENTURE].iloc[0]).map(fmt.plotly_text),
                        rows[COMPANY].fillna(venture[COMPANY].iloc[0]).map(fmt.plotly_text),
                        rows[ACTIONS].fillna(0).astype(int),
                        confidence.hovers(rows),
                        strict=True,
                    )
                ),
                hovertemplate=(
                    "<b>%{customdata[0]}</b> · %{customdata[1]}<br>%{x|%d %b %Y}<br>"
                    f"{short}: %{{y:.2f}} %<br>Actions: %{{customdata[2]:,}}%{{customdata[3]}}"
                    "<extra></extra>"
                ),
                connectgaps=False,
            )
        )
    confidence.add_note(fig, [table], threshold)
    fig.update_xaxes(title_text=PERIOD)
    # Error rates from zero; handoff efficiency lives near 100 %, where the differences are.
    rangemode = "tozero" if label == ERROR_RATE else "normal"
    fig.update_yaxes(title_text=label, rangemode=rangemode, ticksuffix=" %")
    themed(fig, title)
    # One entry per venture: a column on the right, which scrolls, rather than rows that grow.
    fig.update_layout(
        legend={"orientation": "v", "x": 1.01, "xanchor": "left", "y": 1, "yanchor": "top"},
        margin_t=56,
    )
    return fig


def rate_by_stage(table: pd.DataFrame, title: str, threshold: float | None = None) -> go.Figure:
    label, short = _rate(table)
    fig = go.Figure(
        go.Bar(
            x=table[STAGE],
            y=table[label],
            marker={"opacity": confidence.opacities(table)},
            customdata=list(
                zip(table[ACTIONS].fillna(0).astype(int), confidence.hovers(table), strict=True)
            ),
            hovertemplate=(
                f"Stage %{{x}}<br>{short}: %{{y:.2f}} %<br>Actions: %{{customdata[0]:,}}"
                "%{customdata[1]}<extra></extra>"
            ),
            name=short,
        )
    )
    confidence.add_note(fig, [table], threshold)
    stage_axis(fig)
    fig.update_yaxes(title_text=label, rangemode="tozero", ticksuffix=" %")
    return themed(fig, title)
