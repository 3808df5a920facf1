"""Venture health's heatmap: venture x stage cells against a reference, and its badge.

The heatmap is drawn as a scatter of square markers rather than a Plotly heatmap: Streamlit
reports clicks on scatter points (``on_select``) but not on heatmap cells, and the click is what
opens the rows behind a cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import confidence
from dashboard.charts import format as fmt
from dashboard.charts.theme import (
    ACTIONS,
    COMPANY,
    LOW_SHARE,
    NO_COMPANY,
    NO_VENTURE,
    STAGE,
    VENTURE,
    group_names,
    no_data,
    stage_axis,
    themed,
)

STAGE = STAGE
COMPANY = COMPANY
VENTURE = VENTURE
ROWS = "Rows"
ACTIONS = ACTIONS
WORSE = "Worse by"
# Red is worse, blue better, grey about the same: every cell shows on light and dark themes.
WORSE_SCALE = [[0.0, "#2166ac"], [0.5, "#c9ccd1"], [1.0, "#b2182b"]]


@dataclass(frozen=True)
class Measure:
    """A heatmap measure: its query key, its name on screen, and the unit of its deviation."""

    key: str
    label: str
    unit: str  # of the value column, as shown
    worse_unit: str  # of the deviation
    worse_words: str

    def shown(self, value: Any) -> str:
        if self.key == "duration":
            return fmt.duration_exact(value)
        if self.key == "error_rate":
            return fmt.ratio_percent(value)
        return fmt.percent(value)

    def scaled(self, series: pd.Series) -> pd.Series:
        """Values in the unit of the table (seconds, or percent)."""
        factor = 100.0 if self.key == "error_rate" else 1.0
        return (pd.to_numeric(series, errors="coerce") * factor).round(6)


MEASURES = {
    "Median stage duration": Measure("duration", "Median stage duration", "s", "%", "longer"),
    "Error rate": Measure("error_rate", "Error rate", "%", "pp", "higher"),
    "Handoff efficiency": Measure("handoff_efficiency", "Handoff efficiency", "%", "pp", "lower"),
}
AGAINST = {"Stage baseline": "base", "Peer median": "peer"}


def heatmap_table(cells: pd.DataFrame, measure: str, against: str) -> pd.DataFrame:
    """`heatmap_cells` as the heatmap shows it: one row per venture and stage, the value, its
    baseline and peer median, how much worse it is than the chosen reference, and the share of
    low-confidence rows in the figure. ``cells`` are ``queries.heatmap_cells`` of
    ``MEASURES[measure].key`` against ``AGAINST[against]``, whose labels ``measure`` and
    ``against`` are."""
    m = MEASURES[measure]
    unit = f" ({m.unit})"
    table = pd.DataFrame(
        {
            COMPANY: group_names(cells["company"], NO_COMPANY),
            VENTURE: group_names(cells["venture"], NO_VENTURE),
            STAGE: pd.to_numeric(cells["stage_id"]).astype(int),
            ROWS: pd.to_numeric(cells["rows"]).astype("Int64"),
            ACTIONS: pd.to_numeric(cells["actions"]).astype("Int64"),
            m.label + unit: m.scaled(cells["value"]),
            "Stage baseline" + unit: m.scaled(cells["base"]),
            "Peer median" + unit: m.scaled(cells["peer"]),
            "Peers": pd.to_numeric(cells["peers"]).astype("Int64"),
            f"{WORSE} ({m.worse_unit}, vs {against.lower()})": cells["worse"].round(4),
            LOW_SHARE: (pd.to_numeric(cells["low_share"]) * 100).round(2),
            "venture_id": cells["venture_id"].astype(str),
        }
    )
    return table.reset_index(drop=True)


def shown_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table without the internal venture id (what the CSV and the screen hold)."""
    return table.drop(columns=["venture_id"])


def worse_column(table: pd.DataFrame) -> str:
    return next(c for c in table.columns if c.startswith(WORSE))


def _label(table: pd.DataFrame) -> pd.Series:
    """The venture, with its company where two ventures in view share a name."""
    pairs = table[[VENTURE, COMPANY]].drop_duplicates()
    shared = set(pairs[VENTURE][pairs[VENTURE].duplicated(keep=False)])
    return pd.Series(
        [
            f"{v} ({c})" if v in shared else v
            for v, c in zip(table[VENTURE], table[COMPANY], strict=True)
        ],
        index=table.index,
        dtype=object,
    )


def colour_limit(values: pd.Series) -> float:
    """Symmetric colour range: the 95th percentile of |worse by|, so one outlier does not wash
    out every other cell (beyond it the colour saturates; hover gives the figure)."""
    known = values.dropna().abs()
    if known.empty:
        return 1.0
    limit = float(known.quantile(0.95))
    return limit if limit > 0 else max(float(known.max()), 1.0)


def heatmap(table: pd.DataFrame, measure: str, against: str, title: str) -> go.Figure:
    """Ventures (rows) by stages 1..40 (columns); colour says how far and which way is worse."""
    if table.empty:
        return no_data(title)
    m = MEASURES[measure]
    worse = worse_column(table)
    value = f"{m.label} ({m.unit})"
    labels = _label(table).map(fmt.plotly_text)
    order = list(dict.fromkeys(labels.sort_values(key=lambda s: s.str.lower(), kind="stable")))
    limit = colour_limit(table[worse])
    hover = [
        f"<b>{fmt.plotly_text(r[VENTURE])}</b> · {fmt.plotly_text(r[COMPANY])}<br>"
        f"Stage {r[STAGE]}<br>"
        f"{m.label}: {_value(m, r[value])}<br>"
        f"Stage baseline: {_value(m, r[f'Stage baseline ({m.unit})'])}<br>"
        f"Peer median: {_value(m, r[f'Peer median ({m.unit})'])}"
        f" ({fmt.number(r['Peers'])} peers)<br>"
        f"Worse by: {_worse(m, r[worse])} vs {against.lower()}<br>"
        f"Rows: {fmt.number(r[ROWS])} · Actions: {fmt.number(r[ACTIONS])}<br>"
        f"Low-confidence share: {fmt.percent(r[LOW_SHARE], 0)}"
        for _, r in table.iterrows()
    ]
    fig = go.Figure(
        go.Scatter(
            # Lists, not arrays: the drawn figure keeps readable values (Plotly would pack arrays).
            x=table[STAGE].tolist(),
            y=labels.tolist(),
            mode="markers",
            marker={
                "symbol": "square",
                "size": 20,
                "color": table[worse].fillna(0).clip(-limit, limit).tolist(),
                "cmin": -limit,
                "cmax": limit,
                "colorscale": WORSE_SCALE,
                "opacity": confidence.opacities(table),
                "line": {"width": 0},
                # The ends say which way is worse in words, not only in red and blue.
                "colorbar": {
                    "title": {"text": f"Worse by ({m.worse_unit})"},
                    "thickness": 12,
                    "tickvals": [-limit, 0, limit],
                    "ticktext": [f"{limit:,.1f} better", "0", f"{limit:,.1f} worse"],
                },
            },
            customdata=list(range(len(table))),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            name=m.label,
            showlegend=False,
        )
    )
    stage_axis(fig)
    fig.update_yaxes(
        title_text=VENTURE,
        type="category",
        categoryorder="array",
        categoryarray=order[::-1],
        automargin=True,
    )
    fig.update_layout(height=max(320, 24 * len(order) + 140), clickmode="event+select")
    return themed(fig, title)


def _value(m: Measure, value: Any) -> str:
    if fmt.is_missing(value):
        return "no data"
    if m.key == "duration":
        return fmt.duration_exact(value)
    return fmt.percent(value)


def _worse(m: Measure, value: Any) -> str:
    if fmt.is_missing(value):
        return "n/a"
    number = float(value)
    if number == 0:
        return "as expected"
    words = f"{m.worse_words}, worse" if number > 0 else "better"
    return f"{abs(number):,.1f} {m.worse_unit} {words}"


def low_confidence_badge(table: pd.DataFrame) -> tuple[float, str]:
    """The share of the heatmap's cells drawn faded, and the badge text that says so."""
    if table.empty:
        return 0.0, ""
    faded = float(confidence.faded(table).mean())
    carried = table[LOW_SHARE].dropna()
    mean = float(carried.mean()) if len(carried) else math.nan
    text = (
        f"{faded * 100:.0f}% of cells drawn faded: mostly low-confidence rows "
        f"(on average {fmt.percent(mean, 0)} of a cell's figure)"
    )
    return faded, text
