"""The URL half of the sidebar filters: hostile links are dropped with a notice, never widened."""

from __future__ import annotations

import re
import uuid
from datetime import date

import pytest

from dashboard.ui import filter_state, period_presets, url_state
from dashboard.ui.filter_state import Selection
from dashboard.ui.period_presets import CUSTOM, DEFAULT_PERIOD
from dashboard.ui.url_state import from_query, to_query

TODAY = date(2026, 11, 26)
COMPANY_A = str(uuid.UUID(int=1))
COMPANY_B = str(uuid.UUID(int=2))
OUTSIDE = str(uuid.UUID(int=3))  # exists in the database, but not in this user's scope
UNKNOWN = str(uuid.UUID(int=999))
VENTURE_A = str(uuid.UUID(int=11))
VENTURE_B = str(uuid.UUID(int=12))
VENTURE_OUTSIDE = str(uuid.UUID(int=13))
SCOPE = {
    "companies": [COMPANY_A, COMPANY_B],
    "venture_companies": {VENTURE_A: COMPANY_A, VENTURE_B: COMPANY_B},
}


def all_time() -> tuple[date, date]:
    return date(2025, 5, 28), TODAY


def parse(**params: list[str]) -> tuple[Selection, list[str]]:
    return from_query(params, today=TODAY, all_time=all_time, **SCOPE)  # type: ignore[arg-type]


def test_no_parameters_give_the_defaults_without_notice() -> None:
    selection, notices = parse()
    assert selection == Selection()
    assert selection.period == DEFAULT_PERIOD == "Last 30 days"
    assert notices == []


def test_valid_link_is_read_whole() -> None:
    selection, notices = parse(
        company=[COMPANY_A.upper()],
        venture=[VENTURE_A],
        stage=["7", "3", "7"],
        **{"from": ["2026-01-05"], "to": ["2026-02-10"]},
        grain=["Week"],
    )
    assert notices == []
    assert selection == Selection(
        company_ids=(COMPANY_A,),
        venture_ids=(VENTURE_A,),
        stages=(3, 7),
        period=CUSTOM,
        start=date(2026, 1, 5),
        end=date(2026, 2, 10),
        grain="week",
    )


@pytest.mark.parametrize(
    ("start", "period"),
    [
        ("2026-11-20", "Last 7 days"),
        ("2026-10-28", "Last 30 days"),
        ("2026-08-29", "Last 90 days"),
        ("2026-10-01", "Quarter to date"),
        ("2026-01-01", "Year to date"),
        ("2025-05-28", "All time"),
    ],
)
def test_dates_of_a_preset_select_the_preset(start: str, period: str) -> None:
    selection, notices = parse(**{"from": [start], "to": [TODAY.isoformat()]})
    assert notices == []
    assert (selection.period, selection.start, selection.end) == (period, None, None)
    assert filter_state.selected_dates(selection, TODAY, all_time) == (
        date.fromisoformat(start),
        TODAY,
    )


def test_round_trip_through_the_url() -> None:
    selection = Selection(
        company_ids=(COMPANY_B,),
        venture_ids=(VENTURE_B,),
        stages=(1, 40),
        period=CUSTOM,
        start=date(2026, 3, 1),
        end=date(2026, 3, 31),
        grain="month",
    )
    query = to_query(selection, date(2026, 3, 1), date(2026, 3, 31))
    assert query == {
        "company": [COMPANY_B],
        "venture": [VENTURE_B],
        "stage": ["1", "40"],
        "from": ["2026-03-01"],
        "to": ["2026-03-31"],
        "grain": ["month"],
    }
    assert parse(**query) == (selection, [])


HOSTILE = [
    ("company", "1;DROP TABLE x"),
    ("company", "' OR 1=1--"),
    ("company", "'; SELECT pg_sleep(5);--"),
    ("company", "not-a-uuid"),
    ("venture", "1e309"),
    ("stage", "0"),
    ("stage", "41"),
    ("stage", "-1"),
    ("stage", "1.5"),
    ("stage", "1e309"),
    ("stage", "' OR 1=1--"),
    ("grain", "year"),
    ("grain", "'; SELECT pg_sleep(5);--"),
    ("from", "2026-02-30"),
    ("from", "1e309"),
    ("from", "26/11/2026"),
    ("to", "'; SELECT pg_sleep(5);--"),
]


@pytest.mark.parametrize(("param", "value"), HOSTILE)
def test_hostile_value_is_dropped_with_a_notice(param: str, value: str) -> None:
    params = {param: [value]}
    # A date needs its partner, so that the notice is about the bad value itself.
    if param == "from":
        params["to"] = ["2026-11-26"]
    if param == "to":
        params["from"] = ["2026-11-01"]
    selection, notices = parse(**params)
    assert selection.company_ids == selection.venture_ids == ()
    assert selection.stages == ()
    assert selection.grain == "day"
    assert (selection.period, selection.start, selection.end) == (DEFAULT_PERIOD, None, None)
    assert len(notices) == 1
    assert notices[0].startswith(param)
    assert value[:30] in notices[0]


def test_from_after_to_falls_back_to_the_default_period() -> None:
    selection, notices = parse(**{"from": ["2026-11-20"], "to": ["2026-11-01"]})
    assert selection.period == DEFAULT_PERIOD
    assert notices == ["from “2026-11-20”: it is after to (2026-11-01)"]


def test_half_a_period_is_dropped() -> None:
    selection, notices = parse(**{"from": ["2026-11-20"]})
    assert selection.period == DEFAULT_PERIOD
    assert notices == ["from “2026-11-20”: a period needs both from and to"]


def test_dates_outside_the_supported_range_are_dropped() -> None:
    selection, notices = parse(**{"from": ["0001-01-01"], "to": ["2026-11-01"]})
    assert selection.period == DEFAULT_PERIOD
    assert len(notices) == 1
    assert "between 1970-01-01 and 2999-12-31" in notices[0]


def test_huge_value_is_truncated_in_the_notice() -> None:
    huge = "A" * 10_000
    selection, notices = parse(company=[huge], stage=[huge])
    assert selection == Selection()
    assert len(notices) == 2
    assert all(len(n) < 120 for n in notices)
    assert all("A" * 39 + "…" in n for n in notices)


def test_many_bad_values_give_one_short_notice() -> None:
    _, notices = parse(stage=[str(n) for n in range(41, 541)])
    assert notices == ["stage “41”, “42”, “43” and 497 more: stages are whole numbers from 1 to 40"]


def test_an_id_outside_the_scope_reads_exactly_like_an_unknown_id() -> None:
    outside_selection, outside = parse(company=[OUTSIDE])
    unknown_selection, unknown = parse(company=[UNKNOWN])
    assert outside_selection == unknown_selection == Selection()
    assert [n.replace(OUTSIDE, "ID") for n in outside] == [
        n.replace(UNKNOWN, "ID") for n in unknown
    ]

    outside_selection, outside = parse(venture=[VENTURE_OUTSIDE])
    unknown_selection, unknown = parse(venture=[UNKNOWN])
    assert outside_selection == unknown_selection == Selection()
    assert [n.replace(VENTURE_OUTSIDE, "ID") for n in outside] == [
        n.replace(UNKNOWN, "ID") for n in unknown
    ]


def test_bad_values_never_widen_the_scope() -> None:
    selection, notices = parse(company=[COMPANY_A, OUTSIDE, "' OR 1=1--"], venture=[VENTURE_B])
    # Only the valid company stays; the venture of the other company is dropped, not kept.
    assert selection.company_ids == (COMPANY_A,)
    assert selection.venture_ids == ()
    assert len(notices) == 2
    assert "not a venture of the chosen companies" in notices[1]


def test_last_value_wins_for_single_parameters() -> None:
    selection, notices = parse(grain=["day", "month"])
    assert selection.grain == "month"
    assert notices == []


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("Last 7 days", (date(2026, 11, 20), TODAY)),
        ("Last 30 days", (date(2026, 10, 28), TODAY)),
        ("Last 90 days", (date(2026, 8, 29), TODAY)),
        ("Quarter to date", (date(2026, 10, 1), TODAY)),
        ("Year to date", (date(2026, 1, 1), TODAY)),
        ("All time", (date(2025, 5, 28), TODAY)),
    ],
)
def test_period_dates(period: str, expected: tuple[date, date]) -> None:
    assert period_presets.period_dates(period, TODAY, all_time) == expected


def test_quarter_to_date_on_the_first_day_of_a_quarter() -> None:
    first = date(2026, 4, 1)
    assert period_presets.period_dates("Quarter to date", first, all_time) == (first, first)


def test_all_time_without_data_is_today() -> None:
    assert period_presets.all_time_range(None, None, TODAY) == (TODAY, TODAY)


def test_notice_text_is_inert_markdown() -> None:
    text = url_state.notice_text(["company “<img src=x onerror=alert(1)>”: no such company"])
    # Every character Markdown or Streamlit could interpret is backslash-escaped.
    assert re.search(r"(?<!\\)[<>=()\[\]]", text.split("\n\n", 1)[1]) is None
    assert "\\<img src\\=x onerror\\=alert\\(1\\)\\>" in text
