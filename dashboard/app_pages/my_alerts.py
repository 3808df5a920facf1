"""Alerts: the signed-in user's rules on a measure, the state each was last found in, a form to
add one in the sidebar's scope, and `Delete`. Each is read and changed under the user's own RLS
policy; the sender checks them every few minutes and emails when one starts or stops holding."""

from functools import partial
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

import queries
from dashboard.charts import format as fmt
from dashboard.mail import alerts, status
from dashboard.ui import data, email_me, layout, url_state
from queries import DashboardError, Rule

SCOPE = ("company", "venture", "stage")
view = layout.current()
st.title("Alerts")
if not view.email:
    st.info(email_me.NOT_CONFIGURED, icon=":material/mail_off:")
st.caption(
    "A rule watches a measure over the last days, in the companies, ventures and stages chosen "
    f"in the sidebar. It is checked every {alerts.EVALUATE_EVERY_S // 60} minutes and emails "
    "you once when it starts to hold and once when it is back to normal."
)

LABELS = {m.label: key for key, m in alerts.MEASURES.items()}


with st.form("alert-rule"):
    left, middle, right = st.columns([2, 1, 1])
    label = left.selectbox("Measure", list(LABELS))
    comparison = middle.radio("Alert when it is", list(queries.COMPARISONS), horizontal=True)
    window = right.number_input("Last days", min_value=1, max_value=366, value=7, step=1)
    threshold = st.number_input(
        "Threshold",
        value=5.0,
        step=1.0,
        help="In the measure's unit: percent for the rates, minutes for the median stage "
        "duration, a count of interventions, a z-score for What changed.",
    )
    scope_query = {
        k: v
        for k, v in url_state.to_query(view.selection, view.filters.start, view.filters.end).items()
        if k in SCOPE
    }
    scope = status.scope_words(scope_query)
    st.caption(fmt.markdown_text(f"Scope: {scope}; time zone {view.filters.tz}."))
    added = st.form_submit_button("Add rule", type="primary")
if added:
    try:
        made = Rule(
            LABELS[str(label)],
            urlencode(scope_query, doseq=True),
            str(comparison),
            float(threshold),
            int(window),
            view.filters.tz,
        )
        queries.add_rule(view.engine, view.scope, made)
        st.success("Rule added: it is checked within a few minutes.", icon=":material/check:")
    except DashboardError as error:
        st.error(fmt.markdown_text(str(error)), icon=":material/error:")

rules = data.guarded(lambda: queries.my_rules(view.engine, view.scope))
if rules.empty:
    st.info("No alert rules yet: add one above.", icon=":material/notifications:")
    st.stop()

rule: Any
for rule in rules.itertuples(index=False):
    measure = alerts.MEASURES[rule.measure]
    with st.container(border=True):
        st.markdown(
            f"**{fmt.markdown_text(measure.label)}** {rule.comparison} "
            f"{fmt.markdown_text(alerts.shown(rule.measure, rule.threshold))} · last "
            f"{rule.window_days} days ({fmt.markdown_text(rule.tz)})"
        )
        value = None if pd.isna(rule.value) else float(rule.value)
        where = f" ({rule.detail})" if isinstance(rule.detail, str) and rule.detail else ""
        figures = (
            f"{alerts.shown(rule.measure, value)}{where}, "
            f"{fmt.number(rule.row_count)} rows, checked {status.when(rule.evaluated_at, rule.tz)}"
            if not pd.isna(rule.evaluated_at)
            else ""
        )
        if rule.holding is True:
            since = status.when(rule.since, rule.tz)
            st.warning(
                fmt.markdown_text(f"Holds since {since}: {figures}."),
                icon=":material/notifications_active:",
            )
        elif rule.holding is False:
            st.success(fmt.markdown_text(f"Normal: {figures}."), icon=":material/check_circle:")
        else:
            st.caption("Not checked yet: within a few minutes.")
        shown = status.last_message(rule)
        if shown is not None:
            st.caption(fmt.markdown_text(shown[1].replace("digest", "notification")))
        if st.button("Delete", key=f"delete-{rule.id}"):
            data.guarded(partial(queries.delete_rule, view.engine, view.scope, str(rule.id)))
            st.rerun()
