"""What a digest holds, read as its recipient at the moment it is made.

:func:`compose` takes the recipient's scope from the database at that moment (their active
companies, through the same ``scoped()`` path as a page), reads the subscription's filters as a
link of the dashboard would be read (ids outside the scope dropped, never widening it), counts
the preset period from that day in the subscription's zone, and loads what the page shows: the
KPI tiles with their deltas, the five ventures that most need attention, the five largest
deteriorations of "What changed", and the page's main charts. A subscription whose companies or
ventures the recipient may no longer see, or a recipient with no company at all, gets a
:class:`Refusal` that says why, and nothing is sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine

import queries
from dashboard.charts import confidence, tiles, what_changed
from dashboard.charts import format as fmt
from dashboard.mail.page_charts import Chart, page_charts
from dashboard.ui import filter_state, pages, period_presets, url_state
from dashboard.ui.filter_state import Selection
from queries import Filters, Scope, Subscription

TOP = 5


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    previous: str
    delta: str | None
    verdict: str  # better | worse | no change | "" (neither direction is better, or no delta)


@dataclass(frozen=True)
class Digest:
    """Everything a message or a board pack shows, in the recipient's scope and zone."""

    page_title: str
    link: str
    filters: Filters
    made_at: datetime
    company_names: tuple[str, ...]
    tiles: tuple[Tile, ...]
    kpi_table: pd.DataFrame
    attention: pd.DataFrame
    changes: pd.DataFrame
    charts: tuple[Chart, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def period(self) -> str:
        return fmt.period(self.filters.start, self.filters.end)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the message by file name: the CSV attachments."""
        named = {
            "kpis": self.kpi_table,
            "ventures-attention": self.attention,
            "what-changed": self.changes,
        }
        named.update({chart.slug: chart.table for chart in self.charts})
        return {
            f"{name}_{self.filters.start.isoformat()}_{self.filters.end.isoformat()}.csv": table
            for name, table in named.items()
        }


@dataclass(frozen=True)
class Refusal:
    """Why nothing is sent to this recipient now."""

    reason: str


NO_COMPANY = "Not sent: you have no active access to any company."
REVOKED = (
    "Not sent: this subscription names a company or venture you no longer have access to. "
    "Subscribe again from the page with the filters you want."
)


def public_url() -> str:
    """The dashboard's address as recipients open it (ORCHDASH_PUBLIC_URL)."""
    port = os.environ.get("STREAMLIT_SERVER_PORT", "8501")
    return os.environ.get("ORCHDASH_PUBLIC_URL", "").strip().rstrip("/") or (
        f"http://localhost:{port}"
    )


def view_link(path: str, query: dict[str, list[str]]) -> str:
    """The dashboard on this view: the page's path and the filters' URL query."""
    return f"{public_url()}/{path}?{urlencode(query, doseq=True)}"


@dataclass(frozen=True)
class RecipientView:
    """What a user may see at this moment, and the filters a stored URL query asks for in it."""

    scope: Scope
    selection: Selection
    today: date
    all_time: Callable[[], tuple[date, date]]
    companies: pd.DataFrame

    def names(self, f: Filters) -> tuple[str, ...]:
        """The names of the companies the filters cover."""
        return company_names(self.companies, self.scope, f)


def company_names(companies: pd.DataFrame, scope: Scope, f: Filters) -> tuple[str, ...]:
    """The names of the companies ``f`` covers in ``scope`` (``queries.companies``' frame)."""
    chosen = set(f.company_ids) or set(scope.company_ids)
    return tuple(sorted(str(n) for n in companies[companies["company_id"].isin(chosen)]["company"]))


def recipient_view(
    engine: Engine, user_id: str, query: str, tz: str, now: datetime
) -> RecipientView | Refusal:
    """The user's scope read now, and ``query`` read as a link of the dashboard would be in it;
    a refusal when the user may see no company, or no longer one the query names."""
    scope = queries.scope_for_user(engine, user_id)
    if not scope.company_ids:
        return Refusal(NO_COMPANY)
    params = parse_qs(query, keep_blank_values=False)
    companies = queries.companies(engine, scope)
    ventures = queries.ventures(engine, scope)
    if _names_outside(params, set(companies["company_id"]), set(ventures["venture_id"])):
        return Refusal(REVOKED)
    today = now.astimezone(ZoneInfo(tz)).date()

    def all_time() -> tuple[date, date]:
        return period_presets.all_time_range(*queries.data_range(engine, scope), today, tz)

    selection, _ = url_state.from_query(
        {**params, "tz": [tz]},
        companies=set(companies["company_id"]),
        venture_companies=dict(zip(ventures["venture_id"], ventures["company_id"], strict=True)),
        today=today,
        all_time=all_time,
        agents=queries.agents(engine, scope),
        default_tz=tz,
    )
    return RecipientView(scope, selection, today, all_time, companies)


def compose(engine: Engine, user_id: str, sub: Subscription, now: datetime) -> Digest | Refusal:
    """The digest of ``sub`` for the user ``user_id`` as of ``now`` (aware)."""
    seen = recipient_view(engine, user_id, sub.query, sub.tz, now)
    if isinstance(seen, Refusal):
        return seen
    if sub.period == period_presets.CUSTOM:
        start, end = filter_state.selected_dates(seen.selection, seen.today, seen.all_time)
    else:
        start, end = period_presets.period_dates(sub.period, seen.today, seen.all_time)
    f = filter_state.to_filters(seen.selection, start, end)
    return _digest(engine, seen.scope, sub.page, f, now, seen.names(f))


def for_view(engine: Engine, scope: Scope, page: str, f: Filters, now: datetime) -> Digest:
    """The digest of a view a signed-in user has open (the board pack's)."""
    companies = queries.companies(engine, scope)
    chosen = set(f.company_ids) or set(scope.company_ids)
    names = tuple(
        sorted(str(n) for n in companies[companies["company_id"].isin(chosen)]["company"])
    )
    return _digest(engine, scope, page, f, now, names)


def _names_outside(params: dict[str, list[str]], companies: set[str], ventures: set[str]) -> bool:
    named = [(v.strip().lower(), companies) for v in params.get("company", ())] + [
        (v.strip().lower(), ventures) for v in params.get("venture", ())
    ]
    return any(value not in allowed for value, allowed in named)


def _digest(
    engine: Engine, scope: Scope, path: str, f: Filters, now: datetime, names: tuple[str, ...]
) -> Digest:
    def load(name: str, **options: Any) -> Any:
        if name not in pages.LOADS:
            raise ValueError(f"not a query of the pages: {name}")
        return getattr(queries, name)(engine, scope, f, **options)

    kpis = load("kpis")
    page = next(p for p in pages.PAGES if p.path == path)
    notes = [n for n in (confidence.tile_note(kpis).caption,) if n]
    if kpis.empty or fmt.is_missing(kpis["actions"].iloc[0]) or kpis["actions"].iloc[0] == 0:
        notes.insert(0, f"No rows in {fmt.period(f.start, f.end)} for these filters.")
    query = url_state.to_query(filter_state.to_selection(f), f.start, f.end)
    # The link opens in the subscription's zone whatever the server's default.
    query["tz"] = [f.tz]
    return Digest(
        page_title=page.title,
        link=view_link(page.path, query),
        filters=f,
        made_at=now,
        company_names=names,
        tiles=_tiles(kpis),
        kpi_table=tiles.kpi_table(kpis),
        attention=tiles.attention_table(load("venture_attention", limit=TOP)),
        changes=what_changed.changes_table(load("venture_changes")).head(TOP),
        charts=tuple(page_charts(page.path, load, f.grain)),
        notes=tuple(notes),
    )


def _tiles(kpis: pd.DataFrame) -> tuple[Tile, ...]:
    if kpis.empty:
        return ()
    row = kpis.iloc[0]
    shown = []
    for kpi in tiles.KPIS:
        value, previous = row.get(kpi.column), row.get("prev_" + kpi.column)
        delta = kpi.delta(value, previous)
        shown.append(
            Tile(
                kpi.label,
                kpi.shown(value),
                kpi.shown(previous),
                delta,
                _verdict(kpi, value, previous) if delta else "",
            )
        )
    return tuple(shown)


def _verdict(kpi: tiles.Kpi, value: Any, previous: Any) -> str:
    if kpi.better == "neither":
        return ""
    if float(value) == float(previous):
        return "no change"
    up = float(value) > float(previous)
    return "better" if up == (kpi.better == "higher") else "worse"
