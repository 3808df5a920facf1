"""The low-confidence threshold: a row is "low confidence" when its data_quality_score or its
confidence_score is below it (a missing score is not low).

Configuration: ORCHDASH_LOW_CONFIDENCE (0..100), else 60. The rollups count low-confidence rows
at the threshold stored in ``orchdash.rollup_settings`` (the configured one when migrated;
``orchdash.rollup_rebuild(NULL, t)`` changes it); a query at another threshold reads the raw
rows instead, exact but slower.
"""

from __future__ import annotations

import math
import os
from typing import Any

from queries.errors import InvalidFilter

DEFAULT_THRESHOLD = 60.0


def default_threshold() -> float:
    """The low-confidence threshold: ORCHDASH_LOW_CONFIDENCE (0..100), else 60."""
    return valid_threshold(os.environ.get("ORCHDASH_LOW_CONFIDENCE", DEFAULT_THRESHOLD))


def valid_threshold(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not 0 <= number <= 100:  # also refuses NaN
        raise InvalidFilter("The confidence threshold is a number from 0 to 100.")
    return number


def threshold_or_default(value: Any = None) -> float:
    """``value`` checked, or the configured threshold when it is None."""
    return default_threshold() if value is None else valid_threshold(value)
