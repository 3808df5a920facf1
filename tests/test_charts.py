"""Charts, the tables they show, their CSV, and the human formats: pure functions, no database."""

from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import charts, export
from dashboard import format as fmt

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
    rows = read_csv(export.to_csv(frame))
    assert rows[0] == ["Name", "Number", "Count"]
    names = [r[0] for r in rows[1:]]
    for original, written in zip(cells, names, strict=True):
        dangerous = original.startswith(export.FORMULA_PREFIXES)
        assert written == ("'" + original if dangerous else original)
    # Numbers stay numbers: a negative number is not text that starts with "-".
    assert [float(r[1]) for r in rows[1:]] == list(frame["Number"])
    assert [int(r[2]) for r in rows[1:]] == list(range(len(cells)))


def test_csv_writes_bucket_days_and_blank_missing_values() -> None:
    frame = pd.DataFrame(
        {
            charts.PERIOD: pd.to_datetime(["2026-11-01", "2026-11-02"]),
            "Rate (%)": [1.5, math.nan],
        }
    )
    rows = read_csv(export.to_csv(frame))
    assert rows[1:] == [["2026-11-01", "1.5"], ["2026-11-02", ""]]


def test_file_name_says_what_and_when() -> None:
    name = export.file_name("Error rates", date(2026, 8, 28), date(2026, 11, 26))
    assert name == "error-rates_2026-08-28_2026-11-26.csv"
    assert export.file_name("../../etc/passwd", date(2026, 1, 1), date(2026, 1, 2)).startswith(
        "etc-passwd_"
    )


# ---- tables and figures ----------------------------------------------------------------------


def assert_themed(fig: go.Figure) -> None:
    assert fig.layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert fig.layout.plot_bgcolor == "rgba(0,0,0,0)"
    assert fig.layout.title.text


def all_text(fig: go.Figure) -> str:
    return fig.to_json()


def test_error_rate_table_is_in_percent_per_bucket_and_venture() -> None:
    frame = rates_frame()
    table = charts.rate_table(frame, "error_rate")
    assert list(table.columns) == [
        charts.PERIOD,
        charts.COMPANY,
        charts.VENTURE,
        charts.ACTIONS,
        charts.ERROR_RATE,
    ]
    assert len(table) == len(frame)
    merged = table.merge(
        frame.assign(**{charts.PERIOD: frame["bucket"].dt.tz_localize(None)}),
        left_on=[charts.PERIOD, charts.VENTURE, charts.COMPANY],
        right_on=[charts.PERIOD, "venture", "company"],
    )
    assert np.allclose(merged[charts.ERROR_RATE], merged["error_rate"] * 100)
    # Wall-clock days of the dashboard's zone, not UTC instants.
    assert set(table[charts.PERIOD].dt.day) == {1, 2, 3}


def test_rate_over_time_draws_a_line_per_venture_with_escaped_names() -> None:
    table = charts.rate_table(rates_frame(), "error_rate")
    fig = charts.rate_over_time(table, "Error rate per venture")
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
    table = charts.rate_table(frame, "handoff_efficiency")
    assert np.allclose(
        sorted(table[charts.HANDOFF]), sorted(frame["handoff_efficiency"].astype(float))
    )
    fig = charts.rate_over_time(table, "Handoff")
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
    table = charts.stage_rate_table(frame, "error_rate")
    assert list(table[charts.STAGE]) == list(range(1, 41))
    assert np.allclose(table[charts.ERROR_RATE], [s / 10 for s in range(1, 41)])
    fig = charts.rate_by_stage(table, "Per stage")
    assert_themed(fig)
    assert list(fig.layout.xaxis.tickvals) == list(range(1, 41))
    assert fig.layout.xaxis.title.text == "Stage"


def test_stage_durations_use_human_units_on_a_log_axis() -> None:
    table = charts.stage_duration_table(stage_frame())
    fig = charts.stage_durations(table, "Stage durations")
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
    empty = charts.rate_table(rates_frame().iloc[0:0], "error_rate")
    fig = charts.rate_over_time(empty, "Nothing")
    assert fig.layout.annotations[0].text == "No data"
    stages = charts.stage_duration_table(stage_frame(rows=0))
    assert charts.stage_durations(stages, "Nothing").layout.annotations[0].text == "No data"


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
    table = charts.interventions_time_table(frame)
    assert len(table) == 2
    for column, source in [
        (charts.INTERVENTIONS, "interventions"),
        (charts.APPROVALS, "approvals"),
        (charts.REJECTIONS, "rejections"),
    ]:
        assert table[column].sum() == frame[source].sum()
    fig = charts.interventions_over_time(table, "Over time")
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == [charts.INTERVENTIONS, charts.APPROVALS, charts.REJECTIONS]


def test_interventions_per_100_actions_per_venture() -> None:
    frame = interventions_frame()
    table = charts.interventions_venture_table(frame)
    for _, row in table.iterrows():
        source = frame[frame["venture"] == row[charts.VENTURE]]
        expected = source["interventions"].sum() * 100 / source["actions"].sum()
        assert row[charts.PER_100] == pytest.approx(expected, abs=1e-4)
    fig = charts.interventions_per_100(table, "Per 100")
    assert fmt.plotly_text(HOSTILE[1]) in list(fig.data[0].y)
    assert fig.layout.xaxis.title.text == charts.PER_100
    by_venture = charts.interventions_by_venture(table, "Per venture")
    assert by_venture.layout.barmode == "stack"


# ---- overview ------------------------------------------------------------------------------


def kpis_frame(**values: float) -> pd.DataFrame:
    row: dict[str, float] = {}
    for kpi in charts.KPIS:
        row[kpi.column] = values.get(kpi.column, 10.0)
        row["prev_" + kpi.column] = values.get("prev_" + kpi.column, 10.0)
    return pd.DataFrame([row])


def test_kpi_deltas_and_colours() -> None:
    error = next(k for k in charts.KPIS if k.column == "error_rate")
    assert error.delta_color == "inverse"  # lower is better
    assert error.delta(0.05, 0.045) == "+0.50 pp"
    assert error.shown(0.05) == "5.00 %"
    handoff = next(k for k in charts.KPIS if k.column == "handoff_efficiency")
    assert handoff.delta_color == "normal"
    assert handoff.delta(80, 82.5) == "-2.50 pp"
    actions = next(k for k in charts.KPIS if k.column == "actions")
    assert actions.delta(110, 100) == "+10.0 %"
    assert actions.delta(110, 0) is None
    assert actions.delta(110, math.nan) is None
    duration = next(k for k in charts.KPIS if k.column == "mean_stage_duration_s")
    assert duration.delta_color == "inverse"
    assert duration.shown(11_520) == "3.2 h"


def test_kpi_table_has_units_and_both_periods() -> None:
    table = charts.kpi_table(kpis_frame(error_rate=0.05, prev_error_rate=0.04))
    row = table.set_index("Measure").loc["Error rate (%)"]
    assert row["This period"] == pytest.approx(5.0)
    assert row["Previous period"] == pytest.approx(4.0)
    assert len(table) == len(charts.KPIS)


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
    table = charts.attention_table(frame)
    assert table.loc[0, charts.VENTURE] == HOSTILE[0]
    assert table.loc[0, charts.ERROR_RATE] == pytest.approx(20.0)
    rows = read_csv(export.to_csv(table))
    assert rows[1][1] == "'" + HOSTILE[2]


def test_a_bucket_without_rows_is_a_gap_in_the_line() -> None:
    frame = rates_frame()
    # Beacon of Other co has no rows on the middle day: its line must break there.
    missing = frame["bucket"].eq(frame["bucket"].unique()[1]) & frame["company"].eq("Other co")
    fig = charts.rate_over_time(charts.rate_table(frame[~missing], "error_rate"), "Gaps")
    trace = next(t for t in fig.data if t.name == "Beacon (Other co)")
    assert len(trace.x) == 3
    assert math.isnan(trace.y[1]) and not math.isnan(trace.y[0]) and not math.isnan(trace.y[2])


def test_rows_without_a_venture_are_a_named_group() -> None:
    frame = interventions_frame()
    frame.loc[frame["venture_id"] == "v1", ["venture_id", "venture"]] = None
    table = charts.interventions_venture_table(frame)
    assert charts.NO_VENTURE in set(table[charts.VENTURE])
    assert table[charts.INTERVENTIONS].sum() == frame["interventions"].sum()
    rates = charts.rate_table(rates_frame().assign(venture=None), "error_rate")
    assert set(rates[charts.VENTURE]) == {charts.NO_VENTURE}
