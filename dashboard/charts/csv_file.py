"""CSV of a displayed frame that is safe to open in a spreadsheet, and file names that say what.

Pure, for the pages' `Download CSV` (dashboard/ui/table_csv.py) and the attachments of messages
(dashboard/mail). The streamed extract of raw rows is the `/export.csv` route's.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from typing import Any

import pandas as pd

from queries import safe_cell

MIME = "text/csv"


def _column(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.map(_iso)
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series
    return series.map(lambda v: safe_cell(_iso(v)) if isinstance(v, str | date) else v)


def _iso(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        # Buckets are midnight in the dashboard's zone: the day is what the screen shows.
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def to_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM, so spreadsheets read accents) and CRLF line ends."""
    safe = pd.DataFrame({safe_cell(str(name)): _column(frame[name]) for name in frame.columns})
    buffer = io.StringIO()
    safe.to_csv(buffer, index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    return buffer.getvalue().encode("utf-8-sig")


def slug(what: str) -> str:
    """`Error rates` -> `error-rates`: safe in a file name and as a widget key."""
    return re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-") or "data"


def file_name(what: str, start: date, end: date) -> str:
    """`error-rates_2026-08-28_2026-11-26.csv`: what, and the period it covers."""
    return f"{slug(what)}_{start.isoformat()}_{end.isoformat()}.csv"
