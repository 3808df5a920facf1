"""Stage durations: median, p25–p75 spread and p90 per stage, on a log axis in human units."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import confidence
from dashboard.charts import format as fmt
from dashboard.charts.theme import (
    STAGE,
    no_data,
    stage_axis,
    themed,
)

_DURATION_TICKS = (
    1, 2, 5, 10, 30,
    60, 2 * 60, 5 * 60, 10 * 60, 30 * 60,
    3_600, 2 * 3_600, 6 * 3_600, 12 * 3_600,
    86_400, 2 * 86_400, 4 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400, 90 * 86_400,
    365 * 86_400,
)  # fmt: skip


def stage_duration_table(frame: pd.DataFrame) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            STAGE: pd.to_numeric(frame["stage_id"]).astype(int),
            "Rows": pd.to_numeric(frame["rows"]).astype("Int64"),
            "Median (s)": pd.to_numeric(frame["p50_s"]),
            "p25 (s)": pd.to_numeric(frame["p25_s"]),
            "p75 (s)": pd.to_numeric(frame["p75_s"]),
            "p90 (s)": pd.to_numeric(frame["p90_s"]),
            "Mean (s)": pd.to_numeric(frame["mean_s"]),
            **confidence.column(frame),
        }
    )
    return table.sort_values(STAGE, ignore_index=True)


def duration_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick positions for a log axis of seconds, labelled in human units."""
    low, high = max(low, 0.5), max(high, low)
    inside = [t for t in _DURATION_TICKS if low / 1.5 <= t <= high * 1.5]
    if len(inside) < 2:
        inside = [t for t in _DURATION_TICKS if t <= high * 1.5][-3:] or [1, 60]
    # Thin evenly to at most eight ticks, keeping both ends so the whole range is labelled.
    count = min(len(inside), 8)
    picks = sorted({round(i * (len(inside) - 1) / max(count - 1, 1)) for i in range(count)})
    values = [float(inside[i]) for i in picks]
    return values, [fmt.duration(t) for t in values]


def stage_durations(table: pd.DataFrame, title: str, threshold: float | None = None) -> go.Figure:
    """Median per stage as bars with the p25–p75 spread, p90 as markers; log axis in human units."""
    if table.empty or table["Rows"].fillna(0).sum() == 0:
        return no_data(title)
    median, p25, p75, p90 = (table[c] for c in ("Median (s)", "p25 (s)", "p75 (s)", "p90 (s)"))
    hover = [
        f"<b>Stage {s}</b><br>Median: {fmt.duration_exact(m)}<br>"
        f"p25–p75: {fmt.duration(a)} – {fmt.duration(b)}<br>p90: {fmt.duration_exact(n)}<br>"
        f"Rows: {fmt.number(r)}{low}"
        for s, m, a, b, n, r, low in zip(
            table[STAGE], median, p25, p75, p90, table["Rows"], confidence.hovers(table),
            strict=True,
        )
    ]  # fmt: skip
    opacity = confidence.opacities(table)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=table[STAGE],
            y=median,
            name="Median (p25–p75 spread)",
            marker={"opacity": opacity},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (p75 - median).clip(lower=0),
                "arrayminus": (median - p25).clip(lower=0),
                "thickness": 1.5,
                "width": 3,
                # Mid grey: visible on the light and on the dark background.
                "color": "#8a8f98",
            },
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=table[STAGE],
            y=p90,
            name="p90",
            mode="markers",
            marker={"symbol": "diamond", "size": 8, "opacity": opacity},
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    confidence.add_note(fig, [table], threshold)
    values = pd.concat([p25, median, p75, p90]).dropna()
    values = values[values > 0]
    ticks, labels = duration_ticks(
        float(values.min()) if len(values) else 1.0, float(values.max()) if len(values) else 1.0
    )
    stage_axis(fig)
    fig.update_yaxes(
        title_text="Median duration (log scale)",
        type="log",
        tickmode="array",
        tickvals=ticks,
        ticktext=labels,
    )
    fig.update_layout(barmode="overlay")
    return themed(fig, title)
