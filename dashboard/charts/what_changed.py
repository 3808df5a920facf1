"""The "What changed" ranking as shown (Overview and Venture health)."""

from __future__ import annotations

import pandas as pd

from dashboard.charts.theme import (
    ACTIONS,
    COMPANY,
    NO_COMPANY,
    NO_VENTURE,
    VENTURE,
    group_names,
)


def changes_table(changes: pd.DataFrame) -> pd.DataFrame:
    """`venture_changes` as shown: the score and its reason first, then each measure."""
    return pd.DataFrame(
        {
            VENTURE: group_names(changes["venture"], NO_VENTURE),
            COMPANY: group_names(changes["company"], NO_COMPANY),
            "Score (z)": pd.to_numeric(changes["score"]).round(2),
            "Reason": changes["reason"].astype(str),
            ACTIONS: pd.to_numeric(changes["actions"]).astype("Int64"),
            "Previous actions": pd.to_numeric(changes["prev_actions"]).astype("Int64"),
            "Error rate (%)": (changes["error_rate"] * 100).round(4),
            "Previous error rate (%)": (changes["prev_error_rate"] * 100).round(4),
            "Handoff efficiency (%)": changes["handoff_efficiency"].round(4),
            "Previous handoff efficiency (%)": changes["prev_handoff_efficiency"].round(4),
            "Cost per success": changes["cost_per_success"].round(4),
            "Previous cost per success": changes["prev_cost_per_success"].round(4),
            "Agent response (s)": changes["response_s"].round(3),
            "Previous agent response (s)": changes["prev_response_s"].round(3),
        }
    )
