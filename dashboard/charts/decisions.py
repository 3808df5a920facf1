"""The chairman's decisions on the error-rate and handoff-efficiency timelines, and the
averages before and after one of them (Venture health)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import confidence
from dashboard.charts.theme import (
    ACTIONS,
    APPROVALS,
    ERROR_RATE,
    HANDOFF,
    INTERVENTIONS,
    PERIOD,
    REJECTIONS,
    no_data,
    period_start,
    themed,
)

DECISIONS = (
    ("interventions", INTERVENTIONS, "diamond"),
    ("approvals", APPROVALS, "triangle-up"),
    ("rejections", REJECTIONS, "x"),
)


def decisions_table(trend: pd.DataFrame) -> pd.DataFrame:
    """Per bucket: error rate and handoff efficiency, and the chairman's decisions."""
    table = pd.DataFrame(
        {
            PERIOD: period_start(trend["bucket"]),
            ACTIONS: pd.to_numeric(trend["actions"]).astype("Int64"),
            ERROR_RATE: (trend["error_rate"] * 100).round(4),
            HANDOFF: trend["handoff_efficiency"].round(4),
            **{label: pd.to_numeric(trend[key]).astype("Int64") for key, label, _ in DECISIONS},
            **confidence.column(trend),
        }
    )
    return table.sort_values(PERIOD, ignore_index=True)


def decision_periods(table: pd.DataFrame) -> pd.DataFrame:
    """The buckets with at least one decision: the markers a reader can choose."""
    counts = table[[label for _, label, _ in DECISIONS]].fillna(0).sum(axis=1)
    return table[counts > 0].reset_index(drop=True)


def decisions_over_time(
    table: pd.DataFrame, title: str, chosen: Any = None, threshold: float | None = None
) -> go.Figure:
    """Error rate and handoff efficiency over time, one above the other, with the chairman's
    interventions, approvals and rejections as markers (size by count) on both; ``chosen``
    (a period start) is drawn as a vertical line. Periods built mostly from low-confidence rows
    are faded points on the lines."""
    if table.empty:
        return no_data(title)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    opacity, low = confidence.opacities(table), confidence.hovers(table)
    for row, column in ((1, ERROR_RATE), (2, HANDOFF)):
        fig.add_trace(
            go.Scatter(
                x=table[PERIOD],
                y=table[column],
                mode="lines+markers",
                name=column,
                marker={"size": 5, "opacity": opacity},
                customdata=low,
                hovertemplate=(
                    f"%{{x|%d %b %Y}}<br>{column}: %{{y:.2f}}%{{customdata}}<extra></extra>"
                ),
                connectgaps=False,
            ),
            row=row,
            col=1,
        )
        for _, label, symbol in DECISIONS:
            counts = table[label].fillna(0).astype(float)
            at = counts > 0
            fig.add_trace(
                go.Scatter(
                    x=table[PERIOD][at],
                    y=table[column][at],
                    mode="markers",
                    name=label,
                    legendgroup=label,
                    showlegend=row == 1,
                    marker={
                        "symbol": symbol,
                        "size": (6 + 14 * (counts[at] / max(counts.max(), 1)) ** 0.5).tolist(),
                        "line": {"width": 1},
                    },
                    customdata=counts[at].astype(int),
                    hovertemplate=(
                        f"%{{x|%d %b %Y}}<br>{label}: %{{customdata:,}}<br>"
                        f"{column}: %{{y:.2f}}<extra></extra>"
                    ),
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(title_text=column, ticksuffix=" %", row=row, col=1)
    confidence.add_note(fig, [table], threshold, row=1, col=1)
    if chosen is not None:
        fig.add_vline(x=pd.Timestamp(chosen), line_dash="dot", line_color="#8a8f98")
    fig.update_xaxes(title_text=PERIOD, row=2, col=1)
    fig.update_layout(height=560)
    return themed(fig, title)


def before_after_table(kpis: pd.DataFrame) -> pd.DataFrame:
    """`kpis` over the window after a decision, with ``prev_`` the window before it."""
    row = kpis.iloc[0]
    return pd.DataFrame(
        {
            "Measure": [ERROR_RATE, HANDOFF, ACTIONS],
            "Before": [
                row["prev_error_rate"] * 100,
                row["prev_handoff_efficiency"],
                row["prev_actions"],
            ],
            "After": [row["error_rate"] * 100, row["handoff_efficiency"], row["actions"]],
        }
    )
