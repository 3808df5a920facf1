"""Agents: utilization and response time per agent named in the selected rows."""

import streamlit as st

from dashboard.charts import agent_charts
from dashboard.charts import format as fmt
from dashboard.ui import layout

view = layout.current()
view.header("Agents")
view.need_access()

activity = view.load("agent_activity")
if activity.empty:
    view.nothing()
table = agent_charts.activity_table(activity)
view.chart(agent_charts.activity(table, "Utilization and response time per agent"), table, "agents")
# The chart's `Download CSV` above is this very table.
st.dataframe(table, hide_index=True, key="table-agents", placeholder=fmt.NO_VALUE)
st.caption(
    fmt.markdown_text(
        "Means over the selected rows that involve each agent and have a value. A row that "
        "involves several agents counts in full for each of them, so the rows add up to more "
        "than the rows selected."
    )
)
