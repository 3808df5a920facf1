"""What every chart shares: the column names of the screen, the one theme, and small helpers.

Each chart has two steps. A ``*_table`` function turns a query frame into the frame the chart
shows, with the column names and units of the screen; the page offers exactly that frame as
`Download CSV`. The figure function draws that table. Names from the database are escaped before
they reach Plotly, which renders some HTML tags in labels and hover text. Where a query frame
carries ``low_share``, its table has a `Low-confidence share (%)` column and the figure fades the
points built mostly from low-confidence rows (dashboard/charts/confidence.py).
"""

from __future__ import annotations

import textwrap

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import confidence
from dashboard.charts import format as fmt

STAGES = tuple(range(1, 41))
PERIOD = "Period start"
COMPANY = "Company"
VENTURE = "Venture"
ACTIONS = "Actions"
ERROR_RATE = "Error rate (%)"
HANDOFF = "Handoff efficiency (%)"
STAGE = "Stage"
INTERVENTIONS = "Interventions"
APPROVALS = "Approvals"
REJECTIONS = "Rejections"
PER_100 = "Interventions per 100 actions"
NO_VENTURE = "(no venture)"
NO_COMPANY = "(no company)"
LOW_SHARE = confidence.LOW_SHARE

# One theme for every figure. Backgrounds stay transparent so Streamlit's light or dark theme
# shows through; colours come from the "streamlit" template, which Streamlit maps to the active
# theme's palette when the chart is drawn with theme="streamlit".
# Characters of a title line that fit a phone's chart (390 px screen), and the height of a line.
TITLE_WIDTH = 40
TITLE_LINE_PX = 22
TITLE_TOP_PX = 84
LAYOUT = {
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    # Title at the top of the figure, the legend in a row of its own between title and plot.
    "margin": {"l": 8, "r": 8, "t": TITLE_TOP_PX, "b": 8},
    "title": {"x": 0, "xanchor": "left", "y": 1, "yref": "container", "yanchor": "top",
              "pad": {"t": 12, "l": 4}},
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "title": None,
               "traceorder": "normal"},
    "hoverlabel": {"namelength": -1},
    "height": 440,
}  # fmt: skip


def themed(fig: go.Figure, title: str) -> go.Figure:
    # Plotly never wraps a title: a long one is cut at a phone's width unless broken here.
    lines = textwrap.wrap(title, TITLE_WIDTH) or [title]
    fig.update_layout(
        LAYOUT,
        title_text="<br>".join(fmt.plotly_text(line) for line in lines),
        margin_t=TITLE_TOP_PX + TITLE_LINE_PX * (len(lines) - 1),
    )
    return fig


def trace_labels(frame: pd.DataFrame) -> pd.Series:
    """Trace labels: the venture, with its company only where two ventures share a name."""
    if frame.empty:
        return pd.Series([], dtype=str)
    pairs = frame[[VENTURE, COMPANY]].drop_duplicates()
    shared = set(pairs[VENTURE][pairs[VENTURE].duplicated(keep=False)])
    return frame.apply(
        lambda r: f"{r[VENTURE]} ({r[COMPANY]})" if r[VENTURE] in shared else str(r[VENTURE]),
        axis=1,
    )


def period_start(series: pd.Series) -> pd.Series:
    """Bucket starts as naive wall-clock dates in the dashboard's zone (what the axis shows)."""
    values = pd.to_datetime(series)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    return values.dt.normalize()


def group_names(series: pd.Series, missing: str) -> pd.Series:
    """Names as text; rows without a venture (or company) form a group of their own."""
    return series.astype(object).where(series.notna(), missing).astype(str)


def scaled_percent(series: pd.Series, scale: float) -> pd.Series:
    return (pd.to_numeric(series, errors="coerce") * scale).round(4)


def no_data(title: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text="No data", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return themed(fig, title)


def stage_axis(fig: go.Figure) -> None:
    fig.update_xaxes(
        title_text=STAGE,
        tickmode="array",
        tickvals=list(STAGES),
        range=[0.4, 40.6],
        dtick=1,
    )


def low_columns(table: pd.DataFrame) -> list[str]:
    return [LOW_SHARE] if LOW_SHARE in table.columns else []
