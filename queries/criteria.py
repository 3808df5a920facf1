"""Filters and Scope: the only values a page hands to the query layer, validated on construction.

Both are frozen dataclasses. Whatever arrives (lists, upper-case ids, ISO date strings) is checked
and normalised in ``__post_init__``; anything invalid raises :class:`~queries.errors.InvalidFilter`
with a message fit for a chairman, so nothing invalid can reach SQL.
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from queries import config
from queries.errors import InvalidFilter

GRAINS = ("day", "week", "month")
STAGES = range(1, 41)
MAX_IDS = 500
# How the chosen agents select rows: rows involving any of them, or all of them.
AGENT_MATCHES = ("any", "all")
MAX_AGENTS = 100
MAX_AGENT_NAME = 100
# Far beyond any real data, yet previous() of the widest period still lands on a valid date.
FIRST_DATE = date(1970, 1, 1)
LAST_DATE = date(2999, 12, 31)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_TEXT = 64
MAX_LIMIT = 1_000_000


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def valid_timezone(value: Any) -> str:
    """An IANA zone name from the allow-list of installed zones, else InvalidFilter."""
    if not isinstance(value, str) or len(value) > _MAX_TEXT or value not in _zones():
        raise InvalidFilter(f"Unknown time zone {_shown(value)}.")
    return value


def valid_ids(values: Any, what: str) -> tuple[str, ...]:
    """Canonical lower-case UUID strings, sorted and unique."""
    items = _items(values, what)
    if len(items) > MAX_IDS:
        raise InvalidFilter(f"Too many {what}: at most {MAX_IDS} can be chosen.")
    return tuple(sorted({valid_id(v, what) for v in items}))


def valid_id(value: Any, what: str = "ids") -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and len(value) <= _MAX_TEXT:
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            pass
    raise InvalidFilter(f"Not a valid id among the {what}: {_shown(value)}.")


def valid_agent(value: Any) -> str:
    """An agent name as the data holds it: free text, so only its shape is checked (non-empty,
    at most MAX_AGENT_NAME characters, no control characters); it is bound as text, never
    spliced into SQL."""
    if isinstance(value, str) and 0 < len(value) <= MAX_AGENT_NAME and value.isprintable():
        return value
    raise InvalidFilter(
        f"Agent names are 1 to {MAX_AGENT_NAME} printable characters, not {_shown(value)}."
    )


def valid_agents(values: Any) -> tuple[str, ...]:
    """Agent names, sorted and unique."""
    items = _items(values, "agents")
    if len(items) > MAX_AGENTS:
        raise InvalidFilter(f"Too many agents: at most {MAX_AGENTS} can be chosen.")
    return tuple(sorted({valid_agent(v) for v in items}))


def valid_agents_match(value: Any) -> str:
    match = value.strip().lower() if isinstance(value, str) else value
    if match not in AGENT_MATCHES:
        raise InvalidFilter(f"Agents match must be any or all, not {_shown(value)}.")
    return match  # type: ignore[no-any-return]


def _valid_stage(value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}", value.strip()):
        value = int(value)
    if not isinstance(value, bool):
        try:
            number = operator.index(value)
        except TypeError:
            number = None
        if number in STAGES:
            return number  # type: ignore[return-value]
    raise InvalidFilter(f"Stages are whole numbers from 1 to 40, not {_shown(value)}.")


def _valid_date(value: Any, what: str) -> date:
    if isinstance(value, str) and len(value) <= _MAX_TEXT and _ISO_DATE.fullmatch(value.strip()):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            pass
    # A datetime is a date too, but its time of day would be silently dropped.
    if isinstance(value, date) and not isinstance(value, datetime):
        if FIRST_DATE <= value <= LAST_DATE:
            return value
        raise InvalidFilter(f"The {what} date must lie between {FIRST_DATE} and {LAST_DATE}.")
    raise InvalidFilter(f"The {what} date must be a date (YYYY-MM-DD), not {_shown(value)}.")


def _items(values: Any, what: str) -> tuple[Any, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidFilter(f"The {what} must be a list.")
    items: list[Any] = []
    for v in values:
        items.append(v)
        # Bounded before anything else is done with an oversized input.
        if len(items) > 2 * MAX_IDS:
            raise InvalidFilter(f"Too many {what}: at most {MAX_IDS} can be chosen.")
    return tuple(items)


def _shown(value: Any) -> str:
    """A short, printable rendering of a rejected value for the message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def valid_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidFilter(f"A row limit is a whole number from 1 to {MAX_LIMIT:,}.")
    return limit


@dataclass(frozen=True)
class Filters:
    """What the user chose: an inclusive period of dates, companies, ventures, stages, grain,
    time zone and agents.

    Empty tuples mean "all that the scope allows". Dates are inclusive and read in ``tz``: the
    period is ``[start 00:00, end + 1 day 00:00)`` there. ``tz`` defaults to ORCHDASH_TIMEZONE.
    ``agents`` keeps the rows whose ``agents_involved`` holds any of them (``agents_match``
    "any") or all of them ("all"); no agents means no agent filter.
    """

    start: date
    end: date
    company_ids: tuple[str, ...] = ()
    venture_ids: tuple[str, ...] = ()
    stages: tuple[int, ...] = ()
    grain: str = "day"
    tz: str = field(default_factory=config.timezone_name)
    agents: tuple[str, ...] = ()
    agents_match: str = "any"

    def __post_init__(self) -> None:
        start = _valid_date(self.start, "start")
        end = _valid_date(self.end, "end")
        if start > end:
            raise InvalidFilter("The period's start must not be after its end.")
        grain = self.grain.strip().lower() if isinstance(self.grain, str) else self.grain
        if grain not in GRAINS:
            raise InvalidFilter(f"Grain must be day, week or month, not {_shown(self.grain)}.")
        stages = tuple(sorted({_valid_stage(s) for s in _items(self.stages, "stages")}))
        normalised = {
            "start": start,
            "end": end,
            "company_ids": valid_ids(self.company_ids, "companies"),
            "venture_ids": valid_ids(self.venture_ids, "ventures"),
            "stages": stages,
            "grain": grain,
            "tz": valid_timezone(self.tz),
            "agents": valid_agents(self.agents),
            "agents_match": valid_agents_match(self.agents_match),
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The same filters over the period of equal length that ends the day before ``start``."""
        new_end = self.start - timedelta(days=1)
        new_start = self.start - timedelta(days=self.days)
        if new_start < FIRST_DATE:
            raise InvalidFilter(f"The previous period would begin before {FIRST_DATE}.")
        return replace(self, start=new_start, end=new_end)

    def bounds(self) -> tuple[datetime, datetime]:
        """The half-open period ``[start 00:00, end + 1 day 00:00)`` as tz-aware datetimes."""
        zone = ZoneInfo(self.tz)
        first = datetime.combine(self.start, time(), tzinfo=zone)
        after = datetime.combine(self.end + timedelta(days=1), time(), tzinfo=zone)
        return first, after


@dataclass(frozen=True)
class Scope:
    """Who asks and which companies they may see (active access only, from scope_for_user)."""

    user_id: str
    company_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_id", valid_id(self.user_id, "users"))
        object.__setattr__(self, "company_ids", valid_ids(self.company_ids, "companies"))

    def companies_for(self, chosen: Iterable[str]) -> tuple[str, ...]:
        """The scope's companies intersected with a choice; an empty choice means all of them."""
        picked = valid_ids(chosen, "companies")
        if not picked:
            return self.company_ids
        allowed = set(self.company_ids)
        return tuple(c for c in picked if c in allowed)


def sql_params(scope: Scope, f: Filters) -> dict[str, Any] | None:
    """The bound parameters of the filtered queries, or None when nothing can match.

    None (the scope and the choice of companies intersect to nothing) means: answer empty at
    once, without a query, so that no SQL ever runs with a widened company list.
    """
    companies = scope.companies_for(f.company_ids)
    if not companies:
        return None
    start_ts, end_ts = f.bounds()
    return {
        "company_ids": list(companies),
        "venture_ids": list(f.venture_ids),
        "stages": list(f.stages),
        "start_ts": start_ts,
        "end_ts": end_ts,
        "grain": f.grain,
        "tz": f.tz,
        "agents": list(f.agents),
        "agents_all": f.agents_match == "all",
    }
