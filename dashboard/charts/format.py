"""How numbers, durations and dates read on screen, and text made safe for Markdown and Plotly."""

from __future__ import annotations

import html
import math
import re
from datetime import date, datetime
from typing import Any

_MINUTE = 60.0
_HOUR = 3_600.0
_DAY = 86_400.0
# What a missing value reads as, in text and in table cells (which would otherwise say "None").
NO_VALUE = "–"

# CommonMark lets a backslash escape any ASCII punctuation; Streamlit's own directives
# (`:red[...]`, `:material/x:`, `$math$`) start with punctuation too, so escaping all of it
# leaves nothing for the Markdown renderer to interpret.
_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return False


def _trim(number: float, decimals: int = 1) -> str:
    text = f"{number:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def duration(seconds: Any) -> str:
    """A duration in the unit that reads best: "42 s", "7.5 min", "3.2 h", "2.1 d"."""
    if is_missing(seconds):
        return NO_VALUE
    value = float(seconds)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < _MINUTE:
        return f"{sign}{_trim(value, 1 if value < 10 else 0)} s"
    if value < _HOUR:
        return f"{sign}{_trim(value / _MINUTE)} min"
    if value < _DAY:
        return f"{sign}{_trim(value / _HOUR)} h"
    return f"{sign}{_trim(value / _DAY)} d"


def duration_exact(seconds: Any) -> str:
    """A human duration with its exact seconds, for hover text: "3.2 h (11,520 s)"."""
    if is_missing(seconds):
        return "no data"
    return f"{duration(seconds)} ({float(seconds):,.0f} s)"


def percent(value: Any, decimals: int = 2) -> str:
    """A value already in percent (0..100): "12.34 %"."""
    if is_missing(value):
        return NO_VALUE
    return f"{float(value):,.{decimals}f} %"


def ratio_percent(value: Any, decimals: int = 2) -> str:
    """A ratio 0..1 shown in percent: 0.1234 -> "12.34 %"."""
    if is_missing(value):
        return NO_VALUE
    return percent(float(value) * 100, decimals)


def number(value: Any, decimals: int = 0) -> str:
    """A number with thousands separators: 1234567 -> "1,234,567"."""
    if is_missing(value):
        return NO_VALUE
    return f"{float(value):,.{decimals}f}"


def money(value: Any) -> str:
    """Money as stored (no currency is recorded), with two decimals: "1,234.50"."""
    return number(value, 2)


def day(value: date | datetime) -> str:
    """A date as "26 Nov 2026"."""
    return f"{value.day} {value:%b %Y}"


def period(start: date, end: date) -> str:
    return f"{day(start)} – {day(end)}"


def signed(value: float, text: str) -> str:
    """Prefix a formatted magnitude with the sign of ``value`` (st.metric reads the sign)."""
    if value > 0:
        return f"+{text}"
    if value < 0:
        return f"-{text}"
    return text


def truncate(text: str, limit: int = 40) -> str:
    """At most ``limit`` characters, so a hostile 10 kB value never reaches the screen whole."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def markdown_text(text: Any) -> str:
    """Plain text that Markdown (and Streamlit's directives) show literally."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def plotly_text(text: Any) -> str:
    """Text for Plotly labels and hover: Plotly renders some HTML tags, so escape them."""
    return html.escape(str(text), quote=False)
