"""Export: how many rows the filters select, a preview, and a streamed `Download CSV` of all."""

import pandas as pd
import streamlit as st

from dashboard.charts import format as fmt
from dashboard.charts import raw_rows
from dashboard.ui import data, layout
from dashboard.web import tokens
from queries import Receipt, my_exports

PREVIEW_ROWS = 100
AUDIT_ROWS = 50
AUDIT_WORDS = {
    "export": "Downloaded",
    "export_incomplete": "Download not finished",
    "refused": "Refused",
}

view = layout.current()
view.header("Export")
view.need_access()

rows = view.load("count_rows")
if not rows:
    view.nothing()
st.metric("Rows selected", fmt.number(rows))
# A link of this browser's session only, made anew at each run of the page.
link = data.guarded(lambda: tokens.export_url(view.user, view.filters, view.engine))
if link is None:
    st.info(
        "Your session has ended. Reload the page to sign in again.", icon=":material/lock_clock:"
    )
else:
    st.link_button(
        "Download CSV",
        link,
        type="primary",
        icon=":material/download:",
        help="All selected rows, streamed as CSV, in this browser. The link is valid for a few "
        "minutes.",
    )
st.subheader(f"Preview: the newest {min(rows, PREVIEW_ROWS):,} rows")
preview = raw_rows.rows_table(view.load("metric_rows", limit=PREVIEW_ROWS))
st.dataframe(preview, hide_index=True, key="table-export", placeholder=fmt.NO_VALUE)

# ---- receipts and the audit of the user's own exports ------------------------------------------
st.subheader("Your exports")
st.button("Refresh", key="audit_refresh", icon=":material/refresh:")
# Uncached: the user's own short list, read under RLS, and it must show a download at once.
mine = data.guarded(lambda: my_exports(view.engine, view.scope, limit=AUDIT_ROWS))
if mine.empty:
    st.caption("No exports yet. Each download leaves a receipt here.")
else:
    shown = pd.DataFrame(
        {
            "When": mine["at"],
            "What": mine["action"].map(AUDIT_WORDS).fillna(mine["action"]),
            "File": mine["file_name"],
            "Rows": mine["row_count"],
            "Time zone": mine["time_zone"],
            "SHA-256": mine["sha256"],
            "Reason": mine["reason"],
        }
    )
    st.dataframe(shown, hide_index=True, key="table-audit", placeholder=fmt.NO_VALUE)
    exports = mine[mine["action"] == "export"].reset_index(drop=True)
    picked = st.selectbox(
        "Receipt",
        [None, *exports.index],
        format_func=lambda i: "Choose an export" if i is None else str(exports.loc[i, "file_name"]),
        key="audit_receipt",
    )
    if picked is not None:
        receipt = Receipt.from_audit(exports.loc[picked].to_dict(), view.user.user_id)
        st.code(receipt.to_json(), language="json")
        st.download_button(
            "Download receipt (JSON)",
            data=receipt.to_json().encode(),
            file_name=receipt.file_name.removesuffix(".csv") + ".receipt.json",
            mime="application/json",
            key="receipt-json",
            on_click="ignore",
            icon=":material/receipt_long:",
        )
        st.caption(
            fmt.markdown_text(
                "Check a download against its receipt: sha256sum <file> must print the SHA-256."
            )
        )
