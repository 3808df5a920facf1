"""Low-confidence rows: how a chart or a tile says that a figure rests mostly on them.

A row is low-confidence when its data_quality_score or confidence_score is under the threshold
(ORCHDASH_LOW_CONFIDENCE, default 60: :func:`queries.default_threshold`). The query
frames carry ``low_share``, the share of each figure that such rows carry: of its actions (of its
rows where it has none), of its measured durations for the stage durations; 0..1, NaN without
rows. The tables of dashboard/charts/theme.py show it in percent (:data:`LOW_SHARE`); a point built
mostly from low-confidence rows (share > 50 %) is drawn faded, its hover says the share, and the
chart's legend explains the fading once. Frames without ``low_share`` draw as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import format as fmt
from queries import default_threshold

LOW_SHARE = "Low-confidence share (%)"
SOURCE = "low_share"
FADED_ABOVE = 0.5  # a point built mostly (> 50 %) from low-confidence rows is drawn faded
FADED_OPACITY = 0.3
# Mid grey: the legend's sample of a faded point, visible on the light and on the dark theme.
GREY = "#8a8f98"
# The parts of a share that add up across groups, under names no table shows.
_PARTS = ("_low_actions", "_actions", "_low_rows", "_rows")


def threshold(value: float | None = None) -> float:
    """The threshold the queries used: the configured one unless a page chose another."""
    return default_threshold() if value is None else float(value)


def column(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """``{LOW_SHARE: the share in percent}`` when ``frame`` carries ``low_share``, else ``{}``:
    spread into a table's columns. Not rounded, so that fading follows the frame exactly."""
    if SOURCE not in frame.columns:
        return {}
    return {LOW_SHARE: pd.to_numeric(frame[SOURCE], errors="coerce").astype("float64") * 100}


def weights(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The parts of each group's share that add up, for a table that sums groups.

    A group's ``low_share`` is the share of its actions that low-confidence rows carry, or of its
    rows when it has no actions; so the summed groups' share is their low-confidence actions over
    their actions, or, without actions, their low-confidence rows over their rows."""
    if SOURCE not in frame.columns:
        return {}
    share = pd.to_numeric(frame[SOURCE], errors="coerce").fillna(0).astype("float64")
    actions = pd.to_numeric(frame["actions"]).fillna(0).astype("float64")
    rows = pd.to_numeric(frame["rows"]).fillna(0).astype("float64")
    by_rows = actions <= 0
    low_actions, low_rows = share.where(~by_rows, 0.0) * actions, share.where(by_rows, 0.0) * rows
    return dict(zip(_PARTS, (low_actions, actions, low_rows, rows), strict=True))


def summed(table: pd.DataFrame) -> pd.DataFrame:
    """A grouped table with the columns of :func:`weights` summed: they become its share."""
    if _PARTS[0] not in table.columns:
        return table
    low_actions, actions, low_rows, rows = (table[p].astype("float64") for p in _PARTS)
    share = (low_actions / actions).where(actions > 0, low_rows / rows.where(rows > 0)) * 100
    return table.drop(columns=list(_PARTS)).assign(**{LOW_SHARE: share})


def faded(table: pd.DataFrame) -> pd.Series:
    """Whether each row of a table is built mostly from low-confidence rows."""
    if LOW_SHARE not in table.columns:
        return pd.Series(False, index=table.index, dtype=bool)
    return table[LOW_SHARE].astype("float64").fillna(0) > FADED_ABOVE * 100


def opacities(table: pd.DataFrame) -> list[float]:
    """Per row: :data:`FADED_OPACITY` where :func:`faded`, else 1."""
    return [FADED_OPACITY if f else 1.0 for f in faded(table)]


def hover(share: Any) -> str:
    """A hover line (with its leading break) that says the share, or nothing when it is 0."""
    if fmt.is_missing(share) or float(share) <= 0:
        return ""
    return f"<br>{fmt.percent(share, 0)} of this figure from low-confidence rows"


def hovers(table: pd.DataFrame) -> list[str]:
    if LOW_SHARE not in table.columns:
        return [""] * len(table)
    return [hover(s) for s in table[LOW_SHARE]]


def note(limit: float) -> str:
    return f"Faded: mostly low-confidence rows (score under {limit:g})"


def add_note(fig: go.Figure, tables: list[pd.DataFrame], limit: float | None, **where: Any) -> None:
    """Explain the fading once, as a legend entry, when any point of ``tables`` is faded.
    ``where`` places it in a subplot (``row``, ``col``)."""
    if not any(faded(t).any() for t in tables):
        return
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=note(threshold(limit)),
            marker={"symbol": "square", "size": 10, "color": GREY, "opacity": FADED_OPACITY},
            hoverinfo="skip",
            showlegend=True,
        ),
        **where,
    )


@dataclass(frozen=True)
class TileNote:
    """What the KPI tiles say about low-confidence rows: badges when a period's figures rest
    mostly on them, and a caption of the shares whenever any row is low-confidence."""

    badges: tuple[str, ...]
    caption: str | None


def tile_note(kpis: pd.DataFrame, limit: float | None = None) -> TileNote:
    """The note under the tiles, from the ``low_share`` and ``prev_low_share`` of ``kpis``."""
    if SOURCE not in kpis.columns or kpis.empty:
        return TileNote((), None)
    row = kpis.iloc[0]
    now, before = _share(row.get(SOURCE)), _share(row.get("prev_" + SOURCE))
    badges = []
    if now > FADED_ABOVE:
        badges.append(f"Low confidence: {fmt.ratio_percent(now, 0)}")
    if before > FADED_ABOVE:
        badges.append(f"Previous period low confidence: {fmt.ratio_percent(before, 0)}")
    if not now > 0 and not before > 0:
        return TileNote(tuple(badges), None)
    caption = (
        f"Rows whose data quality or confidence score is under {threshold(limit):g} carry "
        f"{fmt.ratio_percent(now, 0)} of these figures (previous period: "
        f"{fmt.ratio_percent(before, 0)})."
    )
    return TileNote(tuple(badges), caption)


def _share(value: Any) -> float:
    return 0.0 if fmt.is_missing(value) else float(value)
