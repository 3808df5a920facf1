"""Charts, the tables they show, their CSV, and the human formats: pure functions, no database."""

from __future__ import annotations

import csv
import html
import io
import math
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import queries
from dashboard.charts import confidence, decisions, interventions, rates, stage_times, theme, tiles
from dashboard.charts import format as fmt
from dashboard.ui import table_csv

ZONE = ZoneInfo("Europe/Berlin")
HOSTILE = ("<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", '=HYPERLINK("http://x")')


def buckets(n: int) -> list[datetime]:
    return [datetime(2026, 11, d, tzinfo=ZONE) for d in range(1, n + 1)]


def rates_frame(column: str = "error_rate") -> pd.DataFrame:
    rows = []
    for i, when in enumerate(buckets(3)):
        for j, (venture, company) in enumerate(
            [(HOSTILE[0], "Acme"), ("Beacon", HOSTILE[2]), ("Beacon", "Other co")]
        ):
            value = 0.01 * (i + 1) + 0.001 * j if column == "error_rate" else 90.0 + i + j
            rows.append(
                {
                    "bucket": when,
                    "venture_id": f"v{j}",
                    "venture": venture,
                    "company": company,
                    "actions": 100 * (i + j + 1),
                    column: value,
                }
            )
    return pd.DataFrame(rows)


def stage_frame(rows: int = 5) -> pd.DataFrame:
    stage = np.arange(1, 41)
    p50 = 60.0 * 1.3**stage
    return pd.DataFrame(
        {
            "stage_id": stage,
            "rows": np.where(stage == 13, 0, rows),
            "mean_s": p50 * 1.2,
            "p50_s": np.where(stage == 13, np.nan, p50),
            "p90_s": p50 * 3,
            "p10_s": p50 / 3,
            "p25_s": p50 / 2,
            "p75_s": p50 * 2,
        }
    )


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline="")))


# ---- formats --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0 s"),
        (4.25, "4.2 s"),
        (42, "42 s"),
        (59.4, "59 s"),
        (450, "7.5 min"),
        (3_600, "1 h"),
        (11_520, "3.2 h"),
        (181_440, "2.1 d"),
        (-90, "-1.5 min"),
        (float("nan"), "–"),
        (None, "–"),
    ],
)
def test_duration(seconds: float | None, shown: str) -> None:
    assert fmt.duration(seconds) == shown


def test_numbers_percentages_money_dates() -> None:
    assert fmt.number(1234567) == "1,234,567"
    assert fmt.ratio_percent(0.123456) == "12.35 %"
    assert fmt.percent(87.5) == "87.50 %"
    assert fmt.money(1234.5) == "1,234.50"
    assert fmt.day(date(2026, 11, 26)) == "26 Nov 2026"
    assert fmt.duration_exact(11_520) == "3.2 h (11,520 s)"
    assert fmt.signed(-0.5, "0.50 pp") == "-0.50 pp"
    assert fmt.signed(0, "0.00 pp") == "0.00 pp"


def test_plotly_text_escapes_tags() -> None:
    assert fmt.plotly_text(HOSTILE[0]) == "&lt;img src=x onerror=alert(1)&gt;"


# ---- CSV ------------------------------------------------------------------------------------


def test_csv_is_safe_in_a_spreadsheet() -> None:
    cells = [
        '=HYPERLINK("http://x","y")',
        "+1",
        "-2",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "\uff1d1",
        "\uff0b1",
        "\uff0d1",
        "\uff20x",
        "plain, with comma",
        "Zoë",
    ]
    frame = pd.DataFrame(
        {
            "Name": cells,
            "Number": [-(i + 0.5) for i in range(len(cells))],
            "Count": pd.array(range(len(cells)), dtype="Int64"),
        }
    )
    rows = read_csv(table_csv.to_csv(frame))
    assert rows[0] == ["Name", "Number", "Count"]
    names = [r[0] for r in rows[1:]]
    for original, written in zip(cells, names, strict=True):
        dangerous = original.startswith(queries.FORMULA_STARTS)
        assert written == ("'" + original if dangerous else original)
    # Numbers stay numbers: a negative number is not text that starts with "-".
    assert [float(r[1]) for r in rows[1:]] == list(frame["Number"])
    assert [int(r[2]) for r in rows[1:]] == list(range(len(cells)))


def test_csv_writes_bucket_days_and_blank_missing_values() -> None:
    frame = pd.DataFrame(
        {
            theme.PERIOD: pd.to_datetime(["2026-11-01", "2026-11-02"]),
            "Rate (%)": [1.5, math.nan],
        }
    )
    rows = read_csv(table_csv.to_csv(frame))
    assert rows[1:] == [["2026-11-01", "1.5"], ["2026-11-02", ""]]


def test_file_name_says_what_and_when() -> None:
    name = table_csv.file_name("Error rates", date(2026, 8, 28), date(2026, 11, 26))
    assert name == "error-rates_2026-08-28_2026-11-26.csv"
    assert table_csv.file_name("../../etc/passwd", date(2026, 1, 1), date(2026, 1, 2)).startswith(
        "etc-passwd_"
    )


# ---- tables and figures ----------------------------------------------------------------------


def assert_themed(fig: go.Figure) -> None:
    assert fig.layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert fig.layout.plot_bgcolor == "rgba(0,0,0,0)"
    assert fig.layout.title.text


def test_a_long_title_is_broken_into_lines_that_fit_a_phone() -> None:
    title = f"Median stage duration of {HOSTILE[0]} by venture and stage, against the baseline"
    fig = theme.themed(go.Figure(), title)
    lines = fig.layout.title.text.split("<br>")
    assert len(lines) == 3
    assert " ".join(html.unescape(line) for line in lines) == title
    assert all(len(html.unescape(line)) <= theme.TITLE_WIDTH for line in lines)
    assert "<img" not in fig.layout.title.text
    # Room for the two more lines above the legend.
    assert fig.layout.margin.t == theme.themed(go.Figure(), "Short").layout.margin.t + 2 * 22


def all_text(fig: go.Figure) -> str:
    return fig.to_json()


def test_error_rate_table_is_in_percent_per_bucket_and_venture() -> None:
    frame = rates_frame()
    table = rates.rate_table(frame, "error_rate")
    assert list(table.columns) == [
        theme.PERIOD,
        theme.COMPANY,
        theme.VENTURE,
        theme.ACTIONS,
        theme.ERROR_RATE,
    ]
    assert len(table) == len(frame)
    merged = table.merge(
        frame.assign(**{theme.PERIOD: frame["bucket"].dt.tz_localize(None)}),
        left_on=[theme.PERIOD, theme.VENTURE, theme.COMPANY],
        right_on=[theme.PERIOD, "venture", "company"],
    )
    assert np.allclose(merged[theme.ERROR_RATE], merged["error_rate"] * 100)
    # Wall-clock days of the dashboard's zone, not UTC instants.
    assert set(table[theme.PERIOD].dt.day) == {1, 2, 3}


def test_rate_over_time_draws_a_line_per_venture_with_escaped_names() -> None:
    table = rates.rate_table(rates_frame(), "error_rate")
    fig = rates.rate_over_time(table, "Error rate per venture")
    assert_themed(fig)
    names = sorted(trace.name for trace in fig.data)
    # Two ventures share the name "Beacon": the company tells them apart.
    assert names == sorted(
        [
            fmt.plotly_text(HOSTILE[0]),
            fmt.plotly_text(f"Beacon ({HOSTILE[2]})"),
            "Beacon (Other co)",
        ]
    )
    assert "<img" not in all_text(fig)
    assert fig.layout.yaxis.title.text == "Error rate (%)"
    assert all("%{y:.2f} %" in trace.hovertemplate for trace in fig.data)
    for trace in fig.data:
        assert len(trace.x) == 3


def test_handoff_table_keeps_percent_units() -> None:
    frame = rates_frame("handoff_efficiency")
    table = rates.rate_table(frame, "handoff_efficiency")
    assert np.allclose(
        sorted(table[theme.HANDOFF]), sorted(frame["handoff_efficiency"].astype(float))
    )
    fig = rates.rate_over_time(table, "Handoff")
    assert fig.layout.yaxis.title.text == "Handoff efficiency (%)"


def test_stage_rates_cover_the_forty_stages_in_order() -> None:
    frame = pd.DataFrame(
        {
            "stage_id": list(range(40, 0, -1)),
            "actions": [10] * 40,
            "error_rate": [s / 1000 for s in range(40, 0, -1)],
            "handoff_efficiency": [90.0] * 40,
            "interventions": [1] * 40,
        }
    )
    table = rates.stage_rate_table(frame, "error_rate")
    assert list(table[theme.STAGE]) == list(range(1, 41))
    assert np.allclose(table[theme.ERROR_RATE], [s / 10 for s in range(1, 41)])
    fig = rates.rate_by_stage(table, "Per stage")
    assert_themed(fig)
    assert list(fig.layout.xaxis.tickvals) == list(range(1, 41))
    assert fig.layout.xaxis.title.text == "Stage"


def test_stage_durations_use_human_units_on_a_log_axis() -> None:
    table = stage_times.stage_duration_table(stage_frame())
    fig = stage_times.stage_durations(table, "Stage durations")
    assert_themed(fig)
    bars, p90 = fig.data
    assert list(bars.x) == list(range(1, 41))
    assert fig.layout.yaxis.type == "log"
    assert "duration" in fig.layout.yaxis.title.text.lower()
    labels = list(fig.layout.yaxis.ticktext)
    assert labels and all(label.split(" ")[-1] in {"s", "min", "h", "d"} for label in labels)
    assert len(labels) <= 8
    # Ticks span the data: from below the smallest p25 to above the largest p90.
    values = list(fig.layout.yaxis.tickvals)
    assert min(values) <= table["p25 (s)"].min() * 1.5
    assert max(values) >= table["p90 (s)"].max() / 1.5
    # Hover gives the human duration and the exact seconds.
    assert fmt.duration_exact(table.loc[0, "Median (s)"]) in bars.hovertext[0]
    # A stage without rows is a gap, not a zero.
    assert math.isnan(bars.y[12])
    # The spread bars reach p25 and p75.
    drawn = ~np.isnan(np.array(bars.y, dtype=float))
    top = np.array(bars.y, dtype=float) + np.array(bars.error_y.array, dtype=float)
    bottom = np.array(bars.y, dtype=float) - np.array(bars.error_y.arrayminus, dtype=float)
    assert np.allclose(top[drawn], table["p75 (s)"][drawn])
    assert np.allclose(bottom[drawn], table["p25 (s)"][drawn])


def test_empty_frames_give_an_empty_figure() -> None:
    empty = rates.rate_table(rates_frame().iloc[0:0], "error_rate")
    fig = rates.rate_over_time(empty, "Nothing")
    assert fig.layout.annotations[0].text == "No data"
    stages = stage_times.stage_duration_table(stage_frame(rows=0))
    assert stage_times.stage_durations(stages, "Nothing").layout.annotations[0].text == "No data"


def interventions_frame() -> pd.DataFrame:
    rows = []
    for i, when in enumerate(buckets(2)):
        for j, venture in enumerate(["Aurora", HOSTILE[1]]):
            rows.append(
                {
                    "bucket": when,
                    "venture_id": f"v{j}",
                    "venture": venture,
                    "company": "Acme",
                    "actions": 200 * (j + 1),
                    "interventions": 3 + i + j,
                    "approvals": 2 + j,
                    "rejections": i,
                }
            )
    return pd.DataFrame(rows)


def test_interventions_over_time_are_stacked_sums() -> None:
    frame = interventions_frame()
    table = interventions.interventions_time_table(frame)
    assert len(table) == 2
    for column, source in [
        (theme.INTERVENTIONS, "interventions"),
        (theme.APPROVALS, "approvals"),
        (theme.REJECTIONS, "rejections"),
    ]:
        assert table[column].sum() == frame[source].sum()
    fig = interventions.interventions_over_time(table, "Over time")
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == [theme.INTERVENTIONS, theme.APPROVALS, theme.REJECTIONS]


def test_interventions_per_100_actions_per_venture() -> None:
    frame = interventions_frame()
    table = interventions.interventions_venture_table(frame)
    for _, row in table.iterrows():
        source = frame[frame["venture"] == row[theme.VENTURE]]
        expected = source["interventions"].sum() * 100 / source["actions"].sum()
        assert row[theme.PER_100] == pytest.approx(expected, abs=1e-4)
    fig = interventions.interventions_per_100(table, "Per 100")
    assert fmt.plotly_text(HOSTILE[1]) in list(fig.data[0].y)
    assert fig.layout.xaxis.title.text == theme.PER_100
    by_venture = interventions.interventions_by_venture(table, "Per venture")
    assert by_venture.layout.barmode == "stack"


# ---- overview ------------------------------------------------------------------------------


def kpis_frame(**values: float) -> pd.DataFrame:
    row: dict[str, float] = {}
    for kpi in tiles.KPIS:
        row[kpi.column] = values.get(kpi.column, 10.0)
        row["prev_" + kpi.column] = values.get("prev_" + kpi.column, 10.0)
    return pd.DataFrame([row])


def test_kpi_deltas_and_colours() -> None:
    error = next(k for k in tiles.KPIS if k.column == "error_rate")
    assert error.delta_color == "inverse"  # lower is better
    assert error.delta(0.05, 0.045) == "+0.50 pp"
    assert error.shown(0.05) == "5.00 %"
    handoff = next(k for k in tiles.KPIS if k.column == "handoff_efficiency")
    assert handoff.delta_color == "normal"
    assert handoff.delta(80, 82.5) == "-2.50 pp"
    actions = next(k for k in tiles.KPIS if k.column == "actions")
    assert actions.delta(110, 100) == "+10.0 %"
    assert actions.delta(110, 0) is None
    assert actions.delta(110, math.nan) is None
    duration = next(k for k in tiles.KPIS if k.column == "mean_stage_duration_s")
    assert duration.delta_color == "inverse"
    assert duration.shown(11_520) == "3.2 h"


def test_kpi_table_has_units_and_both_periods() -> None:
    table = tiles.kpi_table(kpis_frame(error_rate=0.05, prev_error_rate=0.04))
    row = table.set_index("Measure").loc["Error rate (%)"]
    assert row["This period"] == pytest.approx(5.0)
    assert row["Previous period"] == pytest.approx(4.0)
    assert len(table) == len(tiles.KPIS)


def test_attention_table_names_stay_raw_for_the_dataframe() -> None:
    frame = pd.DataFrame(
        {
            "venture_id": ["v1"],
            "venture": [HOSTILE[0]],
            "company": [HOSTILE[2]],
            "actions": [120],
            "error_rate": [0.2],
            "prev_error_rate": [0.1],
            "handoff_efficiency": [70.0],
            "prev_handoff_efficiency": [80.0],
            "interventions": [4],
            "score": [12.5],
            "reason": ["error rate up"],
        }
    )
    table = tiles.attention_table(frame)
    assert table.loc[0, theme.VENTURE] == HOSTILE[0]
    assert table.loc[0, theme.ERROR_RATE] == pytest.approx(20.0)
    rows = read_csv(table_csv.to_csv(table))
    assert rows[1][1] == "'" + HOSTILE[2]


def test_a_bucket_without_rows_is_a_gap_in_the_line() -> None:
    frame = rates_frame()
    # Beacon of Other co has no rows on the middle day: its line must break there.
    missing = frame["bucket"].eq(frame["bucket"].unique()[1]) & frame["company"].eq("Other co")
    fig = rates.rate_over_time(rates.rate_table(frame[~missing], "error_rate"), "Gaps")
    trace = next(t for t in fig.data if t.name == "Beacon (Other co)")
    assert len(trace.x) == 3
    assert math.isnan(trace.y[1]) and not math.isnan(trace.y[0]) and not math.isnan(trace.y[2])


def test_rows_without_a_venture_are_a_named_group() -> None:
    frame = interventions_frame()
    frame.loc[frame["venture_id"] == "v1", ["venture_id", "venture"]] = None
    table = interventions.interventions_venture_table(frame)
    assert theme.NO_VENTURE in set(table[theme.VENTURE])
    assert table[theme.INTERVENTIONS].sum() == frame["interventions"].sum()
    rate_rows = rates.rate_table(rates_frame().assign(venture=None), "error_rate")
    assert set(rate_rows[theme.VENTURE]) == {theme.NO_VENTURE}


# ---- low-confidence rows: faded points, the share in hover, a note, the tiles' badge ----------

# Shares around the fading line (> 0.5 fades, 0.5 does not), none, all, and unknown.
SHARES = (0.0, 0.25, 0.5, 0.5000001, 0.62, 1.0, math.nan)


def shares(n: int, offset: int = 0) -> list[float]:
    return [SHARES[(i + offset) % len(SHARES)] for i in range(n)]


def with_shares(frame: pd.DataFrame, offset: int = 0) -> pd.DataFrame:
    return frame.assign(low_share=shares(len(frame), offset), rows=range(1, len(frame) + 1))


def expected_opacity(share: float) -> float:
    # The rule as the README states it, not the code's constants: mostly is more than half.
    return 0.3 if share > 0.5 else 1.0


def note_traces(fig: go.Figure) -> list[Any]:
    return [t for t in fig.data if str(t.name).startswith("Faded:")]


def drawn(fig: go.Figure) -> list[Any]:
    return [t for t in fig.data if not str(t.name).startswith("Faded:")]


def test_rate_points_fade_exactly_where_the_frame_is_mostly_low_confidence() -> None:
    frame = with_shares(rates_frame())
    table = rates.rate_table(frame, "error_rate")
    assert theme.LOW_SHARE in table.columns
    fig = rates.rate_over_time(table, "Error rate", threshold=60)
    by_point = {
        (b.tz_localize(None), company, venture): share
        for b, company, venture, share in zip(
            frame["bucket"], frame["company"], frame["venture"], frame["low_share"], strict=True
        )
    }
    seen = 0
    for trace in drawn(fig):
        for x, opacity, data in zip(trace.x, trace.marker.opacity, trace.customdata, strict=True):
            venture, company = html.unescape(data[0]), html.unescape(data[1])
            share = by_point[(pd.Timestamp(x), company, venture)]
            assert opacity == expected_opacity(share)
            if share > 0:  # the share in the hover text, in whole percent
                assert data[3] == f"<br>{share * 100:.0f} % of this figure from low-confidence rows"
            else:
                assert data[3] == ""
            seen += 1
        assert "%{customdata[3]}" in trace.hovertemplate
    assert seen == len(frame)
    # The fading is explained once, in the legend, with the threshold.
    (note,) = note_traces(fig)
    assert "60" in note.name and note.showlegend and note.marker.opacity == 0.3


def test_stage_bars_and_durations_fade_per_stage() -> None:
    stage = np.arange(1, 41)
    per_stage = pd.DataFrame(
        {
            "stage_id": stage,
            "actions": [10] * 40,
            "rows": [3] * 40,
            "error_rate": [0.1] * 40,
            "low_share": shares(40, 3),
        }
    )
    table = rates.stage_rate_table(per_stage, "error_rate")
    fig = rates.rate_by_stage(table, "Per stage")
    (bars,) = drawn(fig)
    assert list(bars.marker.opacity) == [expected_opacity(s) for s in per_stage["low_share"]]
    assert len(note_traces(fig)) == 1
    assert bars.customdata[1][1].startswith("<br>62 %")  # stage 2: SHARES[4]

    durations = stage_frame().assign(low_share=shares(40, 1))
    table = stage_times.stage_duration_table(durations)
    fig = stage_times.stage_durations(table, "Durations")
    median, p90 = drawn(fig)
    expected = [expected_opacity(s) for s in durations["low_share"]]
    assert list(median.marker.opacity) == expected == list(p90.marker.opacity)
    assert len(note_traces(fig)) == 1
    for text, share in zip(median.hovertext, durations["low_share"], strict=True):
        assert ("of this figure from low-confidence rows" in text) == (share > 0)


# Raw rows (bucket, venture, action_count, low-confidence?) behind the summed interventions.
LOW_ROWS = [
    (0, "Aurora", 40, True), (0, "Aurora", 10, False),
    (0, HOSTILE[1], 30, False), (0, HOSTILE[1], 0, True),
    (0, "Idle", 0, True), (0, "Idle", 0, False),
    (1, "Aurora", 5, False), (1, "Aurora", 5, True),
    (1, HOSTILE[1], 20, True), (1, HOSTILE[1], 20, False), (1, HOSTILE[1], 1, True),
    (1, "Idle", 0, True), (1, "Idle", 0, True), (1, "Idle", 0, False),
]  # fmt: skip


def raw_share(rows: pd.DataFrame) -> float:
    """The share of the actions that low-confidence rows carry, or of the rows without actions."""
    if rows["actions"].sum() > 0:
        return float(rows["actions"][rows["low"]].sum() / rows["actions"].sum())
    return float(rows["low"].mean())


def test_summed_interventions_carry_the_share_of_their_rows() -> None:
    raw = pd.DataFrame(LOW_ROWS, columns=["bucket", "venture", "actions", "low"])
    raw["bucket"] = [buckets(2)[b] for b in raw["bucket"]]
    frame = pd.DataFrame(
        [
            {
                "bucket": bucket,
                "venture_id": venture,
                "venture": venture,
                "company": "Acme",
                "rows": len(group),
                "actions": int(group["actions"].sum()),
                "interventions": len(group),
                "approvals": 1,
                "rejections": 0,
                "low_share": raw_share(group),
            }
            for (bucket, venture), group in raw.groupby(["bucket", "venture"])
        ]
    )
    # Expected straight from the raw rows, not from the groups' shares.
    expected_time = [raw_share(g) * 100 for _, g in raw.groupby("bucket")]
    assert [s > 50 for s in expected_time] == [False, True]
    table = interventions.interventions_time_table(frame)
    assert np.allclose(table[theme.LOW_SHARE], expected_time)
    fig = interventions.interventions_over_time(table, "Over time")
    for trace in drawn(fig):
        assert list(trace.marker.opacity) == [expected_opacity(s / 100) for s in expected_time]

    shares_of = {v: raw_share(g) * 100 for v, g in raw.groupby("venture")}
    assert [shares_of[v] > 50 for v in ("Aurora", HOSTILE[1], "Idle")] == [True, False, True]
    per_venture = interventions.interventions_venture_table(frame)
    assert np.allclose(
        per_venture[theme.LOW_SHARE], [shares_of[v] for v in per_venture[theme.VENTURE]]
    )
    counts = interventions.venture_counts_table(per_venture)
    rates = interventions.per_100_table(per_venture)
    assert theme.PER_100 not in counts.columns and theme.LOW_SHARE in rates.columns
    for fig, table in (
        (interventions.interventions_by_venture(counts, "Per venture"), counts),
        (interventions.interventions_per_100(rates, "Per 100"), rates),
    ):
        for trace in drawn(fig):
            names = [html.unescape(y) for y in trace.y]
            want = {v: expected_opacity(shares_of[v] / 100) for v in table[theme.VENTURE]}
            assert list(trace.marker.opacity) == [want[n] for n in names]
        assert len(note_traces(fig)) == 1


def test_nothing_fades_without_low_confidence_rows() -> None:
    for frame in (rates_frame().assign(low_share=0.0, rows=1), rates_frame()):
        table = rates.rate_table(frame, "error_rate")
        fig = rates.rate_over_time(table, "Error rate")
        assert not note_traces(fig)
        for trace in fig.data:
            assert set(trace.marker.opacity) == {1.0}
            assert {data[3] for data in trace.customdata} == {""}
    # A frame without the column keeps its table as before.
    assert theme.LOW_SHARE not in rates.rate_table(rates_frame(), "error_rate").columns
    table = interventions.interventions_time_table(interventions_frame())
    assert theme.LOW_SHARE not in table.columns
    assert not note_traces(interventions.interventions_over_time(table, "Over time"))
    # Half is not mostly.
    half = stage_times.stage_duration_table(stage_frame().assign(low_share=0.5))
    fig = stage_times.stage_durations(half, "Durations")
    assert not note_traces(fig) and set(fig.data[0].marker.opacity) == {1.0}


def test_decision_timelines_fade_their_periods() -> None:
    trend = pd.DataFrame(
        {
            "bucket": buckets(7),
            "actions": [100] * 7,
            "error_rate": [0.1] * 7,
            "handoff_efficiency": [90.0] * 7,
            "interventions": [1, 0, 0, 2, 0, 0, 0],
            "approvals": [0] * 7,
            "rejections": [0] * 7,
            "low_share": list(SHARES),
        }
    )
    table = decisions.decisions_table(trend)
    fig = decisions.decisions_over_time(table, "Decisions", threshold=45)
    lines = [t for t in fig.data if t.name in (theme.ERROR_RATE, theme.HANDOFF)]
    assert len(lines) == 2
    for line in lines:
        assert list(line.marker.opacity) == [expected_opacity(s) for s in SHARES]
    (note,) = note_traces(fig)
    assert "45" in note.name


def test_kpi_tiles_say_when_their_figures_rest_on_low_confidence_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHDASH_LOW_CONFIDENCE", "45")
    mostly = kpis_frame().assign(low_share=0.62, prev_low_share=0.3)
    note = confidence.tile_note(mostly)
    assert note.badges == ("Low confidence: 62 %",)
    assert note.caption and "under 45" in note.caption
    assert "62 %" in note.caption and "30 %" in note.caption
    # Some rows but not most: the share is said, no badge.
    some = confidence.tile_note(kpis_frame().assign(low_share=0.2, prev_low_share=0.0))
    assert some.badges == () and some.caption and "20 %" in some.caption
    # The previous period, which the deltas compare with, gets its own badge.
    before = confidence.tile_note(kpis_frame().assign(low_share=0.1, prev_low_share=0.75))
    assert before.badges == ("Previous period low confidence: 75 %",)
    for quiet in (
        kpis_frame().assign(low_share=0.0, prev_low_share=0.0),
        kpis_frame().assign(low_share=math.nan, prev_low_share=math.nan),
        kpis_frame(),
    ):
        assert confidence.tile_note(quiet) == confidence.TileNote((), None)
    # The tiles' table (their CSV) carries the shares in percent.
    table = tiles.kpi_table(mostly).set_index("Measure")
    assert table.loc[theme.LOW_SHARE, "This period"] == pytest.approx(62.0)
    assert table.loc[theme.LOW_SHARE, "Previous period"] == pytest.approx(30.0)
    assert theme.LOW_SHARE not in set(tiles.kpi_table(kpis_frame())["Measure"])
