"""Filters and Scope: normalisation, validation, and a corpus of hostile values that never pass."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import queries
from queries import Filters, InvalidFilter, Scope, engines
from queries.criteria import MAX_IDS

D1, D2 = date(2026, 1, 1), date(2026, 1, 31)
A = "6f1c0d4e-8a54-4b8e-9a55-0c7a8f5f1a01"
B = "0a9e5c3d-1b2c-4d5e-8f70-112233445566"

HOSTILE: list[Any] = [
    "'",
    "' OR '1'='1",
    "1; DROP TABLE companies",
    "-- comment",
    "/* comment */",
    "pg_sleep(10)",
    "'; SELECT pg_sleep(10); --",
    "00000000-0000-0000-0000-000000000000'; SELECT pg_sleep(10); --",
    "x" * 100_000,
    "\x00",
    f"{A}\x00",
    "a\x00b",
    "{}",
    "NaN",
    "0",
    "41",
    "-1",
    "1.5",
    "../../../etc/passwd",
    "",
    " ",
    0,
    41,
    -1,
    1.5,
    True,
    None,
    b"bytes",
    ["nested"],
    {"a": 1},
    float("nan"),
]
FIELDS = {
    "start": lambda v: Filters(start=v, end=D2),
    "end": lambda v: Filters(start=D1, end=v),
    "company_ids": lambda v: Filters(start=D1, end=D2, company_ids=[v]),
    "venture_ids": lambda v: Filters(start=D1, end=D2, venture_ids=[v]),
    "stages": lambda v: Filters(start=D1, end=D2, stages=[v]),
    "grain": lambda v: Filters(start=D1, end=D2, grain=v),
    "tz": lambda v: Filters(start=D1, end=D2, tz=v),
    "agents_match": lambda v: Filters(start=D1, end=D2, agents_match=v),
    "user_id": lambda v: Scope(user_id=v),
    "scope companies": lambda v: Scope(user_id=A, company_ids=[v]),
}


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:30])
def test_hostile_values_are_rejected_with_a_short_message(field: str, value: Any) -> None:
    with pytest.raises(InvalidFilter) as raised:
        FIELDS[field](value)
    message = raised.value.user_message
    assert message == str(raised.value) and 10 < len(message) < 200
    assert "\x00" not in message


@pytest.fixture(scope="module")
def nowhere() -> Any:
    """An engine that cannot connect: any SQL sent would raise DataUnavailable instead."""
    engine = engines.make_engine(
        "postgresql+psycopg://nobody@/none?host=/nonexistent", pool_timeout=1
    )
    yield engine
    engine.dispose()


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:30])
def test_hostile_arguments_are_rejected_before_any_sql(nowhere: Any, value: Any) -> None:
    scope = Scope(user_id=A, company_ids=(B,))
    f = Filters(start=D1, end=D2)
    calls = [
        lambda: queries.scope_for_user(nowhere, value),
        lambda: queries.ventures(nowhere, scope, company_ids=[value]),
    ]
    if value is not None:  # None is the default zone, and no limit
        calls.append(lambda: queries.data_range(nowhere, scope, tz=value))
    if value is not None and value != 41:  # 41 rows is a valid limit
        calls.append(lambda: queries.metric_rows(nowhere, scope, f, limit=value))
        calls.append(lambda: queries.venture_attention(nowhere, scope, f, limit=value))
    for call in calls:
        with pytest.raises(InvalidFilter):
            call()


def test_normalisation() -> None:
    f = Filters(
        start="2026-01-01",
        end=" 2026-01-31 ",
        company_ids=[B.upper(), "{" + A + "}", A.replace("-", ""), uuid.UUID(B)],
        venture_ids=[uuid.UUID(A)],
        stages=[40, "7", 1, 7],
        grain=" Week ",
        tz="Asia/Kolkata",
    )
    assert (f.start, f.end) == (D1, D2)
    assert f.company_ids == tuple(sorted((A, B)))
    assert f.venture_ids == (A,)
    assert f.stages == (1, 7, 40)
    assert (f.grain, f.tz) == ("week", "Asia/Kolkata")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.grain = "day"  # type: ignore[misc]
    assert Filters(start=D1, end=D2, company_ids=f.company_ids) == Filters(
        start=D1, end=D2, company_ids=list(reversed(f.company_ids))
    )


def test_time_zone_defaults_to_the_configuration_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHDASH_TIMEZONE", "America/New_York")
    assert Filters(start=D1, end=D2).tz == "America/New_York"
    monkeypatch.delenv("ORCHDASH_TIMEZONE")
    assert Filters(start=D1, end=D2).tz == "UTC"
    monkeypatch.setenv("ORCHDASH_TIMEZONE", "Not/AZone")
    with pytest.raises(InvalidFilter):
        Filters(start=D1, end=D2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": D2, "end": D1},
        {"start": datetime(2026, 1, 1, 12), "end": D2},
        {"start": "2026-02-30", "end": D2},
        {"start": "2026-1-1", "end": D2},
        {"start": "20260101", "end": D2},
        {"start": date(1969, 12, 31), "end": D2},
        {"start": D1, "end": date(3000, 1, 1)},
        {"start": D1, "end": D2, "company_ids": A},  # a string, not a list of ids
        {"start": D1, "end": D2, "stages": 5},
        {"start": D1, "end": D2, "company_ids": [str(uuid.uuid4()) for _ in range(MAX_IDS + 1)]},
        {"start": D1, "end": D2, "stages": iter(range(10**9))},
    ],
    ids=lambda kw: repr(kw)[:40],
)
def test_invalid_filters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidFilter):
        Filters(**kwargs)


def test_the_caps_allow_their_maximum() -> None:
    ids = [str(uuid.uuid4()) for _ in range(MAX_IDS)]
    assert len(Filters(start=D1, end=D2, company_ids=ids).company_ids) == MAX_IDS
    assert len(Filters(start=D1, end=D2, stages=list(range(1, 41)) * 2).stages) == 40


@settings(max_examples=60, deadline=None)
@given(
    start=st.dates(date(1980, 1, 1), date(2100, 12, 31)),
    days=st.integers(0, 800),
    tz=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
)
def test_previous_period_has_equal_length_and_ends_the_day_before(
    start: date, days: int, tz: str
) -> None:
    f = Filters(start=start, end=start + timedelta(days=days), stages=[3], grain="month", tz=tz)
    p = f.previous()
    assert p.end == f.start - timedelta(days=1)
    assert (p.end - p.start) == (f.end - f.start)
    assert (p.stages, p.grain, p.tz) == (f.stages, f.grain, f.tz)
    first, after = f.bounds()
    assert p.bounds()[1] == first  # contiguous: no instant in both, none in neither
    assert first.tzinfo is not None and after > first


def test_bounds_are_local_midnights_even_across_dst() -> None:
    f = Filters(start=date(2026, 3, 8), end=date(2026, 3, 8), tz="America/New_York")
    first, after = f.bounds()
    assert (first.hour, after.hour) == (0, 0)
    assert (after.astimezone(UTC) - first.astimezone(UTC)).total_seconds() == 23 * 3600


def test_scope_intersects_the_choice() -> None:
    scope = Scope(user_id=A.upper(), company_ids=[B, A])
    assert scope.user_id == A and scope.company_ids == tuple(sorted((A, B)))
    other = str(uuid.uuid4())
    assert scope.companies_for([]) == scope.company_ids
    assert scope.companies_for([other]) == ()
    assert scope.companies_for([A.upper(), other]) == (A,)
    assert Scope(user_id=A).companies_for([A]) == ()
