"""The signed-in user's alert rules (migration f09): add, list with their state, delete.

As for subscriptions, every statement runs as ``orchdash_reader`` with the user's claims, and
the table's RLS policy (``user_id = auth.uid()``) keeps each user to their own rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from queries import config
from queries.criteria import Scope, valid_id, valid_limit, valid_timezone
from queries.errors import InvalidFilter
from queries.frames import Columns, from_rows
from queries.subscriptions import MAX_QUERY, write
from queries.transactions import fetch

# What a rule may watch, and how it compares: the tables' CHECKs hold the same lists.
MEASURES = (
    "error_rate",
    "handoff_efficiency",
    "median_stage_duration",
    "interventions",
    "change_score",
)
COMPARISONS = ("above", "below")
MAX_WINDOW_DAYS = 366
MAX_THRESHOLD = 1e12
MY_RULES: Columns = {
    "id": "str",
    "measure": "str",
    "query": "str",
    "comparison": "str",
    "threshold": "float",
    "window_days": "int",
    "tz": "str",
    "created_at": "ts",
    "holding": "object",
    "since": "ts",
    "value": "float",
    "row_count": "Int64",
    "detail": "str",
    "evaluated_at": "ts",
    "last_status": "str",
    "last_detail": "str",
    "last_at": "ts",
    "last_attempts": "Int64",
    "next_attempt_at": "ts",
}


@dataclass(frozen=True)
class Rule:
    """A measure over the last ``window_days`` days in ``tz``, in a scope (a URL query of
    companies, ventures and stages), compared ``above`` or ``below`` a threshold in the unit
    the pages show (percent, minutes, a count, a z-score)."""

    measure: str
    query: str
    comparison: str
    threshold: float
    window_days: int
    tz: str

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise InvalidFilter("Not a measure an alert can watch.")
        if not isinstance(self.query, str) or len(self.query) > MAX_QUERY:
            raise InvalidFilter(f"The scope is too long to keep (at most {MAX_QUERY} letters).")
        if self.comparison not in COMPARISONS:
            raise InvalidFilter("An alert holds when the measure is above or below its threshold.")
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, int | float)
            or not math.isfinite(self.threshold)
            or abs(self.threshold) > MAX_THRESHOLD
        ):
            raise InvalidFilter("The threshold is a number.")
        window = self.window_days
        if isinstance(window, bool) or not isinstance(window, int):
            raise InvalidFilter("The window is a whole number of days.")
        if not 1 <= window <= MAX_WINDOW_DAYS:
            raise InvalidFilter(f"The window is from 1 to {MAX_WINDOW_DAYS} days.")
        valid_timezone(self.tz)


def add_rule(engine: Engine, scope: Scope, rule: Rule) -> str:
    """Add an alert rule of the signed-in user; its id."""
    params: dict[str, Any] = {**rule.__dict__, "threshold": float(rule.threshold)}
    return str(write(engine, scope, "alert_rule_add", params)[0])


def my_rules(engine: Engine, scope: Scope, limit: int = 200) -> pd.DataFrame:
    """The user's own rules with their last state and message (:data:`MY_RULES`)."""
    rows = fetch(engine, scope, "alert_rules_mine", {"row_limit": valid_limit(limit)})
    return from_rows(rows, MY_RULES, config.timezone_name())


def delete_rule(engine: Engine, scope: Scope, rule_id: str) -> bool:
    """Delete one of the user's rules; False when it is not theirs (or gone)."""
    params = {"rule_id": valid_id(rule_id, "alert rules")}
    return bool(write(engine, scope, "alert_rule_delete", params))
