"""When digests are due (dashboard/mail/schedule.py), across the days clocks change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.mail import schedule

BERLIN = "Europe/Berlin"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_daily_slot_is_the_local_hour_of_today_once_it_has_passed() -> None:
    # 08:00 in Berlin in December is 07:00 UTC.
    before = schedule.latest_slot("day", 8, BERLIN, utc(2026, 12, 3, 6, 59))
    at = schedule.latest_slot("day", 8, BERLIN, utc(2026, 12, 3, 7, 0))
    assert (before.occasion, before.at) == ("2026-12-02", utc(2026, 12, 2, 7))
    assert (at.occasion, at.at) == ("2026-12-03", utc(2026, 12, 3, 7))
    assert schedule.next_slot("day", 8, BERLIN, utc(2026, 12, 3, 7, 0)) == utc(2026, 12, 4, 7)


def test_a_weekly_slot_is_mondays() -> None:
    # Thursday 3 December 2026: the week's slot was Monday 30 November.
    slot = schedule.latest_slot("week", 8, BERLIN, utc(2026, 12, 3, 12))
    assert (slot.occasion, slot.at) == ("2026-11-30", utc(2026, 11, 30, 7))
    # Monday before the hour: still the previous Monday's.
    early = schedule.latest_slot("week", 8, BERLIN, utc(2026, 12, 7, 6, 30))
    assert early.occasion == "2026-11-30"
    assert schedule.next_slot("week", 8, BERLIN, utc(2026, 12, 3, 12)) == utc(2026, 12, 7, 7)


def test_a_slot_before_the_subscription_is_not_due() -> None:
    created = utc(2026, 12, 3, 9)
    assert schedule.due_slot("day", 8, BERLIN, created, utc(2026, 12, 3, 10)) is None
    due = schedule.due_slot("day", 8, BERLIN, created, utc(2026, 12, 4, 7))
    assert due is not None and due.occasion == "2026-12-04"


@pytest.mark.parametrize(
    ("tz", "days", "hour", "expected"),
    [
        # Berlin springs forward on 28 March 2027 (02:00 -> 03:00): 08:00 moves from 07:00 UTC
        # to 06:00 UTC; the missing 02:00 is taken as 03:00 new time (01:00 UTC).
        (BERLIN, ("2027-03-27", "2027-03-28", "2027-03-29"), 8, (7, 6, 6)),
        (BERLIN, ("2027-03-27", "2027-03-28", "2027-03-29"), 2, (1, 1, 0)),
        # ... and falls back on 25 October 2026: 02:00 happens twice; the first is taken.
        (BERLIN, ("2026-10-24", "2026-10-25", "2026-10-26"), 8, (6, 7, 7)),
        (BERLIN, ("2026-10-24", "2026-10-25", "2026-10-26"), 2, (0, 0, 1)),
        # New York springs forward on 14 March 2027 at 02:00.
        ("America/New_York", ("2027-03-13", "2027-03-14", "2027-03-15"), 7, (12, 11, 11)),
    ],
)
def test_the_sender_polling_every_minute_finds_each_day_once_at_its_local_hour(
    tz: str, days: tuple[str, ...], hour: int, expected: tuple[int, ...]
) -> None:
    """Minute by minute over three days around a change of clocks, as the sender looks: each
    local date becomes due once, at the expected UTC hour, and stays the same occasion."""
    start = datetime.fromisoformat(days[0]).replace(tzinfo=UTC) - timedelta(hours=14)
    created = start - timedelta(days=1)
    first_due: dict[str, datetime] = {}
    now = start
    while now < start + timedelta(days=4):
        slot = schedule.due_slot("day", hour, tz, created, now)
        assert slot is not None and slot.at <= now
        first_due.setdefault(slot.occasion, now)
        now += timedelta(minutes=1)
    for day, utc_hour in zip(days, expected, strict=True):
        assert first_due[day] == datetime.fromisoformat(day).replace(hour=utc_hour, tzinfo=UTC)
