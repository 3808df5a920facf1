"""`Download CSV` of a displayed frame (dashboard/charts/csv_file.py makes the CSV)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.charts.csv_file import MIME, file_name, slug, to_csv

__all__ = ["MIME", "download_button", "file_name", "slug", "to_csv"]


def download_button(table: pd.DataFrame, name: str, key: str, help: str | None = None) -> None:
    """`Download CSV` of exactly the frame a chart or table shows."""
    st.download_button(
        "Download CSV",
        data=to_csv(table),
        file_name=name,
        mime=MIME,
        key=key,
        help=help or f"{name}: the {len(table):,} rows shown here.",
        on_click="ignore",
        icon=":material/download:",
    )
