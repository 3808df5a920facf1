"""The signed-in dashboard: scope, sidebar filters, navigation, then the chosen page.

``main(user)`` is called by dashboard/app.py once the sign-in gate has passed. It computes what
every page needs into a :class:`View` and runs the page, which reads it with :func:`current`.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from dashboard.charts import format as fmt
from dashboard.ui import (
    data,
    email_me,
    filter_state,
    pages,
    period_presets,
    sidebar,
    table_csv,
    url_state,
)
from dashboard.ui.filter_state import Selection
from dashboard.web.sessions import SignedIn
from queries import Filters, Scope, get_engine, timezone_name


@dataclass(frozen=True)
class View:
    """Everything a page needs: who, what they may see, and what they chose."""

    user: SignedIn
    engine: Engine
    scope: Scope
    filters: Filters
    selection: Selection
    companies: pd.DataFrame
    ventures: pd.DataFrame
    email: bool = False  # whether the server can send email (ORCHDASH_SMTP_URL)

    @property
    def unfiltered(self) -> Filters:
        return filter_state.unfiltered(self.filters)

    def load(self, name: str, **options: Any) -> Any:
        return data.load(self.engine, self.scope, self.filters, name, **options)

    def empty_reason(self) -> str:
        return data.empty_reason(self.engine, self.scope, self.filters, self.unfiltered)

    def file_name(self, what: str) -> str:
        return table_csv.file_name(what, self.filters.start, self.filters.end)

    def header(self, title: str) -> None:
        """The page's title, its period and zone, and its `Email me this`."""
        st.title(title)
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.caption(
            f"{fmt.period(self.filters.start, self.filters.end)} · "
            f"time zone {fmt.markdown_text(self.filters.tz)}"
        )
        with right:
            email_me.popover(
                self.engine,
                self.scope,
                page=pages.page(title).path,
                title=title,
                selection=self.selection,
                start=self.filters.start,
                end=self.filters.end,
                email=self.email,
            )

    def chart(self, figure: Any, table: pd.DataFrame, what: str) -> None:
        """A chart and the `Download CSV` of the table it draws."""
        slug = table_csv.slug(what)
        st.plotly_chart(
            figure,
            theme="streamlit",
            key=f"chart-{slug}",
            config={"displaylogo": False},
        )
        figures_table(table, slug)
        table_csv.download_button(table, self.file_name(what), key=f"csv-{slug}")

    def table(self, table: pd.DataFrame, what: str, **options: Any) -> None:
        """A table and its `Download CSV`; a missing value reads as a dash."""
        slug = table_csv.slug(what)
        st.dataframe(
            table, hide_index=True, key=f"table-{slug}", placeholder=fmt.NO_VALUE, **options
        )
        table_csv.download_button(table, self.file_name(what), key=f"csv-{slug}")

    def need_access(self) -> None:
        """Stop with the explained empty state when the user may see no company."""
        if not self.scope.company_ids:
            st.info(data.NO_ACCESS, icon=":material/lock:")
            st.stop()

    def nothing(self) -> None:
        """Stop with the reason why there is nothing to show."""
        st.info(fmt.markdown_text(self.empty_reason()), icon=":material/info:")
        st.stop()


FIGURES = "The figures of this chart"


def figures_table(table: pd.DataFrame, slug: str) -> None:
    """The chart's figures as a table, closed until asked for: the text alternative a screen
    reader reaches (a Plotly SVG has none), the same rows as its `Download CSV`."""
    with st.expander(f"{FIGURES} ({fmt.number(len(table))} rows)", icon=":material/table:"):
        st.dataframe(table, hide_index=True, key=f"figures-{slug}", placeholder=fmt.NO_VALUE)


_current: ContextVar[View] = ContextVar("orchdash_view")


def current() -> View:
    """The view of this run (set by ``main`` before the page runs)."""
    try:
        return _current.get()
    except LookupError:
        st.error("Open the dashboard from its start page.")
        st.stop()


def navigation() -> Any:
    chosen = [
        st.Page(str(p.script), title=p.title, url_path=p.path, default=i == 0)
        for i, p in enumerate((*pages.PAGES, *pages.ACCOUNT))
    ]
    return st.navigation(chosen, position="sidebar")


def main(user: SignedIn, *, email: bool = False) -> None:
    """The signed-in dashboard; ``email``: whether the server can send email."""
    engine = data.guarded(get_engine)
    scope = data.scope_for(engine, user.user_id)
    companies = data.companies(engine, scope)
    ventures = data.ventures(engine, scope)
    agents = data.agents(engine, scope)
    rollup_zone = data.rollup_zone(engine, scope) if scope.company_ids else None
    page = navigation()

    def all_time(tz: str) -> tuple[date, date]:
        return period_presets.all_time_range(*data.data_range(engine, scope), data.today(tz), tz)

    selection, (start, end) = sidebar.sidebar(
        companies,
        ventures,
        agents=agents,
        default_tz=timezone_name(),
        rollup_zone=rollup_zone,
        today=data.today,
        all_time=all_time,
    )
    notices = sidebar.notices()
    if notices:
        st.warning(url_state.notice_text(notices), icon=":material/link_off:")
    chosen = data.guarded(lambda: filter_state.to_filters(selection, start, end))
    _current.set(
        View(
            user=user,
            engine=engine,
            scope=scope,
            filters=chosen,
            selection=selection,
            companies=companies,
            ventures=ventures,
            email=email,
        )
    )
    page.run()
