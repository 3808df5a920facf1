"""Pure functions: the frames a page shows, and Plotly figures drawn from them, in one theme.

Each chart has two steps. ``*_table`` turns a query frame into the frame the chart shows, with
the column names and units of the screen; the page offers exactly that frame as `Download CSV`.
The figure function draws that table. Names from the database are escaped before they reach
Plotly, which renders some HTML tags in labels and hover text. Where a query frame carries
``low_share``, its table has a `Low-confidence share (%)` column and the figure fades the points
built mostly from low-confidence rows (dashboard/confidence.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go

from dashboard import confidence
from dashboard import format as fmt

STAGES = tuple(range(1, 41))
PERIOD = "Period start"
COMPANY = "Company"
VENTURE = "Venture"
ACTIONS = "Actions"
ERROR_RATE = "Error rate (%)"
HANDOFF = "Handoff efficiency (%)"
STAGE = "Stage"
INTERVENTIONS = "Interventions"
APPROVALS = "Approvals"
REJECTIONS = "Rejections"
PER_100 = "Interventions per 100 actions"
NO_VENTURE = "(no venture)"
NO_COMPANY = "(no company)"
LOW_SHARE = confidence.LOW_SHARE

# One theme for every figure. Backgrounds stay transparent so Streamlit's light or dark theme
# shows through; colours come from the "streamlit" template, which Streamlit maps to the active
# theme's palette when the chart is drawn with theme="streamlit".
LAYOUT = {
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    # Title at the top of the figure, the legend in a row of its own between title and plot.
    "margin": {"l": 8, "r": 8, "t": 84, "b": 8},
    "title": {"x": 0, "xanchor": "left", "y": 1, "yref": "container", "yanchor": "top",
              "pad": {"t": 12, "l": 4}},
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "title": None,
               "traceorder": "normal"},
    "hoverlabel": {"namelength": -1},
    "height": 440,
}  # fmt: skip

_DURATION_TICKS = (
    1, 2, 5, 10, 30,
    60, 2 * 60, 5 * 60, 10 * 60, 30 * 60,
    3_600, 2 * 3_600, 6 * 3_600, 12 * 3_600,
    86_400, 2 * 86_400, 4 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400, 90 * 86_400,
    365 * 86_400,
)  # fmt: skip


def themed(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(LAYOUT, title_text=fmt.plotly_text(title))
    return fig


def _labels(frame: pd.DataFrame) -> pd.Series:
    """Trace labels: the venture, with its company only where two ventures share a name."""
    if frame.empty:
        return pd.Series([], dtype=str)
    pairs = frame[[VENTURE, COMPANY]].drop_duplicates()
    shared = set(pairs[VENTURE][pairs[VENTURE].duplicated(keep=False)])
    return frame.apply(
        lambda r: f"{r[VENTURE]} ({r[COMPANY]})" if r[VENTURE] in shared else str(r[VENTURE]),
        axis=1,
    )


def _period(series: pd.Series) -> pd.Series:
    """Bucket starts as naive wall-clock dates in the dashboard's zone (what the axis shows)."""
    values = pd.to_datetime(series)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    return values.dt.normalize()


def _names(series: pd.Series, missing: str) -> pd.Series:
    """Names as text; rows without a venture (or company) form a group of their own."""
    return series.astype(object).where(series.notna(), missing).astype(str)


def _percent(series: pd.Series, scale: float) -> pd.Series:
    return (pd.to_numeric(series, errors="coerce") * scale).round(4)


# ---- tables: what each chart shows --------------------------------------------------------


def rate_table(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per bucket and venture: `error_rate` (0..1) or `handoff_efficiency` (0..100) in percent."""
    label, scale = (ERROR_RATE, 100.0) if column == "error_rate" else (HANDOFF, 1.0)
    table = pd.DataFrame(
        {
            PERIOD: _period(frame["bucket"]),
            COMPANY: _names(frame["company"], NO_COMPANY),
            VENTURE: _names(frame["venture"], NO_VENTURE),
            ACTIONS: pd.to_numeric(frame["actions"]).astype("Int64"),
            label: _percent(frame[column], scale),
            **confidence.column(frame),
        }
    )
    return table.sort_values([PERIOD, COMPANY, VENTURE], ignore_index=True)


def stage_rate_table(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    label, scale = (ERROR_RATE, 100.0) if column == "error_rate" else (HANDOFF, 1.0)
    table = pd.DataFrame(
        {
            STAGE: pd.to_numeric(frame["stage_id"]).astype(int),
            ACTIONS: pd.to_numeric(frame["actions"]).astype("Int64"),
            label: _percent(frame[column], scale),
            **confidence.column(frame),
        }
    )
    return table.sort_values(STAGE, ignore_index=True)


def stage_duration_table(frame: pd.DataFrame) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            STAGE: pd.to_numeric(frame["stage_id"]).astype(int),
            "Rows": pd.to_numeric(frame["rows"]).astype("Int64"),
            "Median (s)": pd.to_numeric(frame["p50_s"]),
            "p25 (s)": pd.to_numeric(frame["p25_s"]),
            "p75 (s)": pd.to_numeric(frame["p75_s"]),
            "p90 (s)": pd.to_numeric(frame["p90_s"]),
            "Mean (s)": pd.to_numeric(frame["mean_s"]),
            **confidence.column(frame),
        }
    )
    return table.sort_values(STAGE, ignore_index=True)


# Column names of the query frames -> names on screen.
_SHOWN = {
    "company": COMPANY,
    "venture": VENTURE,
    "actions": ACTIONS,
    "interventions": INTERVENTIONS,
    "approvals": APPROVALS,
    "rejections": REJECTIONS,
}


def _counts(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Actions, interventions, approvals and rejections summed per ``by`` (and the summed
    groups' low-confidence share, where the frame carries it)."""
    counts = [ACTIONS, INTERVENTIONS, APPROVALS, REJECTIONS]
    weights = confidence.weights(frame)
    named = frame.assign(
        company=_names(frame["company"], NO_COMPANY),
        venture=_names(frame["venture"], NO_VENTURE),
        **weights,
    ).rename(columns=_SHOWN)
    table = named.groupby(by, as_index=False, dropna=False)[counts + list(weights)].sum()
    table[counts] = table[counts].astype("Int64")
    return confidence.summed(table)


def interventions_time_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Interventions, approvals and rejections per bucket, summed over the ventures."""
    table = _counts(frame.assign(**{PERIOD: _period(frame["bucket"])}), [PERIOD])
    shown = [PERIOD, INTERVENTIONS, APPROVALS, REJECTIONS, ACTIONS]
    table = table[shown + _low_columns(table)]
    return table.sort_values(PERIOD, ignore_index=True)


def interventions_venture_table(frame: pd.DataFrame) -> pd.DataFrame:
    table = _counts(frame, ["venture_id", COMPANY, VENTURE])
    actions = table[ACTIONS].astype(float)
    per_100 = table[INTERVENTIONS].astype(float) * 100.0 / actions.where(actions > 0)
    table[PER_100] = per_100.round(4)
    table = table.drop(columns="venture_id")
    table = table[[c for c in table.columns if c != LOW_SHARE] + _low_columns(table)]
    return table.sort_values(
        [PER_100, COMPANY, VENTURE], ascending=[False, True, True]
    ).reset_index(drop=True)


def venture_counts_table(per_venture: pd.DataFrame) -> pd.DataFrame:
    """The per-venture table without its rate: what the stacked bars per venture show."""
    return per_venture.drop(columns=PER_100)


def per_100_table(per_venture: pd.DataFrame) -> pd.DataFrame:
    """The per-venture table's rate and what it is computed from."""
    shown = [COMPANY, VENTURE, ACTIONS, INTERVENTIONS, PER_100]
    return per_venture[shown + _low_columns(per_venture)]


def _low_columns(table: pd.DataFrame) -> list[str]:
    return [LOW_SHARE] if LOW_SHARE in table.columns else []


# ---- figures -------------------------------------------------------------------------------


def _empty(title: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text="No data", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return themed(fig, title)


def _rate(table: pd.DataFrame) -> tuple[str, str]:
    """The rate column a table holds, and its name in hover text."""
    if ERROR_RATE in table.columns:
        return ERROR_RATE, "Error rate"
    return HANDOFF, "Handoff efficiency"


def rate_over_time(table: pd.DataFrame, title: str, threshold: float | None = None) -> go.Figure:
    """One line per venture across the period buckets; ``threshold`` names the low-confidence
    threshold in the note on faded points (the configured one by default)."""
    if table.empty:
        return _empty(title)
    label, short = _rate(table)
    fig = go.Figure()
    named = table.assign(_label=_labels(table))
    buckets = pd.Index(sorted(named[PERIOD].unique()), name=PERIOD)
    for name, venture in named.groupby("_label", sort=True):
        # A bucket without rows is a gap in the line, not a straight line across it.
        rows = venture.set_index(PERIOD).reindex(buckets).reset_index()
        fig.add_trace(
            go.Scatter(
                x=rows[PERIOD],
                y=rows[label],
                mode="lines+markers",
                name=fmt.plotly_text(name),
                marker={"opacity": confidence.opacities(rows)},
                customdata=list(
                    zip(
                        rows[VENTURE].fillna(venture[VENTURE].iloc[0]).map(fmt.plotly_text),
                        rows[COMPANY].fillna(venture[COMPANY].iloc[0]).map(fmt.plotly_text),
                        rows[ACTIONS].fillna(0).astype(int),
                        confidence.hovers(rows),
                        strict=True,
                    )
                ),
                hovertemplate=(
                    "<b>%{customdata[0]}</b> · %{customdata[1]}<br>%{x|%d %b %Y}<br>"
                    f"{short}: %{{y:.2f}} %<br>Actions: %{{customdata[2]:,}}%{{customdata[3]}}"
                    "<extra></extra>"
                ),
                connectgaps=False,
            )
        )
    confidence.add_note(fig, [table], threshold)
    fig.update_xaxes(title_text=PERIOD)
    # Error rates from zero; handoff efficiency lives near 100 %, where the differences are.
    rangemode = "tozero" if label == ERROR_RATE else "normal"
    fig.update_yaxes(title_text=label, rangemode=rangemode, ticksuffix=" %")
    themed(fig, title)
    # One entry per venture: a column on the right, which scrolls, rather than rows that grow.
    fig.update_layout(
        legend={"orientation": "v", "x": 1.01, "xanchor": "left", "y": 1, "yanchor": "top"},
        margin_t=56,
    )
    return fig


def rate_by_stage(table: pd.DataFrame, title: str, threshold: float | None = None) -> go.Figure:
    label, short = _rate(table)
    fig = go.Figure(
        go.Bar(
            x=table[STAGE],
            y=table[label],
            marker={"opacity": confidence.opacities(table)},
            customdata=list(
                zip(table[ACTIONS].fillna(0).astype(int), confidence.hovers(table), strict=True)
            ),
            hovertemplate=(
                f"Stage %{{x}}<br>{short}: %{{y:.2f}} %<br>Actions: %{{customdata[0]:,}}"
                "%{customdata[1]}<extra></extra>"
            ),
            name=short,
        )
    )
    confidence.add_note(fig, [table], threshold)
    _stage_axis(fig)
    fig.update_yaxes(title_text=label, rangemode="tozero", ticksuffix=" %")
    return themed(fig, title)


def _stage_axis(fig: go.Figure) -> None:
    fig.update_xaxes(
        title_text=STAGE,
        tickmode="array",
        tickvals=list(STAGES),
        range=[0.4, 40.6],
        dtick=1,
    )


def duration_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick positions for a log axis of seconds, labelled in human units."""
    low, high = max(low, 0.5), max(high, low)
    inside = [t for t in _DURATION_TICKS if low / 1.5 <= t <= high * 1.5]
    if len(inside) < 2:
        inside = [t for t in _DURATION_TICKS if t <= high * 1.5][-3:] or [1, 60]
    # Thin evenly to at most eight ticks, keeping both ends so the whole range is labelled.
    count = min(len(inside), 8)
    picks = sorted({round(i * (len(inside) - 1) / max(count - 1, 1)) for i in range(count)})
    values = [float(inside[i]) for i in picks]
    return values, [fmt.duration(t) for t in values]


def stage_durations(table: pd.DataFrame, title: str, threshold: float | None = None) -> go.Figure:
    """Median per stage as bars with the p25–p75 spread, p90 as markers; log axis in human units."""
    if table.empty or table["Rows"].fillna(0).sum() == 0:
        return _empty(title)
    median, p25, p75, p90 = (table[c] for c in ("Median (s)", "p25 (s)", "p75 (s)", "p90 (s)"))
    hover = [
        f"<b>Stage {s}</b><br>Median: {fmt.duration_exact(m)}<br>"
        f"p25–p75: {fmt.duration(a)} – {fmt.duration(b)}<br>p90: {fmt.duration_exact(n)}<br>"
        f"Rows: {fmt.number(r)}{low}"
        for s, m, a, b, n, r, low in zip(
            table[STAGE], median, p25, p75, p90, table["Rows"], confidence.hovers(table),
            strict=True,
        )
    ]  # fmt: skip
    opacity = confidence.opacities(table)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=table[STAGE],
            y=median,
            name="Median (p25–p75 spread)",
            marker={"opacity": opacity},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (p75 - median).clip(lower=0),
                "arrayminus": (median - p25).clip(lower=0),
                "thickness": 1.5,
                "width": 3,
                # Mid grey: visible on the light and on the dark background.
                "color": "#8a8f98",
            },
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=table[STAGE],
            y=p90,
            name="p90",
            mode="markers",
            marker={"symbol": "diamond", "size": 8, "opacity": opacity},
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    confidence.add_note(fig, [table], threshold)
    values = pd.concat([p25, median, p75, p90]).dropna()
    values = values[values > 0]
    ticks, labels = duration_ticks(
        float(values.min()) if len(values) else 1.0, float(values.max()) if len(values) else 1.0
    )
    _stage_axis(fig)
    fig.update_yaxes(
        title_text="Median duration (log scale)",
        type="log",
        tickmode="array",
        tickvals=ticks,
        ticktext=labels,
    )
    fig.update_layout(barmode="overlay")
    return themed(fig, title)


def interventions_over_time(
    table: pd.DataFrame, title: str, threshold: float | None = None
) -> go.Figure:
    if table.empty:
        return _empty(title)
    fig = go.Figure()
    for column in (INTERVENTIONS, APPROVALS, REJECTIONS):
        fig.add_trace(
            go.Bar(
                x=table[PERIOD],
                y=table[column],
                name=column,
                marker={"opacity": confidence.opacities(table)},
                customdata=confidence.hovers(table),
                hovertemplate=(
                    f"%{{x|%d %b %Y}}<br>{column}: %{{y:,}}%{{customdata}}<extra></extra>"
                ),
            )
        )
    confidence.add_note(fig, [table], threshold)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text=PERIOD)
    fig.update_yaxes(title_text="Actions by the chairman", rangemode="tozero")
    return themed(fig, title)


def interventions_by_venture(
    table: pd.DataFrame, title: str, threshold: float | None = None
) -> go.Figure:
    if table.empty:
        return _empty(title)
    ordered = table.assign(_label=_labels(table)).sort_values(INTERVENTIONS, kind="stable")
    fig = go.Figure()
    names = ordered["_label"].map(fmt.plotly_text)
    for column in (INTERVENTIONS, APPROVALS, REJECTIONS):
        fig.add_trace(
            go.Bar(
                y=names,
                x=ordered[column],
                name=column,
                orientation="h",
                marker={"opacity": confidence.opacities(ordered)},
                customdata=list(
                    zip(
                        ordered[COMPANY].map(fmt.plotly_text),
                        confidence.hovers(ordered),
                        strict=True,
                    )
                ),
                hovertemplate=(
                    f"<b>%{{y}}</b> · %{{customdata[0]}}<br>{column}: %{{x:,}}%{{customdata[1]}}"
                    "<extra></extra>"
                ),
            )
        )
    confidence.add_note(fig, [ordered], threshold)
    fig.update_layout(barmode="stack", height=max(320, 28 * len(ordered) + 120))
    fig.update_xaxes(title_text="Actions by the chairman", rangemode="tozero")
    fig.update_yaxes(title_text=VENTURE, type="category", automargin=True)
    return themed(fig, title)


def interventions_per_100(
    table: pd.DataFrame, title: str, threshold: float | None = None
) -> go.Figure:
    if table.empty:
        return _empty(title)
    ordered = table.assign(_label=_labels(table)).sort_values(PER_100, kind="stable")
    fig = go.Figure(
        go.Bar(
            y=ordered["_label"].map(fmt.plotly_text),
            x=ordered[PER_100],
            orientation="h",
            marker={"opacity": confidence.opacities(ordered)},
            customdata=list(
                zip(
                    ordered[INTERVENTIONS].fillna(0).astype(int),
                    ordered[ACTIONS].fillna(0).astype(int),
                    ordered[COMPANY].map(fmt.plotly_text),
                    confidence.hovers(ordered),
                    strict=True,
                )
            ),
            hovertemplate=(
                "<b>%{y}</b> · %{customdata[2]}<br>%{x:.2f} interventions per 100 actions<br>"
                "%{customdata[0]:,} interventions in %{customdata[1]:,} actions"
                "%{customdata[3]}<extra></extra>"
            ),
            name=PER_100,
        )
    )
    confidence.add_note(fig, [ordered], threshold)
    fig.update_layout(height=max(320, 28 * len(ordered) + 120))
    fig.update_xaxes(title_text=PER_100, rangemode="tozero")
    fig.update_yaxes(title_text=VENTURE, type="category", automargin=True)
    return themed(fig, title)


# ---- overview: KPI tiles, their trends, ventures that need attention -----------------------


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
    table = pd.DataFrame({PERIOD: _period(trend["bucket"])})
    for kpi in KPIS:
        table[kpi.unit_label] = [kpi.table_value(v) for v in trend[kpi.column]]
    table = table.assign(**confidence.column(trend))
    return table.sort_values(PERIOD, ignore_index=True)


def attention_table(frame: pd.DataFrame) -> pd.DataFrame:
    """`venture_attention` as shown: rates in percent, the reason in words."""
    return pd.DataFrame(
        {
            VENTURE: _names(frame["venture"], NO_VENTURE),
            COMPANY: _names(frame["company"], NO_COMPANY),
            "Reason": frame["reason"].astype(str),
            "Score": pd.to_numeric(frame["score"]).round(2),
            ACTIONS: pd.to_numeric(frame["actions"]).astype("Int64"),
            ERROR_RATE: _percent(frame["error_rate"], 100.0),
            "Previous error rate (%)": _percent(frame["prev_error_rate"], 100.0),
            HANDOFF: _percent(frame["handoff_efficiency"], 1.0),
            "Previous handoff efficiency (%)": _percent(frame["prev_handoff_efficiency"], 1.0),
            INTERVENTIONS: pd.to_numeric(frame["interventions"]).astype("Int64"),
        }
    )
