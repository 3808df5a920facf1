"""The sidebar filters: the widgets, seeded once from the URL, and the URL kept in step.

Each widget keeps its value in ``st.session_state`` under a ``KEY_*`` below; the values are
checked by dashboard/ui/url_state.py when a link is read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.ui.filter_state import (
    DEFAULT_GRAIN,
    DEFAULT_MATCH,
    Selection,
    raw_notes,
    selected_dates,
    zone_options,
)
from dashboard.ui.period_presets import (
    CUSTOM,
    DEFAULT_PERIOD,
    PERIODS,
    DateRange,
    period_dates,
)
from dashboard.ui.url_state import from_query, to_query, url_timezone
from queries import (
    AGENT_MATCHES,
    FIRST_DATE,
    GRAINS,
    LAST_DATE,
    MAX_AGENTS,
    InvalidFilter,
    valid_timezone,
)

MATCH_LABELS = {"any": "any of", "all": "all of"}
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
        _read_link(company_names, venture_companies, agents, default_tz, today, all_time)
    _keep_defaults(default_tz)
    tz = _chosen_zone(default_tz)
    day = today(tz)

    def span() -> DateRange:
        return all_time(tz)

    bar = st.sidebar
    chosen, venture_ids, stages, chosen_agents, agents_match = _scope_pickers(
        bar, company_names, venture_names, venture_companies, agents
    )
    period, start, end = _period_picker(bar, day, span)
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


def _read_link(
    company_names: Mapping[str, str],
    venture_companies: Mapping[str, str],
    agents: Sequence[str],
    default_tz: str,
    today: Callable[[str], date],
    all_time: Callable[[str], DateRange],
) -> None:
    """Seed the widgets from the URL, once per session, and keep its notices."""
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


def _keep_defaults(default_tz: str) -> None:
    """Streamlit forgets a widget's value after a run that did not draw it (an error stopped the
    run early): fall back to the defaults rather than to each widget's first option."""
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


def _scope_pickers(
    bar: Any,
    company_names: Mapping[str, str],
    venture_names: Mapping[str, str],
    venture_companies: Mapping[str, str],
    agents: Sequence[str],
) -> tuple[list, list, list, list, str]:
    """`Companies`, `Ventures` (of the chosen companies), `Stages`, `Agents`, `Agents match`."""
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
    return chosen, venture_ids, stages, chosen_agents, agents_match


def _period_picker(
    bar: Any, day: date, span: Callable[[], DateRange]
) -> tuple[str, date | None, date | None]:
    """`Period`, and `Dates` for a custom range: the period and, when custom, its dates."""
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
    return period, start, end


def notices() -> list[str]:
    return list(st.session_state.get(KEY_NOTICES) or [])
