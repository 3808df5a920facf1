"""The Overview's KPI tiles, their trends, and the ventures that need attention."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from dashboard.charts import confidence
from dashboard.charts import format as fmt
from dashboard.charts.theme import (
    ACTIONS,
    COMPANY,
    ERROR_RATE,
    HANDOFF,
    INTERVENTIONS,
    NO_COMPANY,
    NO_VENTURE,
    PERIOD,
    VENTURE,
    group_names,
    period_start,
    scaled_percent,
)


@dataclass(frozen=True)
class Kpi:
    """A tile: its label, the `kpis` column, how to read it, and which direction is better."""

    label: str
    column: str
    kind: str  # count | ratio (0..1) | percent (0..100) | duration (s) | money
    better: str  # higher | lower | neither

    @property
    def delta_color(self) -> Literal["normal", "inverse", "off"]:
        if self.better == "higher":
            return "normal"
        return "inverse" if self.better == "lower" else "off"

    @property
    def unit_label(self) -> str:
        unit = {"ratio": " (%)", "percent": " (%)", "duration": " (s)"}.get(self.kind, "")
        return self.label + unit

    def shown(self, value: Any) -> str:
        if self.kind == "ratio":
            return fmt.ratio_percent(value)
        if self.kind == "percent":
            return fmt.percent(value)
        if self.kind == "duration":
            return fmt.duration(value)
        if self.kind == "money":
            return fmt.money(value)
        return fmt.number(value)

    def table_value(self, value: Any) -> float:
        """The value in the unit of :attr:`unit_label` (ratios in percent)."""
        if fmt.is_missing(value):
            return math.nan
        return float(value) * 100 if self.kind == "ratio" else float(value)

    def delta(self, value: Any, previous: Any) -> str | None:
        """The change against the previous period: points for rates, per cent otherwise."""
        if fmt.is_missing(value) or fmt.is_missing(previous):
            return None
        now, before = self.table_value(value), self.table_value(previous)
        if self.kind in ("ratio", "percent"):
            change = now - before
            return fmt.signed(round(change, 2), f"{abs(change):,.2f} pp")
        if before == 0:
            return None
        change = (now - before) * 100 / abs(before)
        return fmt.signed(round(change, 1), f"{abs(change):,.1f} %")


KPIS = (
    Kpi("Actions", "actions", "count", "neither"),
    Kpi("Error rate", "error_rate", "ratio", "lower"),
    Kpi("Handoff efficiency", "handoff_efficiency", "percent", "higher"),
    Kpi("Mean stage duration", "mean_stage_duration_s", "duration", "lower"),
    Kpi("Chairman interventions", "interventions", "count", "lower"),
    Kpi("Compute cost", "compute_cost", "money", "lower"),
    Kpi("Data quality", "data_quality", "percent", "higher"),
    Kpi("Confidence", "confidence", "percent", "higher"),
)
# Not a tile: the share of the tiles' figures carried by low-confidence rows, in their table.
_LOW_KPI = Kpi("Low-confidence share", confidence.SOURCE, "ratio", "lower")


def kpi_table(kpis: pd.DataFrame) -> pd.DataFrame:
    """The tiles as a table: this period, the previous one, in the units of the labels."""
    row = kpis.iloc[0] if len(kpis) else pd.Series(dtype=float)
    shown = KPIS + ((_LOW_KPI,) if confidence.SOURCE in row.index else ())
    return pd.DataFrame(
        {
            "Measure": [k.unit_label for k in shown],
            "This period": [k.table_value(row.get(k.column)) for k in shown],
            "Previous period": [k.table_value(row.get("prev_" + k.column)) for k in shown],
        }
    )


def trend_table(trend: pd.DataFrame) -> pd.DataFrame:
    """Each KPI per bucket, in the units of the labels: the tiles' sparklines."""
    table = pd.DataFrame({PERIOD: period_start(trend["bucket"])})
    for kpi in KPIS:
        table[kpi.unit_label] = [kpi.table_value(v) for v in trend[kpi.column]]
    table = table.assign(**confidence.column(trend))
    return table.sort_values(PERIOD, ignore_index=True)


def attention_table(frame: pd.DataFrame) -> pd.DataFrame:
    """`venture_attention` as shown: rates in percent, the reason in words."""
    return pd.DataFrame(
        {
            VENTURE: group_names(frame["venture"], NO_VENTURE),
            COMPANY: group_names(frame["company"], NO_COMPANY),
            "Reason": frame["reason"].astype(str),
            "Score": pd.to_numeric(frame["score"]).round(2),
            ACTIONS: pd.to_numeric(frame["actions"]).astype("Int64"),
            ERROR_RATE: scaled_percent(frame["error_rate"], 100.0),
            "Previous error rate (%)": scaled_percent(frame["prev_error_rate"], 100.0),
            HANDOFF: scaled_percent(frame["handoff_efficiency"], 1.0),
            "Previous handoff efficiency (%)": scaled_percent(
                frame["prev_handoff_efficiency"], 1.0
            ),
            INTERVENTIONS: pd.to_numeric(frame["interventions"]).astype("Int64"),
        }
    )
