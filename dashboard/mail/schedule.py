"""When a digest is due: the latest slot of a subscription at or before now, in its time zone.

A slot is the subscription's local hour on each day, or on each Monday for a weekly digest. Its
occasion (the key of its message, unique per subscription) is the slot's local date, so a slot
is sent once however often the sender looks, and a sender that was down sends only the latest
slot it missed, not one per missed day. On the day a zone moves its clocks, an hour that does not
exist (02:00 when clocks jump to 03:00) is taken as the same wall-clock time before the jump
(03:00 new time); an hour that exists twice is the first of the two. Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EVERY_DAYS = {"day": 1, "week": 7}


@dataclass(frozen=True)
class Slot:
    occasion: str  # the slot's local date, ISO
    at: datetime  # the slot in UTC
    day: date  # the local date whose hour it is


def local_slot(day: date, hour: int, tz: str) -> datetime:
    """``hour``:00 on ``day`` in ``tz``, as UTC (fold 0: the first of a repeated hour; a missing
    hour reads with the offset before the change, i.e. one hour later on the new clock)."""
    return datetime.combine(day, time(hour), ZoneInfo(tz)).astimezone(UTC)


def latest_slot(every: str, hour: int, tz: str, now: datetime) -> Slot:
    """The latest slot at or before ``now`` (aware)."""
    today = now.astimezone(ZoneInfo(tz)).date()
    day = today - timedelta(days=today.weekday()) if every == "week" else today
    at = local_slot(day, hour, tz)
    if at > now:
        day -= timedelta(days=EVERY_DAYS[every])
        at = local_slot(day, hour, tz)
    return Slot(day.isoformat(), at, day)


def due_slot(every: str, hour: int, tz: str, created_at: datetime, now: datetime) -> Slot | None:
    """The slot to send now, if any: the latest one, unless it came before the subscription."""
    slot = latest_slot(every, hour, tz, now)
    return slot if slot.at >= created_at else None


def next_slot(every: str, hour: int, tz: str, now: datetime) -> datetime:
    """The first slot after ``now``, for the Subscriptions page."""
    slot = latest_slot(every, hour, tz, now)
    return local_slot(slot.day + timedelta(days=EVERY_DAYS[every]), hour, tz)
