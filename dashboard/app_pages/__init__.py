"""One thin script per page: read the view, load its frames (dashboard/ui/data.py), chart them."""

from __future__ import annotations

import streamlit as st

from dashboard.charts import rates as rate_charts
from dashboard.mail import board_pack
from dashboard.ui import pages, table_csv
from dashboard.ui.layout import View


def rates(view: View, title: str, query: str, column: str) -> None:
    """A rate per venture over time at the chosen grain, then per stage (Error rates, Handoff)."""
    view.header(title)
    view.need_access()
    slug = table_csv.slug(title)
    over_time = rate_charts.rate_table(view.load(query), column)
    if over_time.empty:
        view.nothing()
    view.chart(
        rate_charts.rate_over_time(over_time, f"{title} per venture, by {view.filters.grain}"),
        over_time,
        slug,
    )
    by_stage = rate_charts.stage_rate_table(view.load("stage_rates"), column)
    view.chart(
        rate_charts.rate_by_stage(by_stage, f"{title} per stage"), by_stage, f"{slug}-by-stage"
    )


def board_pack_button(view: View, title: str) -> None:
    """`Download PDF`: the board pack of this view, made when clicked (Chromium draws it: a few
    seconds), as the signed-in user, and recorded in the export audit like a CSV extract."""
    page = pages.page(title).path
    name = view.file_name(title).removesuffix(".csv") + ".pdf"

    def made() -> bytes:
        return board_pack.download(
            view.engine, view.scope, view.user.user_id, page, view.filters, name
        )

    st.download_button(
        "Download PDF",
        data=made,
        file_name=name,
        mime=board_pack.MIME,
        key=f"pdf-{page}",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
        help="This page's figures, tables and charts on A4 pages, with the filters and the time "
        "zone; recorded in Your exports.",
    )
