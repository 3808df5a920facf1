"""Typed DataFrames from query results: every frame has fixed columns and dtypes, empty or not.

Kinds: ``int`` (int64, never missing), ``Int64`` (nullable integer), ``float`` (float64, NaN for
NULL), ``str`` (pandas' string dtype), ``ts`` (tz-aware timestamps in the filter's zone),
``bool``, ``object`` (lists and dicts, as psycopg returns them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Row

Kind = Literal["int", "Int64", "float", "str", "ts", "bool", "object"]
Columns = Mapping[str, Kind]
_NUMPY = {"int": "int64", "float": "float64", "bool": "bool"}


def typed(records: Iterable[Mapping[Any, Any]], columns: Columns, tz: str) -> pd.DataFrame:
    """A frame with exactly ``columns``, in their order and of their kinds."""
    rows = list(records)
    return pd.DataFrame(
        {name: series([r[name] for r in rows], kind, tz) for name, kind in columns.items()}
    )


def from_rows(rows: Sequence[Row[Any]], columns: Columns, tz: str) -> pd.DataFrame:
    """:func:`typed` of result rows, transposed once instead of read row by row."""
    if not rows:
        return empty(columns, tz)
    by_name = dict(zip(rows[0]._fields, zip(*rows, strict=True), strict=True))
    return pd.DataFrame(
        {name: series(list(by_name[name]), kind, tz) for name, kind in columns.items()}
    )


def empty(columns: Columns, tz: str) -> pd.DataFrame:
    return typed([], columns, tz)


def conform(frame: pd.DataFrame, columns: Columns, tz: str) -> pd.DataFrame:
    """:func:`typed` of a frame's own columns, column by column (numbers stay arrays)."""
    out: dict[str, pd.Series] = {}
    for name, kind in columns.items():
        values = frame[name]
        if kind in _NUMPY and not (kind == "int" and values.isna().any()):
            out[name] = pd.Series(values.to_numpy(dtype=_NUMPY[kind]))
        else:
            out[name] = series(values.tolist(), kind, tz)
    return pd.DataFrame(out)


def series(values: Sequence[Any], kind: Kind, tz: str) -> pd.Series:
    if kind == "int":
        return pd.Series(values, dtype="int64")
    if kind == "Int64":
        return pd.Series(pd.array(values, dtype="Int64"))
    if kind == "float":
        # numpy turns None into NaN and Decimal into float.
        return pd.Series(np.array(values, dtype="float64"), dtype="float64")
    if kind == "str":
        if all(type(v) is str or v is None for v in values):  # as the database sends them
            return pd.Series(values, dtype="str")
        return pd.Series([None if _missing(v) else str(v) for v in values], dtype="str")
    if kind == "ts":
        stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True)
        return stamps.dt.tz_convert(tz).dt.as_unit("us")
    if kind == "bool":
        return pd.Series(values, dtype="bool")
    return pd.Series(values, dtype=object)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def as_float(value: Any) -> float:
    """A number as a float; None and pandas' NA as NaN."""
    if value is None or value is pd.NA:
        return math.nan
    return float(value)
