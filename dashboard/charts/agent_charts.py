"""Pure functions of the Agents page: the table it shows and the figure drawn from it.

As in dashboard/charts/theme.py, the figure draws exactly the table that the page offers as
`Download CSV`, agent names (free text from the data) are escaped before they reach Plotly, and
the figure uses the one theme (themed).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import format as fmt
from dashboard.charts.theme import ACTIONS, themed

AGENT = "Agent"
ROWS = "Rows"

UTILIZATION = "Utilization (%)"
RESPONSE = "Response time (s)"


def activity_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``queries.agent_activity`` with the column names and units of the screen."""
    table = pd.DataFrame(
        {
            AGENT: frame["agent"].astype(str),
            ROWS: pd.to_numeric(frame["rows"]).astype("Int64"),
            ACTIONS: pd.to_numeric(frame["actions"]).astype("Int64"),
            UTILIZATION: pd.to_numeric(frame["utilization"]).round(4),
            RESPONSE: pd.to_numeric(frame["response_s"]).round(6),
        }
    )
    return table.sort_values(AGENT, ignore_index=True)


def activity(table: pd.DataFrame, title: str) -> go.Figure:
    """Utilization and mean response time per agent, side by side."""
    names = [fmt.plotly_text(a) for a in table[AGENT]]
    hover = [
        f"<b>{name}</b><br>Rows: {fmt.number(r)}<br>Actions: {fmt.number(a)}<br>"
        f"Utilization: {fmt.percent(u)}<br>Response time: {fmt.duration_exact(s)}"
        for name, r, a, u, s in zip(
            names, table[ROWS], table[ACTIONS], table[UTILIZATION], table[RESPONSE], strict=True
        )
    ]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Mean utilization", "Mean response time"),
        horizontal_spacing=0.12,
    )
    fig.add_trace(
        go.Bar(x=names, y=table[UTILIZATION], name=UTILIZATION, hovertext=hover),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(x=names, y=table[RESPONSE], name=RESPONSE, hovertext=hover),
        row=1,
        col=2,
    )
    fig.update_traces(hoverinfo="text")
    fig.update_yaxes(title_text=UTILIZATION, range=[0, 100], ticksuffix=" %", row=1, col=1)
    fig.update_yaxes(title_text=RESPONSE, rangemode="tozero", row=1, col=2)
    fig.update_xaxes(type="category")
    fig.update_layout(showlegend=False)
    return themed(fig, title)
