"""The sidebar filters, kept in the URL so that a link reproduces the view.

The URL is read once, when the session first draws the dashboard: every value is checked against
the user's scope, and whatever is not valid is dropped with a notice. From then on the widgets are
the truth and each run writes them back into the URL. The pure half (`from_query`, `to_query`,
`period_dates`) is tested without Streamlit; `sidebar()` is the widget half.

An id outside the scope gets exactly the notice of an id that does not exist, so a link can neither
widen the scope nor tell whether a company or venture exists.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard.charts import format as fmt
from queries import (
    AGENT_MATCHES,
    FIRST_DATE,
    GRAINS,
    LAST_DATE,
    MAX_AGENTS,
    MAX_IDS,
    Filters,
    InvalidFilter,
    timezone_name,
    valid_timezone,
)

PERIODS = (
    "Last 7 days",
    "Last 30 days",
    "Last 90 days",
    "Quarter to date",
    "Year to date",
    "All time",
    "Custom range",
)
DEFAULT_PERIOD = "Last 30 days"
CUSTOM = "Custom range"
ALL_TIME = "All time"
DEFAULT_GRAIN = "day"
PARAMS = ("company", "venture", "stage", "agent", "agents_match", "from", "to", "grain", "tz")
DEFAULT_MATCH = "any"
MATCH_LABELS = {"any": "any of", "all": "all of"}
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
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SHOWN_PER_NOTICE = 3

# Session-state keys of the widgets (and of the notices the URL left).
KEY_COMPANIES = "filter_companies"
KEY_VENTURES = "filter_ventures"
KEY_STAGES = "filter_stages"
KEY_PERIOD = "filter_period"
KEY_DATES = "filter_dates"
KEY_GRAIN = "filter_grain"
KEY_AGENTS = "filter_agents"
KEY_AGENTS_MATCH = "filter_agents_match"
KEY_TZ = "filter_tz"
KEY_NOTICES = "filter_notices"
KEY_LOADED = "filter_url_loaded"
KEY_LAST_DATES = "filter_last_dates"

DateRange = tuple[date, date]


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


@dataclass
class _Notices:
    """Ignored values grouped by parameter and reason, so one bad link gives a short notice."""

    groups: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def add(self, param: str, value: str, reason: str) -> None:
        self.groups.setdefault((param, reason), []).append(value)

    def lines(self) -> list[str]:
        lines = []
        for (param, reason), values in self.groups.items():
            shown = ", ".join(f"“{fmt.truncate(v)}”" for v in values[:_SHOWN_PER_NOTICE])
            more = len(values) - _SHOWN_PER_NOTICE
            if more > 0:
                shown += f" and {more} more"
            lines.append(f"{param} {shown}: {reason}")
        return lines


# ---- periods -------------------------------------------------------------------------------


def period_dates(period: str, today: date, all_time: Callable[[], DateRange]) -> DateRange:
    """The inclusive dates of a preset period, as of ``today`` in the dashboard's zone."""
    if period == "Last 7 days":
        return today - timedelta(days=6), today
    if period == "Last 30 days":
        return today - timedelta(days=29), today
    if period == "Last 90 days":
        return today - timedelta(days=89), today
    if period == "Quarter to date":
        return date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today
    if period == "Year to date":
        return date(today.year, 1, 1), today
    if period == ALL_TIME:
        return all_time()
    raise ValueError(f"not a preset period: {period!r}")


def matching_period(start: date, end: date, today: date, all_time: Callable[[], DateRange]) -> str:
    """The preset whose dates these are today, else ``Custom range``."""
    for period in PERIODS:
        if period != CUSTOM and period_dates(period, today, all_time) == (start, end):
            return period
    return CUSTOM


def all_time_range(
    first: datetime | None, last: datetime | None, today: date, tz: str | None = None
) -> DateRange:
    """The dates of the scope's data (``queries.data_range``), or just today when there is none;
    local dates in ``tz`` when given (else in the zone of ``first`` and ``last``)."""
    if first is None or last is None:
        return today, today
    if tz is not None:
        first, last = first.astimezone(ZoneInfo(tz)), last.astimezone(ZoneInfo(tz))
    return max(first.date(), FIRST_DATE), min(last.date(), LAST_DATE)


def selected_dates(
    selection: Selection, today: date, all_time: Callable[[], DateRange]
) -> DateRange:
    if selection.period == CUSTOM and selection.start and selection.end:
        return selection.start, selection.end
    period = selection.period if selection.period != CUSTOM else DEFAULT_PERIOD
    return period_dates(period, today, all_time)


# ---- URL <-> selection ---------------------------------------------------------------------


def _canonical_id(value: str) -> str | None:
    if len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def _ids(
    values: Sequence[str], allowed: Collection[str], param: str, reason: str, notices: _Notices
) -> tuple[str, ...]:
    kept: list[str] = []
    for value in values:
        canonical = _canonical_id(value)
        if canonical is None or canonical not in allowed:
            notices.add(param, value, reason)
        elif canonical not in kept:
            kept.append(canonical)
    return tuple(kept[:MAX_IDS])


def _stages(values: Sequence[str], notices: _Notices) -> tuple[int, ...]:
    kept: set[int] = set()
    for value in values:
        text = value.strip()
        if re.fullmatch(r"\d{1,2}", text) and 1 <= int(text) <= 40:
            kept.add(int(text))
        else:
            notices.add("stage", value, "stages are whole numbers from 1 to 40")
    return tuple(sorted(kept))


def _date(values: Sequence[str], param: str, notices: _Notices) -> date | None:
    if not values:
        return None
    value = values[-1]
    text = value.strip()
    if _DATE.fullmatch(text):
        try:
            parsed = date.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None and FIRST_DATE <= parsed <= LAST_DATE:
            return parsed
        if parsed is not None:
            notices.add(param, value, f"dates must lie between {FIRST_DATE} and {LAST_DATE}")
            return None
    notices.add(param, value, "not a date (YYYY-MM-DD)")
    return None


def _timezone(values: Sequence[str], default: str, notices: _Notices | None = None) -> str:
    if not values:
        return default
    try:
        return valid_timezone(values[-1].strip())
    except InvalidFilter:
        if notices is not None:
            notices.add("tz", values[-1], "not a known time zone")
        return default


def url_timezone(params: Mapping[str, Sequence[str]], default: str | None = None) -> str:
    """The zone a URL asks for (``tz``), else ``default`` (ORCHDASH_TIMEZONE): what "today"
    is counted in when the rest of the link is read."""
    return _timezone(params.get("tz", ()), default or timezone_name())


def _agents(values: Sequence[str], allowed: Collection[str], notices: _Notices) -> tuple[str, ...]:
    kept: list[str] = []
    for value in values:
        if value not in allowed:
            notices.add("agent", value, "no such agent")
        elif value not in kept:
            kept.append(value)
    return tuple(sorted(kept)[:MAX_AGENTS])


def _match(values: Sequence[str], notices: _Notices) -> str:
    if not values:
        return DEFAULT_MATCH
    if values[-1].strip().lower() in AGENT_MATCHES:
        return values[-1].strip().lower()
    notices.add("agents_match", values[-1], "agents_match is any or all")
    return DEFAULT_MATCH


def from_query(
    params: Mapping[str, Sequence[str]],
    *,
    companies: Collection[str],
    venture_companies: Mapping[str, str],
    today: date,
    all_time: Callable[[], DateRange],
    agents: Collection[str] = (),
    default_tz: str | None = None,
) -> tuple[Selection, list[str]]:
    """The selection a URL asks for, within the scope, and notices naming what was ignored.

    ``companies`` are the scope's company ids; ``venture_companies`` maps each of the scope's
    ventures to its company; ``agents`` are the scope's agent names (``queries.agents``), so an
    agent of another company reads exactly like one that does not exist. ``today`` is today in
    the link's zone (:func:`url_timezone`). Unknown parameters are ignored silently (they are
    not filters).
    """
    notices = _Notices()
    tz = _timezone(params.get("tz", ()), default_tz or timezone_name(), notices)
    company_ids = _ids(params.get("company", ()), companies, "company", "no such company", notices)
    chosen = set(company_ids) or set(companies)
    venture_ids: list[str] = []
    for value in params.get("venture", ()):
        canonical = _canonical_id(value)
        if canonical is None or canonical not in venture_companies:
            notices.add("venture", value, "no such venture")
        elif venture_companies[canonical] not in chosen:
            notices.add("venture", value, "not a venture of the chosen companies")
        elif canonical not in venture_ids:
            venture_ids.append(canonical)
    stages = _stages(params.get("stage", ()), notices)
    chosen_agents = _agents(params.get("agent", ()), set(agents), notices)
    agents_match = _match(params.get("agents_match", ()), notices)

    grain = DEFAULT_GRAIN
    grains = params.get("grain", ())
    if grains:
        if grains[-1].strip().lower() in GRAINS:
            grain = grains[-1].strip().lower()
        else:
            notices.add("grain", grains[-1], "the grain is day, week or month")

    period, start, end = DEFAULT_PERIOD, None, None
    first = _date(params.get("from", ()), "from", notices)
    last = _date(params.get("to", ()), "to", notices)
    if first and last and first > last:
        notices.add("from", params["from"][-1], f"it is after to ({last.isoformat()})")
    elif first and last:
        period = matching_period(first, last, today, all_time)
        start, end = (first, last) if period == CUSTOM else (None, None)
    elif (first or last) and not (params.get("from") and params.get("to")):
        given = "from" if first else "to"
        notices.add(given, params[given][-1], "a period needs both from and to")

    selection = Selection(
        company_ids=company_ids,
        venture_ids=tuple(venture_ids[:MAX_IDS]),
        stages=stages,
        period=period,
        start=start,
        end=end,
        grain=grain,
        agents=chosen_agents,
        agents_match=agents_match,
        tz=tz,
    )
    return selection, notices.lines()


def to_query(
    selection: Selection, start: date, end: date, default_tz: str | None = None
) -> dict[str, list[str]]:
    """The URL parameters of a selection: explicit dates, so a link shows the same days. The
    match and the zone are written only when they differ from the defaults (``any``, and
    ``default_tz``, ORCHDASH_TIMEZONE when None), so that default links stay short."""
    default = default_tz or timezone_name()
    query = {
        "company": list(selection.company_ids),
        "venture": list(selection.venture_ids),
        "stage": [str(s) for s in selection.stages],
        "agent": list(selection.agents),
        "agents_match": [selection.agents_match] if selection.agents_match != DEFAULT_MATCH else [],
        "from": [start.isoformat()],
        "to": [end.isoformat()],
        "grain": [selection.grain],
        "tz": [selection.tz] if selection.tz != default else [],
    }
    return {key: values for key, values in query.items() if values}


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


# ---- widgets -------------------------------------------------------------------------------


def _clear_notices() -> None:
    st.session_state[KEY_NOTICES] = []


def _period_changed() -> None:
    _clear_notices()
    if st.session_state.get(KEY_PERIOD) == CUSTOM and st.session_state.get(KEY_LAST_DATES):
        # A custom range starts from the dates shown until now.
        st.session_state[KEY_DATES] = st.session_state[KEY_LAST_DATES]


def _seed(selection: Selection, today: date, all_time: Callable[[], DateRange]) -> None:
    st.session_state[KEY_COMPANIES] = list(selection.company_ids)
    st.session_state[KEY_VENTURES] = list(selection.venture_ids)
    st.session_state[KEY_STAGES] = list(selection.stages)
    st.session_state[KEY_AGENTS] = list(selection.agents)
    st.session_state[KEY_AGENTS_MATCH] = selection.agents_match
    st.session_state[KEY_PERIOD] = selection.period
    st.session_state[KEY_GRAIN] = selection.grain
    st.session_state[KEY_TZ] = selection.tz
    if selection.period == CUSTOM:
        st.session_state[KEY_DATES] = selected_dates(selection, today, all_time)


def _keep_only(key: str, options: Collection[str]) -> None:
    """Drop chosen values that are no longer options (access revoked, company unselected)."""
    current = st.session_state.get(key) or []
    kept = [v for v in current if v in options]
    if kept != current:
        st.session_state[key] = kept


def url_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params}


def _chosen_zone(default_tz: str) -> str:
    """The zone the Time zone picker holds (a widget's state is updated before the run)."""
    try:
        return valid_timezone(st.session_state.get(KEY_TZ))
    except InvalidFilter:
        st.session_state[KEY_TZ] = default_tz
        return default_tz


def sidebar(
    companies: pd.DataFrame,
    ventures: pd.DataFrame,
    *,
    agents: Sequence[str],
    default_tz: str,
    rollup_zone: str | None,
    today: Callable[[str], date],
    all_time: Callable[[str], DateRange],
) -> tuple[Selection, DateRange]:
    """Draw the filters; return the selection and its dates, and keep the URL in step.

    ``companies`` is ``queries.companies`` (company_id, company) and ``ventures`` is
    ``queries.ventures`` over the whole scope (venture_id, venture, company_id, company);
    ``agents`` is ``queries.agents``. ``today(tz)`` and ``all_time(tz)`` give today and the
    scope's data range in a zone; ``rollup_zone`` (``queries.rollup_zone``) is the zone the
    rollups serve: the sidebar says when figures come from the raw rows instead.
    """
    company_names = dict(zip(companies["company_id"], companies["company"], strict=True))
    venture_names = dict(zip(ventures["venture_id"], ventures["venture"], strict=True))
    venture_companies = dict(zip(ventures["venture_id"], ventures["company_id"], strict=True))

    if not st.session_state.get(KEY_LOADED):
        params = url_params()
        link_tz = url_timezone(params, default_tz)
        selection, notices = from_query(
            params,
            companies=company_names.keys(),
            venture_companies=venture_companies,
            agents=agents,
            today=today(link_tz),
            all_time=lambda: all_time(link_tz),
            default_tz=default_tz,
        )
        _seed(selection, today(link_tz), lambda: all_time(link_tz))
        st.session_state[KEY_NOTICES] = notices
        st.session_state[KEY_LOADED] = True

    # Streamlit forgets a widget's value after a run that did not draw it (an error stopped the
    # run early): fall back to the defaults rather than to each widget's first option.
    for key, default in (
        (KEY_COMPANIES, []),
        (KEY_VENTURES, []),
        (KEY_STAGES, []),
        (KEY_AGENTS, []),
        (KEY_AGENTS_MATCH, DEFAULT_MATCH),
        (KEY_PERIOD, DEFAULT_PERIOD),
        (KEY_GRAIN, DEFAULT_GRAIN),
        (KEY_TZ, default_tz),
    ):
        st.session_state.setdefault(key, default)
    tz = _chosen_zone(default_tz)
    day = today(tz)

    def span() -> DateRange:
        return all_time(tz)

    bar = st.sidebar
    _keep_only(KEY_COMPANIES, company_names)
    chosen = bar.multiselect(
        "Companies",
        list(company_names),
        format_func=lambda c: company_names.get(c, c),
        key=KEY_COMPANIES,
        placeholder="All companies",
        on_change=_clear_notices,
    )
    in_companies = {v for v, c in venture_companies.items() if not chosen or c in chosen}
    venture_options = [v for v in venture_names if v in in_companies]
    _keep_only(KEY_VENTURES, venture_options)
    venture_ids = bar.multiselect(
        "Ventures",
        venture_options,
        format_func=lambda v: venture_names.get(v, v),
        key=KEY_VENTURES,
        placeholder="All ventures",
        on_change=_clear_notices,
    )
    stages = bar.multiselect(
        "Stages",
        list(range(1, 41)),
        key=KEY_STAGES,
        placeholder="All stages",
        on_change=_clear_notices,
    )
    _keep_only(KEY_AGENTS, agents)
    chosen_agents = bar.multiselect(
        "Agents",
        list(agents),
        key=KEY_AGENTS,
        placeholder="All agents",
        max_selections=MAX_AGENTS,
        on_change=_clear_notices,
    )
    if st.session_state.get(KEY_AGENTS_MATCH) not in AGENT_MATCHES:
        st.session_state[KEY_AGENTS_MATCH] = DEFAULT_MATCH
    agents_match = bar.radio(
        "Agents match",
        AGENT_MATCHES,
        format_func=lambda m: MATCH_LABELS[m],
        key=KEY_AGENTS_MATCH,
        horizontal=True,
        help="Rows that involve any of the chosen agents, or all of them.",
        on_change=_clear_notices,
    )
    period = bar.selectbox("Period", PERIODS, key=KEY_PERIOD, on_change=_period_changed)
    start: date | None = None
    end: date | None = None
    if period == CUSTOM:
        if KEY_DATES not in st.session_state:
            st.session_state[KEY_DATES] = st.session_state.get(KEY_LAST_DATES) or period_dates(
                DEFAULT_PERIOD, day, span
            )
        picked = bar.date_input(
            "Dates",
            key=KEY_DATES,
            min_value=FIRST_DATE,
            max_value=LAST_DATE,
            format="YYYY-MM-DD",
            on_change=_clear_notices,
        )
        if isinstance(picked, tuple) and len(picked) == 2:
            start, end = picked
        else:
            # Half-picked range: keep showing the last complete one.
            start, end = st.session_state.get(KEY_LAST_DATES) or (None, None)
    grain = bar.radio(
        "Grain",
        GRAINS,
        format_func=str.capitalize,
        key=KEY_GRAIN,
        horizontal=True,
        on_change=_clear_notices,
    )
    bar.selectbox(
        "Time zone",
        zone_options(default_tz, tz),
        key=KEY_TZ,
        help="Periods and buckets are local days, weeks and months of this zone.",
        on_change=_clear_notices,
    )

    selection = Selection(
        company_ids=tuple(chosen),
        venture_ids=tuple(venture_ids),
        stages=tuple(stages),
        period=period,
        start=start,
        end=end,
        grain=grain or DEFAULT_GRAIN,
        agents=tuple(sorted(chosen_agents)),
        agents_match=agents_match or DEFAULT_MATCH,
        tz=tz,
    )
    for note in raw_notes(selection, rollup_zone):
        bar.caption(note)
    dates = selected_dates(selection, day, span)
    st.session_state[KEY_LAST_DATES] = dates
    wanted = to_query(selection, *dates, default_tz=default_tz)
    if url_params() != wanted:
        st.query_params.from_dict(wanted)
    return selection, dates


def notices() -> list[str]:
    return list(st.session_state.get(KEY_NOTICES) or [])


def notice_text(lines: Sequence[str]) -> str:
    """One warning for a link's ignored values, safe to render as Markdown."""
    items = "\n".join(f"- {fmt.markdown_text(line)}" for line in lines)
    return f"Some values in the link were ignored:\n\n{items}"
