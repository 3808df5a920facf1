"""The URL half of the Time zone and Agents filters (dashboard/ui/url_state.py), no Streamlit."""

from __future__ import annotations

from datetime import date

import pytest

from dashboard.ui import filter_state, url_state
from dashboard.ui.filter_state import Selection
from dashboard.ui.url_state import from_query, to_query

TODAY = date(2026, 11, 26)
COMPANY = "00000000-0000-4000-8000-000000000001"
AGENTS = ("=evil()", "a,b", "planner", "reviewer")
DEFAULT = "Europe/Paris"


def all_time() -> tuple[date, date]:
    return date(2025, 5, 28), TODAY


def parse(**params: list[str]) -> tuple[Selection, list[str]]:
    return from_query(
        params,
        companies=[COMPANY],
        venture_companies={},
        agents=AGENTS,
        today=TODAY,
        all_time=all_time,
        default_tz=DEFAULT,
    )


def test_without_parameters_the_zone_is_the_configured_one() -> None:
    selection, notices = parse()
    assert (selection.tz, selection.agents, selection.agents_match) == (DEFAULT, (), "any")
    assert notices == []
    # ... and the default zone, like the default match, is not written into the link.
    assert "tz" not in to_query(selection, TODAY, TODAY, default_tz=DEFAULT)
    assert "agents_match" not in to_query(selection, TODAY, TODAY, default_tz=DEFAULT)


def test_configured_zone_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHDASH_TIMEZONE", "Asia/Tokyo")
    assert Selection().tz == "Asia/Tokyo"
    assert url_state.url_timezone({}) == "Asia/Tokyo"


def test_round_trip_of_zone_and_agents() -> None:
    selection = Selection(
        company_ids=(COMPANY,),
        agents=("=evil()", "a,b"),
        agents_match="all",
        tz="Asia/Kolkata",
    )
    query = to_query(selection, date(2026, 10, 28), TODAY, default_tz=DEFAULT)
    assert query == {
        "company": [COMPANY],
        "agent": ["=evil()", "a,b"],
        "agents_match": ["all"],
        "from": ["2026-10-28"],
        "to": ["2026-11-26"],
        "grain": ["day"],
        "tz": ["Asia/Kolkata"],
    }
    assert parse(**query) == (selection, [])
    assert url_state.url_timezone(query, DEFAULT) == "Asia/Kolkata"


def test_any_valid_zone_is_kept_and_offered() -> None:
    selection, notices = parse(tz=["Asia/Kathmandu"])
    assert (selection.tz, notices) == ("Asia/Kathmandu", [])
    options = filter_state.zone_options(DEFAULT, "Asia/Kathmandu")
    assert options[:2] == [DEFAULT, "Asia/Kathmandu"] and "UTC" in options
    assert len(options) == len(set(options))


@pytest.mark.parametrize(
    "value", ["Mars/Olympus", "utc/../../etc", "'; SELECT pg_sleep(5);--", "A" * 10_000, ""]
)
def test_a_bad_zone_is_dropped_with_a_notice(value: str) -> None:
    selection, notices = parse(tz=[value])
    assert selection.tz == DEFAULT
    assert len(notices) == 1 and notices[0].startswith("tz ")
    assert notices[0].endswith("not a known time zone")
    assert url_state.url_timezone({"tz": [value]}, DEFAULT) == DEFAULT


def test_agents_are_kept_once_and_sorted() -> None:
    selection, notices = parse(agent=["reviewer", "=evil()", "reviewer"], agents_match=[" ALL "])
    assert (selection.agents, selection.agents_match, notices) == (
        ("=evil()", "reviewer"),
        "all",
        [],
    )


def test_an_agent_outside_the_scope_reads_exactly_like_an_unknown_one() -> None:
    # "x-only" may exist in another company: the link cannot tell.
    outside_selection, outside = parse(agent=["x-only"])
    unknown_selection, unknown = parse(agent=["no-such-agent"])
    assert outside_selection == unknown_selection == Selection(tz=DEFAULT)
    assert [n.replace("x-only", "NAME") for n in outside] == [
        n.replace("no-such-agent", "NAME") for n in unknown
    ]
    assert outside == ["agent “x-only”: no such agent"]


def test_a_bad_match_is_dropped_with_a_notice() -> None:
    selection, notices = parse(agent=["planner"], agents_match=["some"])
    assert (selection.agents, selection.agents_match) == (("planner",), "any")
    assert notices == ["agents_match “some”: agents_match is any or all"]


def test_raw_notes() -> None:
    assert filter_state.raw_notes(Selection(tz="UTC"), "UTC") == []
    assert filter_state.raw_notes(Selection(tz="Asia/Kolkata"), "UTC") == [
        filter_state.RAW_ZONE_NOTE
    ]
    assert filter_state.raw_notes(Selection(tz="UTC", agents=("planner",)), "UTC") == [
        filter_state.RAW_AGENTS_NOTE
    ]


def test_filters_follow_the_selection() -> None:
    selection = Selection(agents=("planner",), agents_match="all", tz="Asia/Kolkata")
    f = filter_state.to_filters(selection, date(2026, 1, 1), date(2026, 1, 31))
    assert (f.tz, f.agents, f.agents_match) == ("Asia/Kolkata", ("planner",), "all")
    assert filter_state.unfiltered(f).agents == ()
    assert filter_state.unfiltered(f).tz == "Asia/Kolkata"
