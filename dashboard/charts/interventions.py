"""Chairman interventions: over time, per venture, and per 100 actions."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import confidence
from dashboard.charts import format as fmt
from dashboard.charts.theme import (
    ACTIONS,
    APPROVALS,
    COMPANY,
    INTERVENTIONS,
    LOW_SHARE,
    NO_COMPANY,
    NO_VENTURE,
    PER_100,
    PERIOD,
    REJECTIONS,
    VENTURE,
    group_names,
    low_columns,
    no_data,
    period_start,
    themed,
    trace_labels,
)

# Column names of the query frames -> names on screen.
_SHOWN = {
    "company": COMPANY,
    "venture": VENTURE,
    "actions": ACTIONS,
    "interventions": INTERVENTIONS,
    "approvals": APPROVALS,
    "rejections": REJECTIONS,
}


def _counts(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Actions, interventions, approvals and rejections summed per ``by`` (and the summed
    groups' low-confidence share, where the frame carries it)."""
    counts = [ACTIONS, INTERVENTIONS, APPROVALS, REJECTIONS]
    weights = confidence.weights(frame)
    named = frame.assign(
        company=group_names(frame["company"], NO_COMPANY),
        venture=group_names(frame["venture"], NO_VENTURE),
        **weights,
    ).rename(columns=_SHOWN)
    table = named.groupby(by, as_index=False, dropna=False)[counts + list(weights)].sum()
    table[counts] = table[counts].astype("Int64")
    return confidence.summed(table)


def interventions_time_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Interventions, approvals and rejections per bucket, summed over the ventures."""
    table = _counts(frame.assign(**{PERIOD: period_start(frame["bucket"])}), [PERIOD])
    shown = [PERIOD, INTERVENTIONS, APPROVALS, REJECTIONS, ACTIONS]
    table = table[shown + low_columns(table)]
    return table.sort_values(PERIOD, ignore_index=True)


def interventions_venture_table(frame: pd.DataFrame) -> pd.DataFrame:
    table = _counts(frame, ["venture_id", COMPANY, VENTURE])
    actions = table[ACTIONS].astype(float)
    per_100 = table[INTERVENTIONS].astype(float) * 100.0 / actions.where(actions > 0)
    table[PER_100] = per_100.round(4)
    table = table.drop(columns="venture_id")
    table = table[[c for c in table.columns if c != LOW_SHARE] + low_columns(table)]
    return table.sort_values(
        [PER_100, COMPANY, VENTURE], ascending=[False, True, True]
    ).reset_index(drop=True)


def venture_counts_table(per_venture: pd.DataFrame) -> pd.DataFrame:
    """The per-venture table without its rate: what the stacked bars per venture show."""
    return per_venture.drop(columns=PER_100)


def per_100_table(per_venture: pd.DataFrame) -> pd.DataFrame:
    """The per-venture table's rate and what it is computed from."""
    shown = [COMPANY, VENTURE, ACTIONS, INTERVENTIONS, PER_100]
    return per_venture[shown + low_columns(per_venture)]


def interventions_over_time(
    table: pd.DataFrame, title: str, threshold: float | None = None
) -> go.Figure:
    if table.empty:
        return no_data(title)
    fig = go.Figure()
    for column in (INTERVENTIONS, APPROVALS, REJECTIONS):
        fig.add_trace(
            go.Bar(
                x=table[PERIOD],
                y=table[column],
                name=column,
                marker={"opacity": confidence.opacities(table)},
                customdata=confidence.hovers(table),
                hovertemplate=(
                    f"%{{x|%d %b %Y}}<br>{column}: %{{y:,}}%{{customdata}}<extra></extra>"
                ),
            )
        )
    confidence.add_note(fig, [table], threshold)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text=PERIOD)
    fig.update_yaxes(title_text="Actions by the chairman", rangemode="tozero")
    return themed(fig, title)


def interventions_by_venture(
    table: pd.DataFrame, title: str, threshold: float | None = None
) -> go.Figure:
    if table.empty:
        return no_data(title)
    ordered = table.assign(_label=trace_labels(table)).sort_values(INTERVENTIONS, kind="stable")
    fig = go.Figure()
    names = ordered["_label"].map(fmt.plotly_text)
    for column in (INTERVENTIONS, APPROVALS, REJECTIONS):
        fig.add_trace(
            go.Bar(
                y=names,
                x=ordered[column],
                name=column,
                orientation="h",
                marker={"opacity": confidence.opacities(ordered)},
                customdata=list(
                    zip(
                        ordered[COMPANY].map(fmt.plotly_text),
                        confidence.hovers(ordered),
                        strict=True,
                    )
                ),
                hovertemplate=(
                    f"<b>%{{y}}</b> · %{{customdata[0]}}<br>{column}: %{{x:,}}%{{customdata[1]}}"
                    "<extra></extra>"
                ),
            )
        )
    confidence.add_note(fig, [ordered], threshold)
    fig.update_layout(barmode="stack", height=max(320, 28 * len(ordered) + 120))
    fig.update_xaxes(title_text="Actions by the chairman", rangemode="tozero")
    fig.update_yaxes(title_text=VENTURE, type="category", automargin=True)
    return themed(fig, title)


def interventions_per_100(
    table: pd.DataFrame, title: str, threshold: float | None = None
) -> go.Figure:
    if table.empty:
        return no_data(title)
    ordered = table.assign(_label=trace_labels(table)).sort_values(PER_100, kind="stable")
    fig = go.Figure(
        go.Bar(
            y=ordered["_label"].map(fmt.plotly_text),
            x=ordered[PER_100],
            orientation="h",
            marker={"opacity": confidence.opacities(ordered)},
            customdata=list(
                zip(
                    ordered[INTERVENTIONS].fillna(0).astype(int),
                    ordered[ACTIONS].fillna(0).astype(int),
                    ordered[COMPANY].map(fmt.plotly_text),
                    confidence.hovers(ordered),
                    strict=True,
                )
            ),
            hovertemplate=(
                "<b>%{y}</b> · %{customdata[2]}<br>%{x:.2f} interventions per 100 actions<br>"
                "%{customdata[0]:,} interventions in %{customdata[1]:,} actions"
                "%{customdata[3]}<extra></extra>"
            ),
            name=PER_100,
        )
    )
    confidence.add_note(fig, [ordered], threshold)
    fig.update_layout(height=max(320, 28 * len(ordered) + 120))
    fig.update_xaxes(title_text=PER_100, rangemode="tozero")
    fig.update_yaxes(title_text=VENTURE, type="category", automargin=True)
    return themed(fig, title)
