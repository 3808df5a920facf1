"""`Email me this`: subscribe the signed-in user to the page they are on, with its filters.

A popover beside the page's title holds a small form: every day or every week (Monday), at a
local hour in the sidebar's `Time zone`. The subscription keeps the page's URL path, the filters
as the URL query the page shows, and the period's preset (so "Last 30 days" is counted again at
each send). The row is written under the user's own RLS policy (``queries.subscribe``). Without
email configured on the server, the popover says so and offers nothing.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

import streamlit as st
from sqlalchemy import Engine

import queries
from dashboard.charts import format as fmt
from dashboard.ui import url_state
from dashboard.ui.filter_state import Selection
from queries import DashboardError, Scope, Subscription

LABEL = "Email me this"
EVERY = {"Daily": "day", "Weekly (Mondays)": "week"}
SAID = {"day": "every day", "week": "every Monday"}
DEFAULT_HOUR = 8
NOT_CONFIGURED = (
    "Email is not configured on this server (ORCHDASH_SMTP_URL is not set), so no digest can "
    "be sent. Ask the person who runs the dashboard to set it up."
)


def popover(
    engine: Engine,
    scope: Scope,
    *,
    page: str,
    title: str,
    selection: Selection,
    start: date,
    end: date,
    email: bool,
) -> None:
    """The `Email me this` popover of the page at URL path ``page``."""
    with st.popover(LABEL, icon=":material/mail:"):
        if not email:
            # A caption, not an alert: the page's own messages stay the only ones it shows.
            st.caption(NOT_CONFIGURED)
            return
        with st.form(f"email-me-{page}", border=False):
            every = st.radio("How often", list(EVERY), horizontal=True)
            hour = st.selectbox(
                "At", list(range(24)), index=DEFAULT_HOUR, format_func=lambda h: f"{h:02}:00"
            )
            st.caption(
                fmt.markdown_text(
                    f"In the time zone {selection.tz}, with this page's filters; "
                    f"{selection.period.lower()} as of each send."
                )
            )
            chosen = st.form_submit_button("Subscribe", type="primary")
        if chosen:
            query = urlencode(url_state.to_query(selection, start, end), doseq=True)
            try:
                sub = Subscription(
                    page, query, selection.period, EVERY[every], int(hour), selection.tz
                )
                queries.subscribe(engine, scope, sub)
            except DashboardError as error:
                st.error(fmt.markdown_text(str(error)), icon=":material/error:")
                return
            st.success(
                fmt.markdown_text(
                    f"Subscribed: {title}, {SAID[sub.every]} at {hour:02}:00 ({selection.tz}). "
                    "The Subscriptions page lists it."
                ),
                icon=":material/check_circle:",
            )
