"""Subscriptions: the signed-in user's digests, what became of the last one, `Send now` and
`Unsubscribe`. Each is read and changed under the user's own RLS policy."""

from datetime import UTC, datetime
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

import queries
from dashboard.charts import format as fmt
from dashboard.mail import schedule, status
from dashboard.ui import data, email_me, layout, pages

view = layout.current()
st.title("Subscriptions")
if not view.email:
    st.info(email_me.NOT_CONFIGURED, icon=":material/mail_off:")

subs = data.guarded(lambda: queries.my_subscriptions(view.engine, view.scope))
if subs.empty:
    st.info(
        f"You have no subscriptions yet. Open a page, choose its filters and use "
        f"**{email_me.LABEL}** beside its title to get it by email every day or week.",
        icon=":material/mail:",
    )
    st.stop()

TITLES = {p.path: p.title for p in pages.PAGES}
now = datetime.now(UTC)


sub: Any
for sub in subs.itertuples(index=False):
    title = TITLES.get(sub.page, sub.page)
    with st.container(border=True):
        st.markdown(
            f"**{fmt.markdown_text(title)}**, {email_me.SAID[sub.every]} at {sub.hour:02}:00 "
            f"({fmt.markdown_text(sub.tz)}) · {fmt.markdown_text(sub.period)}"
        )
        next_at = schedule.next_slot(sub.every, sub.hour, sub.tz, now)
        link = f"/{sub.page}?{sub.query}"
        st.caption(f"Next digest {status.when(next_at, sub.tz)} · [Open the view]({link})")
        shown = status.last_message(sub)
        if shown is not None:
            kind, line = shown
            box = st.success if kind == "success" else st.warning
            box(fmt.markdown_text(line), icon=":material/mail:")
        asked = not pd.isna(sub.requested_at)
        if asked and (pd.isna(sub.last_at) or sub.requested_at > sub.last_at):
            st.caption("Asked for now: it goes out within a minute.")
        left, right = st.columns(2)
        if left.button("Send now", key=f"send-{sub.id}", disabled=not view.email):
            data.guarded(partial(queries.request_message, view.engine, view.scope, str(sub.id)))
            st.rerun()
        if right.button("Unsubscribe", key=f"unsubscribe-{sub.id}"):
            data.guarded(partial(queries.unsubscribe, view.engine, view.scope, str(sub.id)))
            st.rerun()
