"""Export: how many rows the filters select, a preview, and a streamed `Download CSV` of all."""

import streamlit as st

from dashboard import format as fmt
from dashboard import layout, tokens

PREVIEW_ROWS = 100

view = layout.current()
view.header("Export")
view.need_access()

rows = view.load("count_rows")
if not rows:
    view.nothing()
st.metric("Rows selected", fmt.number(rows))
st.link_button(
    "Download CSV",
    tokens.export_url(view.user, view.filters),
    type="primary",
    icon=":material/download:",
    help="All selected rows, streamed as CSV. The link is valid for a few minutes.",
)
st.subheader(f"Preview: the newest {min(rows, PREVIEW_ROWS):,} rows")
preview = view.load("metric_rows", limit=PREVIEW_ROWS)
# What a reader looks for first; the ids, which the CSV also has, come last.
first = ["recorded_at", "company", "venture", "stage_id", "action_count", "error_rate"]
preview = preview[first + [c for c in preview.columns if c not in first]]
st.dataframe(preview, hide_index=True, key="table-export")
