"""What the sidebar holds (:class:`Selection`) and the ``queries.Filters`` it stands for.

Pure: the widgets are dashboard/ui/sidebar.py, the URL's half dashboard/ui/url_state.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

from dashboard.ui.period_presets import (
    CUSTOM,
    DEFAULT_PERIOD,
    DateRange,
    period_dates,
)
from queries import (
    Filters,
    InvalidFilter,
    timezone_name,
    valid_timezone,
)

DEFAULT_GRAIN = "day"
DEFAULT_MATCH = "any"
# Offered in the Time zone picker beside the configured zone and whatever valid zone a link
# carries; any IANA zone works in a link.
COMMON_ZONES = (
    "UTC",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
RAW_ZONE_NOTE = (
    "Figures in this time zone are computed from the raw rows and may take a few seconds."
)
RAW_AGENTS_NOTE = (
    "Figures for chosen agents are computed from the raw rows and may take a few seconds."
)


@dataclass(frozen=True)
class Selection:
    """What the sidebar holds. ``start``/``end`` matter only for ``Custom range``."""

    company_ids: tuple[str, ...] = ()
    venture_ids: tuple[str, ...] = ()
    stages: tuple[int, ...] = ()
    period: str = DEFAULT_PERIOD
    start: date | None = None
    end: date | None = None
    grain: str = DEFAULT_GRAIN
    agents: tuple[str, ...] = ()
    agents_match: str = DEFAULT_MATCH
    tz: str = field(default_factory=timezone_name)


def selected_dates(
    selection: Selection, today: date, all_time: Callable[[], DateRange]
) -> DateRange:
    if selection.period == CUSTOM and selection.start and selection.end:
        return selection.start, selection.end
    period = selection.period if selection.period != CUSTOM else DEFAULT_PERIOD
    return period_dates(period, today, all_time)


def to_filters(selection: Selection, start: date, end: date) -> Filters:
    return Filters(
        start=start,
        end=end,
        company_ids=selection.company_ids,
        venture_ids=selection.venture_ids,
        stages=selection.stages,
        grain=selection.grain,
        tz=selection.tz,
        agents=selection.agents,
        agents_match=selection.agents_match,
    )


def to_selection(filters: Filters) -> Selection:
    """The selection of a custom range of these filters: what a link to them holds."""
    return Selection(
        company_ids=filters.company_ids,
        venture_ids=filters.venture_ids,
        stages=filters.stages,
        period=CUSTOM,
        start=filters.start,
        end=filters.end,
        grain=filters.grain,
        agents=filters.agents,
        agents_match=filters.agents_match,
        tz=filters.tz,
    )


def unfiltered(filters: Filters) -> Filters:
    """The same period and zone with no company, venture, stage or agent chosen: all that the
    scope allows."""
    return replace(filters, company_ids=(), venture_ids=(), stages=(), agents=())


def zone_options(default_tz: str, chosen: str) -> list[str]:
    """The Time zone picker's choices: the configured zone, the chosen one (a link may carry
    any), then the common zones this installation knows."""
    options: list[str] = []
    for zone in (default_tz, chosen, *COMMON_ZONES):
        try:
            zone = valid_timezone(zone)
        except InvalidFilter:
            continue
        if zone not in options:
            options.append(zone)
    return options


def raw_notes(selection: Selection, rollup_zone: str | None) -> list[str]:
    """Why the figures of this selection come from the raw rows, if they do."""
    notes = []
    if rollup_zone is not None and selection.tz != rollup_zone:
        notes.append(RAW_ZONE_NOTE)
    if selection.agents:
        notes.append(RAW_AGENTS_NOTE)
    return notes
