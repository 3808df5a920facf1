"""The filters in the URL, so that a link reproduces the view: read once, written on every run.

The URL is read once, when the session first draws the dashboard: every value is checked against
the user's scope, and whatever is not valid is dropped with a notice (:func:`from_query`). From
then on the widgets are the truth and each run writes them back (:func:`to_query`). Pure: tested
without Streamlit; the widgets are dashboard/ui/sidebar.py.

An id outside the scope gets exactly the notice of an id that does not exist, so a link can neither
widen the scope nor tell whether a company or venture exists.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from dashboard.charts import format as fmt
from dashboard.ui.filter_state import (
    DEFAULT_GRAIN,
    DEFAULT_MATCH,
    Selection,
)
from dashboard.ui.period_presets import (
    CUSTOM,
    DEFAULT_PERIOD,
    DateRange,
    matching_period,
)
from queries import (
    AGENT_MATCHES,
    FIRST_DATE,
    GRAINS,
    LAST_DATE,
    MAX_AGENTS,
    MAX_IDS,
    InvalidFilter,
    timezone_name,
    valid_timezone,
)

PARAMS = ("company", "venture", "stage", "agent", "agents_match", "from", "to", "grain", "tz")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SHOWN_PER_NOTICE = 3


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


def notice_text(lines: Sequence[str]) -> str:
    """One warning for a link's ignored values, safe to render as Markdown."""
    items = "\n".join(f"- {fmt.markdown_text(line)}" for line in lines)
    return f"Some values in the link were ignored:\n\n{items}"
