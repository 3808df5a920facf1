"""Pure functions of the Venture health page: the tables it shows and the figures drawn from them.

As in dashboard/charts.py, each figure draws a table that the page also offers as `Download CSV`,
names are escaped before they reach Plotly, and the figures use the one theme (charts.themed).

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
from plotly.subplots import make_subplots

from dashboard import charts, confidence
from dashboard import format as fmt

STAGE = charts.STAGE
COMPANY = charts.COMPANY
VENTURE = charts.VENTURE
ROWS = "Rows"
ACTIONS = charts.ACTIONS
WORSE = "Worse by"
LOW_SHARE = confidence.LOW_SHARE
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


def _names(series: pd.Series, missing: str) -> pd.Series:
    return series.astype(object).where(series.notna(), missing).astype(str)


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
            COMPANY: _names(cells["company"], charts.NO_COMPANY),
            VENTURE: _names(cells["venture"], charts.NO_VENTURE),
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
        return charts._empty(title)
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
                "colorbar": {"title": {"text": f"Worse by ({m.worse_unit})"}, "thickness": 12},
            },
            customdata=list(range(len(table))),
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            name=m.label,
            showlegend=False,
        )
    )
    charts._stage_axis(fig)
    fig.update_yaxes(
        title_text=VENTURE,
        type="category",
        categoryorder="array",
        categoryarray=order[::-1],
        automargin=True,
    )
    fig.update_layout(height=max(320, 24 * len(order) + 140), clickmode="event+select")
    return charts.themed(fig, title)


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
    words = m.worse_words if number >= 0 else "better"
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


# ---- What changed ------------------------------------------------------------------------------


def changes_table(changes: pd.DataFrame) -> pd.DataFrame:
    """`venture_changes` as shown: the score and its reason first, then each measure."""
    return pd.DataFrame(
        {
            VENTURE: _names(changes["venture"], charts.NO_VENTURE),
            COMPANY: _names(changes["company"], charts.NO_COMPANY),
            "Score (z)": pd.to_numeric(changes["score"]).round(2),
            "Reason": changes["reason"].astype(str),
            ACTIONS: pd.to_numeric(changes["actions"]).astype("Int64"),
            "Previous actions": pd.to_numeric(changes["prev_actions"]).astype("Int64"),
            "Error rate (%)": (changes["error_rate"] * 100).round(4),
            "Previous error rate (%)": (changes["prev_error_rate"] * 100).round(4),
            "Handoff efficiency (%)": changes["handoff_efficiency"].round(4),
            "Previous handoff efficiency (%)": changes["prev_handoff_efficiency"].round(4),
            "Cost per success": changes["cost_per_success"].round(4),
            "Previous cost per success": changes["prev_cost_per_success"].round(4),
            "Agent response (s)": changes["response_s"].round(3),
            "Previous agent response (s)": changes["prev_response_s"].round(3),
        }
    )


# ---- decisions on the timelines ------------------------------------------------------------

DECISIONS = (
    ("interventions", charts.INTERVENTIONS, "diamond"),
    ("approvals", charts.APPROVALS, "triangle-up"),
    ("rejections", charts.REJECTIONS, "x"),
)


def decisions_table(trend: pd.DataFrame) -> pd.DataFrame:
    """Per bucket: error rate and handoff efficiency, and the chairman's decisions."""
    table = pd.DataFrame(
        {
            charts.PERIOD: charts._period(trend["bucket"]),
            ACTIONS: pd.to_numeric(trend["actions"]).astype("Int64"),
            charts.ERROR_RATE: (trend["error_rate"] * 100).round(4),
            charts.HANDOFF: trend["handoff_efficiency"].round(4),
            **{label: pd.to_numeric(trend[key]).astype("Int64") for key, label, _ in DECISIONS},
            **confidence.column(trend),
        }
    )
    return table.sort_values(charts.PERIOD, ignore_index=True)


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
        return charts._empty(title)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    opacity, low = confidence.opacities(table), confidence.hovers(table)
    for row, column in ((1, charts.ERROR_RATE), (2, charts.HANDOFF)):
        fig.add_trace(
            go.Scatter(
                x=table[charts.PERIOD],
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
                    x=table[charts.PERIOD][at],
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
    fig.update_xaxes(title_text=charts.PERIOD, row=2, col=1)
    fig.update_layout(height=560)
    return charts.themed(fig, title)


def before_after_table(kpis: pd.DataFrame) -> pd.DataFrame:
    """`kpis` over the window after a decision, with ``prev_`` the window before it."""
    row = kpis.iloc[0]
    return pd.DataFrame(
        {
            "Measure": [charts.ERROR_RATE, charts.HANDOFF, ACTIONS],
            "Before": [
                row["prev_error_rate"] * 100,
                row["prev_handoff_efficiency"],
                row["prev_actions"],
            ],
            "After": [row["error_rate"] * 100, row["handoff_efficiency"], row["actions"]],
        }
    )
