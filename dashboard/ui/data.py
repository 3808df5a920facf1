"""The pages' only way to the data: cached calls of ``queries``, and errors shown as messages.

st.cache_data is shared by every session of the server, so each key holds the database, the
user, the scope's companies and the filters (all passed as arguments, which is what st.cache_data
hashes); the engine itself is left out of the key by its leading underscore. Only aggregated,
small frames are cached, for ``TTL_S`` seconds: access that is revoked stops showing data within
that time (and at once when the scope is recomputed, since the scope is part of every key).

A failing query never shows a traceback: a DashboardError shows its own message, anything else
is logged on the server and shown as a generic message; both offer `Retry`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

import queries
from dashboard.charts import format as fmt
from dashboard.ui import pages
from queries import DashboardError, Filters, InvalidFilter, Scope

TTL_S = 60
GENERIC_ERROR = (
    "Something went wrong while loading this view. It has been logged; please retry in a moment."
)
NO_ACCESS = (
    "You have no access to any company yet, so there is nothing to show. "
    "Ask an administrator to grant you access to a company."
)
NO_DATA_YET = (
    "No data yet: nothing has been recorded for the companies you can see. The pages fill in "
    "as soon as the first metrics arrive."
)
_log = logging.getLogger(__name__)
T = TypeVar("T")


def database_key(engine: Engine) -> str:
    """Which database an engine reads, without its password: part of every cache key."""
    return engine.url.render_as_string(hide_password=True)


@st.cache_data(ttl=TTL_S, show_spinner="Loading…", max_entries=2_000)
def _filtered(
    _engine: Engine, database: str, name: str, scope: Scope, filters: Filters, options: tuple
) -> Any:
    if name not in pages.LOADS:
        raise ValueError(f"not a cached query: {name!r}")
    return getattr(queries, name)(_engine, scope, filters, **dict(options))


@st.cache_data(ttl=TTL_S, show_spinner="Loading…", max_entries=1_000)
def _scoped(_engine: Engine, database: str, name: str, scope: Scope) -> Any:
    if name == "companies":
        return queries.companies(_engine, scope)
    if name == "ventures":
        return queries.ventures(_engine, scope)
    if name == "data_range":
        return queries.data_range(_engine, scope)
    if name == "agents":
        return queries.agents(_engine, scope)
    if name == "rollup_zone":
        return queries.rollup_zone(_engine, scope)
    raise ValueError(f"not a cached query: {name!r}")


def fail(error: BaseException) -> NoReturn:
    """Show what went wrong and a `Retry` button, then stop the page; never a traceback."""
    if isinstance(error, InvalidFilter):
        # Retrying the same filters cannot help: say what to change instead.
        st.error(fmt.markdown_text(error.user_message) + " Change the filters in the sidebar.")
        st.stop()
    if isinstance(error, DashboardError):
        st.error(fmt.markdown_text(error.user_message))
    else:
        _log.error("dashboard query failed", exc_info=error)
        st.error(GENERIC_ERROR)
    # A click reruns the page; failures are never cached, so the rerun queries again.
    st.button("Retry", key="data_retry", type="primary")
    st.stop()


def guarded(call: Callable[[], T]) -> T:
    try:
        return call()
    except Exception as error:  # Streamlit's own stop/rerun signals are BaseException
        fail(error)


def scope_for(engine: Engine, user_id: str) -> Scope:
    """The user's scope, recomputed on every run: cheap, and revocation takes effect at once."""
    return guarded(lambda: queries.scope_for_user(engine, user_id))


def companies(engine: Engine, scope: Scope) -> pd.DataFrame:
    return guarded(lambda: _scoped(engine, database_key(engine), "companies", scope))


def ventures(engine: Engine, scope: Scope) -> pd.DataFrame:
    return guarded(lambda: _scoped(engine, database_key(engine), "ventures", scope))


def data_range(engine: Engine, scope: Scope) -> tuple[datetime | None, datetime | None]:
    return guarded(lambda: _scoped(engine, database_key(engine), "data_range", scope))


def agents(engine: Engine, scope: Scope) -> list[str]:
    return guarded(lambda: _scoped(engine, database_key(engine), "agents", scope))


def rollup_zone(engine: Engine, scope: Scope) -> str:
    return guarded(lambda: _scoped(engine, database_key(engine), "rollup_zone", scope))


def load(engine: Engine, scope: Scope, filters: Filters, name: str, **options: Any) -> Any:
    """``queries.<name>(engine, scope, filters, **options)``, cached and guarded."""
    key = tuple(sorted(options.items()))
    return guarded(lambda: _filtered(engine, database_key(engine), name, scope, filters, key))


def empty_reason(engine: Engine, scope: Scope, filters: Filters, unfiltered: Filters) -> str:
    """Why a view has nothing to show: no access, no data yet, rows without this view's figures,
    the filters, or the period (and then when the data there is begins and ends)."""
    if not scope.company_ids:
        return NO_ACCESS
    first, last = data_range(engine, scope)
    if first is None or last is None:
        return NO_DATA_YET
    zone = ZoneInfo(filters.tz)
    held = fmt.period(first.astimezone(zone).date(), last.astimezone(zone).date())
    when = fmt.period(filters.start, filters.end)
    rows = load(engine, scope, filters, "count_rows")
    if rows > 0:
        return (
            f"The rows from {when} ({fmt.number(rows)}) do not yet record what this page shows. "
            "It fills in once they do."
        )
    narrowed = any((filters.company_ids, filters.venture_ids, filters.stages, filters.agents))
    if narrowed and load(engine, scope, unfiltered, "count_rows") > 0:
        return (
            f"The filters exclude everything: no rows for the chosen companies, ventures, "
            f"stages and agents from {when}. Clear some of them to see data: the companies you "
            f"can see have data from {held}."
        )
    return (
        f"No data from {when} in the companies you can see. They have data from {held}: "
        "choose a period within it."
    )


def today(tz: str) -> date:
    """Today in the dashboard's zone: what "Last 7 days" and the other presets count from."""
    return datetime.now(ZoneInfo(tz)).date()
